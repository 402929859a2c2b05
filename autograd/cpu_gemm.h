// cpu_gemm.h — matrix products for the op families (matmul, linear, conv2d).
//
//  - pt_cpu_sgemm: a cache-blocked fp32 SGEMM for the CPU reference path (packing + a register
//    micro-kernel; an AVX2/FMA clone is picked at load time on x86-64, portable C elsewhere).
//  - pt_gemm: the same contract on either device, batched with element strides between the
//    matrices of the batch: the CPU loops over pt_cpu_sgemm, CUDA calls cuBLAS
//    (autograd/ops/matmul.cu, fp32 accumulation).
//
// Everything is row-major. op(X) is X or its transpose; the leading dimension is the distance in
// elements between consecutive rows of the matrix as stored (before op):
//   C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C
//   A stored (M, K) with lda >= K, or (K, M) with lda >= M when trans_a; likewise B.
// beta == 0 never reads C (it may hold garbage or NaN).
#pragma once
#include <stdint.h>

#include "autograd/tensor.h"

void pt_cpu_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                  const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

// Batched strided GEMM on raw tensor data of device `dev`: for i < batch,
//   C + i*sc = alpha * op(A + i*sa) * op(B + i*sb) + beta * (C + i*sc)     (strides in elements; 0 = shared)
// A and B have dtype `ab`, C has dtype `c` (c == ab, or PT_F32 to accumulate 16-bit products in
// fp32). The CPU supports f32 only.
typedef struct pt_gemm_args {
    int trans_a, trans_b;
    int64_t M, N, K;
    float alpha, beta;
    const void *A; int64_t lda, sa;
    const void *B; int64_t ldb, sb;
    void *C; int64_t ldc, sc;
    int64_t batch;   // 0 is treated as 1
} pt_gemm_args;
void pt_gemm(pt_device dev, pt_dtype ab, pt_dtype c, const pt_gemm_args *g);

// y (outer, O, inner) contiguous on dev <- b[o] everywhere (the bias before a beta = 1 GEMM).
// b is contiguous (O) of y's dtype.
void pt_bias_fill(pt_device dev, pt_dtype dt, void *y, const void *b, int64_t outer, int64_t O, int64_t inner);

// matmul_cuda.h — CUDA side of the matrix products (ops/matmul.cu): cuBLAS GEMM and bias fill.
#pragma once
#ifdef POSETUNE_HAVE_CUDA
#include <stdint.h>

#include "autograd/dtype.h"

#ifdef __cplusplus
extern "C" {
#endif
// Row-major batched strided GEMM through cublasGemmStridedBatchedEx with fp32 accumulation
// (CUBLAS_COMPUTE_32F, never TF32): for i < batch,
//   C_i (M, N) = alpha * op(A_i) op(B_i) + beta * C_i,  X_i = X + i * sx (elements; 0 = shared).
// A, B of dtype ab (f32, bf16, f16); C of dtype c (ab, or f32).
void pt_cuda_gemm(pt_dtype ab, pt_dtype c, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const void *A, int64_t lda, int64_t sa, const void *B, int64_t ldb, int64_t sb, float beta, void *C,
                  int64_t ldc, int64_t sc, int64_t batch);
// y (outer, O, inner) contiguous, every element set to b[o] (b contiguous (O), same dtype).
void pt_cuda_bias_fill(void *y, const void *b, pt_dtype dt, int64_t outer, int64_t O, int64_t inner);
#ifdef __cplusplus
}
#endif
#endif

// matmul.cu — cuBLAS GEMM (row-major wrapper) and the bias fill kernel for matmul.c / conv2d.c.
#include "autograd/cuda_types.cuh"
#include "autograd/ops/matmul_cuda.h"

static cudaDataType_t cuda_type(pt_dtype dt) {
    switch (dt) {
    case PT_F32: return CUDA_R_32F;
    case PT_BF16: return CUDA_R_16BF;
    case PT_F16: return CUDA_R_16F;
    default: PT_RUNTIME("CUDA GEMM: unsupported dtype %s", pt_dtype_name(dt));
    }
}

static int as_int(int64_t v, const char *what) {
    PT_CHECKF(v >= 0 && v <= 0x7fffffffLL, "CUDA GEMM: %s = %lld does not fit cuBLAS' int", what, (long long)v);
    return (int)v;
}

// cuBLAS is column-major. A row-major (r, c) matrix with leading dim ld is, read column-major,
// its (c, r) transpose with the same ld. So row-major C = op(A) op(B) is computed as the
// column-major product C^T (N, M) = op(B)^T (N, K) * op(A)^T (K, M): the operands swap, and each
// keeps its own transpose flag (row-major B not transposed reads column-major as B^T = op(B)^T).
extern "C" void pt_cuda_gemm(pt_dtype ab, pt_dtype c, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                             float alpha, const void *A, int64_t lda, int64_t sa, const void *B, int64_t ldb, int64_t sb,
                             float beta, void *C, int64_t ldc, int64_t sc, int64_t batch) {
    if (M == 0 || N == 0 || batch == 0) return;
    PT_CHECKF(c == ab || c == PT_F32, "CUDA GEMM: output %s with inputs %s", pt_dtype_name(c), pt_dtype_name(ab));
    pt_cuda_ctx *ctx = pt_cuda();
    if (K == 0) {   // cuBLAS would only scale C; do it with a zero-size product guard instead
        PT_CHECKF(beta == 0.0f, "CUDA GEMM with K = 0 and beta != 0 is not supported");
        for (int64_t i = 0; i < batch; i++)
            CUDA_CHECK(cudaMemset2DAsync((char *)C + i * sc * pt_dtype_size(c), (size_t)ldc * pt_dtype_size(c), 0,
                                         (size_t)N * pt_dtype_size(c), (size_t)M, ctx->stream));
        return;
    }
    cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(ctx->cublas, op_b, op_a, as_int(N, "N"), as_int(M, "M"), as_int(K, "K"),
                                            &alpha, B, cuda_type(ab), as_int(ldb, "ldb"), (long long)sb,
                                            A, cuda_type(ab), as_int(lda, "lda"), (long long)sa,
                                            &beta, C, cuda_type(c), as_int(ldc, "ldc"), (long long)sc,
                                            as_int(batch, "batch"), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// y (outer, O, inner): y[i] = b[(i / inner) % O].
template <typename T>
__global__ void bias_fill_kernel(T *y, const T *b, int64_t n, int64_t O, int64_t inner) {
    PT_GRID_STRIDE(i, n) y[i] = b[(i / inner) % O];
}

extern "C" void pt_cuda_bias_fill(void *y, const void *b, pt_dtype dt, int64_t outer, int64_t O, int64_t inner) {
    int64_t n = outer * O * inner;
    if (n == 0) return;
    PT_DISPATCH_FLOAT(dt, bias_fill_kernel<scalar_t><<<pt_grid_1d(n, 256), 256, 0, pt_cuda()->stream>>>(
                              (scalar_t *)y, (const scalar_t *)b, n, O, inner));
    CUDA_LAUNCH_CHECK();
}

// elementwise.cu — CUDA kernels for elementwise.c (combine) and reduce.c (sum_to).
#include "autograd/cuda_types.cuh"
#include "autograd/ops/elementwise_cuda.h"

template <typename T>
__global__ void combine_kernel(T *out, const T *a, pt_dims5 sa, const T *b, pt_dims5 sb, pt_dims5 shape, int ndim,
                               int64_t n, float alpha, float beta, float gamma, float c) {
    PT_GRID_STRIDE(i, n) {
        int64_t rem = i, oa = 0, ob = 0;
        for (int d = ndim - 1; d >= 0; d--) {
            int64_t idx = rem % shape.v[d];
            rem /= shape.v[d];
            oa += idx * sa.v[d];
            ob += idx * sb.v[d];
        }
        float x = pt_ld<T>(a, oa), y = b ? pt_ld<T>(b, ob) : 0.0f;
        out[i] = pt_cvt<T>(alpha * x + beta * y + gamma * x * y + c);
    }
}

// Fast path: both operands contiguous with the output's shape.
template <typename T>
__global__ void combine_flat_kernel(T *out, const T *a, const T *b, int64_t n, float alpha, float beta, float gamma, float c) {
    PT_GRID_STRIDE(i, n) {
        float x = pt_ld<T>(a, i), y = b ? pt_ld<T>(b, i) : 0.0f;
        out[i] = pt_cvt<T>(alpha * x + beta * y + gamma * x * y + c);
    }
}

extern "C" void pt_cuda_combine(void *out, pt_dtype dt, const void *a, const int64_t *sa, const void *b, const int64_t *sb,
                                int ndim, const int64_t *shape, float alpha, float beta, float gamma, float c) {
    pt_dims5 A = {{0}}, B = {{0}}, S = {{1, 1, 1, 1, 1}};
    int64_t n = 1, expect = 1;
    int flat = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        A.v[d] = sa[d]; B.v[d] = b ? sb[d] : 0; S.v[d] = shape[d];
        if (shape[d] != 1 && (sa[d] != expect || (b && sb[d] != expect))) flat = 0;
        expect *= shape[d];
        n *= shape[d];
    }
    if (n == 0) return;
    cudaStream_t s = pt_cuda()->stream;
    int g = pt_grid_1d(n, 256);
    if (flat)
        PT_DISPATCH_FLOAT(dt, combine_flat_kernel<scalar_t><<<g, 256, 0, s>>>((scalar_t *)out, (const scalar_t *)a,
                                                                             (const scalar_t *)b, n, alpha, beta, gamma, c));
    else
        PT_DISPATCH_FLOAT(dt, combine_kernel<scalar_t><<<g, 256, 0, s>>>((scalar_t *)out, (const scalar_t *)a, A,
                                                                        (const scalar_t *)b, B, S, ndim, n, alpha, beta, gamma, c));
    CUDA_LAUNCH_CHECK();
}

// One block per output element; threads stride over the reduced index space (fp32 accumulation).
template <typename T>
__global__ void sum_to_kernel(T *out, const T *x, pt_dims5 xs, pt_dims5 in_shape, pt_dims5 out_shape, int ndim, int64_t n_red) {
    int64_t o = blockIdx.x;
    // decompose o over the kept dims, and r over the reduced dims
    int64_t base = 0, rem = o;
    for (int d = ndim - 1; d >= 0; d--) {
        if (out_shape.v[d] != 1) { base += (rem % out_shape.v[d]) * xs.v[d]; rem /= out_shape.v[d]; }
    }
    float acc = 0.0f;
    for (int64_t r = threadIdx.x; r < n_red; r += blockDim.x) {
        int64_t rr = r, off = base;
        for (int d = ndim - 1; d >= 0; d--) {
            if (out_shape.v[d] == 1) { off += (rr % in_shape.v[d]) * xs.v[d]; rr /= in_shape.v[d]; }
        }
        acc += pt_ld<T>(x, off);
    }
    __shared__ float sh[32];
    for (int m = 16; m > 0; m >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, m);
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = acc;
    __syncthreads();
    if (threadIdx.x < 32) {
        acc = threadIdx.x < (blockDim.x >> 5) ? sh[threadIdx.x] : 0.0f;
        for (int m = 16; m > 0; m >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, m);
        if (threadIdx.x == 0) out[o] = pt_cvt<T>(acc);
    }
}

extern "C" void pt_cuda_sum_to(void *out, const void *x, const int64_t *xs, pt_dtype dt, int ndim, const int64_t *in_shape,
                               const int64_t *out_shape) {
    pt_dims5 X = {{0}}, I = {{1, 1, 1, 1, 1}}, O = {{1, 1, 1, 1, 1}};
    int64_t n_out = 1, n_red = 1;
    for (int d = 0; d < ndim; d++) {
        X.v[d] = xs[d]; I.v[d] = in_shape[d]; O.v[d] = out_shape[d];
        if (out_shape[d] == 1) n_red *= in_shape[d]; else n_out *= out_shape[d];
    }
    if (n_out == 0) return;
    PT_CHECKF(n_out < (1LL << 31), "sum_to: too many outputs");
    int threads = n_red >= 1024 ? 1024 : (n_red >= 256 ? 256 : 32);
    PT_DISPATCH_FLOAT(dt, sum_to_kernel<scalar_t><<<(unsigned)n_out, threads, 0, pt_cuda()->stream>>>(
                              (scalar_t *)out, (const scalar_t *)x, X, I, O, ndim, n_red));
    CUDA_LAUNCH_CHECK();
}

// activation.cu — CUDA kernels for activation.c: pointwise activations (forward, backward),
// GEGLU, and a row softmax (one block per row, fp32 reductions). Math in fp32 for every dtype.
#include "autograd/cuda_types.cuh"
#include "autograd/ops/activation_cuda.h"

#define ACT_SQRT_2_OVER_PI 0.7978845608028654f
#define ACT_INV_SQRT_2 0.7071067811865476f
#define ACT_INV_SQRT_2PI 0.3989422804014327f

__device__ __forceinline__ float act_sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }

__device__ __forceinline__ float act_f(int kind, float x) {
    switch (kind) {
    case PT_ACT_SILU: return x * act_sigmoid(x);
    case PT_ACT_GELU: return 0.5f * x * (1.0f + erff(x * ACT_INV_SQRT_2));
    case PT_ACT_GELU_TANH: return 0.5f * x * (1.0f + tanhf(ACT_SQRT_2_OVER_PI * (x + 0.044715f * x * x * x)));
    default: return x * act_sigmoid(1.702f * x);
    }
}

__device__ __forceinline__ float act_df(int kind, float x) {
    switch (kind) {
    case PT_ACT_SILU: { float s = act_sigmoid(x); return s * (1.0f + x * (1.0f - s)); }
    case PT_ACT_GELU: return 0.5f * (1.0f + erff(x * ACT_INV_SQRT_2)) + x * ACT_INV_SQRT_2PI * expf(-0.5f * x * x);
    case PT_ACT_GELU_TANH: {
        float x2 = x * x, t = tanhf(ACT_SQRT_2_OVER_PI * (x + 0.044715f * x2 * x));
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * ACT_SQRT_2_OVER_PI * (1.0f + 3.0f * 0.044715f * x2);
    }
    default: { float s = act_sigmoid(1.702f * x); return s + 1.702f * x * s * (1.0f - s); }
    }
}

template <typename T>
__global__ void act_fwd_kernel(int kind, const T *x, T *y, int64_t n) {
    PT_GRID_STRIDE(i, n) y[i] = pt_cvt<T>(act_f(kind, pt_ld<T>(x, i)));
}
template <typename T>
__global__ void act_bwd_kernel(int kind, const T *x, const T *dy, T *dx, int64_t n) {
    PT_GRID_STRIDE(i, n) dx[i] = pt_cvt<T>(pt_ld<T>(dy, i) * act_df(kind, pt_ld<T>(x, i)));
}

extern "C" void pt_cuda_act_fwd(pt_dtype dt, int kind, const void *x, void *y, int64_t n) {
    if (n == 0) return;
    PT_DISPATCH_FLOAT(dt, act_fwd_kernel<scalar_t><<<pt_grid_1d(n, 256), 256, 0, pt_cuda()->stream>>>(
                              kind, (const scalar_t *)x, (scalar_t *)y, n));
    CUDA_LAUNCH_CHECK();
}
extern "C" void pt_cuda_act_bwd(pt_dtype dt, int kind, const void *x, const void *dy, void *dx, int64_t n) {
    if (n == 0) return;
    PT_DISPATCH_FLOAT(dt, act_bwd_kernel<scalar_t><<<pt_grid_1d(n, 256), 256, 0, pt_cuda()->stream>>>(
                              kind, (const scalar_t *)x, (const scalar_t *)dy, (scalar_t *)dx, n));
    CUDA_LAUNCH_CHECK();
}

// ---- GEGLU: x (R, 2D) -> y (R, D); element i of y is (r, j) = (i / D, i % D) ---------------------
template <typename T>
__global__ void geglu_fwd_kernel(const T *x, T *y, int64_t n, int64_t D) {
    PT_GRID_STRIDE(i, n) {
        int64_t r = i / D, j = i % D;
        float h = pt_ld<T>(x, r * 2 * D + j), g = pt_ld<T>(x, r * 2 * D + D + j);
        y[i] = pt_cvt<T>(h * act_f(PT_ACT_GELU, g));
    }
}
template <typename T>
__global__ void geglu_bwd_kernel(const T *x, const T *dy, T *dx, int64_t n, int64_t D) {
    PT_GRID_STRIDE(i, n) {
        int64_t r = i / D, j = i % D;
        float h = pt_ld<T>(x, r * 2 * D + j), g = pt_ld<T>(x, r * 2 * D + D + j), d = pt_ld<T>(dy, i);
        dx[r * 2 * D + j] = pt_cvt<T>(d * act_f(PT_ACT_GELU, g));
        dx[r * 2 * D + D + j] = pt_cvt<T>(d * h * act_df(PT_ACT_GELU, g));
    }
}

extern "C" void pt_cuda_geglu_fwd(pt_dtype dt, const void *x, void *y, int64_t R, int64_t D) {
    int64_t n = R * D;
    if (n == 0) return;
    PT_DISPATCH_FLOAT(dt, geglu_fwd_kernel<scalar_t><<<pt_grid_1d(n, 256), 256, 0, pt_cuda()->stream>>>(
                              (const scalar_t *)x, (scalar_t *)y, n, D));
    CUDA_LAUNCH_CHECK();
}
extern "C" void pt_cuda_geglu_bwd(pt_dtype dt, const void *x, const void *dy, void *dx, int64_t R, int64_t D) {
    int64_t n = R * D;
    if (n == 0) return;
    PT_DISPATCH_FLOAT(dt, geglu_bwd_kernel<scalar_t><<<pt_grid_1d(n, 256), 256, 0, pt_cuda()->stream>>>(
                              (const scalar_t *)x, (const scalar_t *)dy, (scalar_t *)dx, n, D));
    CUDA_LAUNCH_CHECK();
}

// ---- softmax: one block per row ----------------------------------------------------------------
// Reduce over the block with op (max or sum); every thread gets the result.
template <bool IS_MAX>
__device__ __forceinline__ float act_block_reduce(float v, float *sh) {
    for (int m = 16; m > 0; m >>= 1) {
        float o = __shfl_xor_sync(0xffffffffu, v, m);
        v = IS_MAX ? fmaxf(v, o) : v + o;
    }
    __syncthreads();
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
    __syncthreads();
    int lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    v = lane < nw ? sh[lane] : (IS_MAX ? -INFINITY : 0.0f);
    for (int m = 16; m > 0; m >>= 1) {
        float o = __shfl_xor_sync(0xffffffffu, v, m);
        v = IS_MAX ? fmaxf(v, o) : v + o;
    }
    return v;
}

template <typename T>
__global__ void softmax_fwd_kernel(const T *x, T *y, int64_t D) {
    __shared__ float sh[32];
    const T *xr = x + (int64_t)blockIdx.x * D;
    T *yr = y + (int64_t)blockIdx.x * D;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) m = fmaxf(m, pt_ld<T>(xr, j));
    m = act_block_reduce<true>(m, sh);
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) s += expf(pt_ld<T>(xr, j) - m);
    float inv = 1.0f / act_block_reduce<false>(s, sh);
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) yr[j] = pt_cvt<T>(expf(pt_ld<T>(xr, j) - m) * inv);
}

template <typename T>
__global__ void softmax_bwd_kernel(const T *y, const T *dy, T *dx, int64_t D) {
    __shared__ float sh[32];
    int64_t base = (int64_t)blockIdx.x * D;
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) s += pt_ld<T>(dy, base + j) * pt_ld<T>(y, base + j);
    s = act_block_reduce<false>(s, sh);
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x)
        dx[base + j] = pt_cvt<T>(pt_ld<T>(y, base + j) * (pt_ld<T>(dy, base + j) - s));
}

static int act_threads(int64_t D) { return D >= 1024 ? 512 : (D >= 128 ? 128 : 32); }

extern "C" void pt_cuda_softmax_fwd(pt_dtype dt, const void *x, void *y, int64_t R, int64_t D) {
    if (R == 0 || D == 0) return;
    PT_CHECKF(R < (1LL << 31), "softmax: too many rows");
    PT_DISPATCH_FLOAT(dt, softmax_fwd_kernel<scalar_t><<<(unsigned)R, act_threads(D), 0, pt_cuda()->stream>>>(
                              (const scalar_t *)x, (scalar_t *)y, D));
    CUDA_LAUNCH_CHECK();
}
extern "C" void pt_cuda_softmax_bwd(pt_dtype dt, const void *y, const void *dy, void *dx, int64_t R, int64_t D) {
    if (R == 0 || D == 0) return;
    PT_CHECKF(R < (1LL << 31), "softmax backward: too many rows");
    PT_DISPATCH_FLOAT(dt, softmax_bwd_kernel<scalar_t><<<(unsigned)R, act_threads(D), 0, pt_cuda()->stream>>>(
                              (const scalar_t *)y, (const scalar_t *)dy, (scalar_t *)dx, D));
    CUDA_LAUNCH_CHECK();
}

// cuda_types.cuh — device-side helpers shared by every kernel file: typed loads/stores that
// compute in fp32, dtype dispatch, launch geometry.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "autograd/cuda_common.h"
#include "autograd/dtype.h"

template <typename T> __device__ __forceinline__ float pt_ld(const T *p, int64_t i);
template <> __device__ __forceinline__ float pt_ld<float>(const float *p, int64_t i) { return p[i]; }
template <> __device__ __forceinline__ float pt_ld<__nv_bfloat16>(const __nv_bfloat16 *p, int64_t i) { return __bfloat162float(p[i]); }
template <> __device__ __forceinline__ float pt_ld<__half>(const __half *p, int64_t i) { return __half2float(p[i]); }

template <typename T> __device__ __forceinline__ T pt_cvt(float v);
template <> __device__ __forceinline__ float pt_cvt<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 pt_cvt<__nv_bfloat16>(float v) { return __float2bfloat16(v); }
template <> __device__ __forceinline__ __half pt_cvt<__half>(float v) { return __float2half(v); }

// Calls body with `scalar_t` bound to the C++ type of a float dtype (f32, bf16, f16).
#define PT_DISPATCH_FLOAT(dt, ...)                                                   \
    do {                                                                             \
        switch (dt) {                                                                \
        case PT_F32: { typedef float scalar_t; __VA_ARGS__; break; }                 \
        case PT_BF16: { typedef __nv_bfloat16 scalar_t; __VA_ARGS__; break; }        \
        case PT_F16: { typedef __half scalar_t; __VA_ARGS__; break; }                \
        default: PT_RUNTIME("CUDA kernel: unsupported dtype %s", pt_dtype_name(dt)); \
        }                                                                            \
    } while (0)

static inline int pt_grid_1d(int64_t n, int block) {
    int64_t g = (n + block - 1) / block;
    if (g > 65535LL * 32) g = 65535LL * 32;   // grid-stride loops cover the rest
    return (int)(g < 1 ? 1 : g);
}
#define PT_GRID_STRIDE(i, n) for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

// Strides/shapes passed by value to kernels.
struct pt_dims5 { int64_t v[5]; };

// tensor_cuda.cu — transfers, fills, strided copies with dtype conversion, random fills.
#include "autograd/cuda_types.cuh"
#include "autograd/rng.h"
#include "autograd/tensor_cuda.h"

extern "C" void pt_cuda_memcpy_h2d(void *dst, const void *src, size_t bytes) {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, pt_cuda()->stream));
    CUDA_CHECK(cudaStreamSynchronize(pt_cuda()->stream));   // src may be a temporary host buffer
}
extern "C" void pt_cuda_memcpy_d2h(void *dst, const void *src, size_t bytes) {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, pt_cuda()->stream));
    CUDA_CHECK(cudaStreamSynchronize(pt_cuda()->stream));
}

template <typename T> __global__ void fill_kernel(T *p, int64_t n, float v) {
    PT_GRID_STRIDE(i, n) p[i] = pt_cvt<T>(v);
}
__global__ void fill_i64_kernel(int64_t *p, int64_t n, int64_t v) { PT_GRID_STRIDE(i, n) p[i] = v; }

extern "C" void pt_cuda_fill(void *dst, pt_dtype dt, int64_t n, float value) {
    if (n == 0) return;
    cudaStream_t s = pt_cuda()->stream;
    if (value == 0.0f) { CUDA_CHECK(cudaMemsetAsync(dst, 0, (size_t)n * pt_dtype_size(dt), s)); return; }
    if (dt == PT_I64) { fill_i64_kernel<<<pt_grid_1d(n, 256), 256, 0, s>>>((int64_t *)dst, n, (int64_t)value); }
    else PT_DISPATCH_FLOAT(dt, fill_kernel<scalar_t><<<pt_grid_1d(n, 256), 256, 0, s>>>((scalar_t *)dst, n, value));
    CUDA_LAUNCH_CHECK();
}

template <typename TD, typename TS>
__global__ void copy_strided_kernel(TD *dst, pt_dims5 dstr, const TS *src, pt_dims5 sstr, pt_dims5 shape, int ndim, int64_t n) {
    PT_GRID_STRIDE(i, n) {
        int64_t rem = i, so = 0, dof = 0;
        for (int d = ndim - 1; d >= 0; d--) {
            int64_t idx = rem % shape.v[d];
            rem /= shape.v[d];
            so += idx * sstr.v[d];
            dof += idx * dstr.v[d];
        }
        dst[dof] = pt_cvt<TD>(pt_ld<TS>(src, so));
    }
}
template <typename T>
__global__ void copy_strided_i64_kernel(int64_t *dst, pt_dims5 dstr, const int64_t *src, pt_dims5 sstr, pt_dims5 shape, int ndim, int64_t n) {
    PT_GRID_STRIDE(i, n) {
        int64_t rem = i, so = 0, dof = 0;
        for (int d = ndim - 1; d >= 0; d--) {
            int64_t idx = rem % shape.v[d];
            rem /= shape.v[d];
            so += idx * sstr.v[d];
            dof += idx * dstr.v[d];
        }
        dst[dof] = src[so];
    }
}

extern "C" void pt_cuda_copy_strided(void *dst, pt_dtype dd, const int64_t *dst_stride, const void *src, pt_dtype sd,
                                     const int64_t *src_stride, int ndim, const int64_t *shape) {
    pt_dims5 ds = {{0}}, ss = {{0}}, sh = {{1, 1, 1, 1, 1}};
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) { ds.v[d] = dst_stride[d]; ss.v[d] = src_stride[d]; sh.v[d] = shape[d]; n *= shape[d]; }
    if (n == 0) return;
    cudaStream_t s = pt_cuda()->stream;
    int g = pt_grid_1d(n, 256);
    if (dd == PT_I64 || sd == PT_I64) {
        if (dd != sd) PT_RUNTIME("CUDA copy between i64 and %s is not supported", pt_dtype_name(dd == PT_I64 ? sd : dd));
        copy_strided_i64_kernel<int64_t><<<g, 256, 0, s>>>((int64_t *)dst, ds, (const int64_t *)src, ss, sh, ndim, n);
    } else {
        PT_DISPATCH_FLOAT(dd, {
            typedef scalar_t dst_t;
            PT_DISPATCH_FLOAT(sd, copy_strided_kernel<dst_t, scalar_t><<<g, 256, 0, s>>>((dst_t *)dst, ds, (const scalar_t *)src, ss, sh, ndim, n));
        });
    }
    CUDA_LAUNCH_CHECK();
}

template <typename T>
__global__ void random_kernel(T *p, int64_t n, uint64_t seed, uint64_t offset, int normal, float a, float b) {
    PT_GRID_STRIDE(i, n) {
        float v = normal ? a + b * pt_rng_normal_at(seed, offset + (uint64_t)i)
                         : a + (b - a) * pt_rng_uniform_at(seed, offset + (uint64_t)i);
        p[i] = pt_cvt<T>(v);
    }
}
extern "C" void pt_cuda_fill_random(void *dst, pt_dtype dt, int64_t n, uint64_t seed, uint64_t offset, int normal, float a, float b) {
    if (n == 0) return;
    PT_DISPATCH_FLOAT(dt, random_kernel<scalar_t><<<pt_grid_1d(n, 256), 256, 0, pt_cuda()->stream>>>((scalar_t *)dst, n, seed, offset, normal, a, b));
    CUDA_LAUNCH_CHECK();
}

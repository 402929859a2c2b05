// tensor_cuda.h — the CUDA side of tensor.c: transfers, fills, strided copies, random fills.
#pragma once
#ifdef POSETUNE_HAVE_CUDA
#include <stdint.h>

#include "autograd/cuda_common.h"
#include "autograd/dtype.h"

#ifdef __cplusplus
extern "C" {
#endif
void pt_cuda_memcpy_h2d(void *dst, const void *src, size_t bytes);
void pt_cuda_memcpy_d2h(void *dst, const void *src, size_t bytes);   // synchronises the stream
void pt_cuda_fill(void *dst, pt_dtype dt, int64_t n, float value);
void pt_cuda_copy_strided(void *dst, pt_dtype dd, const int64_t *dst_stride, const void *src, pt_dtype sd,
                          const int64_t *src_stride, int ndim, const int64_t *shape);
void pt_cuda_fill_random(void *dst, pt_dtype dt, int64_t n, uint64_t seed, uint64_t offset, int normal, float a, float b);
#ifdef __cplusplus
}
#endif
#endif

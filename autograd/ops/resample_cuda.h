// resample_cuda.h — CUDA side of resample.c: zero padding, nearest 2x upsampling, max/avg pooling.
// All tensors are contiguous planes: x (P, H, W) with P = product of the leading dims.
#pragma once
#ifdef POSETUNE_HAVE_CUDA
#include <stdint.h>

#include "autograd/dtype.h"

#ifdef __cplusplus
extern "C" {
#endif
// y (P, H+top+bottom, W+left+right) = x placed at (top, left), zeros elsewhere.
void pt_cuda_pad2d(const void *x, void *y, pt_dtype dt, int64_t P, int64_t H, int64_t W, int64_t left, int64_t right,
                   int64_t top, int64_t bottom);
// dx (P, H, W) = g (P, H+top+bottom, W+left+right) cropped at (top, left).
void pt_cuda_pad2d_backward(const void *g, void *dx, pt_dtype dt, int64_t P, int64_t H, int64_t W, int64_t left,
                            int64_t right, int64_t top, int64_t bottom);
// y (P, 2H, 2W) = x (P, H, W) repeated 2x2; backward sums each 2x2 block of g.
void pt_cuda_upsample2x(const void *x, void *y, pt_dtype dt, int64_t P, int64_t H, int64_t W);
void pt_cuda_upsample2x_backward(const void *g, void *dx, pt_dtype dt, int64_t P, int64_t H, int64_t W);
// y (P, Ho, Wo), Ho = (H - k) / s + 1: max (idx = argmax as h*W + w, first on ties, NaN wins)
// or mean (idx NULL) over k x k windows at stride s.
void pt_cuda_pool2d(const void *x, void *y, int32_t *idx, pt_dtype dt, int64_t P, int64_t H, int64_t W, int64_t k,
                    int64_t s, int is_max);
// dx (P, H, W) (overwritten): each input sums g over the windows that contain it (max: only
// where it was the argmax; avg: g / k^2).
void pt_cuda_pool2d_backward(const void *g, const int32_t *idx, void *dx, pt_dtype dt, int64_t P, int64_t H, int64_t W,
                             int64_t k, int64_t s, int is_max);
#ifdef __cplusplus
}
#endif
#endif

// misc_cuda.h — CUDA kernels of misc.c (timestep embedding, MSE / L1 losses).
#pragma once
#ifdef POSETUNE_HAVE_CUDA
#include <stdint.h>

#include "autograd/dtype.h"

#ifdef __cplusplus
extern "C" {
#endif
// t (B) of dtype t_dt (i64 or a float type) -> emb (B, dim) f32.
void pt_cuda_timestep_embedding(pt_dtype t_dt, const void *t, float *emb, int64_t B, int dim, int flip_sin_to_cos,
                                float downscale_freq_shift, float scale, float max_period);
// Loss over n elements of pred/target (dtype dt, contiguous, shape `shape`); weight f32 addressed
// by wstride in pred's index space (0 = broadcast) or NULL. l1 = 0: squared error, 1: absolute.
// out: one f32 = mean(weight * err).
void pt_cuda_loss_fwd(pt_dtype dt, int l1, const void *pred, const void *target, const float *weight,
                      const int64_t *wstride, int ndim, const int64_t *shape, float *out);
// dpred = g * d/dpred (mean(...)), g the f32 scalar gradient at g_dev; dtarget = -dpred; either may be NULL.
void pt_cuda_loss_bwd(pt_dtype dt, int l1, const void *pred, const void *target, const float *weight,
                      const int64_t *wstride, int ndim, const int64_t *shape, const float *g_dev, void *dpred, void *dtarget);
#ifdef __cplusplus
}
#endif
#endif

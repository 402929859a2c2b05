// norm_cuda.h — CUDA kernels of norm.c (group norm, fused group norm + SiLU, layer norm).
// All tensors contiguous; x, y, w, b, dy, dx, dw, db of dtype dt; mean, rstd f32.
// w, b (and dx, dw, db in backward) may be NULL.
#pragma once
#ifdef POSETUNE_HAVE_CUDA
#include <stdint.h>

#include "autograd/dtype.h"

#ifdef __cplusplus
extern "C" {
#endif
// x, y (N, C, S); mean, rstd (N, G).
void pt_cuda_group_norm_fwd(pt_dtype dt, const void *x, const void *w, const void *b, void *y, float *mean, float *rstd,
                            int64_t N, int64_t C, int64_t S, int64_t G, float eps, int silu);
void pt_cuda_group_norm_bwd(pt_dtype dt, const void *x, const void *w, const void *b, const void *dy, const float *mean,
                            const float *rstd, void *dx, void *dw, void *db, int64_t N, int64_t C, int64_t S, int64_t G,
                            int silu);
// x, y (R, D); mean, rstd (R).
void pt_cuda_layer_norm_fwd(pt_dtype dt, const void *x, const void *w, const void *b, void *y, float *mean, float *rstd,
                            int64_t R, int64_t D, float eps);
void pt_cuda_layer_norm_bwd(pt_dtype dt, const void *x, const void *w, const void *dy, const float *mean,
                            const float *rstd, void *dx, void *dw, void *db, int64_t R, int64_t D);
#ifdef __cplusplus
}
#endif
#endif

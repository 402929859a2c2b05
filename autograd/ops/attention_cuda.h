// attention_cuda.h — CUDA kernels of attention.c (fused, memory-efficient scaled dot-product
// attention in the FlashAttention-2 manner). Tensors contiguous, of dtype dt:
//   q (B, Sq, H*D), k (B, Skv, H*D), v (B, Skv, H*Dv), out/dout (B, Sq, H*Dv), lse (B, H, Sq) f32.
#pragma once
#ifdef POSETUNE_HAVE_CUDA
#include <stdint.h>

#include "autograd/dtype.h"

#ifdef __cplusplus
extern "C" {
#endif
void pt_cuda_attention_fwd(pt_dtype dt, const void *q, const void *k, const void *v, void *out, float *lse, int64_t B,
                           int64_t Sq, int64_t Skv, int64_t H, int64_t D, int64_t Dv, float scale);
// dq (like q), dk (like k), dv (like v); each may be NULL when not needed.
void pt_cuda_attention_bwd(pt_dtype dt, const void *q, const void *k, const void *v, const void *out, const void *dout,
                           const float *lse, void *dq, void *dk, void *dv, int64_t B, int64_t Sq, int64_t Skv, int64_t H,
                           int64_t D, int64_t Dv, float scale);
#ifdef __cplusplus
}
#endif
#endif

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

// Tensor-core forward (attention_tc.cu), same contract as pt_cuda_attention_fwd. Returns 1 if it
// ran, 0 if the case is unsupported (dtype not bf16, D != Dv, D % 8 != 0, ceil16(D) not in
// {16,32,48,64,80,96,128,160}, Skv == 0, a pointer not 16-byte aligned, no sm_80+ code for the
// device, shared memory over the limit); then nothing was launched.
int pt_cuda_attention_fwd_tc(pt_dtype dt, const void *q, const void *k, const void *v, void *out, float *lse, int64_t B,
                             int64_t Sq, int64_t Skv, int64_t H, int64_t D, int64_t Dv, float scale);
// Opt-in switch of the tensor-core forward: POSETUNE_ATTN_TC=1 in the environment, read once at the
// first attention forward. pt_attention_tc_set(0 / 1) forces it off / on; -1 re-reads the
// environment at the next call (tests). pt_attention_tc_launches: tensor-core forwards run so far.
void pt_attention_tc_set(int on);
int pt_attention_tc_enabled(void);
int64_t pt_attention_tc_launches(void);
#ifdef __cplusplus
}
#endif
#endif

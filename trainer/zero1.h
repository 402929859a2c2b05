// zero1.h — ZeRO stage 1: the optimizer state of the trainable prefix (fp32 master weights, AdamW
// m and v) is sharded over the data-parallel ranks, so each GPU holds 3 x 4 x n / N bytes of it
// instead of 3 x 4 x n (config train.zero1).
//
// Shards follow pt_dist_shard (trainer/dist.h): S = n / N, rank r owns [r*S, r*S + S), the last
// rank also owns the remainder. One optimizer step:
//   1. reduce-scatter the gradient (mean over ranks): rank r gets the mean of its shard, in place
//      in P->grad[off, off + cnt)
//   2. global gradient norm = sqrt(sum over ranks of the shard's sum of squares); clipping as
//      torch.nn.utils.clip_grad_norm_ (coef = max / (norm + 1e-6) when < 1)
//   3. AdamW (trainer/optim.h) on the shard: master, m, v of [off, off + cnt)
//   4. all-gather the updated weights into P->data in the compute dtype (f32, or bf16 written by
//      the AdamW kernel straight from the fp32 master)
// When P is f32 the master shard IS P->data[off, off + cnt) (no copy); with bf16 parameters it is
// an f32 buffer of cnt elements.
//
// Checkpoints: rank 0 writes the model checkpoint with the exact fp32 master weights
// (pt_zero1_gather_master, collective) and no optim.* tensors; EVERY rank writes its optimizer
// shard to <checkpoint>.rank<R>.safetensors (zero1.master, zero1.m, zero1.v; metadata
// posetune.zero1 = {"rank", "world", "offset", "count", "numel"} and posetune.optim_step).
// The loop writes the shards first, then a barrier, then rank 0's checkpoint (atomic rename), then
// a barrier: a checkpoint under its final name always has all its shards. Resume needs the same
// world size; a shard of another layout fails naming the file.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "models/params.h"
#include "trainer/optim.h"

typedef struct pt_zero1 {
    pt_params *P;
    pt_device dev;
    int rank, world;
    int64_t n;            // trainable prefix (elements)
    int64_t off, cnt;     // this rank's shard
    float *master;        // (cnt) fp32 master shard (aliases P->data + off when P is f32)
    int own_master;
    pt_adamw opt;         // m, v of the shard (host or device)
} pt_zero1;

// segs: weight-decay segments of the whole prefix as the unsharded optimizer gets them (NULL: decay
// everywhere); they are cut to the shard.
pt_zero1 *pt_zero1_create(pt_params *P, const pt_adamw_config *oc, const pt_param_segment *segs, int nsegs);
void pt_zero1_free(pt_zero1 *z);
// One step (steps 1-4 above) after backward. Returns 0 (nothing updated) when the gradient norm is
// not finite; *grad_norm gets the pre-clip global norm.
int pt_zero1_step(pt_zero1 *z, double lr, double max_norm, double *grad_norm);
// Bytes of optimizer state on this rank (master shard if owned, m, v).
size_t pt_zero1_state_bytes(const pt_zero1 *z);

// Collective: the full fp32 master weights (n floats, host, caller frees) on root, NULL elsewhere.
float *pt_zero1_gather_master(pt_zero1 *z, int root);
// "<ckpt_path>.rank<R>.safetensors" (static buffer).
const char *pt_zero1_shard_path(const char *ckpt_path, int rank);
// Write this rank's shard next to ckpt_path (atomic); keep > 0 prunes this rank's older shard
// files of the same folder down to the newest keep + 1.
void pt_zero1_save(pt_zero1 *z, const char *ckpt_path, int keep);
// Read this rank's shard of the checkpoint ckpt_path into the master shard and the optimizer.
void pt_zero1_load(pt_zero1 *z, const char *ckpt_path);

#ifdef POSETUNE_HAVE_CUDA
// zero1_cuda.cu: x[0, n) *= s on the compute stream
void pt_zero1_scale_cuda(float *x, int64_t n, float s);
#endif

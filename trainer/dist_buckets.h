// dist_buckets.h — gradient buckets: the data-parallel gradient all-reduce is split into ~25 MB
// buckets that are launched DURING backward, as soon as every parameter of a bucket has its final
// gradient, so communication overlaps the rest of the backward pass.
//
// Layout: the trainable prefix of P (models/params.h: one contiguous f32 gradient buffer P->grad,
// parameters at ascending offsets in build order) is cut into buckets walking the parameters in
// REVERSE layout order (backward produces the last layers' gradients first): bucket 0 holds the
// last parameters, each bucket is one contiguous range [offset, offset + count) of P->grad of at
// least bucket_bytes (except the first parameters' one), and the buckets cover [0, numel_trainable)
// exactly. A parameter is never split.
//
// Readiness: autograd's gradient-ready hook (autograd/tape.h) reports each parameter once its last
// recorded use ran backward. Buckets are launched strictly in index order (bucket k only after
// 0..k-1), so every rank issues the same sequence of collectives even if readiness order differed.
//
// Gradient accumulation: only the LAST micro-step of an optimizer step communicates; earlier ones
// just accumulate locally (pt_dist_buckets_begin_micro(db, last)).
//
// Safety: the first step is a probe (everything is reduced after backward, readiness is only
// recorded). If a parameter turned ready twice in one backward (e.g. used inside two
// activation-checkpointed regions), overlap would reduce a gradient that is not final: the manager
// then falls back, permanently, to reducing everything after backward (one all-reduce per bucket,
// in order). Parameters that never turn ready (unused in a step) are reduced at pt_dist_buckets_finish.
//
// Loop use (trainer/loop.c):
//   db = pt_dist_buckets_create(P, pt_dist_buckets_default_bytes(), NULL);   // world > 1
//   per micro-step m:  pt_dist_buckets_begin_micro(db, m == accum - 1); ...forward+backward...;
//                      pt_dist_buckets_end_micro(db);
//   before the optimizer: pt_dist_buckets_finish(db);   // P->grad holds the mean over ranks
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "models/params.h"

// How one bucket is communicated (replaceable for tests). launch starts the mean all-reduce of
// grad[offset, offset + count); wait_all completes every launched one.
typedef struct pt_bucket_comm {
    void (*launch)(void *ctx, float *grad, int64_t offset, int64_t count, int bucket);
    void (*wait_all)(void *ctx);
    void *ctx;
} pt_bucket_comm;

typedef struct pt_bucket {
    int64_t offset, count;     // range of P->grad (elements)
    int first_param, n_params; // parameters [first_param, first_param + n_params) in layout order
    int n_ready;               // parameters ready in the current backward
    int launched;
} pt_bucket;

enum { PT_BUCKETS_PROBE = 0, PT_BUCKETS_OVERLAP = 1, PT_BUCKETS_FALLBACK = 2 };

typedef struct pt_dist_buckets {
    pt_params *P;
    pt_bucket_comm comm;
    int nb;
    pt_bucket *b;              // (nb) bucket 0 = the last parameters
    int np;                    // trainable parameters
    int *p_entry;              // (np) index into P->e, ascending offset
    int64_t *p_off;            // (np) element offset of each
    int *p_bucket;             // (np) bucket of each
    int *p_ready;              // (np) ready events seen in the current last micro-step
    int next_launch;           // lowest bucket not launched yet
    int active;                // 1 while the last micro-step runs
    int mode;                  // PT_BUCKETS_PROBE / _OVERLAP / _FALLBACK
    int64_t launched_in_backward, launched_at_finish;   // counters (tests, logs)
} pt_dist_buckets;

// comm NULL: this process's backend (pt_dist_iallreduce_mean_f32 on P->device, trainer/dist.h).
pt_dist_buckets *pt_dist_buckets_create(pt_params *P, size_t bucket_bytes, const pt_bucket_comm *comm);
void pt_dist_buckets_free(pt_dist_buckets *db);
// POSETUNE_BUCKET_MB (default 25) in bytes; 0 means no buckets (one all-reduce after backward).
size_t pt_dist_buckets_default_bytes(void);

void pt_dist_buckets_begin_micro(pt_dist_buckets *db, int last);   // installs the ready hook
void pt_dist_buckets_end_micro(pt_dist_buckets *db);               // removes it
// Launch every bucket not launched yet (in order) and wait for all: P->grad is the mean over ranks.
void pt_dist_buckets_finish(pt_dist_buckets *db);

// The hook itself (exposed for tests): param is a trainable parameter of db->P.
void pt_dist_buckets_on_ready(pt_tensor *param, void *db);

// ckpt.h — training checkpoints: one safetensors file per checkpoint (design: docs/checkpoints.md).
//
//   <out_dir>/checkpoints/step-00000500.safetensors
//     model.<param>     f32  every trainable parameter (the fp32 master weights), plus frozen ones
//                            when save_frozen is set (a self-contained checkpoint for render/export)
//     optim.m.<param>   f32  AdamW first moment      (absent in weights-only checkpoints)
//     optim.v.<param>   f32  AdamW second moment
//     ema.<param>       f32  EMA weights when EMA is on
//   __metadata__: posetune.format = "1", posetune.regime, posetune.step, posetune.state (JSON:
//   optimizer step, RNG streams, data cursor, ...), posetune.config (the resolved YAML).
//
// A checkpoint is written to a temporary name, fsync'ed and renamed (tools/check.h
// pt_atomic_*): a kill or a full disk never leaves a broken file under a checkpoint's name.
// pt_ckpt_latest() finds the newest complete one (leftover temporaries are ignored).
#pragma once
#include <stdint.h>

#include "checkpoints/weights.h"
#include "models/params.h"
#include "trainer/optim.h"

typedef struct pt_ckpt_meta {
    const char *regime;       // "dreampose/full", "animate_anyone/2", ...
    int64_t step;
    const char *state_json;   // opaque to this module
    const char *config_yaml;
} pt_ckpt_meta;

typedef struct pt_ckpt_save_opts {
    const float *master;      // host f32 copy of the trainable prefix (NULL: read P's data)
    const pt_adamw *opt;      // NULL: weights only
    const float *ema;         // host f32 EMA of the trainable prefix, or NULL
    int save_frozen;          // also write frozen parameters
} pt_ckpt_save_opts;

void pt_ckpt_save(const char *path, const pt_params *P, const pt_ckpt_save_opts *o, const pt_ckpt_meta *meta);

// Loads "model.*" into P (every trainable parameter must be present; frozen ones are loaded when
// present), the optimizer moments into opt when opt is not NULL (they must be present), the EMA
// into ema (n_trainable floats) when not NULL. Returns the weights file (caller frees) so the
// caller can read the metadata (pt_weights_meta(w, "posetune.state")).
pt_weights *pt_ckpt_load(const char *path, pt_params *P, pt_adamw *opt, float *ema);

// Newest complete checkpoint in dir ("step-*.safetensors", highest step), or NULL. Caller frees.
char *pt_ckpt_latest(const char *dir);
// Path of the checkpoint for a step: <dir>/step-%08lld.safetensors (static buffer).
const char *pt_ckpt_path(const char *dir, int64_t step);
// Remove temporaries left by a killed checkpoint write ("step-*.safetensors.tmp.*"); returns how
// many. Call before a run writes into dir (one writer per run folder).
int pt_ckpt_clean_temporaries(const char *dir);
// Delete all but the newest `keep` checkpoints (keep <= 0: keep all).
void pt_ckpt_prune(const char *dir, int keep);

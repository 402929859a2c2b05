// loop.h — the training loop shared by every regime: micro-batches with gradient accumulation,
// data-parallel gradient averaging, clipping, AdamW on the fp32 master weights, LR schedule, EMA,
// logging (progress bar / plain lines, metrics.jsonl), periodic checkpoints and samples, resume.
//
// A regime provides one function that runs forward + backward on a micro-batch (the gradients
// accumulate into the trainable parameters' ->grad views, see models/params.h) and returns the
// loss value, and optionally one that renders a sample grid.
#pragma once
#include <stdio.h>

#include "datasets/loader.h"
#include "models/params.h"
#include "trainer/config.h"
#include "trainer/optim.h"

typedef struct pt_trainer pt_trainer;

typedef struct pt_regime_ops {
    const char *name;   // "dreampose/full", "animate_anyone/1", ...
    // Forward + backward of one micro-batch, the loss multiplied by loss_scale before backward.
    double (*micro_step)(void *self, pt_trainer *t, const pt_batch *b, double loss_scale);
    // Optional: write a PNG grid of samples for `step` to png_path (rank 0 only).
    void (*sample)(void *self, pt_trainer *t, const char *png_path);
} pt_regime_ops;

struct pt_trainer {
    const pt_config *cfg;
    pt_params *P;              // trainable prefix = what is optimised
    pt_device device;
    pt_adamw opt;
    float *master;             // f32 master weights of the trainable prefix (== P->data when P is f32)
    float *ema;                // f32 EMA of the trainable prefix (host or device), or NULL
    pt_loader *loader;
    pt_loader_config loader_cfg;
    int64_t step;              // optimizer steps done
    int64_t samples_seen;      // global samples (all ranks)
    double last_loss, last_grad_norm, last_lr;
    char *out_dir, *ckpt_dir;
    FILE *metrics;
    int rank, world;
    int quiet;
    struct pt_dist_buckets *buckets;   // gradient buckets overlapping backward (world > 1, no zero1), or NULL
    struct pt_zero1 *zero1;            // sharded optimizer state (train.zero1), or NULL
};

// Set up the optimizer (fresh or resumed), the loader and the output folder. Call after the
// regime built and loaded P (with trainability set) and filled loader_cfg.
void pt_trainer_init(pt_trainer *t, const pt_config *cfg, pt_params *P, const pt_loader_config *lc);
// Run to cfg->train.steps. Returns the final loss.
double pt_trainer_run(pt_trainer *t, const pt_regime_ops *ops, void *self);
void pt_trainer_save(pt_trainer *t, const pt_regime_ops *ops);   // checkpoint now
void pt_trainer_free(pt_trainer *t);

// A per-sample random seed that does not depend on how samples are split over ranks, so that
// N ranks x batch B/N train exactly like 1 rank x batch B: derived from the training seed,
// `purpose`, and the sample's position in the global epoch order.
uint64_t pt_trainer_sample_seed(const pt_trainer *t, const pt_sample *s, const char *purpose);

// regime_dreampose.h — DreamPose training on the shared loop (trainer/loop.h).
//
// Phases (cfg->phase):
//   full / subject: trainable unet.* + adapter.*, CLIP and VAE frozen. Per micro-batch:
//     x0   = scaling_factor * VAE sample of the target         (sampling noise: per-sample seed "vae")
//     ctx  = adapter(CLIP(cond), scaling_factor * VAE mean(cond)); a dropped image is zeros through both
//     pose = the 5-pose window (B, 10, H, W) resized to the latent grid (nearest); dropped -> zeros
//     eps ~ N(0, 1) (+ noise_offset * N(0,1) per (sample, channel)), t ~ U{0 .. T-1}   (seeds "noise", "timestep")
//     x_t  = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
//     loss = MSE(unet([x_t | pose], t, ctx), eps or v), min-SNR weights when train.min_snr_gamma > 0
//     full: the dataset sampler with the dropout flags; subject: the subject photos, no dropout.
//   vae_decoder: trainable vae.decoder.* only; loss = MSE (or L1) between decode(sample(encode(x))) and x.
// Every per-sample random draw uses pt_trainer_sample_seed, so N ranks x B/N == 1 rank x B.
// Cached latents (posetune pack --cache-latents): phase full on a pack file without crop
// augmentation uses the stored posterior means for x0 and the conditioning latent (after checking
// that the current VAE reproduces frame 0's cached latent within 5%), skipping the VAE encode.
// Sample grids: every train.sample_every steps (rank 0) a 3x3 PNG grid (conditioning image, pose,
// sample by a few DDIM steps with the render config's guidance) of a fixed reference/pose pair.
#pragma once
#include "models/model_set.h"
#include "models/scheduler.h"
#include "trainer/loop.h"

typedef struct pt_dreampose {
    const pt_config *cfg;
    pt_model_set ms;
    pt_sched sched;
    pt_trainer trainer;
    pt_regime_ops ops;
    char *synthetic_dir;     // generated data folder (data.synthetic), or NULL
    char **subject_poses;    // (n_subject) the subject photos' pose files (the loader points at them)
    int n_subject;
    int quiet;
} pt_dreampose;

// Builds the models for cfg->phase, the loader config and the trainer (resuming per train.resume).
// pt_dist_init must have been called.
void pt_dreampose_init(pt_dreampose *d, const pt_config *cfg);
double pt_dreampose_run(pt_dreampose *d);     // runs the loop to train.steps; returns the last loss
void pt_dreampose_free(pt_dreampose *d);
// init + run + free. Returns the last loss.
double pt_dreampose_train(const pt_config *cfg);

// The loader configuration of a DreamPose config (the dataset path, subject images or the synthetic
// folder in data_dir_override when not NULL).
void pt_dreampose_loader_config(const pt_config *cfg, const char *data_dir_override, pt_loader_config *lc);
// Subject photos' DensePose files: data.subject_poses, or "<image stem>_densepose.npy" next to each image.
// Returns n heap strings (free each and the array).
char **pt_dreampose_subject_poses(const pt_config *cfg);

// Steps of the newest checkpoint in <out_dir>/checkpoints (0 when none).
int64_t pt_dreampose_done_steps(const char *out_dir);

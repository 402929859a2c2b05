// regime_aa.h — Animate Anyone training (stage 1 and stage 2) on the shared loop (trainer/loop.h).
//
// One micro-batch of B samples (stage 1: F = 1 frame, the target; stage 2: F = data.num_frames clip
// frames, rows in (b f) order):
//   x0    = scaling_factor * VAE sample of every frame            (per-sample seed "vae")
//   ref   = scaling_factor * VAE sample of the reference          (seed "ref_vae")
//   uncond[b] = U[0,1) < data.drop_uncond                          (seed "uncond"): PER SAMPLE. The
//           batch is split: conditioned rows run the reference pass and READ its bank; unconditioned
//           rows get a zero image embedding and an empty bank (= plain self-attention). The loss is
//           the mean over all rows either way. (Moore-AnimateAnyone draws once per step and zeroes
//           the CLIP input; posetune zeroes the embedding, the unconditional input of inference.)
//   eps   ~ N(0,1) per frame + noise_offset * N(0,1) per (sample, channel), shared by the frames
//           (seeds "noise", "noise_offset"); t ~ U{0..T-1} per sample, shared by its frames ("timestep")
//   x_t   = sqrt(abar) x0 + sqrt(1-abar) eps;  target = eps or v (train.prediction)
//   ctx   = CLIP image_embeds of the reference (B, 1, D), repeated over the F frames
//   reference pass: reference UNet (ref, t = 0, ctx), ref_mode WRITE, no_head; once per step
//   pred  = UNet(x_t, t, ctx | Pose Guider(pose) added to conv_in's output, READ bank repeated
//           over the F frames, stage 2: the motion modules through the temporal hook)
//   loss  = mean(w * (pred - target)^2), w = min-SNR-gamma weight per sample (train.min_snr_gamma)
//           x hand weight (train.hand_loss_factor inside the hand mask of each frame, 1 outside;
//           trainer/hand_mask.h, from the pose images: the loader's batches carry no keypoints)
// Trainable: stage 1 unet + reference_unet (minus its last up block and head) + pose_guider;
// stage 2 motion modules only (trainer/aa_models.h).
#pragma once
#include "models/scheduler.h"
#include "trainer/aa_models.h"
#include "trainer/loop.h"

typedef struct pt_aa {
    const pt_config *cfg;
    int stage;
    pt_aa_models ms;
    pt_sched sched;
    pt_trainer trainer;
    pt_regime_ops ops;
    char *synthetic_dir;
    int quiet;
    int hand_note_done;      // the "no hand pixels" note was logged
} pt_aa;

void pt_aa_init(pt_aa *a, const pt_config *cfg);
double pt_aa_run(pt_aa *a);
void pt_aa_free(pt_aa *a);

// Loader configuration for cfg->stage (data_dir_override: the synthetic folder, or NULL).
void pt_aa_loader_config(const pt_config *cfg, const char *data_dir_override, pt_loader_config *lc);
// The micro-step (exposed for tests): forward + backward of one batch; returns the loss.
double pt_aa_micro_step(void *self, pt_trainer *t, const pt_batch *b, double loss_scale);

// init + run + free (pt_dist_init must have been called). Returns 0.
int pt_regime_aa_train(const pt_config *cfg);
// The name tools/cmd_train.c declares (weak): same as pt_regime_aa_train, returns the final loss.
double pt_animate_anyone_train(const pt_config *cfg);

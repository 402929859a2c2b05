// aa_models.h — the Animate Anyone model set built from a config, in ONE parameter table:
//   "unet."            denoising UNet (in_channels 4)
//   "reference_unet."  ReferenceNet: a second UNet of the same config, run with ref_mode WRITE, no_head
//   "pose_guider."     Pose Guider (models/pose_guider.h), output width = UNet block_out_channels[0]
//   "motion."          stage 2: the AnimateDiff motion modules, "motion." + AnimateDiff's own names
//                      ("motion.down_blocks.0.motion_modules.0.temporal_transformer...")
//   "vae.", "clip."    frozen VAE and CLIP vision tower WITH projection (image_embeds = the context)
// (The DreamPose engineer's models/model_set.h builds the DreamPose set with an adapter and a widened
// conv_in; Animate Anyone needs two UNets, a Pose Guider and motion modules, so it has its own.)
//
// Trainable (set before finalize, so the trainable prefix is exactly this):
//   PT_AA_TRAIN_STAGE1: unet.*, reference_unet.* except up_blocks.<last>.* / conv_norm_out / conv_out,
//                       pose_guider.*
//   PT_AA_TRAIN_STAGE2: motion.* only
//   PT_AA_TRAIN_NONE:   nothing (render)
//
// Weights, in order:
//   1. tiny (model.tiny): each prefix initialised on its own from pt_params_init_random with a seed
//      derived from model.init_seed and the prefix (so a component's init does not depend on which
//      others exist); reference_unet := unet (both UNets start from the same weights).
//      pretrained: model.unet into both UNets, model.vae, model.clip (vit-l-14 with projection),
//      model.controlnet's controlnet_cond_embedding into the Pose Guider (conv_out stays zero),
//      model.motion_module (AnimateDiff .ckpt / .safetensors, original names).
//   2. pose_guider.conv_out = 0; without model.motion_module every module's proj_out = 0.
//   3. model.stage1_checkpoint (stage 2 and render): "model.unet.*", "model.reference_unet.*",
//      "model.pose_guider.*" of a posetune checkpoint file or run folder (latest checkpoint).
//   4. model.checkpoint: every "model.<param>" it holds.
#pragma once
#include "models/clip_preprocess.h"
#include "models/clip_vision.h"
#include "models/motion_module.h"
#include "models/params.h"
#include "models/pose_guider.h"
#include "models/unet.h"
#include "models/vae.h"
#include "trainer/config.h"

typedef enum { PT_AA_TRAIN_NONE = 0, PT_AA_TRAIN_STAGE1, PT_AA_TRAIN_STAGE2 } pt_aa_train;

typedef struct pt_aa_models {
    pt_params P;
    pt_device device;
    pt_dtype dtype;
    pt_unet unet, ref;
    pt_vae vae;
    pt_clip_vision clip;
    pt_clip_preprocess_config clip_pre;
    pt_pose_guider pg;
    int has_motion;              // stage 2 (motion modules built)
    pt_motion_set mm;
    pt_ref_bank bank;            // reference features of the current step / video
    int height, width, latent_h, latent_w, vae_factor;
    int embed_dim;               // CLIP image_embeds width = UNet cross_attention_dim
} pt_aa_models;

// stage: 1 (no motion modules) or 2.
void pt_aa_models_build(pt_aa_models *m, const pt_config *cfg, int stage, pt_aa_train train);
void pt_aa_models_free(pt_aa_models *m);

// ---- conditioning (no gradient through CLIP or the VAE) --------------------------------------------
// ref (B, 3, H, W) host in [-1, 1] -> image_embeds (B, 1, D) on the model device; rows with
// zero_row[b] != 0 are zeros (the unconditional embedding). zero_row may be NULL.
pt_tensor *pt_aa_clip_embeds(pt_aa_models *m, const float *ref, int B, const int32_t *zero_row);
// images (N, 3, H, W) host in [-1, 1] -> scaling_factor * latent (N, 4, h, w) into dst (host).
// noise (N, 4, h, w) standard normal: the VAE sample (training); NULL: the mean.
void pt_aa_encode(pt_aa_models *m, const float *images, int N, const float *noise, float *dst);
// latents (N, 4, h, w) host (scaled) -> images (N, 3, H, W) host in [-1, 1].
void pt_aa_decode(pt_aa_models *m, const float *latents, int N, float *dst);
// Reference pass: ref_latent (B, 4, h, w) at timestep 0 with context (B, 1, D), ref_mode WRITE,
// no_head: fills m->bank (cleared first). Records autograd when the reference UNet trains.
void pt_aa_reference_pass(pt_aa_models *m, pt_tensor *ref_latent, pt_tensor *ctx);
// Denoising UNet: x (B*F, 4, h, w), t (B*F) i64, ctx (B*F, 1, D), pose (B*F, 3, H, W) in [0, 1];
// use_bank: READ m->bank with ref_frames = F (else an empty bank = plain self-attention).
// frames > 0 with motion modules: the temporal hook runs with F frames. checkpoint: gradient checkpointing.
pt_tensor *pt_aa_denoise(pt_aa_models *m, pt_tensor *x, pt_tensor *t, pt_tensor *ctx, pt_tensor *pose, int F,
                         int use_bank, int checkpoint);

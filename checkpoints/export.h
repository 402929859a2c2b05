// export.h — `posetune export`: a trained model set written in the formats other tools load.
//
// The exporter works on a pt_export_set: the model's tensors under posetune's parameter names
// ("unet.conv_in.weight", "vae.encoder.…", "clip.vision_model.…", "adapter.linear1.weight",
// "reference_unet.…", "pose_guider.…", motion modules "<any prefix>down_blocks.I.motion_modules.J.…"
// in original AnimateDiff naming) plus the configs of the components present. A set comes from a
// training checkpoint (pt_export_set_from_checkpoint, export_ckpt.c) or is filled by hand (tests).
//
// Targets (every file written atomically; floats converted to the requested dtype):
//   PT_EXPORT_DIFFUSERS    a folder in the diffusers layout:
//       model_index.json                       components, with posetune's extras under "_posetune"
//       unet/config.json + diffusion_pytorch_model.safetensors   (in_channels: 14 for DreamPose)
//       vae/config.json + diffusion_pytorch_model.safetensors
//       image_encoder/config.json + model.safetensors            (transformers CLIPVisionModel[WithProjection])
//       adapter/config.json + diffusion_pytorch_model.safetensors  (DreamPose: vae2clip.*, linear1.*)
//       pose_guider/config.json + diffusion_pytorch_model.safetensors  (Animate Anyone)
//       reference_unet/  a full diffusers UNet folder                  (Animate Anyone)
//       motion_module/config.json + diffusion_pytorch_model.safetensors  (diffusers MotionAdapter names)
//                    + mm_animatediff.safetensors                    (original AnimateDiff names)
//       scheduler/scheduler_config.json       (the training noise schedule, when known)
//     Weight files above max_shard_bytes are sharded like diffusers (<stem>-0000K-of-0000N + index).
//   PT_EXPORT_SD_SINGLE    one safetensors with LDM names: model.diffusion_model.* (UNet) and
//                          first_stage_model.* (VAE); the other components are left out (said on log).
//   PT_EXPORT_ANIMATEDIFF  the motion modules alone, original AnimateDiff names (mm_sd_v15_v2 layout),
//                          with the fixed pos_encoder.pe buffers [1, max_len, C] (always f32).
#pragma once
#include <stdint.h>
#include <stdio.h>

#include "checkpoints/export_configs.h"
#include "checkpoints/weights.h"
#include "models/params.h"

typedef enum { PT_EXPORT_DIFFUSERS = 0, PT_EXPORT_SD_SINGLE = 1, PT_EXPORT_ANIMATEDIFF = 2 } pt_export_target;

#define PT_EXPORT_DEFAULT_SHARD ((size_t)10 * 1000 * 1000 * 1000)   // diffusers' max_shard_size "10GB"

typedef struct pt_export_set {
    pt_weights *w;                       // the tensors (views or owned copies), posetune names
    int has_unet, has_ref_unet, has_vae, has_clip, has_adapter, has_pose_guider, has_motion;
    pt_unet_config unet, ref_unet;
    pt_vae_config vae;
    pt_clip_vision_config clip;
    pt_motion_config motion;             // heads / layers / max_len (widths come from the tensors)
    int unet_sample_size;                // latent size for unet/config.json (0: 64)
    int vae_sample_size;                 // image size for vae/config.json (0: 512)
    int adapter_latent_h, adapter_latent_w;   // DreamPose adapter latent grid (0: unknown)
    int has_sched; pt_export_sched sched;
    char regime[64];
    int64_t step;
    char source[1024];                   // the checkpoint the set came from ("" when built by hand)
    // private
    pt_weights *keep[8]; int n_keep;     // files whose memory w's views point into
} pt_export_set;

void pt_export_set_init(pt_export_set *s);
void pt_export_set_free(pt_export_set *s);
// Adds a view of src's data (not copied: src must outlive the set, or be given to pt_export_set_keep).
void pt_export_set_add_view(pt_export_set *s, const char *name, const pt_wtensor *src);
// Adds a copy of every parameter of P whose name starts with only_prefix (NULL: all), as host f32.
void pt_export_set_add_params(pt_export_set *s, const pt_params *P, const char *only_prefix);
void pt_export_set_keep(pt_export_set *s, pt_weights *w);   // freed with the set
// Number of tensors whose name starts with prefix.
int pt_export_set_count(const pt_export_set *s, const char *prefix);

// From a posetune training checkpoint (a file, or a run folder: its newest checkpoint in
// <dir>/checkpoints). use_ema: the "ema.<param>" weights replace the trainable ones (PT_USAGE if the
// checkpoint has none). Configs come from the checkpoint's resolved config (posetune.config); frozen
// components the checkpoint lacks are taken from the config's pretrained paths, or rebuilt from the
// tiny random init (model.tiny: the same weights training used); what cannot be found is left out
// and reported on log (may be NULL). Fails with PT_USAGE for a missing file, a safetensors file that
// is not a posetune checkpoint, or tensors that do not match the configured model.
void pt_export_set_from_checkpoint(pt_export_set *s, const char *path, int use_ema, FILE *log);

// Writes the set. out: a folder (diffusers) or a file (the others). dtype: PT_F16, PT_BF16, PT_F32.
// max_shard_bytes: 0 = PT_EXPORT_DEFAULT_SHARD. Lists what it wrote on log (may be NULL).
// Returns the number of weight files written; fails with PT_USAGE when the set has nothing the
// target can hold (e.g. no motion modules for animatediff).
int pt_export_write(const pt_export_set *s, pt_export_target target, const char *out, pt_dtype dtype,
                    size_t max_shard_bytes, FILE *log);

// "diffusers" | "sd-single-file" | "animatediff" -> target; -1 if unknown.
int pt_export_target_from_str(const char *s);

// Motion-module layout from the tensor names: the prefix before "down_blocks."/"mid_block."/
// "up_blocks." (e.g. "unet."), the number of down blocks, layers per down block, whether a mid-block
// module exists, and each down block's width. Returns 0 when the set has no motion modules.
int pt_export_motion_layout(const pt_export_set *s, char *prefix, size_t cap, int *n_blocks, int *layers,
                            int *has_mid, int *widths);

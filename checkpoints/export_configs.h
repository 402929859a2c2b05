// export_configs.h — config.json writers for the components `posetune export --to diffusers` writes.
//
// Each function returns the JSON text (caller frees) in the layout of the library that owns the
// format: diffusers' config.json (json.dumps(indent=2, sort_keys=True): "_class_name" and
// "_diffusers_version" first, then keys in sorted order), transformers' config.json for the CLIP
// vision tower. Everything the posetune loaders read back (pt_unet_config_from_json,
// pt_vae_config_from_json, pt_clip_vision_config_from_json, pt_motion_config_from_json) is
// written, so config -> JSON -> config is the identity.
//
// posetune's own modules (DreamPose adapter, Pose Guider) have no diffusers class; their config.json
// carries "_class_name" (the reference implementation's class) and "_posetune" keys describing the
// tensors, enough to rebuild the module.
#pragma once
#include <stdint.h>

#include "autograd/dtype.h"
#include "checkpoints/weights.h"
#include "models/clip_vision.h"
#include "models/motion_module.h"
#include "models/unet.h"
#include "models/vae.h"

#define PT_EXPORT_DIFFUSERS_VERSION "0.27.2"
#define PT_EXPORT_TRANSFORMERS_VERSION "4.38.2"

// sample_size: the latent resolution the UNet is trained at (SD1.5: 64); <= 0 writes 64.
char *pt_export_unet_config_json(const pt_unet_config *c, int sample_size);
// sample_size: the image resolution (SD: 512); <= 0 writes 512.
char *pt_export_vae_config_json(const pt_vae_config *c, int sample_size);
// architectures: CLIPVisionModelWithProjection when with_projection, else CLIPVisionModel.
char *pt_export_clip_config_json(const pt_clip_vision_config *c, int with_projection, pt_dtype dtype);
// DreamPose Embedding_Adapter: n_tokens T (CLIP tokens), dim D, latent (C, h, w) before the 2x2 max-pool.
char *pt_export_adapter_config_json(int n_tokens, int dim, int latent_channels, int latent_h, int latent_w);
// Pose Guider, described from its tensors (names under `prefix` in w): conv_in, blocks.N, conv_out.
char *pt_export_pose_guider_config_json(const pt_weights *w, const char *prefix);
// diffusers MotionAdapter: block widths of the UNet's down blocks, layers per down block.
char *pt_export_motion_adapter_config_json(const pt_motion_config *c, int n_blocks, const int *block_out_channels,
                                           int layers_per_block, int has_mid);

// The training noise schedule as a diffusers DDPMScheduler scheduler_config.json.
typedef struct pt_export_sched {
    int num_train_timesteps;
    double beta_start, beta_end;
    const char *prediction_type;     // "epsilon" | "v_prediction"
    const char *timestep_spacing;    // "leading" | "trailing" | "linspace"
    int rescale_betas_zero_snr;
} pt_export_sched;
char *pt_export_scheduler_config_json(const pt_export_sched *s);

// Writes text + "\n" to path atomically (tools/check.h pt_atomic_*).
void pt_export_write_text(const char *path, const char *text);

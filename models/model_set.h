// model_set.h — the DreamPose model set built from a config: UNet (conv_in widened to 4 + 2*n_poses),
// VAE, CLIP vision tower and the CLIP+VAE adapter, in ONE parameter table with the prefixes
// "unet.", "vae.", "clip.", "adapter.".
//
//   pt_model_set ms;
//   pt_model_set_build(&ms, cfg, PT_MS_TRAIN_DIFFUSION);   // trainable: unet.* + adapter.*
//   ... pt_unet_forward(&ms.unet, ...) ...
//   pt_model_set_free(&ms);
//
// Weights, in order:
//   1. tiny random models (cfg->model.tiny): each component is initialised on its own with
//      pt_params_init_random(seed derived from model.init_seed and the component's name), so a
//      component's initial weights do not depend on which other components are built. Then the
//      DreamPose inits: conv_in channels 4.. are zero (channels 0..3 keep a 4-channel init and the
//      bias is kept: the same property as the pretrained widening), the adapter is identity on the
//      CLIP tokens (pt_dp_adapter_reset). The tiny VAE uses scaling factor 1.5 (unit-variance latents,
//      as 0.18215 is for SD's VAE) and starts with a narrow posterior (logvar = -12, like a trained VAE).
//      Pretrained models (model.unet / model.vae / model.clip): a diffusers / transformers folder
//      with config.json, or a weights file with config.json beside it, or an original SD single
//      file (model.diffusion_model.* / first_stage_model.* names, converted through the tables of
//      checkpoints/names_sd.h; SD1.5 configs when no config.json is found; one file may serve both
//      model.unet and model.vae). The UNet is loaded with pt_unet_load_widened (pretrained conv_in
//      in channels 0..3, zeros after, pretrained bias).
//   2. cfg->model.checkpoint: a posetune checkpoint file, or a run folder (its latest checkpoint in
//      <dir>/checkpoints): every "model.<param>" tensor it holds replaces the parameter.
//   3. cfg->model.vae_decoder_checkpoint (file or run folder): its "model.vae.decoder.*" tensors.
//
// Device and precision: train.device cpu -> CPU f32; cuda -> CUDA, with bf16 parameters for
// train.precision bf16 (the trainer keeps f32 master weights).
#pragma once
#include "models/clip_preprocess.h"
#include "models/clip_vision.h"
#include "models/dreampose_adapter.h"
#include "models/params.h"
#include "models/unet.h"
#include "models/vae.h"
#include "trainer/config.h"

typedef enum {
    PT_MS_TRAIN_NONE = 0,       // inference: everything frozen
    PT_MS_TRAIN_DIFFUSION,      // phase full / subject: unet.* + adapter.*
    PT_MS_TRAIN_VAE_DECODER,    // phase vae_decoder: vae.decoder.* (only the VAE is built)
} pt_ms_train;

typedef struct pt_model_set {
    pt_params P;
    pt_device device;
    pt_dtype dtype;                  // compute dtype of the parameters
    int has_unet;                    // 0 in the VAE decoder phase (VAE only)
    pt_unet unet;
    pt_vae vae;
    pt_clip_vision clip;
    pt_clip_preprocess_config clip_pre;
    pt_dp_adapter adapter;
    int height, width;               // image size (data.height, data.width)
    int latent_h, latent_w;          // height / vae factor
    int vae_factor;                  // 2^(VAE blocks - 1)
    int n_poses;                     // data.n_poses
    int clip_tokens, clip_dim;       // CLIP last_hidden_state (B, clip_tokens, clip_dim)
} pt_model_set;

void pt_model_set_build(pt_model_set *m, const pt_config *cfg, pt_ms_train train);
void pt_model_set_free(pt_model_set *m);

// The newest checkpoint of a run folder (<dir>/checkpoints/step-*.safetensors), the path itself when
// it is a file; PT_USAGE naming `key` when neither exists. Caller frees.
char *pt_model_set_resolve_checkpoint(const char *path, const char *key);

// ---- the conditioning path (no gradient through CLIP or the VAE) -----------------------------------
// cond (B, 3, H, W) host f32 in [-1, 1]; rows with drop[b] != 0 are replaced by zeros (a black...
// i.e. the "null image": zeros in [-1, 1] space, as DreamPose feeds torch.zeros). drop may be NULL.
// Returns the adapter's input pieces: clip hidden (B, T, D) and the scaled VAE latent mean (B, 4, h, w),
// both in the current scope, on the model device, compute dtype.
void pt_model_set_cond_inputs(pt_model_set *m, const float *cond, int B, const int32_t *drop, pt_tensor **clip_hidden,
                              pt_tensor **cond_latent);
// The cross-attention context (B, T, D) = adapter(clip hidden, latent) (records autograd when the adapter trains).
pt_tensor *pt_model_set_context(pt_model_set *m, const float *cond, int B, const int32_t *drop);
// Poses (B, 2*n_poses, H, W) host in [0, 1] -> (B, 2*n_poses, h, w) on the latent grid (nearest);
// rows with drop[b] != 0 become zeros. dst is host memory.
void pt_model_set_poses_to_latent(const pt_model_set *m, const float *poses, int B, const int32_t *drop, float *dst);
// UNet input (B, 4 + 2*n_poses, h, w) = concat(latent x (B,4,h,w), poses (B,2n,h,w)), both host f32.
pt_tensor *pt_model_set_unet_input(pt_model_set *m, const float *x, const float *poses_lat, int B);

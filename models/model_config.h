// model_config.h — the configuration pieces both model sets share (models/model_set.h for DreamPose,
// trainer/aa_models.h for Animate Anyone): device / dtype from train.*, config.json of a pretrained
// component, the tiny configurations of model.tiny_size, the "<prefix>name" <-> "name" load map and
// the CLIP image processor settings.
#pragma once
#include <stddef.h>

#include "autograd/tensor.h"
#include "models/clip_preprocess.h"
#include "models/clip_vision.h"
#include "models/unet.h"
#include "models/vae.h"
#include "trainer/config.h"

// train.device / train.precision -> CPU f32, or CUDA (bf16 parameters with train.precision bf16).
// PT_USAGE naming train.device when CUDA is asked for in a build without it.
void pt_model_device_from_config(const pt_config *cfg, pt_device *device, pt_dtype *dtype);

// config.json of a pretrained component: <weights>/config.json for a folder, else the config.json
// beside the weights file. PT_USAGE naming `key` when the path or its config.json does not exist.
void pt_model_config_path(const char *weights, const char *key, char *out, size_t n);

// pt_load_opts.map for a component under a prefix: parameter "<ctx>x" <-> file tensor "x"
// (ctx is the prefix string, e.g. "vae."); NULL for parameters outside the prefix.
const char *pt_model_strip_prefix_map(const char *param, char *buf, size_t n, void *ctx);

// Tiny configurations (cfg->model.tiny_size) on the SD wiring: every UNet block but the deepest has
// down attention (the mirror for up blocks), one transformer layer a block, time_embed_dim 4 x the
// first width; the VAE keeps pt_vae_config_sd's other fields (scaling factor included).
void pt_model_tiny_unet(const pt_config *cfg, pt_unet_config *c);
void pt_model_tiny_vae(const pt_config *cfg, pt_vae_config *c);
// The tiny CLIP widths (hidden, 4 x hidden MLP, layers, heads, image and patch size) over the base
// configuration already in *c (ViT-B/32 or ViT-L/14); projection_dim is left to the caller.
void pt_model_tiny_clip(const pt_config *cfg, pt_clip_vision_config *c);

// The CLIP image processor: tiny models resize and crop to the tower's image size; a pretrained
// model.clip folder with preprocessor_config.json gives its settings; else CLIPImageProcessor's defaults.
void pt_model_clip_preprocess(const pt_config *cfg, const pt_clip_vision_config *cc, pt_clip_preprocess_config *pre);

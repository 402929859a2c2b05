// vae.h — diffusers' AutoencoderKL (the Stable Diffusion VAE) on the posetune autograd engine.
//
//   pt_vae_config c; pt_vae_config_load(&c, "vae/config.json");
//   pt_vae v; pt_vae_init(&v, &c, &P, "");           // registers encoder.*, decoder.*, quant_conv, post_quant_conv
//   pt_params_set_trainable(&P, "", 0); pt_params_set_trainable(&P, "decoder.", 1);   // DreamPose VAE finetune
//   pt_params_finalize(&P);
//   pt_vae_upgrade_names(w); pt_params_load(&P, w, NULL);
//   pt_vae_encode(&v, x, &mean, &logvar);             // x (B, 3, H, W) in [-1, 1]
//   z = pt_vae_decode(&v, latents);                   // (B, 4, H/8, W/8) -> (B, 3, H, W)
//
// Computation (diffusers Encoder / Decoder / UNetMidBlock2D; every norm GroupNorm(groups, eps 1e-6)):
//   Encoder: conv_in 3x3 -> down block i: (layers_per_block resnets, then, except in the last block,
//            zero-pad (left 0, right 1, top 0, bottom 1) + conv 3x3 stride 2 no padding) -> mid block
//            -> silu(conv_norm_out) -> conv_out 3x3 (2 * latent channels)
//   quant_conv 1x1 -> moments; mean, logvar = split(moments); logvar clamped to [-30, 20].
//   Decoder: post_quant_conv 1x1 -> conv_in 3x3 -> mid block -> up block i (reversed widths):
//            (layers_per_block + 1 resnets, then, except in the last block, nearest 2x + conv 3x3)
//            -> silu(conv_norm_out) -> conv_out 3x3
//   Resnet (no time embedding): h = conv1(silu(norm1(x))); h = conv2(silu(norm2(h))); out = shortcut(x) + h,
//            shortcut a 1x1 conv when the widths differ.
//   Mid block: resnet -> attention -> resnet. Attention: one head of width C, GroupNorm on the input,
//            tokens (B, HW, C), to_q/to_k/to_v/to_out.0 linear with bias, softmax(q k^T / sqrt(C)) v,
//            + input (rescale_output_factor 1).
// Parameter names are exactly diffusers' (prefix + name). Hub files that use the deprecated
// attention names (query / key / value / proj_attn) load after pt_vae_upgrade_names; attention
// weights stored as 1x1 convs [C, C, 1, 1] are accepted by pt_params_load as [C, C].
#pragma once
#include "models/model_common.h"
#include "models/unet_blocks.h"
#include "tools/json.h"

#define PT_VAE_MAX_BLOCKS 6
#define PT_VAE_MAX_LAYERS 4   // layers_per_block (the decoder has one more resnet a block)

typedef struct pt_vae_config {
    int in_channels, out_channels, latent_channels;
    int n_blocks;
    int block_out_channels[PT_VAE_MAX_BLOCKS];
    int layers_per_block;
    int norm_num_groups;
    int use_quant_conv, use_post_quant_conv;
    int mid_block_add_attention;
    float scaling_factor;     // latents = scaling_factor * sample (SD: 0.18215)
} pt_vae_config;

// Stable Diffusion's VAE (83,653,863 parameters; decoder 49,490,179).
void pt_vae_config_sd(pt_vae_config *c);
// From a diffusers config.json object, or an object whose "config" key holds one (peer fixtures;
// a top-level "scaling_factor" is read too). Unsupported block types fail with PT_USAGE.
void pt_vae_config_from_json(pt_vae_config *c, const pt_json *root);
void pt_vae_config_load(pt_vae_config *c, const char *path);

typedef struct pt_vae_resnet {
    pt_gnorm norm1, norm2;
    pt_conv conv1, conv2, conv_shortcut;   // conv_shortcut.w NULL when in == out
    int in, out;
} pt_vae_resnet;

typedef struct pt_vae_attn {
    pt_gnorm group_norm;
    pt_lin to_q, to_k, to_v, to_out;
    int channels;
} pt_vae_attn;

typedef struct pt_vae_mid {
    pt_vae_resnet res0, res1;
    pt_vae_attn attn;
    int has_attn;
} pt_vae_mid;

typedef struct pt_vae_block {
    int n_layers;
    pt_vae_resnet resnets[PT_VAE_MAX_LAYERS + 1];
    int has_resample;
    pt_conv down;          // encoder: downsamplers.0.conv (stride 2, padding applied by hand)
    pt_resample up;        // decoder: upsamplers.0.conv (models/unet_blocks.h)
} pt_vae_block;

typedef struct pt_vae {
    pt_vae_config cfg;
    // encoder
    pt_conv enc_conv_in, enc_conv_out;
    pt_vae_block enc_down[PT_VAE_MAX_BLOCKS];
    pt_vae_mid enc_mid;
    pt_gnorm enc_norm_out;
    pt_conv quant_conv;        // w NULL when use_quant_conv is false
    // decoder
    pt_conv post_quant_conv;   // w NULL when use_post_quant_conv is false
    pt_conv dec_conv_in, dec_conv_out;
    pt_vae_mid dec_mid;
    pt_vae_block dec_up[PT_VAE_MAX_BLOCKS];
    pt_gnorm dec_norm_out;
    int parts;                 // PT_VAE_ENCODER | PT_VAE_DECODER
    int checkpoint;            // recompute every resnet in backward (gradient checkpointing)
} pt_vae;

// Registers every parameter in P (not finalized) under prefix + diffusers name. prefix "" or "vae.".
void pt_vae_init(pt_vae *v, const pt_vae_config *c, pt_params *P, const char *prefix);
// Only some parts: PT_VAE_ENCODER (encoder.* + quant_conv), PT_VAE_DECODER (post_quant_conv +
// decoder.*). Load such a table with allow_unexpected (the file holds the other half too).
enum { PT_VAE_ENCODER = 1, PT_VAE_DECODER = 2, PT_VAE_BOTH = 3 };
void pt_vae_init_parts(pt_vae *v, const pt_vae_config *c, pt_params *P, const char *prefix, int parts);

// x (B, in_channels, H, W), H and W divisible by 2^(n_blocks-1) ->
// mean, logvar (B, latent_channels, H/8, W/8) (SD). Both belong to the current scope.
// The clamp of logvar to [-30, 20] is applied without a gradient (the encoder is frozen in every
// regime); a logvar that needed no clamping keeps its autograd history.
void pt_vae_encode(pt_vae *v, pt_tensor *x, pt_tensor **mean, pt_tensor **logvar);
// The diagonal Gaussian's sample: mean + exp(0.5 * logvar) * noise, noise (same shape) from the caller.
// No gradient flows through it (computed on the host for the exp; tensors are small latents).
pt_tensor *pt_vae_sample(pt_tensor *mean, pt_tensor *logvar, pt_tensor *noise);
// Convenience for trainers: scaling_factor * (noise ? sample : mean), no gradient.
pt_tensor *pt_vae_encode_latents(pt_vae *v, pt_tensor *x, pt_tensor *noise);
// z (B, latent_channels, h, w) (already divided by scaling_factor) -> (B, out_channels, 8h, 8w).
pt_tensor *pt_vae_decode(pt_vae *v, pt_tensor *z);

// Renames the deprecated mid-block attention tensors of a weights file in place
// ("...mid_block.attentions.N.{query,key,value,proj_attn}.{weight,bias}" -> to_q / to_k / to_v /
// to_out.0). Returns the number of tensors renamed.
int pt_vae_upgrade_names(pt_weights *w);

// unet.h — diffusers' UNet2DConditionModel (SD1.x family) on the posetune autograd engine, with the
// hooks DreamPose and Animate Anyone training need.
//
//   pt_unet_config cfg; pt_unet_config_load(&cfg, "unet/config.json");
//   pt_params P; pt_params_init(&P, PT_CPU, PT_F32);
//   pt_unet u; pt_unet_init(&u, &cfg, &P, "");      // registers every parameter (diffusers names)
//   pt_params_finalize(&P);
//   pt_unet_load(&u, weights);                      // strict, by name
//   pt_tensor *eps = pt_unet_forward(&u, sample, timesteps, context, NULL);
//
// Parameter names are exactly the diffusers checkpoint names (prefix + name when a prefix is given,
// e.g. "reference_unet." to keep two UNets in one table; pt_unet_load strips it).
//
// Block wiring (SD1.5: 4 down blocks of 2 layers, mid block, 4 up blocks of 3 layers):
//   conv_in -> [+ conv_in_residual] -> skip 0
//   down block i, layer j: resnet -> transformer (CrossAttn blocks) -> temporal slot -> skip
//                          downsampler (all but the last block) -> skip
//   [+ ControlNet residual on every skip]
//   mid: resnet 0 -> transformer -> temporal slot -> resnet 1 -> [+ mid residual]
//   up block i, layer j: concat(h, last skip) -> resnet -> transformer -> temporal slot
//                        upsampler (all but the last block)
//   conv_norm_out -> silu -> conv_out                       (skipped with hooks->no_head)
//
// Temporal slots (AnimateDiff v2 motion modules), numbered in forward order:
//   down block i, layer j: slot i*L + j                   (SD1.5: 0..7; widths 320,320,640,640,1280 x4)
//   mid block:             slot n_down*L                  (SD1.5: 8; AnimateDiff places it between the
//                                                          mid attention and the second mid resnet)
//   up block i, layer j:   slot n_down*L + 1 + i*(L+1) + j  (SD1.5: 9..20)
// (L = layers_per_block; with per-block layer counts the slots simply continue in forward order.)
// pt_unet_temporal_slot_channels() gives each slot's width.
//
// Reference attention blocks are numbered in forward order too (SD1.5: 16 = down 0-2: 2 each,
// mid 1, up 1-3: 3 each); see models/transformer2d.h for WRITE / READ semantics.
#pragma once
#include "models/params.h"
#include "models/transformer2d.h"
#include "models/unet_blocks.h"
#include "tools/json.h"

#define PT_UNET_MAX_BLOCKS 8

typedef struct pt_unet_config {
    int in_channels, out_channels;
    int n_blocks;                                      // len(block_out_channels)
    int block_out_channels[PT_UNET_MAX_BLOCKS];
    int layers_per_block[PT_UNET_MAX_BLOCKS];          // per down block; up blocks have one more
    int down_attn[PT_UNET_MAX_BLOCKS];                 // 1: CrossAttnDownBlock2D, 0: DownBlock2D
    int up_attn[PT_UNET_MAX_BLOCKS];                   // 1: CrossAttnUpBlock2D, 0: UpBlock2D
    int heads[PT_UNET_MAX_BLOCKS];                     // attention heads per down block (SD1: attention_head_dim)
    int transformer_layers[PT_UNET_MAX_BLOCKS];        // per down block (default 1)
    int has_mid_block;                                 // UNetMidBlock2DCrossAttn
    int cross_attention_dim;
    int norm_num_groups;
    float norm_eps;
    int use_linear_projection;
    int flip_sin_to_cos;
    float freq_shift;
    int time_embed_dim;                                // 4 * block_out_channels[0] unless configured
    float mid_block_scale_factor;
    int center_input_sample;
} pt_unet_config;

// Stable Diffusion 1.5's UNet (859,520,964 parameters).
void pt_unet_config_sd15(pt_unet_config *c);
// From a diffusers config.json object, or an object whose "config" key holds one (peer fixtures).
// Unknown block types and unsupported options fail with PT_USAGE naming the key.
void pt_unet_config_from_json(pt_unet_config *c, const pt_json *root);
void pt_unet_config_load(pt_unet_config *c, const char *path);

typedef struct pt_unet_down {
    int n_layers, has_attn, has_downsample;
    pt_resnet *resnets;
    pt_transformer2d *attns;      // NULL without attention
    pt_resample downsample;
} pt_unet_down;

typedef struct pt_unet_up {
    int n_layers, has_attn, has_upsample;
    pt_resnet *resnets;
    pt_transformer2d *attns;
    pt_resample upsample;
} pt_unet_up;

typedef struct pt_unet {
    pt_unet_config cfg;
    pt_params *P;
    char prefix[64];
    pt_conv conv_in, conv_out;
    pt_gnorm conv_norm_out;
    pt_lin time_linear_1, time_linear_2;
    pt_unet_down down[PT_UNET_MAX_BLOCKS];
    pt_resnet mid_resnets[2];
    pt_transformer2d mid_attn;
    pt_unet_up up[PT_UNET_MAX_BLOCKS];
    int n_transformer_blocks;     // reference-bank entries per forward (SD1.5: 16)
    int n_temporal_slots;         // SD1.5: 21
    int n_skips;                  // down-block skip connections incl. conv_in's output (SD1.5: 12)
    int temporal_channels[64];    // width of each temporal slot
    int skip_channels[64];        // width of each skip (ControlNet residual shapes)
} pt_unet;

// Registers every parameter in P (which must not be finalized yet). prefix may be NULL or "".
void pt_unet_init(pt_unet *u, const pt_unet_config *c, pt_params *P, const char *prefix);
void pt_unet_free(pt_unet *u);    // the block arrays; P belongs to the caller
// Strict load by name (missing, mis-shaped or unexpected tensors are PT_USAGE errors).
void pt_unet_load(pt_unet *u, const pt_weights *w);
// DreamPose: the model was built with in_channels N >= the checkpoint's conv_in input channels K:
// conv_in.weight[:, :K] = checkpoint, [:, K:] = 0, conv_in.bias = checkpoint; everything else strict.
void pt_unet_load_widened(pt_unet *u, const pt_weights *w);
int pt_unet_temporal_slot_channels(const pt_unet *u, int slot);

typedef struct pt_unet_hooks {
    // (a) Pose Guider: added to conv_in's output. (B, block_out_channels[0], H, W) or NULL.
    pt_tensor *conv_in_residual;
    // (b) reference attention (Animate Anyone). WRITE clears the bank first, then fills it.
    //     ref_frames: READ repeats each bank entry over this many consecutive frames
    //     (0: batch / bank batch).
    pt_ref_mode ref_mode;
    pt_ref_bank *ref_bank;
    int ref_frames;
    // (c) motion modules: called at every temporal slot with h (B*frames, C, H, W); returns the new
    //     h (same shape). NULL: no temporal layers.
    pt_tensor *(*temporal)(void *ctx, int slot, pt_tensor *h, int frames);
    void *temporal_ctx;
    int frames;
    // (d) ControlNet residuals (DisCo): n_skips tensors added to the skips (order of u->skip_channels)
    //     and one added to the mid-block output. NULL: none.
    pt_tensor *const *down_residuals;
    int n_down_residuals;
    pt_tensor *mid_residual;
    // (e) gradient checkpointing of every resnet and every transformer block.
    int checkpoint;
    // Reference UNet: stop after the last up block (its transformer blocks have written the bank);
    // conv_norm_out / conv_out are skipped and the result is (B, block_out_channels[0], H, W).
    int no_head;
} pt_unet_hooks;

// sample (B, in_channels, H, W) (H, W divisible by 2^(number of downsamplers)); timesteps (B) or
// (1) or a scalar, i64 or f32; context (B, S, cross_attention_dim). hooks may be NULL.
// Returns (B, out_channels, H, W).
pt_tensor *pt_unet_forward(pt_unet *u, pt_tensor *sample, pt_tensor *timesteps, pt_tensor *context,
                           const pt_unet_hooks *hooks);

// motion_module.h — AnimateDiff's VanillaTemporalModule (v2: mm_sd_v15_v2) on the autograd engine.
//
// One module of width C on h (B*F, C, H, W), the F frames of each batch item consecutive:
//   x = GroupNorm(groups 32, eps 1e-6)(h)                      per frame (AnimateDiff), or over the
//                                                              frames of each video (diffusers; see
//                                                              pt_motion_config.norm_over_frames)
//   t = (B*F, C, H, W) -> (B*H*W, F, C)                        one temporal sequence per pixel
//   t = proj_in(t)                                             Linear C -> C
//   block (num_layers of them):
//     for k in 0, 1:  t = t + to_out.0(attn(n, n)),  n = norms.k(t) + pe[:F]
//        attn: to_q / to_k / to_v (no bias), `heads` heads, scale 1/sqrt(C/heads), over the F frames
//     t = t + ff.net.2(geglu(ff.net.0.proj(ff_norm(t))))        C -> 8C -> (4C) -> C
//   t = proj_out(t)                                            Linear C -> C
//   out = t back to (B*F, C, H, W) + h
// pe[p, 2i] = sin(p * 10000^(-2i/C)), pe[p, 2i+1] = cos(p * 10000^(-2i/C)) (recomputed; the
// checkpoint's "...attention_blocks.N.pos_encoder.pe" buffers are checked, never parameters).
// LayerNorms eps 1e-5. Names (AnimateDiff checkpoints), under "<base>.temporal_transformer.":
//   norm, proj_in, proj_out, transformer_blocks.L.attention_blocks.{0,1}.{to_q,to_k,to_v,to_out.0},
//   transformer_blocks.L.norms.{0,1}, transformer_blocks.L.ff.net.0.proj, .ff.net.2, .ff_norm
// Parameters of one module of width C (1 layer): 22 C^2 + 21 C.
#pragma once
#include "models/model_common.h"
#include "tools/json.h"

typedef struct pt_motion_config {
    int heads;            // 8
    int num_layers;       // transformer blocks per module: 1
    int max_len;          // temporal_position_encoding_max_len: 32 (v2), 24 (v1)
    int norm_num_groups;  // 32
    int norm_over_frames; // 0: AnimateDiff's own code (GroupNorm of each frame, "(b f) c h w"; Moore-
                          //    AnimateAnyone); 1: diffusers' AnimateDiffTransformer3D (GroupNorm of
                          //    (b, c, f, h, w): statistics over all frames of a video). Same weights.
    int num_frames;       // frames of the peer fixture (not part of the model), 0 if absent
    int in_channels;      // width of a standalone module (fixture json), 0 if absent
} pt_motion_config;

void pt_motion_config_v2(pt_motion_config *c);   // mm_sd_v15_v2: 8 heads, 1 layer, max_len 32, 32 groups
// Keys: heads / num_attention_heads, num_layers / num_transformer_block, max_seq_length /
// temporal_position_encoding_max_len, norm_num_groups, norm_over_frames, num_frames, in_channels.
// Missing: v2 values, norm_over_frames 0. A diffusers MotionAdapter config.json (motion_* keys)
// sets norm_over_frames 1 unless the key says otherwise.
void pt_motion_config_from_json(pt_motion_config *c, const pt_json *root);
void pt_motion_config_load(pt_motion_config *c, const char *path);

typedef struct pt_motion_attn { pt_lin to_q, to_k, to_v, to_out; } pt_motion_attn;

typedef struct pt_motion_block {
    pt_lnorm norms[2], ff_norm;
    pt_motion_attn attn[2];
    pt_lin ff_in, ff_out;   // ff.net.0.proj (C -> 8C), ff.net.2 (4C -> C)
} pt_motion_block;

typedef struct pt_motion_module {
    pt_gnorm norm;
    pt_lin proj_in, proj_out;
    int n_layers;
    pt_motion_block *blocks;
    int channels, heads, max_len, norm_over_frames;
    pt_tensor *pe;          // (max_len, C) cached on the device/dtype of the first input (owned)
} pt_motion_module;

// base: "" for a standalone module (fixture names "temporal_transformer.…") or
// "down_blocks.0.motion_modules.0" (with any model prefix already in it).
void pt_motion_module_init(pt_motion_module *m, pt_params *P, const char *base, const pt_motion_config *c,
                           int channels);
void pt_motion_module_free(pt_motion_module *m);
// Zero proj_out's weight and bias (a module trained from scratch starts as the identity).
// After pt_params_finalize.
void pt_motion_module_zero_init(pt_motion_module *m);
// h (B*frames, C, H, W) -> same shape. checkpoint: recompute the transformer in backward.
pt_tensor *pt_motion_module_forward(pt_motion_module *m, pt_tensor *h, int frames, int checkpoint);
// The sinusoidal encoding pe (max_len, C) into dst (host f32).
void pt_motion_position_encoding(int max_len, int channels, float *dst);

// ---- the 21 modules of a UNet (mm_sd_v15_v2) ---------------------------------------------------------
#define PT_MOTION_MAX_SLOTS 64
typedef struct pt_motion_set {
    int n;                                   // SD1.5: 21
    pt_motion_module mods[PT_MOTION_MAX_SLOTS];
    char names[PT_MOTION_MAX_SLOTS][96];     // "down_blocks.0.motion_modules.0" (without prefix)
    int checkpoint;                          // gradient checkpointing of every module
} pt_motion_set;

// Modules in UNet forward order (= the UNet's temporal slot numbers, models/unet.h):
//   down block i, layer j: slot i*L + j -> "down_blocks.i.motion_modules.j"
//   mid block:             slot n_blocks*L -> "mid_block.motion_modules.0"
//   up block i, layer j:   slot n_blocks*L + 1 + i*(L+1) + j -> "up_blocks.i.motion_modules.j"
// slot_channels: the width of each slot (pt_unet's temporal_channels), n_blocks*(2L+1)+1 entries.
void pt_motion_modules_build(pt_motion_set *s, pt_params *P, const char *prefix, const pt_motion_config *c,
                             int n_blocks, int layers_per_block, const int *slot_channels);
// mm_sd_v15_v2: 4 blocks, 2 layers; widths 320 320 640 640 1280 1280 1280 1280 | 1280 |
// 1280 x3, 1280 x3, 640 x3, 320 x3 (453,209,280 parameters).
void pt_motion_modules_build_sd15(pt_motion_set *s, pt_params *P, const char *prefix, const pt_motion_config *c);
void pt_motion_modules_free(pt_motion_set *s);
void pt_motion_modules_zero_init(pt_motion_set *s);
// The UNet's temporal hook (pt_unet_hooks.temporal, temporal_ctx = the pt_motion_set).
pt_tensor *pt_motion_temporal_hook(void *ctx, int slot, pt_tensor *h, int frames);

// Load like pt_params_load (opts may be NULL), accepting the checkpoint's pos_encoder.pe buffers:
// each one is compared with the recomputed encoding (a mismatch above 1e-4 is a PT_USAGE error
// naming the tensor); any other tensor no parameter takes is an error unless opts->allow_unexpected.
void pt_motion_load(pt_params *P, const pt_weights *w, const pt_load_opts *opts);

// pose_guider.h — Animate Anyone's Pose Guider (Moore-AnimateAnyone src/models/pose_guider.py names):
// a small conv net that maps the skeleton image to the width of the UNet's conv_in output; its
// result is ADDED to conv_in's output (pt_unet_hooks.conv_in_residual), not to the latent.
//
//   channels c[0..n-1] (real: [16, 32, 96, 256]; tiny: model.tiny_size.pose_guider_channels)
//   conv_in     3 -> c0, 3x3 pad 1                                   SiLU
//   blocks.2i   c_i -> c_i, 3x3 pad 1                                SiLU      i = 0 .. n-2
//   blocks.2i+1 c_i -> c_{i+1}, 3x3 pad 1 stride 2                   SiLU
//   conv_out    c_{n-1} -> out (320), 3x3 pad 1, ZERO-initialised (weight and bias)
// (B, 3, H, W) in [0, 1] -> (B, out, H / 2^(n-1), W / 2^(n-1)).  Real: 8 conv layers, H/8.
//
// ControlNet's `controlnet_cond_embedding.*` has the same structure and names (conv_in,
// blocks.0..5, conv_out); pt_pose_guider_load_controlnet copies conv_in and blocks from it and
// keeps conv_out zero (as Moore-AnimateAnyone's stage-1 script does: it skips conv_out).
#pragma once
#include "models/model_common.h"

#define PT_PG_MAX_LEVELS 8

typedef struct pt_pose_guider {
    pt_conv conv_in, conv_out;
    pt_conv blocks[2 * (PT_PG_MAX_LEVELS - 1)];
    int n_blocks;            // 2 * (n_levels - 1)
    int n_down;              // stride-2 convs: output is input / 2^n_down
    int out_channels;
    char prefix[64];
} pt_pose_guider;

// Registers prefix + "conv_in", "blocks.N", "conv_out" (weight + bias each) in P (not finalized).
void pt_pose_guider_init(pt_pose_guider *g, pt_params *P, const char *prefix, const int *channels, int n_levels,
                         int in_channels, int out_channels);
// conv_out weight and bias = 0 (after pt_params_finalize): the guider starts as "no pose signal".
void pt_pose_guider_zero_out(pt_pose_guider *g);
// pose (B, in, H, W) -> (B, out, H >> n_down, W >> n_down). H and W must be multiples of 2^n_down.
pt_tensor *pt_pose_guider_forward(pt_pose_guider *g, pt_tensor *pose);
// Copy conv_in.* and blocks.* from a ControlNet file's controlnet_cond_embedding.* (shapes must
// match: PT_USAGE naming the tensor otherwise). conv_out is left as is. Returns tensors loaded.
int pt_pose_guider_load_controlnet(pt_pose_guider *g, pt_params *P, const pt_weights *w);

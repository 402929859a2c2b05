// unet_blocks.h — diffusers' ResnetBlock2D, Downsample2D and Upsample2D (SD1.x settings).
//
// ResnetBlock2D (time_embedding_norm "default", pre-norm, silu, dropout 0):
//   h = conv1(silu(norm1(x))) + time_emb_proj(silu(temb))[:, :, None, None]
//   h = conv2(silu(norm2(h)))
//   out = (shortcut(x) + h) / output_scale_factor      shortcut: 1x1 conv when in != out, else identity
// The caller passes silu(temb) (computed once per UNet forward), shape (B, temb_channels).
// Downsample2D: conv 3x3 stride 2 padding 1 ("<base>.conv").
// Upsample2D:   nearest 2x, then conv 3x3 padding 1 ("<base>.conv").
#pragma once
#include "models/model_common.h"

typedef struct pt_resnet {
    pt_gnorm norm1, norm2;
    pt_conv conv1, conv2, conv_shortcut;   // conv_shortcut.w NULL when in == out
    pt_lin time_emb_proj;                  // (temb_channels -> out)
    int in, out;
    float output_scale_factor;
} pt_resnet;

void pt_resnet_init(pt_resnet *r, pt_params *P, const char *base, int in, int out, int temb_channels, int groups,
                    float eps, float output_scale_factor);
// x (B, in, H, W), temb_act = silu(temb) (B, temb_channels) -> (B, out, H, W).
// checkpoint: recompute the block in backward (pt_checkpoint) instead of keeping its activations.
pt_tensor *pt_resnet_forward(pt_resnet *r, pt_tensor *x, pt_tensor *temb_act, int checkpoint);

typedef struct pt_resample { pt_conv conv; } pt_resample;
void pt_downsample_init(pt_resample *d, pt_params *P, const char *base, int channels);
void pt_upsample_init(pt_resample *u, pt_params *P, const char *base, int channels);
pt_tensor *pt_downsample_forward(pt_resample *d, pt_tensor *x);   // (B, C, H, W) -> (B, C, ceil(H/2), ceil(W/2))
pt_tensor *pt_upsample_forward(pt_resample *u, pt_tensor *x);     // (B, C, H, W) -> (B, C, 2H, 2W)

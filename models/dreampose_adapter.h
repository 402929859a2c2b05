// dreampose_adapter.h — DreamPose's CLIP + VAE embedding adapter (official Embedding_Adapter):
//
//   vae latent (B, 4, h, w) -> MaxPool2d(2) -> (B, 4, h/2*w/2) -> vae2clip Linear(h/2*w/2 -> D) -> (B, 4, D)
//   concat after the CLIP tokens (B, T, D) -> (B, T+4, D)
//   linear1: a Linear over the token axis (T+4 -> T) -> (B, T, D), the UNet's cross-attention context
//
// Parameter names are the official ones under a prefix: <prefix>vae2clip.{weight,bias},
// <prefix>linear1.{weight,bias}. Init (pt_dp_adapter_reset): linear1 = identity on the CLIP
// tokens and zero on the VAE tokens, its bias zero (the official code left the bias random, so its
// adapter did not return the CLIP tokens at init); vae2clip keeps its random init.
// At 640x512 with ViT-B/32: h x w = 80 x 64, T = 50, D = 768 -> vae2clip 1280 -> 768 (~0.99 M params).
#pragma once
#include "models/model_common.h"

typedef struct pt_dp_adapter {
    pt_lin vae2clip;   // (D, h/2*w/2)
    pt_lin linear1;    // (T, T+4)
    int n_tokens, dim, latent_channels, latent_h, latent_w;
} pt_dp_adapter;

void pt_dp_adapter_init(pt_dp_adapter *a, pt_params *P, const char *prefix, int n_clip_tokens, int clip_dim,
                        int latent_channels, int latent_h, int latent_w);
// Identity-on-CLIP init of linear1 (call after pt_params_finalize / random init).
void pt_dp_adapter_reset(pt_dp_adapter *a);
// clip_hidden (B, T, D), vae_latent (B, C, h, w) -> (B, T, D)
pt_tensor *pt_dp_adapter_forward(const pt_dp_adapter *a, pt_tensor *clip_hidden, pt_tensor *vae_latent);

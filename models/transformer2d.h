// transformer2d.h — diffusers' Transformer2DModel (continuous input) with BasicTransformerBlocks,
// plus the reference-attention bank of Animate Anyone (Moore-AnimateAnyone's mutual self-attention).
//
// Transformer2DModel:  x (B, C, H, W)
//   h = GroupNorm(groups, eps 1e-6)(x) -> proj_in (1x1 conv, or Linear after flattening when
//   use_linear_projection) -> tokens (B, H*W, C) -> BasicTransformerBlock x L -> proj_out -> + x
// BasicTransformerBlock (layer_norm, eps 1e-5):
//   n = norm1(h);  h = attn1(n, kv = n) + h                  self-attention (reference hook here)
//   h = attn2(norm2(h), kv = context) + h                     cross-attention
//   h = ff(norm3(h)) + h                                      ff.net.0.proj C->8C, GEGLU, ff.net.2 4C->C
// Attention: to_q/to_k/to_v without bias, to_out.0 with bias, `heads` heads, scale 1/sqrt(C/heads).
//
// Reference attention (pt_ref_ctx):
//   WRITE: every block appends n = norm1(h) (B, S, C) to the bank, in forward order, and runs plain
//          self-attention. The bank entry keeps its autograd history (the reference UNet trains).
//   READ:  block k (k-th block in forward order) uses keys/values from
//          concat([n, repeat_interleave(bank[k], frames)], token axis) with its own to_k/to_v;
//          queries from n. bank[k] is (Bref, S, C) and the UNet batch is Bref*frames, each reference
//          repeated over the consecutive frames of its video ((b f) layout).
//   NONE, or READ with an empty bank: plain self-attention.
#pragma once
#include "models/model_common.h"

typedef enum pt_ref_mode { PT_REF_NONE = 0, PT_REF_WRITE = 1, PT_REF_READ = 2 } pt_ref_mode;

// The bank owns one reference to each entry; entries are views that keep autograd history.
typedef struct pt_ref_bank { int n, cap; pt_tensor **t; } pt_ref_bank;
void pt_ref_bank_clear(pt_ref_bank *b);   // release every entry (keeps the array)
void pt_ref_bank_free(pt_ref_bank *b);    // clear and free the array
void pt_ref_bank_push(pt_ref_bank *b, pt_tensor *x);   // takes a new reference-owning view of x

// Per-forward reference state: the UNet sets it up from its hooks; `next` walks the blocks.
typedef struct pt_ref_ctx { pt_ref_mode mode; pt_ref_bank *bank; int frames; int next; } pt_ref_ctx;

typedef struct pt_attn { pt_lin to_q, to_k, to_v, to_out; int heads; } pt_attn;

typedef struct pt_tblock {
    pt_lnorm norm1, norm2, norm3;
    pt_attn attn1, attn2;
    pt_lin ff_in, ff_out;   // ff.net.0.proj (C -> 8C), ff.net.2 (4C -> C)
    int dim;
} pt_tblock;

typedef struct pt_transformer2d {
    pt_gnorm norm;
    int use_linear_projection;
    pt_conv proj_in_conv, proj_out_conv;   // 1x1 convs (use_linear_projection = 0)
    pt_lin proj_in_lin, proj_out_lin;      // linear (use_linear_projection = 1)
    int n_blocks;
    pt_tblock *blocks;
    int channels, heads;
} pt_transformer2d;

// base: "down_blocks.0.attentions.0". channels C = heads * head_dim.
void pt_transformer2d_init(pt_transformer2d *t, pt_params *P, const char *base, int channels, int heads,
                           int n_layers, int cross_dim, int groups, int use_linear_projection);
void pt_transformer2d_free(pt_transformer2d *t);
// x (B, C, H, W), context (B, S_ctx, cross_dim) -> (B, C, H, W). ref may be NULL.
// checkpoint: each BasicTransformerBlock is recomputed in backward (pt_checkpoint).
pt_tensor *pt_transformer2d_forward(pt_transformer2d *t, pt_tensor *x, pt_tensor *context, pt_ref_ctx *ref,
                                    int checkpoint);
// One block on tokens h (B, S, C).
pt_tensor *pt_tblock_forward(pt_tblock *b, pt_tensor *h, pt_tensor *context, pt_ref_ctx *ref, int checkpoint);

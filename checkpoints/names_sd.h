// names_sd.h — explicit name tables between diffusers and original (LDM) single-file Stable
// Diffusion 1.x checkpoints, for the UNet ("model.diffusion_model.…") and the VAE
// ("first_stage_model.…"), as diffusers' conversion scripts define them (facts, not code):
//
//   UNet (L = layers_per_block, diffusers <-> LDM)
//     conv_in <-> input_blocks.0.0          time_embedding.linear_1/2 <-> time_embed.0/2
//     conv_norm_out <-> out.0               conv_out <-> out.2
//     down_blocks.i.resnets.j    <-> input_blocks.(1 + i(L+1) + j).0   (resnet parts renamed)
//     down_blocks.i.attentions.j <-> input_blocks.(1 + i(L+1) + j).1   (inside unchanged)
//     down_blocks.i.downsamplers.0.conv <-> input_blocks.((i+1)(L+1)).0.op
//     up_blocks.i.resnets.j / attentions.j <-> output_blocks.(i(L+1) + j).0 / .1
//     up_blocks.i.upsamplers.0.conv <-> output_blocks.(i(L+1) + L).(1 if no attention else 2).conv
//     mid_block.resnets.0 / attentions.0 / resnets.1 <-> middle_block.0 / 1 / 2
//     resnet parts: norm1 in_layers.0, conv1 in_layers.2, time_emb_proj emb_layers.1,
//                   norm2 out_layers.0, conv2 out_layers.3, conv_shortcut skip_connection
//   VAE
//     {encoder,decoder}.conv_in/conv_out same; conv_norm_out <-> norm_out; quant_conv same
//     encoder.down_blocks.i.resnets.j <-> encoder.down.i.block.j ; downsamplers.0 <-> down.i.downsample
//     decoder.up_blocks.i.resnets.j <-> decoder.up.(n-1-i).block.j ; upsamplers.0 <-> up.(n-1-i).upsample
//     mid_block.resnets.k <-> mid.block_(k+1) ; conv_shortcut <-> nin_shortcut
//     mid_block.attentions.0.{group_norm,to_q,to_k,to_v,to_out.0} <-> mid.attn_1.{norm,q,k,v,proj_out}
//     (q/k/v/proj_out weights are [C,C,1,1] convs in LDM and [C,C] linears in diffusers)
//
// Unmapped names fail loudly (PT_USAGE naming the tensor).
#pragma once
#include <stddef.h>

#include "checkpoints/weights.h"
#include "tools/json.h"

typedef struct pt_sd_rule {
    char hf[80], ldm[80];   // name prefixes, ending in '.'
    int kind;               // how the rest of the name maps (names_sd.c)
} pt_sd_rule;

typedef struct pt_sd_names {
    const char *what;       // "UNet" / "VAE"
    const char *ldm_root;   // "model.diffusion_model." / "first_stage_model."
    int n; pt_sd_rule *r;
} pt_sd_names;

// Tables for a given structure. down_attn[i] / up_attn[i]: block i has (cross-)attentions.
pt_sd_names *pt_sd_names_unet_make(int n_blocks, int layers_per_block, const int *down_attn, const int *up_attn);
pt_sd_names *pt_sd_names_vae_make(int n_blocks, int layers_per_block);
// From a diffusers config.json (layers_per_block, down_block_types / up_block_types containing
// "CrossAttn" for attention blocks; the VAE counts block_out_channels).
pt_sd_names *pt_sd_names_unet_from_config(const pt_json *cfg);
pt_sd_names *pt_sd_names_vae_from_config(const pt_json *cfg);
pt_sd_names *pt_sd_names_unet_sd15(void);   // 4 blocks, 2 layers, attention in down 0-2 / up 1-3
pt_sd_names *pt_sd_names_vae_sd15(void);
void pt_sd_names_free(pt_sd_names *t);

// diffusers name -> full LDM name (with the root prefix) and back. *reshape is set to 1 when the
// tensor is a VAE attention weight ([C,C] diffusers <-> [C,C,1,1] LDM), else 0 (may be NULL).
// The pt_sd_try_* forms return 0 instead of failing when the name has no mapping.
void pt_sd_to_ldm(const pt_sd_names *t, const char *hf, char *out, size_t cap, int *reshape);
void pt_sd_from_ldm(const pt_sd_names *t, const char *ldm, char *out, size_t cap, int *reshape);
int pt_sd_try_to_ldm(const pt_sd_names *t, const char *hf, char *out, size_t cap, int *reshape);
int pt_sd_try_from_ldm(const pt_sd_names *t, const char *ldm, char *out, size_t cap, int *reshape);

// A view (non-owning: keep `ckpt` alive) of the tensors of a single-file checkpoint under
// t->ldm_root, renamed to diffusers names; VAE attention weights are reshaped [C,C,1,1] -> [C,C]
// (metadata only). An unmapped tensor under the root fails naming it.
pt_weights *pt_sd_view_from_ldm(const pt_weights *ckpt, const pt_sd_names *t);

// Normalises a diffusers VAE in place: deprecated attention names query/key/value/proj_attn ->
// to_q/to_k/to_v/to_out.0, and [C,C,1,1] attention weights -> [C,C]. Returns the count changed.
int pt_sd_vae_normalize(pt_weights *w);

// names_sd.c — diffusers <-> LDM name tables for the SD 1.x UNet and VAE (see names_sd.h).
#include "checkpoints/names_sd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/check.h"

// How the part of a name after the rule's prefix maps.
enum { K_PLAIN = 0,      // unchanged
       K_UNET_RESNET,    // first component: norm1 <-> in_layers.0, ...
       K_VAE_RESNET,     // conv_shortcut <-> nin_shortcut, others unchanged
       K_VAE_ATTN };     // group_norm <-> norm, to_q <-> q, ..., to_out.0 <-> proj_out

typedef struct { const char *hf, *ldm; } pair;
static const pair UNET_RESNET[] = {
    {"norm1", "in_layers.0"}, {"conv1", "in_layers.2"}, {"time_emb_proj", "emb_layers.1"},
    {"norm2", "out_layers.0"}, {"conv2", "out_layers.3"}, {"conv_shortcut", "skip_connection"},
};
static const pair VAE_RESNET[] = {
    {"norm1", "norm1"}, {"conv1", "conv1"}, {"norm2", "norm2"}, {"conv2", "conv2"}, {"conv_shortcut", "nin_shortcut"},
};
static const pair VAE_ATTN[] = {
    {"group_norm", "norm"}, {"to_q", "q"}, {"to_k", "k"}, {"to_v", "v"}, {"to_out.0", "proj_out"},
};

static void add(pt_sd_names *t, int kind, const char *hf_fmt, const char *ldm_fmt, int a, int b, int c, int d) {
    t->r = pt_realloc(t->r, (size_t)(t->n + 1) * sizeof(pt_sd_rule));
    pt_sd_rule *r = &t->r[t->n++];
    r->kind = kind;
    snprintf(r->hf, sizeof r->hf, hf_fmt, a, b);
    snprintf(r->ldm, sizeof r->ldm, ldm_fmt, c, d);
}

pt_sd_names *pt_sd_names_unet_make(int nb, int L, const int *down_attn, const int *up_attn) {
    PT_CHECKF(nb >= 1 && nb <= 8 && L >= 1 && L <= 8, "UNet name table: %d blocks x %d layers unsupported", nb, L);
    pt_sd_names *t = pt_calloc(1, sizeof *t);
    t->what = "UNet";
    t->ldm_root = "model.diffusion_model.";
    add(t, K_PLAIN, "conv_in.", "input_blocks.0.0.", 0, 0, 0, 0);
    add(t, K_PLAIN, "time_embedding.linear_1.", "time_embed.0.", 0, 0, 0, 0);
    add(t, K_PLAIN, "time_embedding.linear_2.", "time_embed.2.", 0, 0, 0, 0);
    add(t, K_PLAIN, "conv_norm_out.", "out.0.", 0, 0, 0, 0);
    add(t, K_PLAIN, "conv_out.", "out.2.", 0, 0, 0, 0);
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < L; j++) {
            int n = 1 + i * (L + 1) + j;
            add(t, K_UNET_RESNET, "down_blocks.%d.resnets.%d.", "input_blocks.%d.0.", i, j, n, 0);
            if (down_attn[i]) add(t, K_PLAIN, "down_blocks.%d.attentions.%d.", "input_blocks.%d.1.", i, j, n, 0);
        }
        if (i < nb - 1)
            add(t, K_PLAIN, "down_blocks.%d.downsamplers.0.conv.", "input_blocks.%d.0.op.", i, 0, (i + 1) * (L + 1), 0);
        for (int j = 0; j <= L; j++) {
            int n = i * (L + 1) + j;
            add(t, K_UNET_RESNET, "up_blocks.%d.resnets.%d.", "output_blocks.%d.0.", i, j, n, 0);
            if (up_attn[i]) add(t, K_PLAIN, "up_blocks.%d.attentions.%d.", "output_blocks.%d.1.", i, j, n, 0);
        }
        if (i < nb - 1)
            add(t, K_PLAIN, "up_blocks.%d.upsamplers.0.conv.", "output_blocks.%d.%d.conv.", i, 0,
                i * (L + 1) + L, up_attn[i] ? 2 : 1);
    }
    add(t, K_UNET_RESNET, "mid_block.resnets.0.", "middle_block.0.", 0, 0, 0, 0);
    add(t, K_PLAIN, "mid_block.attentions.0.", "middle_block.1.", 0, 0, 0, 0);
    add(t, K_UNET_RESNET, "mid_block.resnets.1.", "middle_block.2.", 0, 0, 0, 0);
    return t;
}

pt_sd_names *pt_sd_names_vae_make(int nb, int L) {
    PT_CHECKF(nb >= 1 && nb <= 8 && L >= 1 && L <= 8, "VAE name table: %d blocks x %d layers unsupported", nb, L);
    pt_sd_names *t = pt_calloc(1, sizeof *t);
    t->what = "VAE";
    t->ldm_root = "first_stage_model.";
    add(t, K_PLAIN, "quant_conv.", "quant_conv.", 0, 0, 0, 0);
    add(t, K_PLAIN, "post_quant_conv.", "post_quant_conv.", 0, 0, 0, 0);
    static const char *sides[2] = {"encoder", "decoder"};
    for (int s = 0; s < 2; s++) {
        char hf[80], ldm[80];
        const char *side = sides[s];
#define SIDE(h, l) (snprintf(hf, sizeof hf, "%s.%s", side, h), snprintf(ldm, sizeof ldm, "%s.%s", side, l))
        SIDE("conv_in.", "conv_in.");             add(t, K_PLAIN, hf, ldm, 0, 0, 0, 0);
        SIDE("conv_out.", "conv_out.");           add(t, K_PLAIN, hf, ldm, 0, 0, 0, 0);
        SIDE("conv_norm_out.", "norm_out.");      add(t, K_PLAIN, hf, ldm, 0, 0, 0, 0);
        SIDE("mid_block.resnets.0.", "mid.block_1."); add(t, K_VAE_RESNET, hf, ldm, 0, 0, 0, 0);
        SIDE("mid_block.resnets.1.", "mid.block_2."); add(t, K_VAE_RESNET, hf, ldm, 0, 0, 0, 0);
        SIDE("mid_block.attentions.0.", "mid.attn_1."); add(t, K_VAE_ATTN, hf, ldm, 0, 0, 0, 0);
#undef SIDE
    }
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < L; j++)
            add(t, K_VAE_RESNET, "encoder.down_blocks.%d.resnets.%d.", "encoder.down.%d.block.%d.", i, j, i, j);
        if (i < nb - 1)
            add(t, K_PLAIN, "encoder.down_blocks.%d.downsamplers.0.", "encoder.down.%d.downsample.", i, 0, i, 0);
        for (int j = 0; j <= L; j++)
            add(t, K_VAE_RESNET, "decoder.up_blocks.%d.resnets.%d.", "decoder.up.%d.block.%d.", i, j, nb - 1 - i, j);
        if (i < nb - 1)
            add(t, K_PLAIN, "decoder.up_blocks.%d.upsamplers.0.", "decoder.up.%d.upsample.", i, 0, nb - 1 - i, 0);
    }
    return t;
}

static int block_types(const pt_json *cfg, const char *key, int *has_attn, int cap) {
    const char *types[8];
    int n = pt_json_str_array(cfg, key, types, cap);
    for (int i = 0; i < n; i++) has_attn[i] = strstr(types[i], "CrossAttn") != NULL;
    return n;
}

pt_sd_names *pt_sd_names_unet_from_config(const pt_json *cfg) {
    int down[8], up[8];
    int nd = block_types(cfg, "down_block_types", down, 8), nu = block_types(cfg, "up_block_types", up, 8);
    if (nd < 0 || nu < 0) PT_USAGE("%s: UNet config needs down_block_types and up_block_types", pt_json_source(cfg));
    if (nd != nu) PT_USAGE("%s: %d down blocks but %d up blocks", pt_json_source(cfg), nd, nu);
    return pt_sd_names_unet_make(nd, pt_json_int(cfg, "layers_per_block", 2), down, up);
}

pt_sd_names *pt_sd_names_vae_from_config(const pt_json *cfg) {
    int ch[8];
    int n = pt_json_int_array(cfg, "block_out_channels", ch, 8);
    if (n < 0) PT_USAGE("%s: VAE config needs block_out_channels", pt_json_source(cfg));
    return pt_sd_names_vae_make(n, pt_json_int(cfg, "layers_per_block", 2));
}

pt_sd_names *pt_sd_names_unet_sd15(void) {
    static const int down[4] = {1, 1, 1, 0}, up[4] = {0, 1, 1, 1};
    return pt_sd_names_unet_make(4, 2, down, up);
}
pt_sd_names *pt_sd_names_vae_sd15(void) { return pt_sd_names_vae_make(4, 2); }

void pt_sd_names_free(pt_sd_names *t) {
    if (!t) return;
    free(t->r);
    free(t);
}

// ---- mapping -------------------------------------------------------------------------------------
static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

// Maps the rest of a name after its prefix for the rule's kind. Returns 0 if unmapped.
static int map_rest(int kind, int to_ldm, const char *rest, char *out, size_t cap, int *reshape) {
    const pair *tab = NULL;
    size_t nt = 0;
    if (kind == K_PLAIN) { snprintf(out, cap, "%s", rest); return 1; }
    if (kind == K_UNET_RESNET) { tab = UNET_RESNET; nt = sizeof UNET_RESNET / sizeof *tab; }
    if (kind == K_VAE_RESNET) { tab = VAE_RESNET; nt = sizeof VAE_RESNET / sizeof *tab; }
    if (kind == K_VAE_ATTN) { tab = VAE_ATTN; nt = sizeof VAE_ATTN / sizeof *tab; }
    for (size_t i = 0; i < nt; i++) {
        const char *from = to_ldm ? tab[i].hf : tab[i].ldm, *to = to_ldm ? tab[i].ldm : tab[i].hf;
        size_t n = strlen(from);
        if (strncmp(rest, from, n) == 0 && rest[n] == '.' && rest[n + 1]) {
            snprintf(out, cap, "%s%s", to, rest + n);
            if (reshape && kind == K_VAE_ATTN && i > 0 && strcmp(rest + n, ".weight") == 0) *reshape = 1;
            return 1;
        }
    }
    return 0;
}

static int map_name(const pt_sd_names *t, int to_ldm, const char *name, char *out, size_t cap, int *reshape) {
    if (reshape) *reshape = 0;
    const char *s = name;
    if (!to_ldm) {
        if (!has_prefix(s, t->ldm_root)) return 0;
        s += strlen(t->ldm_root);
    }
    const pt_sd_rule *best = NULL;
    size_t best_len = 0;
    for (int i = 0; i < t->n; i++) {
        const char *p = to_ldm ? t->r[i].hf : t->r[i].ldm;
        size_t n = strlen(p);
        if (n > best_len && strncmp(s, p, n) == 0) { best = &t->r[i]; best_len = n; }
    }
    if (!best || !s[best_len]) return 0;
    char rest[256];
    if (!map_rest(best->kind, to_ldm, s + best_len, rest, sizeof rest, reshape)) return 0;
    int k = snprintf(out, cap, "%s%s%s", to_ldm ? t->ldm_root : "", to_ldm ? best->ldm : best->hf, rest);
    return k > 0 && (size_t)k < cap;
}

int pt_sd_try_to_ldm(const pt_sd_names *t, const char *hf, char *out, size_t cap, int *reshape) {
    return map_name(t, 1, hf, out, cap, reshape);
}
int pt_sd_try_from_ldm(const pt_sd_names *t, const char *ldm, char *out, size_t cap, int *reshape) {
    return map_name(t, 0, ldm, out, cap, reshape);
}
void pt_sd_to_ldm(const pt_sd_names *t, const char *hf, char *out, size_t cap, int *reshape) {
    if (!map_name(t, 1, hf, out, cap, reshape))
        PT_USAGE("%s tensor '%s' has no original (LDM) name: not part of the SD 1.x %s layout", t->what, hf, t->what);
}
void pt_sd_from_ldm(const pt_sd_names *t, const char *ldm, char *out, size_t cap, int *reshape) {
    if (!map_name(t, 0, ldm, out, cap, reshape))
        PT_USAGE("original checkpoint tensor '%s' has no diffusers %s name", ldm, t->what);
}

// ---- whole checkpoints ---------------------------------------------------------------------------
pt_weights *pt_sd_view_from_ldm(const pt_weights *ckpt, const pt_sd_names *t) {
    char src[4200];
    snprintf(src, sizeof src, "%s (%s)", ckpt->source, t->what);
    pt_weights *w = pt_weights_new(src);
    PT_TRY {
        for (int i = 0; i < ckpt->n; i++) {
            const pt_wtensor *x = &ckpt->t[i];
            if (!has_prefix(x->name, t->ldm_root)) continue;
            char hf[256];
            int reshape;
            if (!map_name(t, 0, x->name, hf, sizeof hf, &reshape))
                PT_USAGE("%s: tensor '%s' has no diffusers %s name (not an SD 1.x %s layout?)", ckpt->source, x->name,
                         t->what, t->what);
            int ndim = x->ndim;
            if (reshape && ndim == 4 && x->shape[2] == 1 && x->shape[3] == 1) ndim = 2;
            pt_weights_add(w, hf, x->dtype, ndim, x->shape, x->data, x->nbytes);
        }
        if (w->n == 0) PT_USAGE("%s: no tensor starts with '%s' (no %s in this checkpoint)", ckpt->source, t->ldm_root, t->what);
    } PT_CATCH {
        pt_weights_free(w);
        pt_weights_rethrow();
    } PT_END_TRY;
    return w;
}

int pt_sd_vae_normalize(pt_weights *w) {
    static const pair OLD[] = {{"query", "to_q"}, {"key", "to_k"}, {"value", "to_v"}, {"proj_attn", "to_out.0"}};
    int changed = 0;
    for (int i = 0; i < w->n; i++) {
        pt_wtensor *x = &w->t[i];
        const char *a = strstr(x->name, "mid_block.attentions.0.");
        if (!a) continue;
        const char *rest = a + strlen("mid_block.attentions.0.");
        for (size_t k = 0; k < sizeof OLD / sizeof OLD[0]; k++) {
            size_t n = strlen(OLD[k].hf);
            if (strncmp(rest, OLD[k].hf, n) == 0 && rest[n] == '.') {
                char nn[512];
                snprintf(nn, sizeof nn, "%.*s%s%s", (int)(rest - x->name), x->name, OLD[k].ldm, rest + n);
                pt_weights_rename(w, i, nn);
                changed++;
                break;
            }
        }
        int is_w = strstr(x->name, ".weight") && !strstr(x->name, "group_norm");
        if (is_w && x->ndim == 4 && x->shape[2] == 1 && x->shape[3] == 1) { x->ndim = 2; changed++; }
    }
    return changed;
}

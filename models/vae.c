// vae.c — AutoencoderKL encoder / decoder (see vae.h for the exact computation).
#include "models/vae.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tools/check.h"

#define VAE_EPS 1e-6f

// ---- config ---------------------------------------------------------------------------------------
void pt_vae_config_sd(pt_vae_config *c) {
    memset(c, 0, sizeof *c);
    c->in_channels = 3; c->out_channels = 3; c->latent_channels = 4;
    c->n_blocks = 4;
    int w[4] = {128, 256, 512, 512};
    memcpy(c->block_out_channels, w, sizeof w);
    c->layers_per_block = 2;
    c->norm_num_groups = 32;
    c->use_quant_conv = 1; c->use_post_quant_conv = 1;
    c->mid_block_add_attention = 1;
    c->scaling_factor = 0.18215f;
}

void pt_vae_config_from_json(pt_vae_config *c, const pt_json *root) {
    pt_vae_config_sd(c);
    const pt_json *j = pt_json_get(root, "config");
    if (!j) j = root;
    const char *src = pt_json_source(root);
    c->in_channels = pt_json_int(j, "in_channels", c->in_channels);
    c->out_channels = pt_json_int(j, "out_channels", c->out_channels);
    c->latent_channels = pt_json_int(j, "latent_channels", c->latent_channels);
    c->layers_per_block = pt_json_int(j, "layers_per_block", c->layers_per_block);
    c->norm_num_groups = pt_json_int(j, "norm_num_groups", c->norm_num_groups);
    c->use_quant_conv = pt_json_bool(j, "use_quant_conv", c->use_quant_conv);
    c->use_post_quant_conv = pt_json_bool(j, "use_post_quant_conv", c->use_post_quant_conv);
    c->mid_block_add_attention = pt_json_bool(j, "mid_block_add_attention", c->mid_block_add_attention);
    float sf = (float)pt_json_num(root, "scaling_factor", c->scaling_factor);
    c->scaling_factor = (float)pt_json_num(j, "scaling_factor", sf);
    int n = pt_json_int_array(j, "block_out_channels", c->block_out_channels, PT_VAE_MAX_BLOCKS);
    if (n >= 0) c->n_blocks = n;
    if (c->n_blocks < 1) PT_USAGE("%s: block_out_channels must not be empty", src);
    if (c->layers_per_block < 1 || c->layers_per_block > PT_VAE_MAX_LAYERS)
        PT_USAGE("%s: layers_per_block %d not supported (1..%d)", src, c->layers_per_block, PT_VAE_MAX_LAYERS);
    const char *types[PT_VAE_MAX_BLOCKS];
    int nd = pt_json_str_array(j, "down_block_types", types, PT_VAE_MAX_BLOCKS);
    for (int i = 0; i < nd; i++)
        if (strcmp(types[i], "DownEncoderBlock2D") != 0)
            PT_USAGE("%s: down_block_types[%d] = '%s' not supported (expected DownEncoderBlock2D)", src, i, types[i]);
    if (nd >= 0 && nd != c->n_blocks)
        PT_USAGE("%s: down_block_types has %d entries, block_out_channels %d", src, nd, c->n_blocks);
    int nu = pt_json_str_array(j, "up_block_types", types, PT_VAE_MAX_BLOCKS);
    for (int i = 0; i < nu; i++)
        if (strcmp(types[i], "UpDecoderBlock2D") != 0)
            PT_USAGE("%s: up_block_types[%d] = '%s' not supported (expected UpDecoderBlock2D)", src, i, types[i]);
    if (nu >= 0 && nu != c->n_blocks)
        PT_USAGE("%s: up_block_types has %d entries, block_out_channels %d", src, nu, c->n_blocks);
    const char *act = pt_json_str(j, "act_fn", "silu");
    if (strcmp(act, "silu") != 0) PT_USAGE("%s: act_fn '%s' not supported (expected silu)", src, act);
}

void pt_vae_config_load(pt_vae_config *c, const char *path) {
    pt_json *j = pt_json_parse_file(path);
    pt_vae_config_from_json(c, j);
    pt_json_free(j);
}

// ---- construction ---------------------------------------------------------------------------------
static void resnet_init(pt_vae_resnet *r, pt_params *P, const char *base, int in, int out, int groups) {
    r->in = in; r->out = out;
    r->norm1 = pt_mc_group_norm(P, base, "norm1", in, groups, VAE_EPS);
    r->conv1 = pt_mc_conv(P, base, "conv1", in, out, 3, 1, 1, 1);
    r->norm2 = pt_mc_group_norm(P, base, "norm2", out, groups, VAE_EPS);
    r->conv2 = pt_mc_conv(P, base, "conv2", out, out, 3, 1, 1, 1);
    r->conv_shortcut = (pt_conv){0};
    if (in != out) r->conv_shortcut = pt_mc_conv(P, base, "conv_shortcut", in, out, 1, 1, 0, 1);
}

static void mid_init(pt_vae_mid *m, pt_params *P, const char *base, int C, int groups, int add_attn) {
    char nm[256];
    snprintf(nm, sizeof nm, "%s.resnets.0", base);
    resnet_init(&m->res0, P, nm, C, C, groups);
    m->has_attn = add_attn;
    if (add_attn) {
        snprintf(nm, sizeof nm, "%s.attentions.0", base);
        m->attn.channels = C;
        m->attn.group_norm = pt_mc_group_norm(P, nm, "group_norm", C, groups, VAE_EPS);
        m->attn.to_q = pt_mc_linear(P, nm, "to_q", C, C, 1);
        m->attn.to_k = pt_mc_linear(P, nm, "to_k", C, C, 1);
        m->attn.to_v = pt_mc_linear(P, nm, "to_v", C, C, 1);
        m->attn.to_out = pt_mc_linear(P, nm, "to_out.0", C, C, 1);
    }
    snprintf(nm, sizeof nm, "%s.resnets.1", base);
    resnet_init(&m->res1, P, nm, C, C, groups);
}

void pt_vae_init(pt_vae *v, const pt_vae_config *c, pt_params *P, const char *prefix) {
    pt_vae_init_parts(v, c, P, prefix, PT_VAE_BOTH);
}

static void encoder_init(pt_vae *v, const pt_vae_config *c, pt_params *P, const char *prefix);
static void decoder_init(pt_vae *v, const pt_vae_config *c, pt_params *P, const char *prefix);

void pt_vae_init_parts(pt_vae *v, const pt_vae_config *c, pt_params *P, const char *prefix, int parts) {
    if (!prefix) prefix = "";
    memset(v, 0, sizeof *v);
    v->cfg = *c;
    v->parts = parts;
    if (parts & PT_VAE_ENCODER) encoder_init(v, c, P, prefix);
    if (parts & PT_VAE_DECODER) decoder_init(v, c, P, prefix);
    // quant convs (top level)
    char nm[320];
    const int L2 = 2 * c->latent_channels;
    if (c->use_quant_conv && (parts & PT_VAE_ENCODER)) {
        snprintf(nm, sizeof nm, "%squant_conv", prefix);
        v->quant_conv = pt_mc_conv(P, nm, NULL, L2, L2, 1, 1, 0, 1);
    }
    if (c->use_post_quant_conv && (parts & PT_VAE_DECODER)) {
        snprintf(nm, sizeof nm, "%spost_quant_conv", prefix);
        v->post_quant_conv = pt_mc_conv(P, nm, NULL, c->latent_channels, c->latent_channels, 1, 1, 0, 1);
    }
}

static void encoder_init(pt_vae *v, const pt_vae_config *c, pt_params *P, const char *prefix) {
    const int G = c->norm_num_groups, L = c->layers_per_block, nb = c->n_blocks;
    const int *boc = c->block_out_channels;
    char base[160], nm[320];
    snprintf(base, sizeof base, "%sencoder", prefix);
    v->enc_conv_in = pt_mc_conv(P, base, "conv_in", c->in_channels, boc[0], 3, 1, 1, 1);
    int ch = boc[0];
    for (int i = 0; i < nb; i++) {
        pt_vae_block *b = &v->enc_down[i];
        b->n_layers = L;
        for (int j = 0; j < L; j++) {
            snprintf(nm, sizeof nm, "%s.down_blocks.%d.resnets.%d", base, i, j);
            resnet_init(&b->resnets[j], P, nm, j == 0 ? ch : boc[i], boc[i], G);
        }
        ch = boc[i];
        b->has_resample = i < nb - 1;
        if (b->has_resample) {
            snprintf(nm, sizeof nm, "%s.down_blocks.%d.downsamplers.0", base, i);
            b->down = pt_mc_conv(P, nm, "conv", ch, ch, 3, 2, 0, 1);
        }
    }
    snprintf(nm, sizeof nm, "%s.mid_block", base);
    mid_init(&v->enc_mid, P, nm, boc[nb - 1], G, c->mid_block_add_attention);
    v->enc_norm_out = pt_mc_group_norm(P, base, "conv_norm_out", boc[nb - 1], G, VAE_EPS);
    v->enc_conv_out = pt_mc_conv(P, base, "conv_out", boc[nb - 1], 2 * c->latent_channels, 3, 1, 1, 1);
}

static void decoder_init(pt_vae *v, const pt_vae_config *c, pt_params *P, const char *prefix) {
    const int G = c->norm_num_groups, L = c->layers_per_block, nb = c->n_blocks;
    const int *boc = c->block_out_channels;
    char base[160], nm[320];
    snprintf(base, sizeof base, "%sdecoder", prefix);
    v->dec_conv_in = pt_mc_conv(P, base, "conv_in", c->latent_channels, boc[nb - 1], 3, 1, 1, 1);
    snprintf(nm, sizeof nm, "%s.mid_block", base);
    mid_init(&v->dec_mid, P, nm, boc[nb - 1], G, c->mid_block_add_attention);
    int ch = boc[nb - 1];
    for (int i = 0; i < nb; i++) {
        int out = boc[nb - 1 - i];
        pt_vae_block *b = &v->dec_up[i];
        b->n_layers = L + 1;
        for (int j = 0; j < L + 1; j++) {
            snprintf(nm, sizeof nm, "%s.up_blocks.%d.resnets.%d", base, i, j);
            resnet_init(&b->resnets[j], P, nm, j == 0 ? ch : out, out, G);
        }
        ch = out;
        b->has_resample = i < nb - 1;
        if (b->has_resample) {
            snprintf(nm, sizeof nm, "%s.up_blocks.%d.upsamplers.0", base, i);
            pt_upsample_init(&b->up, P, nm, ch);
        }
    }
    v->dec_norm_out = pt_mc_group_norm(P, base, "conv_norm_out", boc[0], G, VAE_EPS);
    v->dec_conv_out = pt_mc_conv(P, base, "conv_out", boc[0], c->out_channels, 3, 1, 1, 1);
}

// ---- forward pieces -------------------------------------------------------------------------------
static pt_tensor *resnet_body(pt_vae_resnet *r, pt_tensor *x) {
    int mark = pt_scope_begin();
    pt_tensor *h = pt_mc_group_norm_silu_fwd(&r->norm1, x);      // (B, in, H, W)
    h = pt_mc_conv_fwd(&r->conv1, h);                            // (B, out, H, W)
    h = pt_mc_group_norm_silu_fwd(&r->norm2, h);
    h = pt_mc_conv_fwd(&r->conv2, h);                            // (B, out, H, W)
    pt_tensor *sc = r->conv_shortcut.w ? pt_mc_conv_fwd(&r->conv_shortcut, x) : x;
    h = pt_add(sc, h);
    return pt_scope_end(mark, h);
}

static void resnet_ckpt_fn(void *ctx, pt_tensor **in, int n_in, pt_tensor **out, int n_out) {
    out[0] = resnet_body((pt_vae_resnet *)ctx, in[0]);
}

static pt_tensor *resnet_fwd(pt_vae *v, pt_vae_resnet *r, pt_tensor *x) {
    if (x->shape[1] != r->in) {
        char b[128];
        PT_RUNTIME("vae resnet with %d input channels got %s", r->in, pt_shape_str(x, b, sizeof b));
    }
    if (!v->checkpoint) return resnet_body(r, x);
    pt_tensor *out[1];
    pt_checkpoint(resnet_ckpt_fn, r, &x, 1, out, 1);
    return out[0];
}

// Single-head spatial self-attention with GroupNorm and residual.  x (B, C, H, W)
static pt_tensor *attn_fwd(pt_vae_attn *a, pt_tensor *x) {
    int mark = pt_scope_begin();
    int64_t H = x->shape[2], W = x->shape[3];
    pt_tensor *h = pt_mc_group_norm_fwd(&a->group_norm, x);       // (B, C, H, W)
    h = pt_mc_nchw_to_tokens(h);                                   // (B, HW, C)
    pt_tensor *q = pt_mc_linear_fwd(&a->to_q, h);                  // (B, HW, C)
    pt_tensor *k = pt_mc_linear_fwd(&a->to_k, h);
    pt_tensor *vv = pt_mc_linear_fwd(&a->to_v, h);
    pt_tensor *o = pt_attention(q, k, vv, 1, 0.0f);                // scale 1/sqrt(C)
    o = pt_mc_linear_fwd(&a->to_out, o);                           // (B, HW, C)
    o = pt_mc_tokens_to_nchw(o, H, W);                             // (B, C, H, W)
    o = pt_add(o, x);
    return pt_scope_end(mark, o);
}

static pt_tensor *mid_fwd(pt_vae *v, pt_vae_mid *m, pt_tensor *h) {
    int mark = pt_scope_begin();
    h = resnet_fwd(v, &m->res0, h);
    if (m->has_attn) h = attn_fwd(&m->attn, h);
    h = resnet_fwd(v, &m->res1, h);
    return pt_scope_end(mark, h);
}

// ---- encoder / decoder ----------------------------------------------------------------------------
static pt_tensor *encoder_fwd(pt_vae *v, pt_tensor *x) {
    const pt_vae_config *c = &v->cfg;
    int mark = pt_scope_begin();
    pt_tensor *h = pt_mc_conv_fwd(&v->enc_conv_in, x);            // (B, boc[0], H, W)
    for (int i = 0; i < c->n_blocks; i++) {
        pt_vae_block *b = &v->enc_down[i];
        for (int j = 0; j < b->n_layers; j++) h = resnet_fwd(v, &b->resnets[j], h);
        if (b->has_resample) {
            h = pt_pad2d(h, 0, 1, 0, 1);                           // (B, C, H+1, W+1)
            h = pt_mc_conv_fwd(&b->down, h);                       // (B, C, H/2, W/2)
        }
    }
    h = mid_fwd(v, &v->enc_mid, h);
    h = pt_mc_group_norm_silu_fwd(&v->enc_norm_out, h);
    h = pt_mc_conv_fwd(&v->enc_conv_out, h);                       // (B, 2*latent, h, w)
    return pt_scope_end(mark, h);
}

static pt_tensor *decoder_fwd(pt_vae *v, pt_tensor *z) {
    const pt_vae_config *c = &v->cfg;
    int mark = pt_scope_begin();
    pt_tensor *h = pt_mc_conv_fwd(&v->dec_conv_in, z);             // (B, boc[-1], h, w)
    h = mid_fwd(v, &v->dec_mid, h);
    for (int i = 0; i < c->n_blocks; i++) {
        pt_vae_block *b = &v->dec_up[i];
        for (int j = 0; j < b->n_layers; j++) h = resnet_fwd(v, &b->resnets[j], h);
        if (b->has_resample) h = pt_upsample_forward(&b->up, h);   // (B, C, 2h, 2w)
    }
    h = pt_mc_group_norm_silu_fwd(&v->dec_norm_out, h);
    h = pt_mc_conv_fwd(&v->dec_conv_out, h);                       // (B, out_channels, H, W)
    return pt_scope_end(mark, h);
}

// logvar clamped to [-30, 20] without a gradient; unchanged (history kept) when already inside.
static pt_tensor *clamp_logvar(pt_tensor *lv) {
    int64_t n = pt_numel(lv);
    float *h = pt_malloc(sizeof(float) * (size_t)(n ? n : 1));
    pt_copy_to_host_f32(lv, h);
    int changed = 0;
    for (int64_t i = 0; i < n; i++) {
        if (h[i] < -30.0f) { h[i] = -30.0f; changed = 1; }
        else if (h[i] > 20.0f) { h[i] = 20.0f; changed = 1; }
    }
    pt_tensor *out = changed ? pt_from_f32(lv->device, lv->dtype, lv->ndim, lv->shape, h) : pt_contiguous(lv);
    free(h);
    return out;
}

void pt_vae_encode(pt_vae *v, pt_tensor *x, pt_tensor **mean, pt_tensor **logvar) {
    const pt_vae_config *c = &v->cfg;
    if (x->ndim != 4 || x->shape[1] != c->in_channels) {
        char b[128];
        PT_USAGE("vae encode: input %s, expected (B, %d, H, W)", pt_shape_str(x, b, sizeof b), c->in_channels);
    }
    PT_CHECKF(v->parts & PT_VAE_ENCODER, "pt_vae_encode: the VAE was built without its encoder");
    int64_t f = 1LL << (c->n_blocks - 1);
    if (x->shape[2] % f || x->shape[3] % f)
        PT_USAGE("vae encode: image %lldx%lld is not divisible by %lld", (long long)x->shape[2],
                 (long long)x->shape[3], (long long)f);
    int mark = pt_scope_begin();
    pt_tensor *m = encoder_fwd(v, x);                              // (B, 2L, h, w)
    if (v->quant_conv.w) m = pt_mc_conv_fwd(&v->quant_conv, m);
    const int L = c->latent_channels;
    pt_tensor *mu = pt_contiguous(pt_slice(m, 1, 0, L));           // (B, L, h, w)
    pt_tensor *lv = clamp_logvar(pt_slice(m, 1, L, 2 * L));        // (B, L, h, w)
    pt_tensor *keep[2] = {mu, lv};
    pt_scope_end_keep(mark, keep, 2);
    *mean = mu;
    *logvar = lv;
}

pt_tensor *pt_vae_sample(pt_tensor *mean, pt_tensor *logvar, pt_tensor *noise) {
    PT_CHECKF(pt_same_shape(mean, logvar) && pt_same_shape(mean, noise), "pt_vae_sample: shapes of mean, logvar and noise differ");
    int64_t n = pt_numel(mean);
    float *m = pt_malloc(sizeof(float) * (size_t)(n ? n : 1));
    float *lv = pt_malloc(sizeof(float) * (size_t)(n ? n : 1));
    float *e = pt_malloc(sizeof(float) * (size_t)(n ? n : 1));
    pt_copy_to_host_f32(mean, m);
    pt_copy_to_host_f32(logvar, lv);
    pt_copy_to_host_f32(noise, e);
    for (int64_t i = 0; i < n; i++) m[i] += expf(0.5f * lv[i]) * e[i];
    pt_tensor *out = pt_from_f32(mean->device, mean->dtype, mean->ndim, mean->shape, m);
    free(m); free(lv); free(e);
    return out;
}

pt_tensor *pt_vae_encode_latents(pt_vae *v, pt_tensor *x, pt_tensor *noise) {
    pt_tensor *out;
    int mark = pt_scope_begin();
    PT_NO_GRAD_BEGIN
    pt_tensor *mean, *logvar;
    pt_vae_encode(v, x, &mean, &logvar);
    pt_tensor *s = noise ? pt_vae_sample(mean, logvar, noise) : mean;
    out = pt_scale(s, v->cfg.scaling_factor);
    PT_NO_GRAD_END
    return pt_scope_end(mark, out);
}

pt_tensor *pt_vae_decode(pt_vae *v, pt_tensor *z) {
    const pt_vae_config *c = &v->cfg;
    if (z->ndim != 4 || z->shape[1] != c->latent_channels) {
        char b[128];
        PT_USAGE("vae decode: latent %s, expected (B, %d, h, w)", pt_shape_str(z, b, sizeof b), c->latent_channels);
    }
    PT_CHECKF(v->parts & PT_VAE_DECODER, "pt_vae_decode: the VAE was built without its decoder");
    int mark = pt_scope_begin();
    pt_tensor *h = z;
    if (v->post_quant_conv.w) h = pt_mc_conv_fwd(&v->post_quant_conv, h);
    h = decoder_fwd(v, h);
    return pt_scope_end(mark, h);
}

// ---- deprecated attention names ------------------------------------------------------------------
int pt_vae_upgrade_names(pt_weights *w) {
    static const char *old_leaf[4] = {"query", "key", "value", "proj_attn"};
    static const char *new_leaf[4] = {"to_q", "to_k", "to_v", "to_out.0"};
    int renamed = 0;
    for (int i = 0; i < w->n; i++) {
        const char *nm = w->t[i].name;
        const char *at = strstr(nm, "mid_block.attentions.");
        if (!at) continue;
        const char *p = at + strlen("mid_block.attentions.");
        while (*p >= '0' && *p <= '9') p++;
        if (*p != '.') continue;
        p++;
        for (int k = 0; k < 4; k++) {
            size_t n = strlen(old_leaf[k]);
            if (strncmp(p, old_leaf[k], n) != 0 || p[n] != '.') continue;
            const char *suffix = p + n;   // ".weight" / ".bias"
            if (strcmp(suffix, ".weight") != 0 && strcmp(suffix, ".bias") != 0) continue;
            char buf[512];
            snprintf(buf, sizeof buf, "%.*s%s%s", (int)(p - nm), nm, new_leaf[k], suffix);
            if (pt_weights_find(w, buf))
                PT_USAGE("%s: both '%s' and '%s' present (deprecated and current attention names)", w->source, nm, buf);
            pt_weights_rename(w, i, buf);
            renamed++;
            break;
        }
    }
    return renamed;
}

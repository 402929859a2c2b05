// motion_module.c — AnimateDiff temporal transformer (see motion_module.h for the exact computation).
#include "models/motion_module.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tools/check.h"

// ---- config ---------------------------------------------------------------------------------------
void pt_motion_config_v2(pt_motion_config *c) {
    memset(c, 0, sizeof *c);
    c->heads = 8;
    c->num_layers = 1;
    c->max_len = 32;
    c->norm_num_groups = 32;
}

void pt_motion_config_from_json(pt_motion_config *c, const pt_json *root) {
    pt_motion_config_v2(c);
    const pt_json *j = pt_json_get(root, "config");
    if (!j) j = root;
    const char *src = pt_json_source(root);
    c->heads = pt_json_int(j, "num_attention_heads", c->heads);
    c->heads = pt_json_int(j, "heads", c->heads);
    c->num_layers = pt_json_int(j, "num_transformer_block", c->num_layers);
    c->num_layers = pt_json_int(j, "num_layers", c->num_layers);
    c->max_len = pt_json_int(j, "temporal_position_encoding_max_len", c->max_len);
    c->max_len = pt_json_int(j, "max_seq_length", c->max_len);
    c->norm_num_groups = pt_json_int(j, "norm_num_groups", c->norm_num_groups);
    c->norm_over_frames = pt_json_bool(j, "norm_over_frames", c->norm_over_frames);
    // diffusers' MotionAdapter config.json: its AnimateDiffTransformer3D normalises over the frames
    if (pt_json_get(j, "motion_layers_per_block") || pt_json_get(j, "motion_max_seq_length")) {
        c->heads = pt_json_int(j, "motion_num_attention_heads", c->heads);
        c->num_layers = pt_json_int(j, "motion_transformer_layers_per_block", c->num_layers);
        c->max_len = pt_json_int(j, "motion_max_seq_length", c->max_len);
        c->norm_num_groups = pt_json_int(j, "motion_norm_num_groups", c->norm_num_groups);
        c->norm_over_frames = pt_json_bool(j, "norm_over_frames", 1);
    }
    c->num_frames = pt_json_int(j, "num_frames", 0);
    c->in_channels = pt_json_int(j, "in_channels", 0);
    if (c->heads < 1) PT_USAGE("%s: heads must be >= 1 (got %d)", src, c->heads);
    if (c->num_layers < 1) PT_USAGE("%s: num_layers must be >= 1 (got %d)", src, c->num_layers);
    if (c->max_len < 1) PT_USAGE("%s: max_seq_length must be >= 1 (got %d)", src, c->max_len);
}

void pt_motion_config_load(pt_motion_config *c, const char *path) {
    pt_json *j = pt_json_parse_file(path);
    pt_motion_config_from_json(c, j);
    pt_json_free(j);
}

// ---- construction ---------------------------------------------------------------------------------
static pt_motion_attn attn_init(pt_params *P, const char *base, int C) {
    pt_motion_attn a;
    a.to_q = pt_mc_linear(P, base, "to_q", C, C, 0);
    a.to_k = pt_mc_linear(P, base, "to_k", C, C, 0);
    a.to_v = pt_mc_linear(P, base, "to_v", C, C, 0);
    a.to_out = pt_mc_linear(P, base, "to_out.0", C, C, 1);
    return a;
}

void pt_motion_module_init(pt_motion_module *m, pt_params *P, const char *base, const pt_motion_config *c,
                           int channels) {
    const int C = channels;
    if (C <= 0 || C % c->heads) PT_USAGE("motion module '%s': %d channels cannot be split into %d heads", base, C, c->heads);
    if (C % 2) PT_USAGE("motion module '%s': the position encoding needs an even width (got %d)", base, C);
    memset(m, 0, sizeof *m);
    m->channels = C; m->heads = c->heads; m->max_len = c->max_len; m->n_layers = c->num_layers;
    m->norm_over_frames = c->norm_over_frames;
    char tt[256], nm[320];
    pt_mc_join(tt, sizeof tt, base, "temporal_transformer");
    m->norm = pt_mc_group_norm(P, tt, "norm", C, c->norm_num_groups, 1e-6f);
    m->proj_in = pt_mc_linear(P, tt, "proj_in", C, C, 1);
    m->blocks = pt_calloc((size_t)m->n_layers, sizeof *m->blocks);
    for (int l = 0; l < m->n_layers; l++) {
        pt_motion_block *b = &m->blocks[l];
        for (int k = 0; k < 2; k++) {
            snprintf(nm, sizeof nm, "%s.transformer_blocks.%d.attention_blocks.%d", tt, l, k);
            b->attn[k] = attn_init(P, nm, C);
            snprintf(nm, sizeof nm, "%s.transformer_blocks.%d.norms.%d", tt, l, k);
            b->norms[k] = pt_mc_layer_norm(P, nm, NULL, C, 1e-5f);
        }
        snprintf(nm, sizeof nm, "%s.transformer_blocks.%d", tt, l);
        b->ff_in = pt_mc_linear(P, nm, "ff.net.0.proj", C, 8 * C, 1);
        b->ff_out = pt_mc_linear(P, nm, "ff.net.2", 4 * C, C, 1);
        b->ff_norm = pt_mc_layer_norm(P, nm, "ff_norm", C, 1e-5f);
    }
    m->proj_out = pt_mc_linear(P, tt, "proj_out", C, C, 1);
}

void pt_motion_module_free(pt_motion_module *m) {
    free(m->blocks);
    m->blocks = NULL;
    if (m->pe) { pt_release(m->pe); m->pe = NULL; }
}

void pt_motion_module_zero_init(pt_motion_module *m) {
    pt_zero_(m->proj_out.w);
    pt_zero_(m->proj_out.b);
}

void pt_motion_position_encoding(int max_len, int C, float *dst) {
    for (int p = 0; p < max_len; p++)
        for (int i = 0; i < C / 2; i++) {
            // div_term = exp(2i * -ln(10000) / C), computed in float32 as torch does
            float div = expf((float)(2 * i) * (-logf(10000.0f) / (float)C));
            float a = (float)p * div;
            dst[(size_t)p * C + 2 * i] = sinf(a);
            dst[(size_t)p * C + 2 * i + 1] = cosf(a);
        }
}

// ---- forward --------------------------------------------------------------------------------------
static pt_tensor *attn_fwd(pt_motion_attn *a, pt_tensor *n, int heads) {
    int mark = pt_scope_begin();
    pt_tensor *q = pt_mc_linear_fwd(&a->to_q, n);                  // (N, F, C)
    pt_tensor *k = pt_mc_linear_fwd(&a->to_k, n);
    pt_tensor *v = pt_mc_linear_fwd(&a->to_v, n);
    pt_tensor *o = pt_attention(q, k, v, heads, 0.0f);             // over the F frames
    o = pt_mc_linear_fwd(&a->to_out, o);
    return pt_scope_end(mark, o);
}

// x (B*F, C, H, W), pe (F, C): the whole module (residual included).
static pt_tensor *module_body(pt_motion_module *m, pt_tensor *x, pt_tensor *pe) {
    const int64_t F = pe->shape[0], C = m->channels;
    const int64_t BF = x->shape[0], H = x->shape[2], W = x->shape[3], B = BF / F, HW = H * W;
    int mark = pt_scope_begin();
    pt_tensor *t;
    if (m->norm_over_frames) {   // diffusers: GroupNorm of (B, C, F, H, W), statistics over the frames too
        t = pt_reshape(x, PT_DIMS(B, F, C, HW));
        t = pt_contiguous(pt_permute(t, (const int[]){0, 2, 1, 3}));   // (B, C, F, HW)
        t = pt_mc_group_norm_fwd(&m->norm, t);
        t = pt_contiguous(pt_permute(t, (const int[]){0, 3, 2, 1}));   // (B, HW, F, C)
    } else {                     // AnimateDiff: GroupNorm of each frame
        t = pt_mc_group_norm_fwd(&m->norm, x);                           // (B*F, C, H, W)
        t = pt_reshape(t, PT_DIMS(B, F, C, HW));
        t = pt_contiguous(pt_permute(t, (const int[]){0, 3, 1, 2}));   // (B, HW, F, C)
    }
    t = pt_reshape(t, PT_DIMS(B * HW, F, C));                      // (B*HW, F, C)
    t = pt_mc_linear_fwd(&m->proj_in, t);
    for (int l = 0; l < m->n_layers; l++) {
        pt_motion_block *b = &m->blocks[l];
        for (int k = 0; k < 2; k++) {
            pt_tensor *n = pt_add(pt_mc_layer_norm_fwd(&b->norms[k], t), pe);   // (B*HW, F, C)
            t = pt_add(t, attn_fwd(&b->attn[k], n, m->heads));
        }
        pt_tensor *f = pt_mc_linear_fwd(&b->ff_in, pt_mc_layer_norm_fwd(&b->ff_norm, t));   // (B*HW, F, 8C)
        f = pt_mc_linear_fwd(&b->ff_out, pt_geglu(f));                                     // (B*HW, F, C)
        t = pt_add(t, f);
    }
    t = pt_mc_linear_fwd(&m->proj_out, t);                         // (B*HW, F, C)
    t = pt_reshape(t, PT_DIMS(B, HW, F, C));
    t = pt_contiguous(pt_permute(t, (const int[]){0, 2, 3, 1}));   // (B, F, C, HW)
    t = pt_reshape(t, PT_DIMS(BF, C, H, W));
    t = pt_add(t, x);
    return pt_scope_end(mark, t);
}

static void module_ckpt_fn(void *ctx, pt_tensor **in, int n_in, pt_tensor **out, int n_out) {
    out[0] = module_body((pt_motion_module *)ctx, in[0], in[1]);
}

pt_tensor *pt_motion_module_forward(pt_motion_module *m, pt_tensor *h, int frames, int checkpoint) {
    char b[128];
    if (h->ndim != 4 || h->shape[1] != m->channels)
        PT_RUNTIME("motion module of width %d got %s", m->channels, pt_shape_str(h, b, sizeof b));
    if (frames < 1 || h->shape[0] % frames)
        PT_USAGE("motion module: batch %lld is not a multiple of frames %d", (long long)h->shape[0], frames);
    if (frames > m->max_len)
        PT_USAGE("motion module: %d frames exceed the position encoding's max length %d "
                 "(temporal_position_encoding_max_len)", frames, m->max_len);
    if (!m->pe || m->pe->device != h->device || m->pe->dtype != h->dtype) {
        if (m->pe) pt_release(m->pe);
        float *tmp = pt_malloc(sizeof(float) * (size_t)m->max_len * (size_t)m->channels);
        pt_motion_position_encoding(m->max_len, m->channels, tmp);
        int mark = pt_scope_begin();
        m->pe = pt_own(pt_from_f32(h->device, h->dtype, PT_DIMS(m->max_len, m->channels), tmp));
        pt_scope_end(mark, NULL);
        free(tmp);
    }
    int mark = pt_scope_begin();
    pt_tensor *pe = pt_slice(m->pe, 0, 0, frames);                 // (F, C)
    pt_tensor *out;
    if (checkpoint) {
        pt_tensor *in[2] = {h, pe}, *o[1];
        pt_checkpoint(module_ckpt_fn, m, in, 2, o, 1);
        out = o[0];
    } else {
        out = module_body(m, h, pe);
    }
    return pt_scope_end(mark, out);
}

// ---- the modules of a UNet --------------------------------------------------------------------------
void pt_motion_modules_build(pt_motion_set *s, pt_params *P, const char *prefix, const pt_motion_config *c,
                             int n_blocks, int L, const int *slot_channels) {
    if (!prefix) prefix = "";
    memset(s, 0, sizeof *s);
    int n = n_blocks * (2 * L + 1) + 1;
    if (n > PT_MOTION_MAX_SLOTS) PT_USAGE("motion modules: %d slots exceed the maximum %d", n, PT_MOTION_MAX_SLOTS);
    for (int slot = 0; slot < n; slot++) {
        char *nm = s->names[slot];
        int mid = n_blocks * L;
        if (slot < mid) snprintf(nm, 96, "down_blocks.%d.motion_modules.%d", slot / L, slot % L);
        else if (slot == mid) snprintf(nm, 96, "mid_block.motion_modules.0");
        else snprintf(nm, 96, "up_blocks.%d.motion_modules.%d", (slot - mid - 1) / (L + 1), (slot - mid - 1) % (L + 1));
        char base[192];
        snprintf(base, sizeof base, "%s%s", prefix, nm);
        pt_motion_module_init(&s->mods[slot], P, base, c, slot_channels[slot]);
    }
    s->n = n;
}

void pt_motion_modules_build_sd15(pt_motion_set *s, pt_params *P, const char *prefix, const pt_motion_config *c) {
    static const int ch[21] = {320, 320, 640, 640, 1280, 1280, 1280, 1280, 1280,
                               1280, 1280, 1280, 1280, 1280, 1280, 640, 640, 640, 320, 320, 320};
    pt_motion_modules_build(s, P, prefix, c, 4, 2, ch);
}

void pt_motion_modules_free(pt_motion_set *s) {
    for (int i = 0; i < s->n; i++) pt_motion_module_free(&s->mods[i]);
    s->n = 0;
}

void pt_motion_modules_zero_init(pt_motion_set *s) {
    for (int i = 0; i < s->n; i++) pt_motion_module_zero_init(&s->mods[i]);
}

pt_tensor *pt_motion_temporal_hook(void *ctx, int slot, pt_tensor *h, int frames) {
    pt_motion_set *s = ctx;
    if (slot < 0 || slot >= s->n) PT_RUNTIME("temporal slot %d outside the %d motion modules", slot, s->n);
    return pt_motion_module_forward(&s->mods[slot], h, frames, s->checkpoint);
}

// ---- loading --------------------------------------------------------------------------------------
static int is_pe(const char *name) {
    size_t n = strlen(name), k = strlen(".pos_encoder.pe");
    return n >= k && strcmp(name + n - k, ".pos_encoder.pe") == 0;
}

static void check_pe(const pt_weights *w, const pt_wtensor *t) {
    char sh[96];
    int64_t len = t->ndim == 3 ? t->shape[1] : 0, C = t->ndim == 3 ? t->shape[2] : 0;
    if (t->ndim != 3 || t->shape[0] != 1 || C < 2 || C % 2)
        PT_USAGE("%s: position encoding '%s' has shape %s, expected [1, max_len, C]", w->source, t->name,
                 pt_wtensor_shape_str(t, sh, sizeof sh));
    float *got = pt_malloc(sizeof(float) * (size_t)(len * C));
    float *ref = pt_malloc(sizeof(float) * (size_t)(len * C));
    pt_weights_read_f32(t, got);
    pt_motion_position_encoding((int)len, (int)C, ref);
    double tol = t->dtype == PT_F32 ? 1e-4 : 1e-2;   // half-precision files round the buffer
    for (int64_t i = 0; i < len * C; i++)
        if (fabs((double)got[i] - (double)ref[i]) > tol) {
            int64_t p = i / C, c = i % C;
            double g = got[i], r = ref[i];
            free(got); free(ref);
            PT_USAGE("%s: position encoding '%s'[0, %lld, %lld] = %g, the sinusoidal encoding gives %g",
                     w->source, t->name, (long long)p, (long long)c, g, r);
        }
    free(got); free(ref);
}

// The checkpoint's pos_encoder.pe buffers are not parameters: each is checked against the
// recomputed sinusoid (and skipped); any other unused tensor is unexpected.
static int motion_ignore(const char *name, const pt_wtensor *t, const pt_weights *w, void *ctx) {
    (void)ctx;
    (void)name;
    if (!is_pe(t->name)) return 0;
    check_pe(w, t);
    return 1;
}

void pt_motion_load(pt_params *P, const pt_weights *w, const pt_load_opts *opts) {
    pt_load_opts o = {0};
    if (opts) o = *opts;
    o.ignore = motion_ignore;
    pt_params_load(P, w, &o);
}

// clip_vision.c — CLIP ViT image tower (see clip_vision.h for the exact computation).
#include "models/clip_vision.h"

#include <stdlib.h>
#include <string.h>

#include "tools/check.h"

// ---- config ---------------------------------------------------------------------------------------
static void config_defaults(pt_clip_vision_config *c) {   // transformers' CLIPVisionConfig defaults
    memset(c, 0, sizeof *c);
    c->hidden_size = 768; c->intermediate_size = 3072; c->projection_dim = 512;
    c->num_layers = 12; c->num_heads = 12;
    c->num_channels = 3; c->image_size = 224; c->patch_size = 32;
    c->act = PT_CLIP_ACT_QUICK_GELU;
    c->layer_norm_eps = 1e-5f;
}

void pt_clip_vision_config_vit_b32(pt_clip_vision_config *c) { config_defaults(c); }

void pt_clip_vision_config_vit_l14(pt_clip_vision_config *c) {
    config_defaults(c);
    c->hidden_size = 1024; c->intermediate_size = 4096; c->projection_dim = 768;
    c->num_layers = 24; c->num_heads = 16; c->patch_size = 14;
}

void pt_clip_vision_config_from_json(pt_clip_vision_config *c, const pt_json *root) {
    config_defaults(c);
    const pt_json *j = pt_json_get(root, "config");
    if (!j) j = root;
    const pt_json *vc = pt_json_get(j, "vision_config");
    const char *src = pt_json_source(root);
    c->projection_dim = pt_json_int(j, "projection_dim", c->projection_dim);   // CLIPModel: top level
    if (vc) j = vc;
    c->hidden_size = pt_json_int(j, "hidden_size", c->hidden_size);
    c->intermediate_size = pt_json_int(j, "intermediate_size", c->intermediate_size);
    c->projection_dim = pt_json_int(j, "projection_dim", c->projection_dim);
    c->num_layers = pt_json_int(j, "num_hidden_layers", c->num_layers);
    c->num_heads = pt_json_int(j, "num_attention_heads", c->num_heads);
    c->num_channels = pt_json_int(j, "num_channels", c->num_channels);
    c->image_size = pt_json_int(j, "image_size", c->image_size);
    c->patch_size = pt_json_int(j, "patch_size", c->patch_size);
    c->layer_norm_eps = (float)pt_json_num(j, "layer_norm_eps", c->layer_norm_eps);
    const char *act = pt_json_str(j, "hidden_act", "quick_gelu");
    if (strcmp(act, "quick_gelu") == 0) c->act = PT_CLIP_ACT_QUICK_GELU;
    else if (strcmp(act, "gelu") == 0) c->act = PT_CLIP_ACT_GELU;
    else if (strcmp(act, "gelu_new") == 0 || strcmp(act, "gelu_pytorch_tanh") == 0) c->act = PT_CLIP_ACT_GELU_TANH;
    else PT_USAGE("%s: hidden_act '%s' not supported (quick_gelu, gelu, gelu_new, gelu_pytorch_tanh)", src, act);
    if (c->num_heads <= 0 || c->hidden_size % c->num_heads)
        PT_USAGE("%s: hidden_size %d is not divisible by num_attention_heads %d", src, c->hidden_size, c->num_heads);
    if (c->patch_size <= 0 || c->image_size % c->patch_size)
        PT_USAGE("%s: image_size %d is not divisible by patch_size %d", src, c->image_size, c->patch_size);
    if (c->num_layers < 1) PT_USAGE("%s: num_hidden_layers must be >= 1 (got %d)", src, c->num_layers);
}

void pt_clip_vision_config_load(pt_clip_vision_config *c, const char *path) {
    pt_json *j = pt_json_parse_file(path);
    pt_clip_vision_config_from_json(c, j);
    pt_json_free(j);
}

int64_t pt_clip_vision_num_patches(const pt_clip_vision_config *c) {
    int64_t g = c->image_size / c->patch_size;
    return g * g;
}

// ---- construction ---------------------------------------------------------------------------------
void pt_clip_vision_init(pt_clip_vision *m, const pt_clip_vision_config *c, pt_params *P, const char *prefix,
                         int with_projection) {
    if (!prefix) prefix = "";
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    const int D = c->hidden_size, I = c->intermediate_size, p = c->patch_size;
    const float eps = c->layer_norm_eps;
    char nm[256], base[256];
    snprintf(nm, sizeof nm, "%svision_model.embeddings.class_embedding", prefix);
    m->class_embedding = pt_params_add(P, nm, PT_DIMS(D));
    snprintf(nm, sizeof nm, "%svision_model.embeddings.patch_embedding.weight", prefix);
    m->patch_embedding = pt_params_add(P, nm, PT_DIMS(D, c->num_channels, p, p));
    snprintf(nm, sizeof nm, "%svision_model.embeddings.position_embedding.weight", prefix);
    m->position_embedding = pt_params_add(P, nm, PT_DIMS(1 + pt_clip_vision_num_patches(c), D));
    snprintf(base, sizeof base, "%svision_model", prefix);
    m->pre_layrnorm = pt_mc_layer_norm(P, base, "pre_layrnorm", D, eps);
    m->layers = pt_calloc((size_t)c->num_layers, sizeof *m->layers);
    for (int i = 0; i < c->num_layers; i++) {
        pt_clip_layer *L = &m->layers[i];
        snprintf(base, sizeof base, "%svision_model.encoder.layers.%d", prefix, i);
        L->ln1 = pt_mc_layer_norm(P, base, "layer_norm1", D, eps);
        L->k = pt_mc_linear(P, base, "self_attn.k_proj", D, D, 1);
        L->v = pt_mc_linear(P, base, "self_attn.v_proj", D, D, 1);
        L->q = pt_mc_linear(P, base, "self_attn.q_proj", D, D, 1);
        L->o = pt_mc_linear(P, base, "self_attn.out_proj", D, D, 1);
        L->ln2 = pt_mc_layer_norm(P, base, "layer_norm2", D, eps);
        L->fc1 = pt_mc_linear(P, base, "mlp.fc1", D, I, 1);
        L->fc2 = pt_mc_linear(P, base, "mlp.fc2", I, D, 1);
    }
    snprintf(base, sizeof base, "%svision_model", prefix);
    m->post_layernorm = pt_mc_layer_norm(P, base, "post_layernorm", D, eps);
    if (with_projection) {
        snprintf(base, sizeof base, "%svisual_projection", prefix);
        m->projection = pt_mc_linear(P, base, NULL, D, c->projection_dim, 0);
    }
}

void pt_clip_vision_free(pt_clip_vision *m) {
    free(m->layers);
    m->layers = NULL;
}

// ---- forward --------------------------------------------------------------------------------------
static pt_tensor *act_fwd(pt_clip_act a, pt_tensor *x) {
    switch (a) {
    case PT_CLIP_ACT_GELU: return pt_gelu(x, 0);
    case PT_CLIP_ACT_GELU_TANH: return pt_gelu(x, 1);
    default: return pt_quick_gelu(x);
    }
}

static pt_tensor *layer_fwd(const pt_clip_vision_config *c, pt_clip_layer *L, pt_tensor *h) {
    int mark = pt_scope_begin();
    pt_tensor *n = pt_mc_layer_norm_fwd(&L->ln1, h);              // (B, S, D)
    pt_tensor *q = pt_mc_linear_fwd(&L->q, n);
    pt_tensor *k = pt_mc_linear_fwd(&L->k, n);
    pt_tensor *v = pt_mc_linear_fwd(&L->v, n);
    pt_tensor *a = pt_attention(q, k, v, c->num_heads, 0.0f);      // scale head_dim^-0.5
    h = pt_add(h, pt_mc_linear_fwd(&L->o, a));
    n = pt_mc_layer_norm_fwd(&L->ln2, h);
    n = act_fwd(c->act, pt_mc_linear_fwd(&L->fc1, n));             // (B, S, I)
    h = pt_add(h, pt_mc_linear_fwd(&L->fc2, n));                   // (B, S, D)
    return pt_scope_end(mark, h);
}

void pt_clip_vision_forward(pt_clip_vision *m, pt_tensor *px, pt_clip_vision_out *out) {
    const pt_clip_vision_config *c = &m->cfg;
    if (px->ndim != 4 || px->shape[1] != c->num_channels || px->shape[2] != c->image_size ||
        px->shape[3] != c->image_size) {
        char b[128];
        PT_USAGE("clip vision: pixel_values %s, expected (B, %d, %d, %d)", pt_shape_str(px, b, sizeof b),
                 c->num_channels, c->image_size, c->image_size);
    }
    const int64_t B = px->shape[0], D = c->hidden_size;
    memset(out, 0, sizeof *out);
    int mark = pt_scope_begin();
    pt_tensor *pt = pt_conv2d(px, m->patch_embedding, NULL, c->patch_size, 0);   // (B, D, g, g)
    pt = pt_mc_nchw_to_tokens(pt);                                              // (B, P, D)
    pt_tensor *cls = pt_repeat(pt_reshape(m->class_embedding, PT_DIMS(1, 1, D)), 0, B);   // (B, 1, D)
    pt_tensor *parts[2] = {cls, pt};
    pt_tensor *h = pt_concat(parts, 2, 1);                                      // (B, 1+P, D)
    h = pt_add(h, m->position_embedding);
    h = pt_mc_layer_norm_fwd(&m->pre_layrnorm, h);
    pt_tensor *pen = h;
    for (int i = 0; i < c->num_layers; i++) {
        if (i == c->num_layers - 1) pen = h;
        h = layer_fwd(c, &m->layers[i], h);
    }
    pt_tensor *pooled = pt_reshape(pt_contiguous(pt_slice(h, 1, 0, 1)), PT_DIMS(B, D));   // (B, D)
    pooled = pt_mc_layer_norm_fwd(&m->post_layernorm, pooled);
    pt_tensor *emb = m->projection.w ? pt_mc_linear_fwd(&m->projection, pooled) : NULL;   // (B, proj)
    pt_tensor *keep[4] = {h, pen, pooled, emb};
    pt_scope_end_keep(mark, keep, emb ? 4 : 3);
    out->last_hidden_state = h;
    out->penultimate = pen;
    out->pooled = pooled;
    out->image_embeds = emb;
}

// ---- loading --------------------------------------------------------------------------------------
static int ignorable(const char *name) {
    if (strncmp(name, "text_model.", 11) == 0 || strncmp(name, "text_projection.", 16) == 0) return 1;
    if (strcmp(name, "logit_scale") == 0) return 1;
    if (strncmp(name, "visual_projection.", 18) == 0) return 1;   // a tower built without projection
    size_t n = strlen(name);
    return n >= 12 && strcmp(name + n - 12, "position_ids") == 0;
}

static int clip_ignore(const char *name, const pt_wtensor *t, const pt_weights *w, void *ctx) {
    (void)t; (void)w; (void)ctx;
    return ignorable(name);
}

// Loads a CLIP vision tower from a CLIPVisionModel(WithProjection) or a full CLIPModel file: the
// text tower, logit_scale, position_ids buffers and (for a tower built without one) the visual
// projection are accepted and skipped; anything else unexpected is an error.
void pt_clip_vision_load(pt_params *P, const pt_weights *w, const pt_load_opts *opts) {
    pt_load_opts o = {0};
    if (opts) o = *opts;
    o.ignore = clip_ignore;
    pt_params_load(P, w, &o);
}

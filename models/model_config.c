// model_config.c — configuration pieces shared by the model sets (see model_config.h).
#include "models/model_config.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/check.h"
#include "tools/json.h"

static int is_dir(const char *p) {
    struct stat st;
    return p && p[0] && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}
static int exists(const char *p) {
    struct stat st;
    return p && p[0] && stat(p, &st) == 0;
}

void pt_model_device_from_config(const pt_config *cfg, pt_device *device, pt_dtype *dtype) {
    *device = PT_CPU;
    *dtype = PT_F32;
    if (cfg->train.device == PT_CFG_DEVICE_CUDA) {
#ifdef POSETUNE_HAVE_CUDA
        *device = PT_CUDA;
        if (cfg->train.precision == PT_CFG_PREC_BF16) *dtype = PT_BF16;
        if (cfg->train.precision == PT_CFG_PREC_FP16) *dtype = PT_F16;
#else
        PT_USAGE("config key 'train.device': cuda, but this posetune was built without CUDA (set train.device: cpu)");
#endif
    }
}

void pt_model_config_path(const char *weights, const char *key, char *out, size_t n) {
    if (!exists(weights)) PT_USAGE("config key '%s': '%s' does not exist", key, weights);
    if (is_dir(weights)) snprintf(out, n, "%s/config.json", weights);
    else {
        const char *slash = strrchr(weights, '/');
        if (slash) snprintf(out, n, "%.*s/config.json", (int)(slash - weights), weights);
        else snprintf(out, n, "config.json");
    }
    if (!exists(out))
        PT_USAGE("config key '%s': no config.json for '%s' (looked for '%s'); give a diffusers/transformers folder "
                 "or put the model's config.json beside the weights file", key, weights, out);
}

const char *pt_model_strip_prefix_map(const char *param, char *buf, size_t n, void *ctx) {
    const char *pre = ctx;
    size_t k = strlen(pre);
    if (strncmp(param, pre, k) != 0) return NULL;
    snprintf(buf, n, "%s", param + k);
    return buf;
}

void pt_model_tiny_unet(const pt_config *cfg, pt_unet_config *c) {
    const pt_config_tiny *t = &cfg->model.tiny_size;
    pt_unet_config_sd15(c);
    c->n_blocks = t->unet_channels.n;
    for (int i = 0; i < c->n_blocks; i++) {
        c->block_out_channels[i] = t->unet_channels.v[i];
        c->layers_per_block[i] = t->unet_layers_per_block;
        c->down_attn[i] = i < c->n_blocks - 1 || c->n_blocks == 1;   // SD: every block but the deepest
        c->up_attn[i] = i > 0 || c->n_blocks == 1;
        c->heads[i] = t->unet_heads;
        c->transformer_layers[i] = 1;
    }
    c->cross_attention_dim = t->cross_attention_dim;
    c->norm_num_groups = t->norm_groups;
    c->time_embed_dim = 4 * c->block_out_channels[0];
}

void pt_model_tiny_vae(const pt_config *cfg, pt_vae_config *c) {
    const pt_config_tiny *t = &cfg->model.tiny_size;
    pt_vae_config_sd(c);
    c->n_blocks = t->vae_channels.n;
    for (int i = 0; i < c->n_blocks; i++) c->block_out_channels[i] = t->vae_channels.v[i];
    c->layers_per_block = t->vae_layers_per_block;
    c->norm_num_groups = t->norm_groups;
}

void pt_model_tiny_clip(const pt_config *cfg, pt_clip_vision_config *c) {
    const pt_config_tiny *t = &cfg->model.tiny_size;
    c->hidden_size = t->clip_hidden;
    c->intermediate_size = 4 * t->clip_hidden;
    c->num_layers = t->clip_layers;
    c->num_heads = t->clip_heads;
    c->image_size = t->clip_image_size;
    c->patch_size = t->clip_patch;
}

void pt_model_clip_preprocess(const pt_config *cfg, const pt_clip_vision_config *cc, pt_clip_preprocess_config *pre) {
    pt_clip_preprocess_default(pre);
    if (cfg->model.tiny) {
        pre->shortest_edge = cc->image_size;
        pre->crop_h = pre->crop_w = cc->image_size;
    } else if (is_dir(cfg->model.clip)) {
        char cp[4096];
        snprintf(cp, sizeof cp, "%s/preprocessor_config.json", cfg->model.clip);
        if (exists(cp)) { pt_json *j = pt_json_parse_file(cp); pt_clip_preprocess_config_from_json(pre, j); pt_json_free(j); }
    }
}

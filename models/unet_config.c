// unet_config.c — pt_unet_config from a diffusers UNet2DConditionModel config.json.
// Every option whose value posetune does not implement fails with PT_USAGE naming the key, so a
// checkpoint never silently runs through the wrong network.
#include <math.h>
#include <string.h>

#include "models/unet.h"
#include "tools/check.h"

void pt_unet_config_sd15(pt_unet_config *c) {
    memset(c, 0, sizeof *c);
    c->in_channels = 4;
    c->out_channels = 4;
    c->n_blocks = 4;
    const int boc[4] = {320, 640, 1280, 1280};
    for (int i = 0; i < 4; i++) {
        c->block_out_channels[i] = boc[i];
        c->layers_per_block[i] = 2;
        c->down_attn[i] = i < 3;
        c->up_attn[i] = i > 0;
        c->heads[i] = 8;
        c->transformer_layers[i] = 1;
    }
    c->has_mid_block = 1;
    c->cross_attention_dim = 768;
    c->norm_num_groups = 32;
    c->norm_eps = 1e-5f;
    c->use_linear_projection = 0;
    c->flip_sin_to_cos = 1;
    c->freq_shift = 0.0f;
    c->time_embed_dim = 4 * 320;
    c->mid_block_scale_factor = 1.0f;
}

static const char *src(const pt_json *j) { return pt_json_source(j); }

static int is_null(const pt_json *n) { return !n || n->type == PT_JSON_NULL; }

static void require_null(const pt_json *o, const char *key) {
    const pt_json *n = pt_json_get(o, key);
    if (!is_null(n)) PT_USAGE("%s:%d: \"%s\" is set; posetune's UNet supports only null/absent here", src(o), n->line, key);
}
static void require_str(const pt_json *o, const char *key, const char *want) {
    const pt_json *n = pt_json_get(o, key);
    if (is_null(n)) return;
    const char *v = pt_json_str(o, key, want);
    if (strcmp(v, want) != 0) PT_USAGE("%s:%d: \"%s\" is \"%s\"; only \"%s\" is supported", src(o), n->line, key, v, want);
}
static void require_num(const pt_json *o, const char *key, double want) {
    const pt_json *n = pt_json_get(o, key);
    if (is_null(n)) return;
    double v = pt_json_num(o, key, want);
    if (fabs(v - want) > 1e-12) PT_USAGE("%s:%d: \"%s\" is %g; only %g is supported", src(o), n->line, key, v, want);
}
static void require_false(const pt_json *o, const char *key) {
    const pt_json *n = pt_json_get(o, key);
    if (is_null(n)) return;
    if (n->type == PT_JSON_ARR) {
        for (int i = 0; i < n->n; i++)
            if (n->items[i].type != PT_JSON_BOOL || n->items[i].boolean)
                PT_USAGE("%s:%d: \"%s\"[%d] must be false", src(o), n->line, key, i);
        return;
    }
    if (pt_json_bool(o, key, 0)) PT_USAGE("%s:%d: \"%s\" is true; only false is supported", src(o), n->line, key);
}

// An int or a list of n ints (one per block) into dst[0..n).
static void int_or_list(const pt_json *o, const char *key, int *dst, int n, int dflt) {
    const pt_json *v = pt_json_get(o, key);
    if (is_null(v)) { for (int i = 0; i < n; i++) dst[i] = dflt; return; }
    if (v->type == PT_JSON_NUM) {
        int x = pt_json_int(o, key, dflt);
        for (int i = 0; i < n; i++) dst[i] = x;
        return;
    }
    int got = pt_json_int_array(o, key, dst, PT_UNET_MAX_BLOCKS);
    if (got != n) PT_USAGE("%s:%d: \"%s\" has %d entries, expected %d (one per block)", src(o), v->line, key, got, n);
}

void pt_unet_config_from_json(pt_unet_config *c, const pt_json *root) {
    const pt_json *o = root;
    const pt_json *inner = pt_json_get(root, "config");
    if (inner && inner->type == PT_JSON_OBJ) o = inner;
    if (!o || o->type != PT_JSON_OBJ) PT_USAGE("%s: the UNet config must be a JSON object", src(root));
    pt_unet_config_sd15(c);

    c->in_channels = pt_json_int(o, "in_channels", 4);
    c->out_channels = pt_json_int(o, "out_channels", 4);
    int n = pt_json_int_array(o, "block_out_channels", c->block_out_channels, PT_UNET_MAX_BLOCKS);
    if (n < 0) n = 4;   // defaults kept
    if (n < 1) PT_USAGE("%s: \"block_out_channels\" is empty", src(o));
    c->n_blocks = n;

    const char *types[PT_UNET_MAX_BLOCKS];
    int nd = pt_json_str_array(o, "down_block_types", types, PT_UNET_MAX_BLOCKS);
    if (nd >= 0) {
        if (nd != n) PT_USAGE("%s: \"down_block_types\" has %d entries, \"block_out_channels\" %d", src(o), nd, n);
        for (int i = 0; i < n; i++) {
            if (strcmp(types[i], "CrossAttnDownBlock2D") == 0) c->down_attn[i] = 1;
            else if (strcmp(types[i], "DownBlock2D") == 0) c->down_attn[i] = 0;
            else PT_USAGE("%s: \"down_block_types\"[%d] = \"%s\" is not supported (CrossAttnDownBlock2D, DownBlock2D)",
                          src(o), i, types[i]);
        }
    } else if (n != 4) PT_USAGE("%s: \"down_block_types\" is required when block_out_channels has %d entries", src(o), n);
    int nu = pt_json_str_array(o, "up_block_types", types, PT_UNET_MAX_BLOCKS);
    if (nu >= 0) {
        if (nu != n) PT_USAGE("%s: \"up_block_types\" has %d entries, \"block_out_channels\" %d", src(o), nu, n);
        for (int i = 0; i < n; i++) {
            if (strcmp(types[i], "CrossAttnUpBlock2D") == 0) c->up_attn[i] = 1;
            else if (strcmp(types[i], "UpBlock2D") == 0) c->up_attn[i] = 0;
            else PT_USAGE("%s: \"up_block_types\"[%d] = \"%s\" is not supported (CrossAttnUpBlock2D, UpBlock2D)",
                          src(o), i, types[i]);
        }
    } else if (n != 4) PT_USAGE("%s: \"up_block_types\" is required when block_out_channels has %d entries", src(o), n);

    const pt_json *mid = pt_json_get(o, "mid_block_type");
    if (mid && mid->type == PT_JSON_NULL) c->has_mid_block = 0;
    else require_str(o, "mid_block_type", "UNetMidBlock2DCrossAttn");

    int_or_list(o, "layers_per_block", c->layers_per_block, n, 2);
    int_or_list(o, "transformer_layers_per_block", c->transformer_layers, n, 1);
    // diffusers: num_attention_heads = num_attention_heads or attention_head_dim (SD1: heads).
    const pt_json *nah = pt_json_get(o, "num_attention_heads");
    if (!is_null(nah)) int_or_list(o, "num_attention_heads", c->heads, n, 8);
    else int_or_list(o, "attention_head_dim", c->heads, n, 8);

    const pt_json *cad = pt_json_get(o, "cross_attention_dim");
    if (cad && cad->type != PT_JSON_NUM)
        PT_USAGE("%s:%d: \"cross_attention_dim\" must be one integer (per-block lists are not supported)", src(o), cad->line);
    c->cross_attention_dim = pt_json_int(o, "cross_attention_dim", 768);
    c->norm_num_groups = pt_json_int(o, "norm_num_groups", 32);
    c->norm_eps = (float)pt_json_num(o, "norm_eps", 1e-5);
    c->use_linear_projection = pt_json_bool(o, "use_linear_projection", 0);
    c->flip_sin_to_cos = pt_json_bool(o, "flip_sin_to_cos", 1);
    c->freq_shift = (float)pt_json_num(o, "freq_shift", 0);
    c->mid_block_scale_factor = (float)pt_json_num(o, "mid_block_scale_factor", 1.0);
    c->center_input_sample = pt_json_bool(o, "center_input_sample", 0);
    const pt_json *ted = pt_json_get(o, "time_embedding_dim");
    c->time_embed_dim = is_null(ted) ? 4 * c->block_out_channels[0] : pt_json_int(o, "time_embedding_dim", 0);

    // Options posetune does not implement: must keep their SD1.x values.
    require_str(o, "act_fn", "silu");
    require_str(o, "time_embedding_type", "positional");
    require_str(o, "resnet_time_scale_shift", "default");
    require_str(o, "attention_type", "default");
    require_num(o, "conv_in_kernel", 3);
    require_num(o, "conv_out_kernel", 3);
    require_num(o, "downsample_padding", 1);
    require_num(o, "dropout", 0);
    require_num(o, "resnet_out_scale_factor", 1.0);
    require_false(o, "only_cross_attention");
    require_false(o, "dual_cross_attention");
    require_false(o, "resnet_skip_time_act");
    require_false(o, "class_embeddings_concat");
    require_false(o, "mid_block_only_cross_attention");
    const char *must_be_null[] = {"class_embed_type", "addition_embed_type", "encoder_hid_dim", "encoder_hid_dim_type",
                                  "time_cond_proj_dim", "num_class_embeds", "timestep_post_act",
                                  "projection_class_embeddings_input_dim", "cross_attention_norm",
                                  "reverse_transformer_layers_per_block", "time_embedding_act_fn",
                                  "addition_time_embed_dim"};
    for (size_t i = 0; i < sizeof must_be_null / sizeof *must_be_null; i++) require_null(o, must_be_null[i]);

    if (c->in_channels < 1 || c->out_channels < 1) PT_USAGE("%s: in_channels/out_channels must be positive", src(o));
    for (int i = 0; i < n; i++) {
        if (c->block_out_channels[i] < 1) PT_USAGE("%s: \"block_out_channels\"[%d] must be positive", src(o), i);
        if (c->layers_per_block[i] < 1) PT_USAGE("%s: \"layers_per_block\"[%d] must be positive", src(o), i);
        if (c->transformer_layers[i] < 1) PT_USAGE("%s: \"transformer_layers_per_block\"[%d] must be positive", src(o), i);
    }
}

void pt_unet_config_load(pt_unet_config *c, const char *path) {
    pt_json *j = pt_json_parse_file(path);
    pt_unet_config_from_json(c, j);
    pt_json_free(j);
}

// export_configs.c — config.json texts of exported components (see export_configs.h).
// Keys are written in sorted order (diffusers saves with sort_keys=True) by hand.
#include "checkpoints/export_configs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/check.h"
#include "tools/json.h"

// The double whose shortest repr is the float's shortest repr (1e-5f -> 1e-05, not 9.99999975e-06).
static double f2d(float x) {
    char t[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, (double)x);
        if (strtof(t, NULL) == x) break;
    }
    return strtod(t, NULL);
}

static void key_str(pt_jbuf *b, const char *k, const char *v) { pt_jbuf_key(b, k); pt_jbuf_str(b, v); }
static void key_int(pt_jbuf *b, const char *k, int64_t v) { pt_jbuf_key(b, k); pt_jbuf_int(b, v); }
static void key_num(pt_jbuf *b, const char *k, float v) { pt_jbuf_key(b, k); pt_jbuf_num(b, f2d(v)); }
static void key_bool(pt_jbuf *b, const char *k, int v) { pt_jbuf_key(b, k); pt_jbuf_bool(b, v); }
static void key_ints(pt_jbuf *b, const char *k, const int *v, int n) {
    pt_jbuf_key(b, k);
    pt_jbuf_arr_begin(b);
    for (int i = 0; i < n; i++) pt_jbuf_int(b, v[i]);
    pt_jbuf_arr_end(b);
}
// One int when every entry is equal (what diffusers' SD1.x configs hold), else a per-block list.
static void key_int_or_list(pt_jbuf *b, const char *k, const int *v, int n) {
    int same = 1;
    for (int i = 1; i < n; i++) same &= v[i] == v[0];
    if (same) key_int(b, k, v[0]);
    else key_ints(b, k, v, n);
}
static void key_types(pt_jbuf *b, const char *k, const int *on, int n, const char *yes, const char *no) {
    pt_jbuf_key(b, k);
    pt_jbuf_arr_begin(b);
    for (int i = 0; i < n; i++) pt_jbuf_str(b, on && !on[i] ? no : yes);
    pt_jbuf_arr_end(b);
}
static pt_jbuf begin(void) {
    pt_jbuf b = {0};
    b.indent = 2;
    pt_jbuf_obj_begin(&b);
    return b;
}
static char *end(pt_jbuf *b) {
    pt_jbuf_obj_end(b);
    return pt_jbuf_take(b);
}

char *pt_export_unet_config_json(const pt_unet_config *c, int sample_size) {
    const int n = c->n_blocks;
    pt_jbuf b = begin();
    key_str(&b, "_class_name", "UNet2DConditionModel");
    key_str(&b, "_diffusers_version", PT_EXPORT_DIFFUSERS_VERSION);
    key_str(&b, "act_fn", "silu");
    key_int_or_list(&b, "attention_head_dim", c->heads, n);   // SD1.x: the number of heads
    key_ints(&b, "block_out_channels", c->block_out_channels, n);
    key_bool(&b, "center_input_sample", c->center_input_sample);
    key_int(&b, "cross_attention_dim", c->cross_attention_dim);
    key_types(&b, "down_block_types", c->down_attn, n, "CrossAttnDownBlock2D", "DownBlock2D");
    key_int(&b, "downsample_padding", 1);
    key_bool(&b, "flip_sin_to_cos", c->flip_sin_to_cos);
    key_num(&b, "freq_shift", c->freq_shift);
    key_int(&b, "in_channels", c->in_channels);   // DreamPose: 4 + 2 * n_poses (conv_in widened)
    key_int_or_list(&b, "layers_per_block", c->layers_per_block, n);
    key_num(&b, "mid_block_scale_factor", c->mid_block_scale_factor);
    pt_jbuf_key(&b, "mid_block_type");
    if (c->has_mid_block) pt_jbuf_str(&b, "UNetMidBlock2DCrossAttn");
    else pt_jbuf_null(&b);
    key_num(&b, "norm_eps", c->norm_eps);
    key_int(&b, "norm_num_groups", c->norm_num_groups);
    key_int(&b, "out_channels", c->out_channels);
    key_int(&b, "sample_size", sample_size > 0 ? sample_size : 64);
    pt_jbuf_key(&b, "time_embedding_dim");
    if (c->time_embed_dim == 4 * c->block_out_channels[0]) pt_jbuf_null(&b);
    else pt_jbuf_int(&b, c->time_embed_dim);
    key_int_or_list(&b, "transformer_layers_per_block", c->transformer_layers, n);
    key_types(&b, "up_block_types", c->up_attn, n, "CrossAttnUpBlock2D", "UpBlock2D");
    key_bool(&b, "use_linear_projection", c->use_linear_projection);
    return end(&b);
}

char *pt_export_vae_config_json(const pt_vae_config *c, int sample_size) {
    const int n = c->n_blocks;
    pt_jbuf b = begin();
    key_str(&b, "_class_name", "AutoencoderKL");
    key_str(&b, "_diffusers_version", PT_EXPORT_DIFFUSERS_VERSION);
    key_str(&b, "act_fn", "silu");
    key_ints(&b, "block_out_channels", c->block_out_channels, n);
    key_types(&b, "down_block_types", NULL, n, "DownEncoderBlock2D", NULL);
    key_int(&b, "in_channels", c->in_channels);
    key_int(&b, "latent_channels", c->latent_channels);
    key_int(&b, "layers_per_block", c->layers_per_block);
    key_bool(&b, "mid_block_add_attention", c->mid_block_add_attention);
    key_int(&b, "norm_num_groups", c->norm_num_groups);
    key_int(&b, "out_channels", c->out_channels);
    key_int(&b, "sample_size", sample_size > 0 ? sample_size : 512);
    key_num(&b, "scaling_factor", c->scaling_factor);
    key_types(&b, "up_block_types", NULL, n, "UpDecoderBlock2D", NULL);
    key_bool(&b, "use_post_quant_conv", c->use_post_quant_conv);
    key_bool(&b, "use_quant_conv", c->use_quant_conv);
    return end(&b);
}

static const char *clip_act_name(pt_clip_act a) {
    switch (a) {
    case PT_CLIP_ACT_GELU: return "gelu";
    case PT_CLIP_ACT_GELU_TANH: return "gelu_new";
    default: return "quick_gelu";
    }
}

static const char *torch_dtype_name(pt_dtype d) {
    return d == PT_F16 ? "float16" : d == PT_BF16 ? "bfloat16" : "float32";
}

char *pt_export_clip_config_json(const pt_clip_vision_config *c, int with_projection, pt_dtype dtype) {
    pt_jbuf b = begin();
    pt_jbuf_key(&b, "architectures");
    pt_jbuf_arr_begin(&b);
    pt_jbuf_str(&b, with_projection ? "CLIPVisionModelWithProjection" : "CLIPVisionModel");
    pt_jbuf_arr_end(&b);
    key_num(&b, "attention_dropout", 0.0f);
    key_num(&b, "dropout", 0.0f);
    key_str(&b, "hidden_act", clip_act_name(c->act));
    key_int(&b, "hidden_size", c->hidden_size);
    key_int(&b, "image_size", c->image_size);
    key_num(&b, "initializer_factor", 1.0f);
    key_num(&b, "initializer_range", 0.02f);
    key_int(&b, "intermediate_size", c->intermediate_size);
    key_num(&b, "layer_norm_eps", c->layer_norm_eps);
    key_str(&b, "model_type", "clip_vision_model");
    key_int(&b, "num_attention_heads", c->num_heads);
    key_int(&b, "num_channels", c->num_channels);
    key_int(&b, "num_hidden_layers", c->num_layers);
    key_int(&b, "patch_size", c->patch_size);
    key_int(&b, "projection_dim", c->projection_dim);
    key_str(&b, "torch_dtype", torch_dtype_name(dtype));
    key_str(&b, "transformers_version", PT_EXPORT_TRANSFORMERS_VERSION);
    return end(&b);
}

char *pt_export_adapter_config_json(int n_tokens, int dim, int latent_channels, int latent_h, int latent_w) {
    pt_jbuf b = begin();
    key_str(&b, "_class_name", "Embedding_Adapter");   // DreamPose models/unet_dual_encoder.py
    key_str(&b, "_posetune_module", "dreampose_adapter");
    key_int(&b, "clip_dim", dim);
    key_int(&b, "clip_tokens", n_tokens);
    key_int(&b, "latent_channels", latent_channels);
    key_int(&b, "latent_height", latent_h);
    key_int(&b, "latent_width", latent_w);
    key_str(&b, "linear1", "Linear over the token axis (clip_tokens + latent_channels -> clip_tokens)");
    key_int(&b, "pool", 2);
    key_str(&b, "vae2clip", "Linear(latent_height/2 * latent_width/2 -> clip_dim) on MaxPool2d(2) of the latent");
    return end(&b);
}

// Output channels of tensor `prefix + name` (shape[0]), or -1.
static int out_ch(const pt_weights *w, const char *prefix, const char *name, int dim) {
    char nm[512];
    snprintf(nm, sizeof nm, "%s%s", prefix, name);
    const pt_wtensor *t = pt_weights_find(w, nm);
    return t && t->ndim > dim ? (int)t->shape[dim] : -1;
}

char *pt_export_pose_guider_config_json(const pt_weights *w, const char *prefix) {
    int ch[16], n = 0;
    int c0 = out_ch(w, prefix, "conv_in.weight", 0);
    if (c0 < 0) PT_USAGE("Pose Guider export: no tensor '%sconv_in.weight'", prefix);
    ch[n++] = c0;
    for (int i = 1; n < 16; i += 2) {   // blocks.2i+1 is the stride-2 conv to the next width
        char nm[64];
        snprintf(nm, sizeof nm, "blocks.%d.weight", i);
        int c = out_ch(w, prefix, nm, 0);
        if (c < 0) break;
        ch[n++] = c;
    }
    pt_jbuf b = begin();
    key_str(&b, "_class_name", "PoseGuider");   // Moore-AnimateAnyone src/models/pose_guider.py
    key_str(&b, "_posetune_module", "pose_guider");
    key_ints(&b, "block_out_channels", ch, n);
    key_int(&b, "conditioning_channels", out_ch(w, prefix, "conv_in.weight", 1));
    key_int(&b, "conditioning_embedding_channels", out_ch(w, prefix, "conv_out.weight", 0));
    return end(&b);
}

char *pt_export_motion_adapter_config_json(const pt_motion_config *c, int n_blocks, const int *block_out_channels,
                                           int layers_per_block, int has_mid) {
    pt_jbuf b = begin();
    key_str(&b, "_class_name", "MotionAdapter");
    key_str(&b, "_diffusers_version", PT_EXPORT_DIFFUSERS_VERSION);
    key_ints(&b, "block_out_channels", block_out_channels, n_blocks);
    pt_jbuf_key(&b, "conv_in_channels"); pt_jbuf_null(&b);
    key_int(&b, "motion_layers_per_block", layers_per_block);
    key_int(&b, "motion_max_seq_length", c->max_len);
    key_int(&b, "motion_mid_block_layers_per_block", 1);
    key_int(&b, "motion_norm_num_groups", c->norm_num_groups);
    key_int(&b, "motion_num_attention_heads", c->heads);
    key_int(&b, "motion_transformer_layers_per_block", c->num_layers);
    key_bool(&b, "use_motion_mid_block", has_mid);
    return end(&b);
}

char *pt_export_scheduler_config_json(const pt_export_sched *s) {
    pt_jbuf b = begin();
    key_str(&b, "_class_name", "DDPMScheduler");
    key_str(&b, "_diffusers_version", PT_EXPORT_DIFFUSERS_VERSION);
    pt_jbuf_key(&b, "beta_end"); pt_jbuf_num(&b, s->beta_end);
    key_str(&b, "beta_schedule", "scaled_linear");
    pt_jbuf_key(&b, "beta_start"); pt_jbuf_num(&b, s->beta_start);
    key_bool(&b, "clip_sample", 0);
    key_int(&b, "num_train_timesteps", s->num_train_timesteps);
    key_str(&b, "prediction_type", s->prediction_type);
    key_bool(&b, "rescale_betas_zero_snr", s->rescale_betas_zero_snr);
    key_bool(&b, "set_alpha_to_one", 0);
    key_int(&b, "steps_offset", 1);
    key_str(&b, "timestep_spacing", s->timestep_spacing);
    return end(&b);
}

void pt_export_write_text(const char *path, const char *text) {
    pt_atomic_file af;
    pt_atomic_open(&af, path);
    pt_fwrite(text, 1, strlen(text), af.f, af.tmp_path);
    pt_fwrite("\n", 1, 1, af.f, af.tmp_path);
    pt_atomic_commit(&af);
}

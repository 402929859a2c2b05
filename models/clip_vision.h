// clip_vision.h — transformers' CLIPVisionModel / CLIPVisionModelWithProjection (ViT image tower).
//
//   pt_clip_vision_config c; pt_clip_vision_config_load(&c, "image_encoder/config.json");
//   pt_clip_vision m; pt_clip_vision_init(&m, &c, &P, "", 1);    // 1: with visual_projection
//   pt_params_set_trainable(&P, "", 0); pt_params_finalize(&P); pt_clip_vision_load(&P, w, "", NULL);
//   pt_clip_vision_out o; pt_clip_vision_forward(&m, pixel_values, &o);
//
// Computation (transformers modeling_clip.py):
//   patches = conv(pixels, patch_embedding, stride = kernel = patch_size, no bias)  (B, D, g, g) -> (B, P, D)
//   h = concat([class_embedding, patches], tokens) + position_embedding            (B, 1+P, D)
//   h = pre_layrnorm(h)                                                            hidden_states[0]
//   layer: h = h + out_proj(attn(q_proj(ln1 h), k_proj(.), v_proj(.)))  heads, scale head_dim^-0.5
//          h = h + fc2(act(fc1(ln2 h)))                                  act: quick_gelu | gelu | gelu_new
//   last_hidden_state = h after the last layer (no post-layernorm), penultimate = hidden_states[-2]
//   pooled = post_layernorm(last_hidden_state[:, 0]); image_embeds = visual_projection(pooled) (no bias)
// Names: prefix + "vision_model.embeddings.{class_embedding,patch_embedding.weight,
// position_embedding.weight}", "vision_model.pre_layrnorm", "vision_model.encoder.layers.N.
// {layer_norm1,self_attn.{q,k,v,out}_proj,layer_norm2,mlp.fc1,mlp.fc2}", "vision_model.post_layernorm",
// "visual_projection.weight".
// The tower is frozen in every regime: with frozen parameters and an input that needs no gradient,
// no tape is recorded (no-grad cost); gradients work when something requires them.
#pragma once
#include "models/model_common.h"
#include "tools/json.h"

typedef enum { PT_CLIP_ACT_QUICK_GELU = 0, PT_CLIP_ACT_GELU = 1, PT_CLIP_ACT_GELU_TANH = 2 } pt_clip_act;

typedef struct pt_clip_vision_config {
    int hidden_size, intermediate_size, projection_dim;
    int num_layers, num_heads;
    int num_channels, image_size, patch_size;
    pt_clip_act act;
    float layer_norm_eps;
} pt_clip_vision_config;

// openai/clip-vit-large-patch14 (Animate Anyone's image encoder) and clip-vit-base-patch32 (DreamPose).
void pt_clip_vision_config_vit_l14(pt_clip_vision_config *c);
void pt_clip_vision_config_vit_b32(pt_clip_vision_config *c);
// A CLIPVisionConfig object (transformers config.json of CLIPVisionModel[WithProjection]), an
// object whose "config" key holds one (peer fixtures), or a CLIPModel config ("vision_config" +
// top-level "projection_dim"). Missing keys take transformers' CLIPVisionConfig defaults.
void pt_clip_vision_config_from_json(pt_clip_vision_config *c, const pt_json *root);
void pt_clip_vision_config_load(pt_clip_vision_config *c, const char *path);

typedef struct pt_clip_layer {
    pt_lnorm ln1, ln2;
    pt_lin q, k, v, o, fc1, fc2;
} pt_clip_layer;

typedef struct pt_clip_vision {
    pt_clip_vision_config cfg;
    pt_tensor *class_embedding;   // (D)
    pt_tensor *patch_embedding;   // (D, C, p, p)
    pt_tensor *position_embedding;  // (1+P, D)
    pt_lnorm pre_layrnorm, post_layernorm;
    pt_clip_layer *layers;
    pt_lin projection;            // w NULL without visual_projection
} pt_clip_vision;

void pt_clip_vision_init(pt_clip_vision *m, const pt_clip_vision_config *c, pt_params *P, const char *prefix,
                         int with_projection);
void pt_clip_vision_free(pt_clip_vision *m);
int64_t pt_clip_vision_num_patches(const pt_clip_vision_config *c);   // (image_size / patch_size)^2

typedef struct pt_clip_vision_out {
    pt_tensor *last_hidden_state;   // (B, 1+P, D), before post_layernorm
    pt_tensor *penultimate;         // (B, 1+P, D) hidden_states[-2] (the input of the last layer)
    pt_tensor *pooled;              // (B, D) post_layernorm(last_hidden_state[:, 0])
    pt_tensor *image_embeds;        // (B, projection_dim); NULL without projection
} pt_clip_vision_out;

// pixel_values (B, num_channels, image_size, image_size), already normalised (clip_preprocess.h).
// Every output belongs to the current scope.
void pt_clip_vision_forward(pt_clip_vision *m, pt_tensor *pixel_values, pt_clip_vision_out *out);

// Load by name like pt_params_load (opts may be NULL), but tensors of the checkpoint that a vision
// tower never uses are accepted: the text tower of a full CLIPModel file ("text_model.*",
// "text_projection.*", "logit_scale"), the "position_ids" buffer of older transformers files, and
// "visual_projection.weight" when the tower was built without projection (DreamPose).
// Any other tensor no parameter takes is still an error (unless opts->allow_unexpected).
void pt_clip_vision_load(pt_params *P, const pt_weights *w, const pt_load_opts *opts);

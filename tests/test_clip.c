// test_clip.c — CLIP vision tower against transformers (peer fixture clip_vision_tiny):
// last_hidden_state, penultimate hidden state, image_embeds; no tape when frozen; input gradient by
// finite differences; loading a full CLIPModel file; ViT-L/14 parameter count; CLIPImageProcessor.
#include <unistd.h>

#include "models/clip_preprocess.h"
#include "models/clip_vision.h"
#include "tests/fixture_util.h"
#include "tests/gradcheck.h"
#include "tests/test_util.h"

static double expect_tensor(const pt_weights *io, const char *name, pt_tensor *t) {
    float *a, *b;
    int64_t n = tu_fixture_pair(io, name, t, &a, &b);
    if (n < 0) return 1;
    double e = rel_err_f32(a, b, n);
    EXPECT(e < 1e-4, "%s: relative error %.3g", name, e);
    printf("  %s: relative error %.3g\n", name, e);
    free(a); free(b);
    return e;
}

typedef struct { pt_params P; pt_clip_vision m; } clip_model;

static void build(clip_model *c, const char *cfg_path, const pt_weights *w) {
    pt_clip_vision_config cfg;
    pt_clip_vision_config_load(&cfg, cfg_path);
    pt_params_init(&c->P, PT_CPU, PT_F32);
    pt_clip_vision_init(&c->m, &cfg, &c->P, "", 1);
    pt_params_set_trainable(&c->P, "", 0);
    pt_params_finalize(&c->P);
    pt_clip_vision_load(&c->P, w, NULL);
}

TEST_CASE(fixture) {
    const char *cfg = tu_fixture("clip_vision_tiny.json"), *wp = tu_fixture("clip_vision_tiny.safetensors"),
               *iop = tu_fixture("clip_vision_tiny.io.safetensors");
    if (!cfg || !wp || !iop) { test_skip("peer fixture clip_vision_tiny not found"); return; }
    pt_weights *w = pt_weights_load(wp), *io = pt_weights_load(iop);
    clip_model c;
    build(&c, cfg, w);
    EXPECT(c.m.cfg.act == PT_CLIP_ACT_QUICK_GELU && c.m.cfg.num_layers == 3 && c.m.cfg.projection_dim == 16,
           "config read from the fixture json");
    int mark = pt_scope_begin();
    int64_t tape0 = pt_tape_size();
    pt_clip_vision_out o;
    pt_clip_vision_forward(&c.m, tu_fixture_tensor(io, "pixel_values"), &o);   // grad mode on, but frozen
    EXPECT(pt_tape_size() == tape0, "frozen tower records no tape (%lld nodes)", (long long)(pt_tape_size() - tape0));
    expect_tensor(io, "last_hidden_state", o.last_hidden_state);
    expect_tensor(io, "penultimate_hidden_state", o.penultimate);
    expect_tensor(io, "image_embeds", o.image_embeds);
    pt_scope_end(mark, NULL);
    pt_clip_vision_free(&c.m);
    pt_params_free(&c.P);
    pt_weights_free(w);
    pt_weights_free(io);
}

static pt_tensor *clip_fn(pt_tensor **in, int n_in, void *ctx) {
    pt_clip_vision_out o;
    pt_clip_vision_forward((pt_clip_vision *)ctx, in[0], &o);
    return o.image_embeds;
}

// Gradients flow through the frozen tower to its input (finite differences).
TEST_CASE(input_gradient) {
    const char *cfg = tu_fixture("clip_vision_tiny.json"), *wp = tu_fixture("clip_vision_tiny.safetensors");
    if (!cfg || !wp) { test_skip("peer fixture clip_vision_tiny not found"); return; }
    pt_weights *w = pt_weights_load(wp);
    clip_model c;
    build(&c, cfg, w);
    int mark = pt_scope_begin();
    tu_seed(7);
    pt_tensor *x = gc_input(PT_DIMS(1, 3, 32, 32), 1.0);
    double e = gradcheck("clip image_embeds wrt pixel_values", clip_fn, &x, 1, &c.m, 1e-2, 24);
    EXPECT(e < 2e-2, "finite-difference relative error %.3g", e);
    printf("  image_embeds wrt pixel_values: finite-difference relative error %.3g\n", e);
    pt_scope_end(mark, NULL);
    pt_clip_vision_free(&c.m);
    pt_params_free(&c.P);
    pt_weights_free(w);
}

// A full CLIPModel file (text tower, logit_scale, position_ids) loads; an unknown tensor does not.
TEST_CASE(load_full_clip_file) {
    const char *cfg = tu_fixture("clip_vision_tiny.json"), *wp = tu_fixture("clip_vision_tiny.safetensors");
    if (!cfg || !wp) { test_skip("peer fixture clip_vision_tiny not found"); return; }
    pt_weights *w = pt_weights_load(wp);
    char path[2][256];
    for (int variant = 0; variant < 2; variant++) {
        pt_st_writer *wr = pt_st_writer_new();
        for (int i = 0; i < w->n; i++)
            pt_st_writer_add(wr, w->t[i].name, w->t[i].dtype, w->t[i].ndim, w->t[i].shape, w->t[i].dtype, w->t[i].data);
        float one[4] = {1, 2, 3, 4};
        int64_t ids[17];
        for (int i = 0; i < 17; i++) ids[i] = i;
        pt_st_writer_add(wr, "text_model.embeddings.token_embedding.weight", PT_F32, 2, PT_SHAPE(2, 2), PT_F32, one);
        pt_st_writer_add(wr, "text_projection.weight", PT_F32, 2, PT_SHAPE(2, 2), PT_F32, one);
        pt_st_writer_add(wr, "logit_scale", PT_F32, 0, PT_SHAPE(1), PT_F32, one);
        pt_st_writer_add(wr, "vision_model.embeddings.position_ids", PT_I64, 2, PT_SHAPE(1, 17), PT_I64, ids);
        if (variant == 1) pt_st_writer_add(wr, "vision_model.encoder.layers.9.bogus", PT_F32, 1, PT_SHAPE(4), PT_F32, one);
        snprintf(path[variant], sizeof path[variant], "/tmp/posetune_test_clip_%d_%d.safetensors", (int)getpid(), variant);
        pt_st_writer_write(wr, path[variant]);
        pt_st_writer_free(wr);
    }
    pt_weights *ok = pt_weights_load(path[0]), *bad = pt_weights_load(path[1]);
    clip_model c;
    build(&c, cfg, ok);   // must not fail
    EXPECT_FAILS(pt_clip_vision_load(&c.P, bad, NULL), PT_EXIT_USAGE, "vision_model.encoder.layers.9.bogus");
    pt_clip_vision_free(&c.m);
    pt_params_free(&c.P);
    pt_weights_free(ok);
    pt_weights_free(bad);
    remove(path[0]);
    remove(path[1]);
    pt_weights_free(w);
}

// CLIPVisionModelWithProjection ViT-L/14 (Animate Anyone's image encoder), counted by hand.
TEST_CASE(vit_l14_parameter_count) {
    const int64_t D = 1024, L = 24, I = 4096, p = 14, S = 224, proj = 768;
    const int64_t positions = (S / p) * (S / p) + 1;                    // 257
    const int64_t embeddings = D + 3 * p * p * D + positions * D;        // class + patch conv (no bias) + positions
    const int64_t layer = 2 * D                                          // layer_norm1
                          + 4 * (D * D + D)                              // q, k, v, out_proj
                          + 2 * D                                        // layer_norm2
                          + (D * I + I) + (I * D + D);                   // fc1, fc2
    const int64_t expected = embeddings + 2 * D + L * layer + 2 * D + proj * D;   // + pre/post layernorm + projection
    EXPECT(expected == 303966208, "hand count %lld", (long long)expected);
    pt_clip_vision_config c;
    pt_clip_vision_config_vit_l14(&c);
    pt_params P;
    pt_params_init(&P, PT_CPU, PT_F32);
    pt_clip_vision m;
    pt_clip_vision_init(&m, &c, &P, "image_encoder.", 1);
    EXPECT(pt_params_count(&P, 0) == expected, "ViT-L/14 with projection: %lld parameters, expected %lld",
           (long long)pt_params_count(&P, 0), (long long)expected);
    EXPECT(pt_params_find(&P, "image_encoder.vision_model.pre_layrnorm.weight") != NULL, "transformers' spelling");
    EXPECT(pt_params_find(&P, "image_encoder.visual_projection.bias") == NULL, "projection has no bias");
    EXPECT(P.data == NULL, "nothing allocated");
    pt_clip_vision_free(&m);
    pt_params_free(&P);
    // ViT-B/32 without projection (DreamPose): 87,456,000 (hand count below)
    const int64_t D2 = 768, I2 = 3072, pos2 = 50;
    const int64_t b32 = D2 + 3 * 32 * 32 * D2 + pos2 * D2 + 4 * D2 +
                        12 * (4 * D2 + 4 * (D2 * D2 + D2) + D2 * I2 + I2 + I2 * D2 + D2);
    pt_clip_vision_config_vit_b32(&c);
    pt_params_init(&P, PT_CPU, PT_F32);
    pt_clip_vision_init(&m, &c, &P, "", 0);
    EXPECT(pt_params_count(&P, 0) == b32, "ViT-B/32: %lld parameters, expected %lld", (long long)pt_params_count(&P, 0),
           (long long)b32);
    pt_clip_vision_free(&m);
    pt_params_free(&P);
}

TEST_CASE(config_variants) {
    const char *clipmodel = "{\"projection_dim\": 512, \"vision_config\": {\"hidden_size\": 64, "
                            "\"num_attention_heads\": 4, \"patch_size\": 16, \"hidden_act\": \"gelu\"}}";
    pt_json *j = pt_json_parse(clipmodel, strlen(clipmodel), "clip/config.json");
    pt_clip_vision_config c;
    pt_clip_vision_config_from_json(&c, j);
    EXPECT(c.hidden_size == 64 && c.projection_dim == 512 && c.patch_size == 16 && c.act == PT_CLIP_ACT_GELU &&
               c.num_layers == 12 && c.image_size == 224, "CLIPModel config with vision_config");
    pt_json_free(j);
    const char *bad = "{\"hidden_act\": \"relu\"}";
    j = pt_json_parse(bad, strlen(bad), "bad.json");
    EXPECT_FAILS(pt_clip_vision_config_from_json(&c, j), PT_EXIT_USAGE, "relu");
    pt_json_free(j);
}

// CLIPImageProcessor: sizes, crop, normalisation, and the bicubic filter reproducing linear ramps.
TEST_CASE(preprocess) {
    pt_clip_preprocess_config c;
    pt_clip_preprocess_default(&c);
    int oh, ow;
    pt_clip_preprocess_resized_size(&c, 640, 512, &oh, &ow);
    EXPECT(oh == 280 && ow == 224, "640x512 -> %dx%d (280x224)", oh, ow);
    pt_clip_preprocess_resized_size(&c, 768, 768, &oh, &ow);
    EXPECT(oh == 224 && ow == 224, "768x768 -> %dx%d", oh, ow);
    // a constant image stays constant: (v / 255 - mean) / std
    const int H = 300, W = 250;
    uint8_t *rgb = pt_malloc((size_t)H * W * 3);
    for (int i = 0; i < H * W; i++) { rgb[3 * i] = 200; rgb[3 * i + 1] = 100; rgb[3 * i + 2] = 0; }
    float *out = pt_malloc(sizeof(float) * 3 * 224 * 224);
    pt_clip_preprocess_u8(&c, rgb, H, W, out);
    const float v[3] = {200, 100, 0};
    for (int k = 0; k < 3; k++) {
        float want = (v[k] / 255.0f - c.mean[k]) / c.std[k];
        EXPECT_CLOSE(out[k * 224 * 224 + 1234], want, 1e-5, 1e-5);
    }
    // a horizontal ramp (value = column) halved in width: bicubic reproduces linear functions, so the
    // interior output column i (centre at input coordinate 2i + 1) holds 2i + 0.5; the crop keeps the
    // middle 224 of the 280 resized rows.
    const int h2 = 560, w2 = 448;   // -> 280 x 224
    float *ramp = pt_malloc(sizeof(float) * 3 * (size_t)h2 * w2);
    for (int k = 0; k < 3; k++)
        for (int y = 0; y < h2; y++)
            for (int x = 0; x < w2; x++) ramp[((size_t)k * h2 + y) * w2 + x] = (float)x / w2;
    pt_clip_preprocess_config id = c;
    for (int k = 0; k < 3; k++) { id.mean[k] = 0; id.std[k] = 1; }
    pt_clip_preprocess_chw(&id, ramp, h2, w2, out);
    double maxerr = 0;
    for (int y = 0; y < 224; y += 17)
        for (int x = 3; x < 221; x++) {
            double want = (2.0 * x + 0.5) / w2, e = fabs(out[(size_t)y * 224 + x] - want);
            if (e > maxerr) maxerr = e;
        }
    EXPECT(maxerr < 1e-5, "ramp reproduced (max error %.3g)", maxerr);
    // PIL's 8-bit path rounds to integers: a ramp 0..255 over 512 columns halved stays within one level
    uint8_t *r8 = pt_malloc(512 * 512 * 3);
    for (int y = 0; y < 512; y++)
        for (int x = 0; x < 512; x++) for (int k = 0; k < 3; k++) r8[(y * 512 + x) * 3 + k] = (uint8_t)(x / 2);
    pt_clip_preprocess_u8(&id, r8, 512, 512, out);   // 512 -> 224 (scale 16/7), no crop needed
    maxerr = 0;
    for (int x = 4; x < 220; x++) {
        double centre = (x + 0.5) * 512.0 / 224.0 - 0.5;   // input coordinate of the output pixel
        double want = centre / 2.0;                          // value of the ramp there (before flooring)
        double got = out[100 * 224 + x] * 255.0;
        EXPECT(fabs(got - round(got)) < 1e-3, "8-bit path yields integers (%g)", got);
        double e = fabs(got - want);
        if (e > maxerr) maxerr = e;
    }
    EXPECT(maxerr <= 1.0, "8-bit ramp within one level (max %.3g)", maxerr);
    free(r8); free(ramp); free(rgb); free(out);
}

int main(void) {
    RUN(fixture);
    RUN(input_gradient);
    RUN(load_full_clip_file);
    RUN(vit_l14_parameter_count);
    RUN(config_variants);
    RUN(preprocess);
    return test_summary();
}

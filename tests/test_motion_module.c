// test_motion_module.c — AnimateDiff temporal module against the peer fixture motion_module_tiny
// (output, every parameter gradient, input gradient; with and without checkpointing), the
// position-encoding check on load, zero-initialised proj_out = identity, the UNet hook, and the
// parameter count of mm_sd_v15_v2's 21 modules derived by hand.
#include <unistd.h>

#include "models/motion_module.h"
#include "models/unet.h"
#include "tests/fixture_util.h"
#include "tests/test_util.h"

static double worst = 0;
static void expect_tensor(const pt_weights *io, const char *name, pt_tensor *t) {
    float *a, *b;
    int64_t n = tu_fixture_pair(io, name, t, &a, &b);
    if (n < 0) return;
    double e = rel_err_f32(a, b, n);
    if (e > worst) worst = e;
    EXPECT(e < 1e-4, "%s: relative error %.3g", name, e);
    free(a); free(b);
}

// The fixture was computed by diffusers' AnimateDiffTransformer3D with norm_num_groups 8, which its
// json does not state: GroupNorm statistics over all frames of a video (diffusers), 8 groups.
// (AnimateDiff's own code normalises each frame; pt_motion_config.norm_over_frames selects.)
static void fixture_config(pt_motion_config *c, const char *path) {
    pt_json *j = pt_json_parse_file(path);
    pt_motion_config_from_json(c, j);
    if (!pt_json_get(j, "norm_num_groups")) c->norm_num_groups = 8;
    if (!pt_json_get(j, "norm_over_frames")) c->norm_over_frames = 1;
    pt_json_free(j);
    EXPECT(c->in_channels == 32 && c->num_frames == 6 && c->heads == 8 && c->max_len == 32, "fixture config");
}

static void run_fixture(int checkpoint) {
    worst = 0;
    const char *cfgp = tu_fixture("motion_module_tiny.json"), *wp = tu_fixture("motion_module_tiny.safetensors"),
               *iop = tu_fixture("motion_module_tiny.io.safetensors");
    if (!cfgp || !wp || !iop) { test_skip("peer fixture motion_module_tiny not found"); return; }
    pt_motion_config c;
    fixture_config(&c, cfgp);
    pt_weights *w = pt_weights_load(wp), *io = pt_weights_load(iop);
    pt_params P;
    pt_params_init(&P, PT_CPU, PT_F32);
    pt_motion_module m;
    pt_motion_module_init(&m, &P, "", &c, c.in_channels);
    pt_params_finalize(&P);
    pt_motion_load(&P, w, NULL);   // the fixture holds the pos_encoder.pe buffers: checked, not parameters
    int mark = pt_scope_begin();
    pt_tensor *x = tu_fixture_tensor(io, "hidden_states");   // (B*F, C, H, W)
    x->requires_grad = 1;
    pt_tensor *out = pt_motion_module_forward(&m, x, c.num_frames, checkpoint);
    expect_tensor(io, "out", out);
    pt_backward(pt_sum(pt_mul(out, tu_fixture_tensor(io, "R"))), NULL);
    int n = 0;
    for (int i = 0; i < P.n; i++) {
        char nm[600];
        snprintf(nm, sizeof nm, "grad.%s", P.e[i].name);
        expect_tensor(io, nm, P.e[i].t->grad);
        n++;
    }
    expect_tensor(io, "grad.hidden_states", x->grad);
    int n_ref = 0;
    for (int j = 0; j < io->n; j++) n_ref += strncmp(io->t[j].name, "grad.", 5) == 0;
    EXPECT(n + 1 == n_ref, "compared %d gradients, fixture has %d", n + 1, n_ref);
    printf("  motion_module_tiny%s: worst relative error %.3g over %d tensors\n", checkpoint ? " (checkpointed)" : "",
           worst, n + 2);
    pt_scope_end(mark, NULL);
    pt_motion_module_free(&m);
    pt_params_free(&P);
    pt_weights_free(w);
    pt_weights_free(io);
}

TEST_CASE(fixture) { run_fixture(0); }
TEST_CASE(fixture_checkpointed) { run_fixture(1); }

// AnimateDiff's per-frame GroupNorm equals diffusers' over-the-frames one exactly when every frame has
// the same statistics: frames that are cyclic shifts of one frame over the pixels. With the fixture
// input (frames differ) the two differ.
TEST_CASE(per_frame_norm) {
    const char *cfgp = tu_fixture("motion_module_tiny.json"), *wp = tu_fixture("motion_module_tiny.safetensors"),
               *iop = tu_fixture("motion_module_tiny.io.safetensors");
    if (!cfgp || !wp || !iop) { test_skip("peer fixture motion_module_tiny not found"); return; }
    pt_motion_config c;
    fixture_config(&c, cfgp);
    pt_weights *w = pt_weights_load(wp), *io = pt_weights_load(iop);
    pt_params P;
    pt_params_init(&P, PT_CPU, PT_F32);
    pt_motion_module joint, frame;
    pt_motion_module_init(&joint, &P, "", &c, 32);
    pt_params_finalize(&P);
    pt_motion_load(&P, w, NULL);
    frame = joint;                 // same parameters, other normalisation
    frame.norm_over_frames = 0;
    frame.pe = NULL;
    int mark = pt_scope_begin();
    PT_NO_GRAD_BEGIN
    pt_tensor *x = tu_fixture_tensor(io, "hidden_states");   // (2*6, 32, 4, 4)
    float *h = pt_malloc(sizeof(float) * (size_t)pt_numel(x));
    pt_copy_to_host_f32(x, h);
    for (int b = 0; b < 2; b++)
        for (int f = 1; f < 6; f++)
            for (int ch = 0; ch < 32; ch++)
                for (int p = 0; p < 16; p++)
                    h[((b * 6 + f) * 32 + ch) * 16 + p] = h[((b * 6) * 32 + ch) * 16 + (p + 3 * f) % 16];
    pt_tensor *xs = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(12, 32, 4, 4), h);
    pt_tensor *a = pt_motion_module_forward(&joint, xs, 6, 0), *bb = pt_motion_module_forward(&frame, xs, 6, 0);
    double e = rel_err_f32(pt_f32(bb), pt_f32(a), pt_numel(a));
    EXPECT(e < 1e-6, "shifted frames: per-frame = over-frames (%.3g)", e);
    a = pt_motion_module_forward(&joint, x, 6, 0);
    bb = pt_motion_module_forward(&frame, x, 6, 0);
    e = rel_err_f32(pt_f32(bb), pt_f32(a), pt_numel(a));
    EXPECT(e > 1e-2, "fixture input: the two normalisations differ (%.3g)", e);
    free(h);
    PT_NO_GRAD_END
    pt_scope_end(mark, NULL);
    if (frame.pe) pt_release(frame.pe);
    frame.blocks = NULL;
    pt_motion_module_free(&joint);
    pt_params_free(&P);
    pt_weights_free(w);
    pt_weights_free(io);
}

// A position-encoding buffer that is not the sinusoidal one fails naming the tensor; other unknown
// tensors fail as unexpected.
TEST_CASE(pe_checked_on_load) {
    const char *wp = tu_fixture("motion_module_tiny.safetensors");
    if (!wp) { test_skip("peer fixture motion_module_tiny not found"); return; }
    pt_weights *w = pt_weights_load(wp);
    const char *pe_name = "temporal_transformer.transformer_blocks.0.attention_blocks.1.pos_encoder.pe";
    EXPECT(pt_weights_find(w, pe_name) != NULL, "fixture holds %s", pe_name);
    char path[2][256];
    for (int variant = 0; variant < 2; variant++) {
        pt_st_writer *wr = pt_st_writer_new();
        for (int i = 0; i < w->n; i++) {
            const pt_wtensor *t = &w->t[i];
            int64_t n = pt_wtensor_numel(t);
            float *h = pt_malloc(sizeof(float) * (size_t)n);
            pt_weights_read_f32(t, h);
            if (variant == 0 && strcmp(t->name, pe_name) == 0) h[5 * 32 + 3] += 0.01f;   // position 5, channel 3
            pt_st_writer_add(wr, t->name, PT_F32, t->ndim, t->shape, PT_F32, h);
            free(h);
        }
        if (variant == 1) {
            float z[2] = {0, 0};
            pt_st_writer_add(wr, "temporal_transformer.extra.weight", PT_F32, 1, PT_SHAPE(2), PT_F32, z);
        }
        snprintf(path[variant], sizeof path[variant], "/tmp/posetune_test_mm_%d_%d.safetensors", (int)getpid(), variant);
        pt_st_writer_write(wr, path[variant]);
        pt_st_writer_free(wr);
    }
    pt_motion_config c;
    pt_motion_config_v2(&c);
    pt_params P;
    pt_params_init(&P, PT_CPU, PT_F32);
    pt_motion_module m;
    pt_motion_module_init(&m, &P, "", &c, 32);
    pt_params_finalize(&P);
    pt_weights *a = pt_weights_load(path[0]), *b = pt_weights_load(path[1]);
    EXPECT_FAILS(pt_motion_load(&P, a, NULL), PT_EXIT_USAGE, "attention_blocks.1.pos_encoder.pe'[0, 5, 3]");
    EXPECT_FAILS(pt_motion_load(&P, b, NULL), PT_EXIT_USAGE, "temporal_transformer.extra.weight");
    pt_motion_load(&P, w, NULL);   // the original loads
    pt_weights_free(a);
    pt_weights_free(b);
    remove(path[0]);
    remove(path[1]);
    pt_motion_module_free(&m);
    pt_params_free(&P);
    pt_weights_free(w);
}

// With proj_out zeroed the module is the identity (the residual carries the input through).
TEST_CASE(zero_init_is_identity) {
    pt_motion_config c;
    pt_motion_config_v2(&c);
    c.norm_num_groups = 4;
    pt_params P;
    pt_params_init(&P, PT_CPU, PT_F32);
    pt_motion_set s;
    const int widths[5] = {16, 16, 16, 16, 16};   // 1 block, 1 layer: down 0, mid, up 0 (2 modules)
    pt_motion_modules_build(&s, &P, "unet.", &c, 1, 1, widths);
    EXPECT(s.n == 4, "1 block of 1 layer: %d slots (down, mid, up x2)", s.n);
    EXPECT(strcmp(s.names[0], "down_blocks.0.motion_modules.0") == 0 && strcmp(s.names[1], "mid_block.motion_modules.0") == 0 &&
               strcmp(s.names[3], "up_blocks.0.motion_modules.1") == 0, "slot names");
    pt_params_finalize(&P);
    pt_params_init_random(&P, 3);
    pt_motion_modules_zero_init(&s);
    int mark = pt_scope_begin();
    tu_seed(11);
    float *h = pt_malloc(sizeof(float) * 2 * 3 * 16 * 9);
    for (int i = 0; i < 2 * 3 * 16 * 9; i++) h[i] = (float)tu_normal();
    pt_tensor *x = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(6, 16, 3, 3), h);
    pt_tensor *y = pt_motion_temporal_hook(&s, 1, x, 3);
    EXPECT(rel_err_f32(pt_f32(y), h, pt_numel(x)) == 0, "zero proj_out: identity");
    // and not the identity once proj_out is nonzero
    pt_params_init_random(&P, 4);
    y = pt_motion_temporal_hook(&s, 1, x, 3);
    EXPECT(rel_err_f32(pt_f32(y), h, pt_numel(x)) > 1e-3, "random proj_out changes the input");
    EXPECT_FAILS(pt_motion_temporal_hook(&s, 1, x, 4), PT_EXIT_USAGE, "not a multiple of frames");
    pt_scope_end(mark, NULL);
    free(h);
    pt_motion_modules_free(&s);
    pt_params_free(&P);
}

// Frames only mix within their own batch item: changing item 1 leaves item 0's output unchanged,
// and permuting positions matters (the position encoding).
TEST_CASE(temporal_mixing_per_item) {
    pt_motion_config c;
    pt_motion_config_v2(&c);
    c.norm_num_groups = 8;
    pt_params P;
    pt_params_init(&P, PT_CPU, PT_F32);
    pt_motion_module m;
    pt_motion_module_init(&m, &P, "", &c, 16);
    pt_params_finalize(&P);
    pt_params_init_random(&P, 5);
    int mark = pt_scope_begin();
    const int F = 4, n1 = F * 16 * 4;   // one item: F frames of (16, 2, 2)
    float *h = pt_malloc(sizeof(float) * 2 * n1);
    tu_seed(12);
    for (int i = 0; i < 2 * n1; i++) h[i] = (float)tu_normal();
    pt_tensor *y0 = pt_motion_module_forward(&m, pt_from_f32(PT_CPU, PT_F32, PT_DIMS(2 * F, 16, 2, 2), h), F, 0);
    for (int i = n1; i < 2 * n1; i++) h[i] *= -2.0f;
    pt_tensor *y1 = pt_motion_module_forward(&m, pt_from_f32(PT_CPU, PT_F32, PT_DIMS(2 * F, 16, 2, 2), h), F, 0);
    EXPECT(rel_err_f32(pt_f32(y1), pt_f32(y0), n1) == 0, "item 0 unaffected by item 1");
    EXPECT(rel_err_f32(pt_f32(y1) + n1, pt_f32(y0) + n1, n1) > 1e-3, "item 1 changed");
    pt_scope_end(mark, NULL);
    free(h);
    pt_motion_module_free(&m);
    pt_params_free(&P);
}

// mm_sd_v15_v2: 21 modules, counted by hand from the structure of one module of width C:
//   norm (GroupNorm) 2C, proj_in C^2 + C, proj_out C^2 + C,
//   attention_blocks.{0,1}: to_q, to_k, to_v C^2 each (no bias), to_out.0 C^2 + C  -> 2 (4C^2 + C)
//   norms.{0,1} 2 * 2C, ff.net.0.proj 8C^2 + 8C, ff.net.2 4C^2 + C, ff_norm 2C
// widths: down 320 x2, 640 x2, 1280 x4; mid 1280; up 1280 x3, 1280 x3, 640 x3, 320 x3.
TEST_CASE(sd15_parameter_count) {
    const int64_t widths[21] = {320, 320, 640, 640, 1280, 1280, 1280, 1280, 1280, 1280, 1280,
                                1280, 1280, 1280, 1280, 640, 640, 640, 320, 320, 320};
    int64_t expected = 0;
    for (int i = 0; i < 21; i++) {
        int64_t C = widths[i];
        expected += 2 * C + (C * C + C) + (C * C + C) + 2 * (4 * C * C + C) + 2 * 2 * C + (8 * C * C + 8 * C) +
                    (4 * C * C + C) + 2 * C;
    }
    EXPECT(expected == 453209280, "hand count %lld", (long long)expected);
    pt_motion_config c;
    pt_motion_config_v2(&c);
    pt_params P;
    pt_params_init(&P, PT_CPU, PT_F32);
    pt_motion_set s;
    pt_motion_modules_build_sd15(&s, &P, "", &c);
    EXPECT(s.n == 21, "21 modules (%d)", s.n);
    EXPECT(pt_params_count(&P, 0) == expected, "mm_sd_v15_v2: %lld parameters, expected %lld",
           (long long)pt_params_count(&P, 0), (long long)expected);
    EXPECT(P.data == NULL, "nothing allocated");
    static const char *names[] = {
        "down_blocks.0.motion_modules.0.temporal_transformer.norm.weight",
        "down_blocks.3.motion_modules.1.temporal_transformer.proj_in.weight",
        "mid_block.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.1.to_out.0.bias",
        "up_blocks.3.motion_modules.2.temporal_transformer.transformer_blocks.0.ff.net.0.proj.weight",
        "up_blocks.0.motion_modules.2.temporal_transformer.transformer_blocks.0.norms.1.weight",
        "up_blocks.1.motion_modules.0.temporal_transformer.transformer_blocks.0.ff_norm.bias",
    };
    for (int i = 0; i < 6; i++) EXPECT(pt_params_find(&P, names[i]) != NULL, "has %s", names[i]);
    EXPECT(pt_params_find(&P, "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.to_q.bias") == NULL,
           "to_q has no bias");
    pt_param_entry *e = pt_params_find(&P, "up_blocks.3.motion_modules.2.temporal_transformer.transformer_blocks.0.ff.net.0.proj.weight");
    EXPECT(e && e->t->shape[0] == 2560 && e->t->shape[1] == 320, "up_blocks.3 width 320");
    e = pt_params_find(&P, "mid_block.motion_modules.0.temporal_transformer.proj_out.weight");
    EXPECT(e && e->t->shape[0] == 1280, "mid width 1280");
    EXPECT(strcmp(s.names[8], "mid_block.motion_modules.0") == 0 && strcmp(s.names[9], "up_blocks.0.motion_modules.0") == 0 &&
               strcmp(s.names[20], "up_blocks.3.motion_modules.2") == 0 && strcmp(s.names[7], "down_blocks.3.motion_modules.1") == 0,
           "slots follow the UNet's forward order");
    // the UNet's temporal slots (models/unet.h) have the same widths in the same order
    pt_unet_config uc;
    pt_unet_config_sd15(&uc);
    pt_params PU;
    pt_params_init(&PU, PT_CPU, PT_F32);
    pt_unet u;
    pt_unet_init(&u, &uc, &PU, "");
    EXPECT(u.n_temporal_slots == s.n, "UNet slots %d", u.n_temporal_slots);
    for (int i = 0; i < s.n && i < u.n_temporal_slots; i++)
        EXPECT(pt_unet_temporal_slot_channels(&u, i) == s.mods[i].channels, "slot %d: UNet width %d, module %s width %d", i,
               pt_unet_temporal_slot_channels(&u, i), s.names[i], s.mods[i].channels);
    pt_unet_free(&u);
    pt_params_free(&PU);
    pt_motion_modules_free(&s);
    pt_params_free(&P);
}

TEST_CASE(position_encoding_values) {
    float pe[4 * 8];
    pt_motion_position_encoding(4, 8, pe);
    // pe[p, 2i] = sin(p / 10000^(2i/8)), pe[p, 2i+1] = cos(...)
    EXPECT_CLOSE(pe[0 * 8 + 0], 0.0, 1e-7, 0);
    EXPECT_CLOSE(pe[0 * 8 + 1], 1.0, 1e-7, 0);
    EXPECT_CLOSE(pe[3 * 8 + 0], sin(3.0), 1e-6, 0);
    EXPECT_CLOSE(pe[3 * 8 + 3], cos(3.0 / 10.0), 1e-6, 0);
    EXPECT_CLOSE(pe[2 * 8 + 6], sin(2.0 / 1000.0), 1e-6, 0);
}

int main(void) {
    RUN(fixture);
    RUN(fixture_checkpointed);
    RUN(per_frame_norm);
    RUN(pe_checked_on_load);
    RUN(zero_init_is_identity);
    RUN(temporal_mixing_per_item);
    RUN(sd15_parameter_count);
    RUN(position_encoding_values);
    return test_summary();
}

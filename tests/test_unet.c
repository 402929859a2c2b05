// test_unet.c — the SD1.x UNet against diffusers (peer fixture: output and every gradient), its
// hooks against identities that must hold exactly, widened conv_in, config errors, and the SD1.5
// parameter count.
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "models/unet.h"
#include "tests/fixture_util.h"
#include "tests/test_util.h"

// The fixture's architecture (also used when the fixture is absent): SD1.x wiring at tiny widths.
static const char *TINY_JSON =
    "{\"in_channels\": 4, \"out_channels\": 4, \"layers_per_block\": 2, \"block_out_channels\": [16, 32, 32, 32],"
    " \"down_block_types\": [\"CrossAttnDownBlock2D\", \"CrossAttnDownBlock2D\", \"CrossAttnDownBlock2D\", \"DownBlock2D\"],"
    " \"up_block_types\": [\"UpBlock2D\", \"CrossAttnUpBlock2D\", \"CrossAttnUpBlock2D\", \"CrossAttnUpBlock2D\"],"
    " \"cross_attention_dim\": 32, \"attention_head_dim\": 8, \"norm_num_groups\": 8}";

static void tiny_config(pt_unet_config *c, int in_channels) {
    pt_json *j = pt_json_parse(TINY_JSON, strlen(TINY_JSON), "tiny.json");
    pt_unet_config_from_json(c, j);
    pt_json_free(j);
    c->in_channels = in_channels;
}

typedef struct model { pt_params P; pt_unet u; } model;

static void model_random(model *m, const pt_unet_config *c, uint64_t seed) {
    pt_params_init(&m->P, PT_CPU, PT_F32);
    pt_unet_init(&m->u, c, &m->P, "");
    pt_params_finalize(&m->P);
    pt_params_init_random(&m->P, seed);
}
static void model_free(model *m) { pt_unet_free(&m->u); pt_params_free(&m->P); }

static pt_tensor *randn(int ndim, const int64_t *shape, double scale) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    float *h = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) h[i] = (float)(scale * tu_normal());
    pt_tensor *t = pt_from_f32(PT_CPU, PT_F32, ndim, shape, h);
    free(h);
    return t;
}

// Inputs of the hook tests: B 2, 4x16x16 latents, 7 context tokens of width 32.
typedef struct inputs { pt_tensor *x, *t, *ctx; } inputs;
static inputs make_inputs(uint64_t seed, int in_channels) {
    tu_seed(seed);
    inputs in;
    in.x = randn(PT_DIMS(2, in_channels, 16, 16), 1.0);
    in.t = pt_from_i64(PT_CPU, PT_DIMS(2), (const int64_t[]){10, 700});
    in.ctx = randn(PT_DIMS(2, 7, 32), 1.0);
    return in;
}

static float *run(model *m, inputs in, const pt_unet_hooks *hk) {
    int mark = pt_scope_begin();
    pt_tensor *y;
    PT_NO_GRAD_BEGIN
    y = pt_unet_forward(&m->u, in.x, in.t, in.ctx, hk);
    PT_NO_GRAD_END
    float *h = malloc(sizeof(float) * (size_t)pt_numel(y));
    pt_copy_to_host_f32(y, h);
    pt_scope_end(mark, NULL);
    return h;
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) { double d = fabs((double)a[i] - b[i]); if (d > m) m = d; }
    return m;
}

#define OUT_N (2 * 4 * 16 * 16)

// ---- the peer fixture -------------------------------------------------------------------------------
static double rel_err_tensor(pt_tensor *t, const pt_weights *ref, const char *name) {
    const pt_wtensor *wt = pt_weights_find(ref, name);
    if (!wt) return INFINITY;
    int64_t n = pt_wtensor_numel(wt);
    if (n != pt_numel(t)) return INFINITY;
    float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
    pt_copy_to_host_f32(t, a);
    pt_weights_read_f32(wt, b);
    double e = rel_err_f32(a, b, n);
    free(a); free(b);
    return e;
}

static void fixture_check(int checkpoint) {
    const char *dir = fixtures_dir();
    if (!dir) { test_skip("peer fixtures absent (unet_tiny)"); return; }
    char path[4096];
    snprintf(path, sizeof path, "%s/unet_tiny.json", dir);
    pt_unet_config cfg;
    pt_unet_config_load(&cfg, path);
    snprintf(path, sizeof path, "%s/unet_tiny.safetensors", dir);
    pt_weights *w = pt_weights_load(path);
    snprintf(path, sizeof path, "%s/unet_tiny.io.safetensors", dir);
    pt_weights *io = pt_weights_load(path);
    model m;
    pt_set_grad_enabled(1);   // a failed EXPECT_FAILS inside a no-grad block may have left it off
    pt_params_init(&m.P, PT_CPU, PT_F32);
    pt_unet_init(&m.u, &cfg, &m.P, "");
    pt_params_finalize(&m.P);
    pt_unet_load(&m.u, w);
    EXPECT(m.P.n == 684, "%d parameters, the fixture has 684", m.P.n);

    int mark = pt_scope_begin();
    pt_tensor *x = tu_fixture_tensor(io, "sample"), *t = tu_fixture_tensor(io, "timestep"), *ctx = tu_fixture_tensor(io, "encoder_hidden_states");
    pt_tensor *R = tu_fixture_tensor(io, "R");
    x->requires_grad = 1;
    ctx->requires_grad = 1;
    pt_unet_hooks hk = {0};
    hk.checkpoint = checkpoint;
    pt_tensor *y = pt_unet_forward(&m.u, x, t, ctx, &hk);
    double e_out = rel_err_tensor(y, io, "out");
    pt_backward(pt_sum(pt_mul(y, R)), NULL);
    double worst = e_out, sum = 0;
    const char *worst_name = "out";
    char nm[600];
    for (int i = 0; i < m.P.n; i++) {
        snprintf(nm, sizeof nm, "grad.%s", m.P.e[i].name);
        pt_tensor *g = m.P.e[i].t->grad;
        double e = g ? rel_err_tensor(g, io, nm) : INFINITY;
        sum += e;
        if (e > worst) { worst = e; worst_name = m.P.e[i].name; }
        EXPECT(e < 1e-4, "%s: relative error %.3g", nm, e);
    }
    double e_x = x->grad ? rel_err_tensor(x->grad, io, "grad.sample") : INFINITY;
    double e_c = ctx->grad ? rel_err_tensor(ctx->grad, io, "grad.encoder_hidden_states") : INFINITY;
    EXPECT(e_out < 1e-4, "out: relative error %.3g", e_out);
    EXPECT(e_x < 1e-4, "grad.sample: relative error %.3g", e_x);
    EXPECT(e_c < 1e-4, "grad.encoder_hidden_states: relative error %.3g", e_c);
    printf("  fixture%s: out %.2e, grad.sample %.2e, grad.encoder_hidden_states %.2e, params mean %.2e, worst %.2e (%s)\n",
           checkpoint ? " (checkpointed)" : "", e_out, e_x, e_c, sum / m.P.n, worst, worst_name);
    pt_scope_end(mark, NULL);
    model_free(&m);
    pt_weights_free(io);
    pt_weights_free(w);
}

TEST_CASE(fixture_unet_tiny) { fixture_check(0); }
TEST_CASE(fixture_unet_tiny_checkpointed) { fixture_check(1); }

// ---- hooks ------------------------------------------------------------------------------------------
TEST_CASE(hooks_none_and_empty_bank_equal_plain) {
    pt_unet_config c;
    tiny_config(&c, 4);
    model m;
    model_random(&m, &c, 1);
    EXPECT(m.u.n_transformer_blocks == 16, "%d transformer blocks", m.u.n_transformer_blocks);
    EXPECT(m.u.n_temporal_slots == 21, "%d temporal slots", m.u.n_temporal_slots);
    EXPECT(m.u.n_skips == 12, "%d skips", m.u.n_skips);
    int mark = pt_scope_begin();
    inputs in = make_inputs(7, 4);
    float *plain = run(&m, in, NULL);
    pt_ref_bank bank = {0};
    pt_unet_hooks hk = {0};
    hk.ref_bank = &bank;
    float *none = run(&m, in, &hk);
    hk.ref_mode = PT_REF_READ;
    float *empty = run(&m, in, &hk);
    pt_tensor *zero = pt_zeros(PT_CPU, PT_F32, PT_DIMS(2, 16, 16, 16));
    pt_unet_hooks hz = {0};
    hz.conv_in_residual = zero;
    float *zres = run(&m, in, &hz);
    EXPECT(max_abs_diff(plain, none, OUT_N) == 0, "mode NONE differs by %g", max_abs_diff(plain, none, OUT_N));
    EXPECT(max_abs_diff(plain, empty, OUT_N) == 0, "READ with an empty bank differs by %g", max_abs_diff(plain, empty, OUT_N));
    EXPECT(max_abs_diff(plain, zres, OUT_N) == 0, "zero conv_in_residual differs by %g", max_abs_diff(plain, zres, OUT_N));
    free(plain); free(none); free(empty); free(zres);
    pt_ref_bank_free(&bank);
    pt_scope_end(mark, NULL);
    model_free(&m);
}

// A constant per-channel conv_in_residual is the same as adding it to conv_in.bias.
TEST_CASE(conv_in_residual_is_bias_shift) {
    pt_unet_config c;
    tiny_config(&c, 4);
    model m;
    model_random(&m, &c, 2);
    int mark = pt_scope_begin();
    inputs in = make_inputs(8, 4);
    float delta[16], res[2 * 16 * 16 * 16];
    for (int ch = 0; ch < 16; ch++) delta[ch] = 0.1f * (ch - 7);
    for (int b = 0; b < 2; b++)
        for (int ch = 0; ch < 16; ch++)
            for (int p = 0; p < 256; p++) res[(b * 16 + ch) * 256 + p] = delta[ch];
    pt_unet_hooks hk = {0};
    hk.conv_in_residual = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(2, 16, 16, 16), res);
    float *with_res = run(&m, in, &hk);
    float *plain = run(&m, in, NULL);
    float *bias = pt_f32(m.u.conv_in.b);
    for (int ch = 0; ch < 16; ch++) bias[ch] += delta[ch];
    float *shifted = run(&m, in, NULL);
    EXPECT(max_abs_diff(with_res, plain, OUT_N) > 1e-3, "the residual changed nothing");
    EXPECT(max_abs_diff(with_res, shifted, OUT_N) < 1e-5, "residual vs bias shift differ by %g",
           max_abs_diff(with_res, shifted, OUT_N));
    free(with_res); free(plain); free(shifted);
    pt_scope_end(mark, NULL);
    model_free(&m);
}

// Reading a bank written from the same input duplicates every key/value: softmax weights halve
// and the attention output is unchanged, so READ(same input) == plain. A different reference
// changes the output; a bank of batch 1 is repeated over 2 frames.
TEST_CASE(reference_write_read) {
    pt_unet_config c;
    tiny_config(&c, 4);
    model m;
    model_random(&m, &c, 3);
    int mark = pt_scope_begin();
    inputs in = make_inputs(9, 4);
    float *plain = run(&m, in, NULL);
    pt_ref_bank bank = {0};
    pt_unet_hooks w = {0}, r = {0};
    w.ref_mode = PT_REF_WRITE; w.ref_bank = &bank; w.no_head = 1;
    r.ref_mode = PT_REF_READ; r.ref_bank = &bank;
    float *head = run(&m, in, &w);
    free(head);
    EXPECT(bank.n == 16, "bank holds %d entries", bank.n);
    EXPECT(bank.n > 0 && bank.t[0]->shape[0] == 2 && bank.t[0]->shape[1] == 256 && bank.t[0]->shape[2] == 16,
           "bank[0] has the wrong shape");
    float *same = run(&m, in, &r);
    EXPECT(max_abs_diff(same, plain, OUT_N) < 1e-5, "READ of the same input differs by %g", max_abs_diff(same, plain, OUT_N));
    inputs other = make_inputs(10, 4);
    other.t = in.t;
    other.ctx = in.ctx;
    free(run(&m, other, &w));
    float *diff = run(&m, in, &r);
    EXPECT(max_abs_diff(diff, plain, OUT_N) > 1e-3, "a different reference changed nothing (%g)", max_abs_diff(diff, plain, OUT_N));
    // bank of batch 1 (reference = sample 0) read by a batch of 2 identical frames == plain on them
    inputs one = in;
    one.x = pt_slice(in.x, 0, 0, 1);
    one.t = pt_slice(in.t, 0, 0, 1);
    one.ctx = pt_slice(in.ctx, 0, 0, 1);
    free(run(&m, one, &w));
    inputs two = in;
    two.x = pt_repeat(one.x, 0, 2);
    two.t = pt_repeat(pt_slice(in.t, 0, 0, 1), 0, 2);
    two.ctx = pt_repeat(one.ctx, 0, 2);
    r.ref_frames = 2;
    float *rep = run(&m, two, &r);
    float *plain2 = run(&m, two, NULL);
    EXPECT(max_abs_diff(rep, plain2, OUT_N) < 1e-5, "READ over 2 frames differs by %g", max_abs_diff(rep, plain2, OUT_N));
    r.ref_frames = 3;
    EXPECT_FAILS(free(run(&m, two, &r)), PT_EXIT_USAGE, "ref_frames");
    free(plain); free(same); free(diff); free(rep); free(plain2);
    pt_ref_bank_free(&bank);
    pt_scope_end(mark, NULL);
    model_free(&m);
}

// Animate Anyone stage 1: the denoising loss reaches the reference UNet through the bank. The
// gradient of one reference parameter is checked by central finite differences (checkpointed
// passes on both UNets, so the two-output checkpoint of a writing block is exercised too).
static double ref_loss(model *ref, model *den, inputs in, inputs rin, pt_tensor *R, int ck, int backward) {
    int mark = pt_scope_begin();
    pt_ref_bank bank = {0};
    pt_unet_hooks w = {0}, r = {0};
    w.ref_mode = PT_REF_WRITE; w.ref_bank = &bank; w.no_head = 1; w.checkpoint = ck;
    r.ref_mode = PT_REF_READ; r.ref_bank = &bank; r.checkpoint = ck;
    pt_tensor *head = pt_unet_forward(&ref->u, rin.x, rin.t, rin.ctx, &w);
    (void)head;
    pt_tensor *y = pt_unet_forward(&den->u, in.x, in.t, in.ctx, &r);
    pt_tensor *loss = pt_sum(pt_mul(y, R));
    double v;
    float lv;
    pt_copy_to_host_f32(loss, &lv);
    v = lv;
    if (backward) pt_backward(loss, NULL);
    else pt_tape_clear();
    pt_ref_bank_free(&bank);
    pt_scope_end(mark, NULL);
    return v;
}

TEST_CASE(reference_gradient_through_bank) {
    pt_set_grad_enabled(1);
    pt_unet_config c;
    tiny_config(&c, 4);
    model ref, den;
    model_random(&ref, &c, 21);
    model_random(&den, &c, 22);
    int64_t live0 = pt_live_tensors();
    int mark = pt_scope_begin();
    inputs in = make_inputs(23, 4), rin = make_inputs(24, 4);
    rin.t = pt_from_i64(PT_CPU, PT_DIMS(2), (const int64_t[]){0, 0});
    pt_tensor *R = randn(PT_DIMS(2, 4, 16, 16), 1.0);
    ref_loss(&ref, &den, in, rin, R, 1, 1);
    const char *names[2] = {"down_blocks.1.attentions.0.transformer_blocks.0.norm1.weight",
                            "up_blocks.3.attentions.1.proj_in.weight"};
    for (int k = 0; k < 2; k++) {
        pt_param_entry *e = pt_params_find(&ref.P, names[k]);
        EXPECT(e->t->grad != NULL, "%s got no gradient", names[k]);
        if (!e->t->grad) continue;
        float *p = pt_f32(e->t), *g = pt_f32(e->t->grad);
        int idx = 3;
        float p0 = p[idx];
        const float h = 1e-2f;
        double lp, lm;
        PT_NO_GRAD_BEGIN
        p[idx] = p0 + h; lp = ref_loss(&ref, &den, in, rin, R, 0, 0);
        p[idx] = p0 - h; lm = ref_loss(&ref, &den, in, rin, R, 0, 0);
        p[idx] = p0;
        PT_NO_GRAD_END
        double fd = (lp - lm) / (2 * h);
        EXPECT(fabs(fd - g[idx]) <= 2e-2 * fabs(fd) + 1e-3, "%s[%d]: autograd %g, finite difference %g", names[k], idx, g[idx], fd);
        printf("  %s[%d]: autograd %.6g, finite difference %.6g\n", names[k], idx, g[idx], fd);
    }
    EXPECT(pt_params_find(&ref.P, "conv_out.weight")->t->grad == NULL, "the skipped head got a gradient");
    pt_scope_end(mark, NULL);
    for (int i = 0; i < ref.P.n; i++) if (ref.P.e[i].t->grad) { pt_release(ref.P.e[i].t->grad); ref.P.e[i].t->grad = NULL; }
    for (int i = 0; i < den.P.n; i++) if (den.P.e[i].t->grad) { pt_release(den.P.e[i].t->grad); den.P.e[i].t->grad = NULL; }
    EXPECT(pt_live_tensors() == live0, "%lld tensors leaked", (long long)(pt_live_tensors() - live0));
    EXPECT(pt_tape_size() == 0, "tape holds %lld nodes", (long long)pt_tape_size());
    model_free(&ref);
    model_free(&den);
}

typedef struct temporal_log { int n, slots[64], channels[64], frames; } temporal_log;
static pt_tensor *temporal_cb(void *ctx, int slot, pt_tensor *h, int frames) {
    temporal_log *l = ctx;
    l->slots[l->n] = slot;
    l->channels[l->n++] = (int)h->shape[1];
    l->frames = frames;
    return slot == 8 ? pt_scale(h, 1.0f) : h;
}

TEST_CASE(temporal_slots_and_controlnet_residuals) {
    pt_unet_config c;
    tiny_config(&c, 4);
    model m;
    model_random(&m, &c, 4);
    int mark = pt_scope_begin();
    inputs in = make_inputs(11, 4);
    float *plain = run(&m, in, NULL);
    temporal_log log = {0};
    pt_unet_hooks hk = {0};
    hk.temporal = temporal_cb; hk.temporal_ctx = &log; hk.frames = 2;
    float *id = run(&m, in, &hk);
    EXPECT(log.n == 21, "%d temporal calls", log.n);
    const int want_ch[21] = {16, 16, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 16, 16, 16};
    for (int k = 0; k < log.n && k < 21; k++) {
        EXPECT(log.slots[k] == k, "call %d has slot %d", k, log.slots[k]);
        EXPECT(log.channels[k] == want_ch[k] && pt_unet_temporal_slot_channels(&m.u, k) == want_ch[k],
               "slot %d has %d channels", k, log.channels[k]);
    }
    EXPECT(log.frames == 2, "frames %d", log.frames);
    EXPECT(max_abs_diff(plain, id, OUT_N) == 0, "identity temporal hooks changed the output");
    // ControlNet: zero residuals change nothing; a nonzero mid residual does.
    pt_tensor *res[12];
    for (int k = 0; k < 12; k++) {
        int ch = m.u.skip_channels[k];
        int s = k == 0 ? 16 : 16 >> ((k - 1) / 3 + ((k - 1) % 3 == 2));
        res[k] = pt_zeros(PT_CPU, PT_F32, PT_DIMS(2, ch, s, s));
    }
    pt_unet_hooks cn = {0};
    cn.down_residuals = res; cn.n_down_residuals = 12;
    cn.mid_residual = pt_zeros(PT_CPU, PT_F32, PT_DIMS(2, 32, 2, 2));
    float *z = run(&m, in, &cn);
    EXPECT(max_abs_diff(plain, z, OUT_N) == 0, "zero ControlNet residuals changed the output");
    pt_fill_(cn.mid_residual, 0.5f);
    float *nz = run(&m, in, &cn);
    EXPECT(max_abs_diff(plain, nz, OUT_N) > 1e-3, "a mid residual changed nothing");
    cn.n_down_residuals = 11;
    EXPECT_FAILS(free(run(&m, in, &cn)), PT_EXIT_USAGE, "skip connections");
    free(plain); free(id); free(z); free(nz);
    pt_scope_end(mark, NULL);
    model_free(&m);
}

// Gradient checkpointing: same output and same gradients as the plain backward.
TEST_CASE(checkpoint_same_gradients) {
    pt_unet_config c;
    tiny_config(&c, 4);
    model m;
    model_random(&m, &c, 5);
    int64_t N = m.P.numel;
    pt_set_grad_enabled(1);
    float *g[2];
    float *y[2];
    for (int ck = 0; ck < 2; ck++) {
        int mark = pt_scope_begin();
        inputs in = make_inputs(12, 4);
        pt_params_zero_grad(&m.P);
        pt_unet_hooks hk = {0};
        hk.checkpoint = ck;
        pt_tensor *out = pt_unet_forward(&m.u, in.x, in.t, in.ctx, &hk);
        y[ck] = malloc(sizeof(float) * OUT_N);
        pt_copy_to_host_f32(out, y[ck]);
        pt_backward(pt_sum(pt_mul(out, out)), NULL);
        g[ck] = calloc((size_t)N, sizeof(float));
        for (int i = 0; i < m.P.n; i++)
            if (m.P.e[i].t->grad) pt_copy_to_host_f32(m.P.e[i].t->grad, g[ck] + m.P.e[i].offset);
        for (int i = 0; i < m.P.n; i++) if (m.P.e[i].t->grad) pt_zero_(m.P.e[i].t->grad);
        pt_scope_end(mark, NULL);
    }
    EXPECT(max_abs_diff(y[0], y[1], OUT_N) == 0, "checkpointed forward differs");
    double e = rel_err_f32(g[1], g[0], N);
    EXPECT(e < 1e-6, "checkpointed gradients differ: relative error %g", e);
    free(g[0]); free(g[1]); free(y[0]); free(y[1]);
    model_free(&m);
}

// ---- widened conv_in (DreamPose) ---------------------------------------------------------------------
TEST_CASE(widened_conv_in) {
    pt_unet_config c4, c14;
    tiny_config(&c4, 4);
    tiny_config(&c14, 14);
    model m4, m14;
    model_random(&m4, &c4, 6);
    // the 4-channel model as a checkpoint file
    const char *tmp = getenv("POSETUNE_TEST_TMP");
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/test_unet", tmp ? tmp : "/tmp");
    pt_mkdirs(dir);
    snprintf(path, sizeof path, "%s/unet4.safetensors", dir);
    pt_st_writer *wr = pt_st_writer_new();
    for (int i = 0; i < m4.P.n; i++) {
        pt_tensor *t = m4.P.e[i].t;
        pt_st_writer_add(wr, m4.P.e[i].name, PT_F32, t->ndim, t->shape, PT_F32, pt_f32(t));
    }
    pt_st_writer_write(wr, path);
    pt_st_writer_free(wr);
    pt_weights *w = pt_weights_load(path);
    pt_params_init(&m14.P, PT_CPU, PT_F32);
    pt_unet_init(&m14.u, &c14, &m14.P, "");
    pt_params_finalize(&m14.P);
    pt_params_init_random(&m14.P, 99);    // everything must be overwritten by the load
    pt_unet_load_widened(&m14.u, w);
    EXPECT_FAILS(pt_unet_load(&m14.u, w), PT_EXIT_USAGE, "conv_in.weight");

    int mark = pt_scope_begin();
    inputs in4 = make_inputs(13, 4);
    float *ref = run(&m4, in4, NULL);
    for (int trial = 0; trial < 2; trial++) {
        inputs in14 = in4;
        pt_tensor *pose = randn(PT_DIMS(2, 10, 16, 16), trial ? 5.0 : 1.0);
        in14.x = pt_concat((pt_tensor *[]){in4.x, pose}, 2, 1);
        float *got = run(&m14, in14, NULL);
        EXPECT(max_abs_diff(got, ref, OUT_N) < 1e-5, "widened output differs by %g (trial %d)", max_abs_diff(got, ref, OUT_N), trial);
        free(got);
    }
    const float *wt = pt_f32(m14.u.conv_in.w), *w4 = pt_f32(m4.u.conv_in.w);
    int ok = 1;
    for (int o = 0; o < 16; o++)
        for (int k = 0; k < 14 * 9; k++) ok &= wt[o * 126 + k] == (k < 36 ? w4[o * 36 + k] : 0.0f);
    EXPECT(ok, "conv_in.weight is not [pretrained | zeros]");
    EXPECT(max_abs_diff(pt_f32(m14.u.conv_in.b), pt_f32(m4.u.conv_in.b), 16) == 0, "conv_in.bias is not the pretrained one");
    free(ref);
    pt_scope_end(mark, NULL);
    pt_weights_free(w);
    model_free(&m4);
    model_free(&m14);
}

// ---- posetune tensor-run unet (the binary, when the test runs under ctest) ------------------------
static int run_cmd(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST_CASE(cli_tensor_run_unet) {
    const char *dir = fixtures_dir(), *bin = getenv("POSETUNE_BIN");
    if (!dir || !bin) { test_skip("peer fixtures or POSETUNE_BIN absent"); return; }
    const char *tmp = getenv("POSETUNE_TEST_TMP");
    char tdir[4096], out[4200], cmd[16384], wpath[4200], bad[4200];
    snprintf(tdir, sizeof tdir, "%s/test_unet_cli", tmp ? tmp : "/tmp");
    pt_mkdirs(tdir);
    snprintf(out, sizeof out, "%s/out.safetensors", tdir);
    snprintf(wpath, sizeof wpath, "%s/unet_tiny.safetensors", dir);
    snprintf(cmd, sizeof cmd, "'%s' tensor-run unet --config '%s/unet_tiny.json' --weights '%s' --inputs '%s/unet_tiny.io.safetensors'"
             " --output '%s' --grad-from R", bin, dir, wpath, dir, out);
    int rc = run_cmd(cmd);
    EXPECT(rc == 0, "exit %d: %s", rc, cmd);
    if (rc != 0) return;
    snprintf(cmd, sizeof cmd, "%s/unet_tiny.io.safetensors", dir);
    pt_weights *ref = pt_weights_load(cmd), *got = pt_weights_load(out);
    EXPECT(got->n == 687, "%d tensors written (out + 684 parameter grads + 2 input grads)", got->n);
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < ref->n; i++) {
        const char *name = ref->t[i].name;
        if (strcmp(name, "out") != 0 && strncmp(name, "grad.", 5) != 0) continue;
        const pt_wtensor *a = pt_weights_find(got, name);
        EXPECT(a != NULL, "'%s' missing from the output", name);
        if (!a) continue;
        int64_t n = pt_wtensor_numel(&ref->t[i]);
        EXPECT(pt_wtensor_numel(a) == n, "'%s' has %lld elements", name, (long long)pt_wtensor_numel(a));
        if (pt_wtensor_numel(a) != n) continue;
        float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
        pt_weights_read_f32(a, x);
        pt_weights_read_f32(&ref->t[i], y);
        double e = rel_err_f32(x, y, n);
        if (e > worst) { worst = e; worst_name = name; }
        EXPECT(e < 1e-4, "%s: relative error %.3g", name, e);
        free(x); free(y);
    }
    printf("  cli: worst relative error %.2e (%s)\n", worst, worst_name);
    // a weights file missing one tensor: exit 2 naming it
    snprintf(bad, sizeof bad, "%s/missing_one.safetensors", tdir);
    pt_weights *w = pt_weights_load(wpath);
    pt_st_writer *wr = pt_st_writer_new();
    for (int i = 0; i < w->n; i++) {
        if (strcmp(w->t[i].name, "mid_block.attentions.0.proj_out.bias") == 0) continue;
        pt_st_writer_add(wr, w->t[i].name, w->t[i].dtype, w->t[i].ndim, w->t[i].shape, w->t[i].dtype, w->t[i].data);
    }
    pt_st_writer_write(wr, bad);
    pt_st_writer_free(wr);
    snprintf(cmd, sizeof cmd, "'%s' tensor-run unet --config '%s/unet_tiny.json' --weights '%s' --inputs '%s/unet_tiny.io.safetensors'"
             " --output '%s/never.safetensors' 2> '%s/err.txt'", bin, dir, bad, dir, tdir, tdir);
    rc = run_cmd(cmd);
    EXPECT(rc == 2, "missing weight: exit %d", rc);
    snprintf(cmd, sizeof cmd, "%s/err.txt", tdir);
    char *err = pt_read_file(cmd, NULL);
    EXPECT(strstr(err, "mid_block.attentions.0.proj_out.bias") != NULL, "error does not name the tensor: %s", err);
    free(err);
    pt_weights_free(w);
    pt_weights_free(got);
    pt_weights_free(ref);
}

// ---- configuration and size -------------------------------------------------------------------------
TEST_CASE(sd15_parameter_count) {
    pt_unet_config c;
    pt_unet_config_sd15(&c);
    pt_params P;
    pt_params_init(&P, PT_CPU, PT_F32);
    pt_unet u;
    pt_unet_init(&u, &c, &P, "");   // shapes only: never finalized, no 3.4 GB allocation
    EXPECT(pt_params_count(&P, 0) == 859520964LL, "%lld parameters", (long long)pt_params_count(&P, 0));
    EXPECT(P.n == 686, "%d tensors", P.n);
    EXPECT(u.n_transformer_blocks == 16 && u.n_temporal_slots == 21 && u.n_skips == 12, "block counts");
    EXPECT(pt_params_find(&P, "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight") != NULL, "name");
    EXPECT(pt_params_find(&P, "up_blocks.3.attentions.2.transformer_blocks.0.ff.net.2.weight") != NULL, "name");
    EXPECT(pt_params_find(&P, "mid_block.resnets.1.time_emb_proj.bias") != NULL, "name");
    pt_param_entry *e = pt_params_find(&P, "up_blocks.1.resnets.2.conv_shortcut.weight");
    EXPECT(e && e->t->shape[0] == 1280 && e->t->shape[1] == 1920, "up_blocks.1.resnets.2.conv_shortcut shape");
    // Animate Anyone's reference UNet: freeze up_blocks.3
    pt_params_set_trainable(&P, "up_blocks.3.", 0);
    EXPECT(pt_params_count(&P, 1) < pt_params_count(&P, 0), "freezing up_blocks.3 froze nothing");
    pt_unet_free(&u);
    pt_params_free(&P);
    // a prefixed second UNet in the same table (two UNets, one optimizer)
    pt_params_init(&P, PT_CPU, PT_F32);
    pt_unet_init(&u, &c, &P, "reference_unet.");
    EXPECT(pt_params_find(&P, "reference_unet.conv_in.weight") != NULL, "prefixed name");
    pt_unet_free(&u);
    pt_params_free(&P);
}

TEST_CASE(config_errors) {
    pt_unet_config c;
    const char *bad = "{\"config\": {\"block_out_channels\": [16, 32], \"down_block_types\": [\"CrossAttnDownBlock2D\","
                      " \"SimpleCrossAttnDownBlock2D\"], \"up_block_types\": [\"UpBlock2D\", \"CrossAttnUpBlock2D\"]}}";
    pt_json *j = pt_json_parse(bad, strlen(bad), "bad.json");
    EXPECT_FAILS(pt_unet_config_from_json(&c, j), PT_EXIT_USAGE, "down_block_types");
    pt_json_free(j);
    const char *bad2 = "{\"class_embed_type\": \"timestep\"}";
    j = pt_json_parse(bad2, strlen(bad2), "bad2.json");
    EXPECT_FAILS(pt_unet_config_from_json(&c, j), PT_EXIT_USAGE, "class_embed_type");
    pt_json_free(j);
    const char *sd = "{\"attention_head_dim\": [5, 10, 20, 20], \"use_linear_projection\": true, \"cross_attention_dim\": 1024}";
    j = pt_json_parse(sd, strlen(sd), "sd2.json");
    pt_unet_config_from_json(&c, j);
    pt_json_free(j);
    EXPECT(c.heads[2] == 20 && c.use_linear_projection && c.cross_attention_dim == 1024 && c.n_blocks == 4, "SD2-style config");
}

int main(void) {
    RUN(sd15_parameter_count);
    RUN(config_errors);
    RUN(fixture_unet_tiny);
    RUN(fixture_unet_tiny_checkpointed);
    RUN(hooks_none_and_empty_bank_equal_plain);
    RUN(conv_in_residual_is_bias_shift);
    RUN(reference_write_read);
    RUN(reference_gradient_through_bank);
    RUN(temporal_slots_and_controlnet_residuals);
    RUN(checkpoint_same_gradients);
    RUN(widened_conv_in);
    RUN(cli_tensor_run_unet);
    return test_summary();
}

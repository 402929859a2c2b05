// test_vae.c — AutoencoderKL against diffusers (peer fixture vae_tiny): encoder mean / logvar, decoder
// output, gradients of every decoder + post_quant_conv parameter and of z; the deprecated attention
// names and [C, C, 1, 1] attention weights load to the same model; SD VAE parameter counts.
#include <unistd.h>

#include "models/vae.h"
#include "tests/fixture_util.h"
#include "tests/test_util.h"

static double worst = 0;

// ||t - io[name]|| / ||io[name]|| must be below 1e-4.
// The key bias's gradient is analytically zero (softmax ignores a shift shared by all keys of a
// query): there the error is measured against the scale of the query bias's gradient instead.
static double norm_of(const pt_weights *io, const char *name) {
    const pt_wtensor *t = pt_weights_get(io, name);
    int64_t n = pt_wtensor_numel(t);
    float *h = pt_malloc(sizeof(float) * (size_t)n);
    pt_weights_read_f32(t, h);
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)h[i] * h[i];
    free(h);
    return sqrt(s);
}

static void expect_tensor(const pt_weights *io, const char *name, pt_tensor *t) {
    float *a, *b;
    int64_t n = tu_fixture_pair(io, name, t, &a, &b);
    if (n < 0) return;
    double e = rel_err_f32(a, b, n);
    const char *kb = strstr(name, "to_k.bias");
    if (kb && strncmp(name, "grad.", 5) == 0) {
        char qn[600];
        snprintf(qn, sizeof qn, "%.*sto_q.bias", (int)(kb - name), name);
        double ref_norm = norm_of(io, name), q_norm = norm_of(io, qn);
        EXPECT(ref_norm < 1e-10 * q_norm, "%s is zero in the reference (%.3g)", name, ref_norm);
        double d = 0;
        for (int64_t i = 0; i < n; i++) d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        e = sqrt(d) / q_norm;
    }
    if (e > worst) worst = e;
    EXPECT(e < 1e-4, "%s: relative error %.3g", name, e);
    free(a); free(b);
}

typedef struct { pt_params P; pt_vae v; } vae_model;

static void build(vae_model *m, const char *cfg_path, const pt_weights *w) {
    pt_vae_config c;
    pt_vae_config_load(&c, cfg_path);
    pt_params_init(&m->P, PT_CPU, PT_F32);
    pt_vae_init(&m->v, &c, &m->P, "");
    pt_params_set_trainable(&m->P, "", 0);
    pt_params_set_trainable(&m->P, "decoder.", 1);
    pt_params_set_trainable(&m->P, "post_quant_conv.", 1);
    pt_params_finalize(&m->P);
    pt_params_load(&m->P, w, NULL);
}

static void run_fixture(int checkpoint) {
    worst = 0;
    const char *cfg = tu_fixture("vae_tiny.json"), *wp = tu_fixture("vae_tiny.safetensors"), *iop = tu_fixture("vae_tiny.io.safetensors");
    if (!cfg || !wp || !iop) { test_skip("peer fixture vae_tiny not found"); return; }
    pt_weights *w = pt_weights_load(wp), *io = pt_weights_load(iop);
    vae_model m;
    build(&m, cfg, w);
    m.v.checkpoint = checkpoint;
    EXPECT(m.P.numel_trainable == pt_params_count(&m.P, 1), "trainable prefix");
    int mark = pt_scope_begin();
    // encoder (no gradient)
    pt_tensor *mean, *logvar;
    PT_NO_GRAD_BEGIN
    pt_vae_encode(&m.v, tu_fixture_tensor(io, "image"), &mean, &logvar);
    PT_NO_GRAD_END
    expect_tensor(io, "enc_mean", mean);
    expect_tensor(io, "enc_logvar", logvar);
    // decoder with gradients of sum(dec * R)
    pt_tensor *z = tu_fixture_tensor(io, "z");
    z->requires_grad = 1;
    pt_tensor *dec = pt_vae_decode(&m.v, z);
    expect_tensor(io, "dec", dec);
    pt_backward(pt_sum(pt_mul(dec, tu_fixture_tensor(io, "R"))), NULL);
    int n_grads = 0;
    for (int i = 0; i < m.P.n; i++) {
        char nm[600];
        snprintf(nm, sizeof nm, "grad.%s", m.P.e[i].name);
        if (!m.P.e[i].trainable) {
            EXPECT(m.P.e[i].t->grad == NULL, "frozen %s has no gradient", m.P.e[i].name);
            EXPECT(pt_weights_find(io, nm) == NULL, "fixture has no gradient for frozen %s", m.P.e[i].name);
            continue;
        }
        expect_tensor(io, nm, m.P.e[i].t->grad);
        n_grads++;
    }
    expect_tensor(io, "grad.z", z->grad);
    int n_ref = 0;
    for (int j = 0; j < io->n; j++) n_ref += strncmp(io->t[j].name, "grad.", 5) == 0;
    EXPECT(n_grads + 1 == n_ref, "compared %d gradients, fixture has %d", n_grads + 1, n_ref);
    printf("  vae_tiny%s: worst relative error %.3g over %d tensors\n", checkpoint ? " (checkpointed)" : "", worst,
           n_grads + 4);
    pt_scope_end(mark, NULL);
    pt_params_free(&m.P);
    pt_weights_free(w);
    pt_weights_free(io);
}

TEST_CASE(fixture) { run_fixture(0); }
TEST_CASE(fixture_checkpointed) { run_fixture(1); }

// The diagonal Gaussian's sample and the scaled latents, by hand.
TEST_CASE(sample) {
    int mark = pt_scope_begin();
    float m[2] = {1.0f, -0.5f}, lv[2] = {logf(4.0f), 0.0f}, e[2] = {0.5f, -2.0f};
    pt_tensor *s = pt_vae_sample(pt_from_f32(PT_CPU, PT_F32, PT_DIMS(1, 2, 1, 1), m),
                                 pt_from_f32(PT_CPU, PT_F32, PT_DIMS(1, 2, 1, 1), lv),
                                 pt_from_f32(PT_CPU, PT_F32, PT_DIMS(1, 2, 1, 1), e));
    EXPECT_CLOSE(pt_f32(s)[0], 1.0 + 2.0 * 0.5, 1e-6, 1e-6);
    EXPECT_CLOSE(pt_f32(s)[1], -0.5 - 2.0, 1e-6, 1e-6);
    pt_scope_end(mark, NULL);
}

// A copy of the fixture weights with the deprecated attention names and 1x1-conv attention weights.
TEST_CASE(deprecated_attention_names) {
    const char *cfg = tu_fixture("vae_tiny.json"), *wp = tu_fixture("vae_tiny.safetensors"), *iop = tu_fixture("vae_tiny.io.safetensors");
    if (!cfg || !wp || !iop) { test_skip("peer fixture vae_tiny not found"); return; }
    pt_weights *w = pt_weights_load(wp), *io = pt_weights_load(iop);
    pt_st_writer *wr = pt_st_writer_new();
    static const char *from[4] = {".to_q.", ".to_k.", ".to_v.", ".to_out.0."};
    static const char *to[4] = {".query.", ".key.", ".value.", ".proj_attn."};
    int n_renamed = 0;
    for (int i = 0; i < w->n; i++) {
        const pt_wtensor *t = &w->t[i];
        char nm[512];
        snprintf(nm, sizeof nm, "%s", t->name);
        int64_t shape[4] = {t->shape[0], t->ndim > 1 ? t->shape[1] : 0, 1, 1};
        int ndim = t->ndim;
        for (int k = 0; k < 4; k++) {
            char *p = strstr(nm, from[k]);
            if (!p || !strstr(nm, "mid_block.attentions.0")) continue;
            char tail[256];
            snprintf(tail, sizeof tail, "%s", p + strlen(from[k]));
            snprintf(p, sizeof nm - (size_t)(p - nm), "%s%s", to[k], tail);
            if (ndim == 2) ndim = 4;   // [C, C] -> [C, C, 1, 1]
            n_renamed++;
        }
        const int64_t *sh = ndim == 4 && t->ndim == 2 ? shape : t->shape;
        pt_st_writer_add(wr, nm, t->dtype, ndim, sh, t->dtype, t->data);
    }
    EXPECT(n_renamed == 16, "renamed %d attention tensors (2 blocks x 8)", n_renamed);
    char path[256];
    snprintf(path, sizeof path, "/tmp/posetune_test_vae_deprecated_%d.safetensors", (int)getpid());
    pt_st_writer_write(wr, path);
    pt_st_writer_free(wr);

    pt_weights *w2 = pt_weights_load(path);
    EXPECT(pt_weights_find(w2, "decoder.mid_block.attentions.0.proj_attn.weight") != NULL, "renamed copy written");
    EXPECT(pt_vae_upgrade_names(w2) == 16, "pt_vae_upgrade_names renames all 16 tensors");
    vae_model a, b;
    build(&a, cfg, w);
    build(&b, cfg, w2);
    int mark = pt_scope_begin();
    PT_NO_GRAD_BEGIN
    pt_tensor *ma, *la, *mb, *lb;
    pt_tensor *x = tu_fixture_tensor(io, "image"), *z = tu_fixture_tensor(io, "z");
    pt_vae_encode(&a.v, x, &ma, &la);
    pt_vae_encode(&b.v, x, &mb, &lb);
    pt_tensor *da = pt_vae_decode(&a.v, z), *db = pt_vae_decode(&b.v, z);
    EXPECT(rel_err_f32(pt_f32(mb), pt_f32(ma), pt_numel(ma)) == 0, "same encoder mean");
    EXPECT(rel_err_f32(pt_f32(db), pt_f32(da), pt_numel(da)) == 0, "same decoder output");
    PT_NO_GRAD_END
    pt_scope_end(mark, NULL);
    pt_params_free(&a.P);
    pt_params_free(&b.P);
    pt_weights_free(w2);
    // Without the upgrade the strict loader names the missing tensor.
    pt_weights *w3 = pt_weights_load(path);
    pt_vae_config c;
    pt_vae_config_load(&c, cfg);
    pt_params P;
    pt_params_init(&P, PT_CPU, PT_F32);
    pt_vae v;
    pt_vae_init(&v, &c, &P, "");
    pt_params_finalize(&P);
    EXPECT_FAILS(pt_params_load(&P, w3, NULL), PT_EXIT_USAGE, "attentions.0.to_q");
    pt_params_free(&P);
    pt_weights_free(w3);
    remove(path);
    pt_weights_free(w);
    pt_weights_free(io);
}

// SD VAE: 83,653,863 parameters, decoder 49,490,179 (structs only: nothing is allocated).
TEST_CASE(sd_parameter_counts) {
    pt_vae_config c;
    pt_vae_config_sd(&c);
    pt_params P;
    pt_params_init(&P, PT_CPU, PT_F32);
    pt_vae v;
    pt_vae_init(&v, &c, &P, "vae.");
    int64_t total = pt_params_count(&P, 0);
    int64_t dec = 0, pq = 0;
    for (int i = 0; i < P.n; i++) {
        if (strncmp(P.e[i].name, "vae.decoder.", 12) == 0) dec += pt_numel(P.e[i].t);
        if (strncmp(P.e[i].name, "vae.post_quant_conv.", 20) == 0) pq += pt_numel(P.e[i].t);
    }
    EXPECT(total == 83653863, "SD VAE has %lld parameters", (long long)total);
    EXPECT(dec == 49490179, "SD VAE decoder has %lld parameters", (long long)dec);
    EXPECT(pq == 4 * 4 + 4, "post_quant_conv has %lld parameters", (long long)pq);
    EXPECT(pt_params_find(&P, "vae.encoder.mid_block.attentions.0.to_q.weight") != NULL, "diffusers names with prefix");
    EXPECT(pt_params_find(&P, "vae.encoder.down_blocks.0.downsamplers.0.conv.weight") != NULL, "downsampler name");
    EXPECT(pt_params_find(&P, "vae.encoder.down_blocks.3.downsamplers.0.conv.weight") == NULL, "no downsampler in the last block");
    EXPECT(P.data == NULL, "nothing allocated");
    // DreamPose's VAE finetune: decoder.* trainable, everything else frozen -> the trainable prefix is the decoder
    pt_params_set_trainable(&P, "", 0);
    pt_params_set_trainable(&P, "vae.decoder.", 1);
    EXPECT(pt_params_count(&P, 1) == 49490179, "trainable = decoder (%lld)", (long long)pt_params_count(&P, 1));
    pt_params_free(&P);
}

TEST_CASE(config_errors) {
    const char *bad = "{\"down_block_types\": [\"DownEncoderBlock2D\", \"AttnDownEncoderBlock2D\"],"
                      " \"block_out_channels\": [8, 8]}";
    pt_json *j = pt_json_parse(bad, strlen(bad), "vae/config.json");
    pt_vae_config c;
    EXPECT_FAILS(pt_vae_config_from_json(&c, j), PT_EXIT_USAGE, "AttnDownEncoderBlock2D");
    pt_json_free(j);
}

int main(void) {
    RUN(fixture);
    RUN(fixture_checkpointed);
    RUN(sample);
    RUN(deprecated_attention_names);
    RUN(sd_parameter_counts);
    RUN(config_errors);
    return test_summary();
}

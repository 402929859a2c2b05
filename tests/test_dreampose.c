// test_dreampose.c — the DreamPose regime end to end on tiny models (CPU): training phases lower
// their losses, the inits DreamPose depends on hold exactly, and the dual guidance batches the
// three predictions the way the formula says.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autograd/ops.h"
#include "checkpoints/weights.h"
#include "datasets/image_io.h"
#include "datasets/synthetic.h"
#include "models/model_set.h"
#include "test_util.h"
#include "train_util.h"
#include "tools/check.h"
#include "trainer/dist.h"
#include "trainer/regime_dreampose.h"
#include "trainer/render_dreampose.h"

static char g_root[1024], g_data[1100];

// A demo config (configs/demo/<file>) with its output and data redirected into the test folder.
static void demo_cfg(pt_config *c, const char *file, const char *run) {
    tu_demo_config(c, file, g_root, run, g_data);
    tu_set_str(&c->model.checkpoint, "");
    c->train.log_every = 1000;
    c->train.checkpoint_every = 0;
}

static double mean_of(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return s / n;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median_of(const double *v, int n) {
    double *t = pt_malloc(sizeof(double) * n);
    memcpy(t, v, sizeof(double) * n);
    qsort(t, n, sizeof(double), cmp_d);
    double m = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    free(t);
    return m;
}

// ---- phase 1 on the synthetic set ------------------------------------------------------------------
TEST_CASE(phase1_loss_drops) {
    pt_config c;
    demo_cfg(&c, "dreampose.yaml", "phase1");
    c.train.steps = 80;
    pt_dreampose_train(&c);
    double l[200];
    int n = tu_read_losses(c.train.out_dir, l, 200);
    EXPECT(n == 80, "metrics.jsonl has %d losses, expected 80", n);
    double first = mean_of(l, 8), last = mean_of(l + n - 8, 8);
    printf("  phase 1: mean loss of the first 8 steps %.4f, last 8 %.4f\n", first, last);
    EXPECT(last < 0.5 * first, "phase-1 loss did not drop well below its start: %.4f -> %.4f", first, last);
    pt_config_free(&c);
}

// ---- subject finetune overfits one photo ---------------------------------------------------------
TEST_CASE(subject_overfits_one_photo) {
    pt_config c;
    demo_cfg(&c, "dreampose_subject.yaml", "subject");
    char img[2048];
    snprintf(img, sizeof img, "%s/video_0001/frame_0003.png", g_data);
    c.data.subject_images.n = 1;
    c.data.subject_images.v = pt_realloc(c.data.subject_images.v, sizeof(char *));
    c.data.subject_images.v[0] = pt_strdup(img);
    c.data.crop_mode = PT_CFG_CROP_NONE;   // one fixed image: the network can memorise it
    c.train.steps = 400;
    c.train.lr = 2e-3;
    c.train.lr_schedule = PT_CFG_LR_COSINE;   // decays to 0: settles on the memorised photo
    pt_config_validate(&c);
    pt_dreampose_train(&c);
    double l[500];
    int n = tu_read_losses(c.train.out_dir, l, 500);
    EXPECT(n == 400, "metrics.jsonl has %d losses", n);
    // Medians: a draw of t near 0 needs the photo to ~1/sqrt(1 - abar_0) = 34x precision and spikes.
    double first = median_of(l, 20), last = median_of(l + n - 50, 50);
    printf("  subject: median loss of the first 20 steps %.4f, last 50 %.4f\n", first, last);
    EXPECT(last < 0.1 * first && last < 0.08, "subject finetune did not overfit one photo: %.4f -> %.4f", first, last);
    pt_config_free(&c);
}

// ---- VAE decoder finetune lowers the reconstruction error ----------------------------------------------
static double recon_mse(pt_model_set *m, const float *x, int B) {
    const int H = m->height, W = m->width;
    double err = 0;
    PT_NO_GRAD_BEGIN
    int mark = pt_scope_begin();
    pt_tensor *xt = pt_from_f32(PT_CPU, PT_F32, 4, PT_SHAPE(B, 3, H, W), x);
    pt_tensor *mean, *logvar;
    pt_vae_encode(&m->vae, xt, &mean, &logvar);
    pt_tensor *rec = pt_vae_decode(&m->vae, mean);
    const float *r = pt_f32(rec);
    for (int64_t i = 0; i < (int64_t)B * 3 * H * W; i++) err += ((double)r[i] - x[i]) * ((double)r[i] - x[i]);
    pt_scope_end(mark, NULL);
    PT_NO_GRAD_END
    return err / ((double)B * 3 * H * W);
}

TEST_CASE(vae_decoder_lowers_reconstruction_error) {
    pt_config c;
    demo_cfg(&c, "dreampose_vae_decoder.yaml", "vae");
    c.phase = PT_CFG_PHASE_VAE_DECODER;
    c.train.steps = 40;
    c.train.batch_size = 2;
    pt_config_validate(&c);
    // evaluation frames (read independently of the loader)
    const int B = 4, H = c.data.height, W = c.data.width;
    float *x = pt_malloc(sizeof(float) * B * 3 * H * W);
    for (int b = 0; b < B; b++) {
        char p[2048];
        snprintf(p, sizeof p, "%s/video_%04d/frame_%04d.png", g_data, b % 2, 2 * b);
        pt_image im = pt_image_load(p);
        pt_image_to_chw(&im, x + (size_t)b * 3 * H * W, -1.0f, 1.0f);
        pt_image_free(&im);
    }
    pt_model_set before;
    pt_model_set_build(&before, &c, PT_MS_TRAIN_NONE);
    double e0 = recon_mse(&before, x, B);
    pt_model_set_free(&before);
    pt_dreampose_train(&c);
    pt_config e;
    memset(&e, 0, sizeof e);
    pt_config_copy(&e, &c);
    tu_set_str(&e.model.vae_decoder_checkpoint, c.train.out_dir);
    pt_model_set after;
    pt_model_set_build(&after, &e, PT_MS_TRAIN_NONE);
    double e1 = recon_mse(&after, x, B);
    printf("  VAE decoder: reconstruction MSE %.4f -> %.4f\n", e0, e1);
    EXPECT(e1 < 0.5 * e0, "VAE decoder finetune did not lower the reconstruction error: %.4f -> %.4f", e0, e1);
    pt_model_set_free(&after);
    pt_config_free(&e);
    pt_config_free(&c);
    free(x);
}

// ---- inits -------------------------------------------------------------------------------------------
TEST_CASE(adapter_at_init_returns_clip_tokens) {
    pt_config c;
    demo_cfg(&c, "dreampose.yaml", "unused");
    pt_model_set m;
    pt_model_set_build(&m, &c, PT_MS_TRAIN_DIFFUSION);
    const int T = m.clip_tokens, D = m.clip_dim, h = m.latent_h, w = m.latent_w;
    float *ch = pt_malloc(sizeof(float) * T * D), *lat = pt_malloc(sizeof(float) * 4 * h * w), *out = pt_malloc(sizeof(float) * T * D);
    tu_seed(3);
    for (int i = 0; i < T * D; i++) ch[i] = (float)tu_normal();
    for (int i = 0; i < 4 * h * w; i++) lat[i] = 3.0f * (float)tu_normal();
    int mark = pt_scope_begin();
    pt_tensor *y = pt_dp_adapter_forward(&m.adapter, pt_from_f32(PT_CPU, PT_F32, 3, PT_SHAPE(1, T, D), ch),
                                         pt_from_f32(PT_CPU, PT_F32, 4, PT_SHAPE(1, 4, h, w), lat));
    pt_copy_to_host_f32(y, out);
    pt_tape_clear();
    pt_scope_end(mark, NULL);
    EXPECT(memcmp(out, ch, sizeof(float) * T * D) == 0, "adapter at init changed the CLIP tokens (max diff %g)",
           rel_err_f32(out, ch, T * D));
    pt_model_set_free(&m);
    pt_config_free(&c);
    free(ch); free(lat); free(out);
}

// UNet output (B=1) for input x (4, h, w), poses (2n, h, w) or NULL for a 4-channel UNet.
static void unet_out(pt_unet *u, pt_model_set *m, const float *x, const float *poses, const float *ctx, int64_t t, float *out) {
    int mark = pt_scope_begin();
    PT_NO_GRAD_BEGIN
    pt_tensor *in = poses ? pt_model_set_unet_input(m, x, poses, 1)
                          : pt_from_f32(PT_CPU, PT_F32, 4, PT_SHAPE(1, 4, m->latent_h, m->latent_w), x);
    pt_tensor *cx = pt_from_f32(PT_CPU, PT_F32, 3, PT_SHAPE(1, m->clip_tokens, m->clip_dim), ctx);
    pt_tensor *y = pt_unet_forward(u, in, pt_from_i64(PT_CPU, 1, PT_SHAPE(1), &t), cx, NULL);
    pt_copy_to_host_f32(y, out);
    PT_NO_GRAD_END
    pt_scope_end(mark, NULL);
}

static void write_text(const char *path, const char *text) {
    FILE *f = pt_fopen(path, "w");
    pt_fwrite(text, 1, strlen(text), f, path);
    pt_fclose(f, path);
}

// Save the parameters under `prefix` of P without it, as <dir>/<file>, plus config.json.
static void save_component(const pt_params *P, const char *prefix, const char *dir, const char *file, const char *config_json) {
    pt_mkdirs(dir);
    pt_st_writer *w = pt_st_writer_new();
    size_t k = strlen(prefix);
    for (int i = 0; i < P->n; i++) {
        const pt_param_entry *e = &P->e[i];
        if (strncmp(e->name, prefix, k) != 0) continue;
        pt_st_writer_add(w, e->name + k, PT_F32, e->t->ndim, e->t->shape, PT_F32, pt_f32(e->t));
    }
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    pt_st_writer_write(w, p);
    pt_st_writer_free(w);
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_text(p, config_json);
}

TEST_CASE(conv_in_widening_keeps_the_pretrained_output) {
    pt_config c;
    demo_cfg(&c, "dreampose.yaml", "unused");
    pt_model_set m;
    pt_model_set_build(&m, &c, PT_MS_TRAIN_NONE);
    const int h = m.latent_h, w = m.latent_w, T = m.clip_tokens, D = m.clip_dim, P2 = 2 * m.n_poses;
    const int64_t n = 4 * h * w;
    float *x = pt_malloc(sizeof(float) * n), *ctx = pt_malloc(sizeof(float) * T * D);
    float *p1 = pt_malloc(sizeof(float) * P2 * h * w), *p2 = pt_malloc(sizeof(float) * P2 * h * w);
    float *y1 = pt_malloc(sizeof(float) * n), *y2 = pt_malloc(sizeof(float) * n), *y4 = pt_malloc(sizeof(float) * n);
    tu_seed(5);
    for (int64_t i = 0; i < n; i++) x[i] = (float)tu_normal();
    for (int i = 0; i < T * D; i++) ctx[i] = (float)tu_normal();
    for (int i = 0; i < P2 * h * w; i++) { p1[i] = (float)tu_uniform(); p2[i] = (float)tu_uniform(); }

    // Tiny random model: the pose channels start at zero, so any pose gives the same output.
    unet_out(&m.unet, &m, x, p1, ctx, 500, y1);
    unet_out(&m.unet, &m, x, p2, ctx, 500, y2);
    EXPECT(memcmp(y1, y2, sizeof(float) * n) == 0, "tiny UNet at init depends on the poses");

    // Pretrained path: write the tiny UNet as a 4-channel diffusers model (conv_in = channels 0..3),
    // and the VAE / CLIP beside it; a model set built from those files must reproduce the
    // 4-channel UNet's output for any pose input.
    char dir[2048], cfgj[2048];
    snprintf(dir, sizeof dir, "%s/pretrained", g_root);
    const pt_config_tiny *t = &c.model.tiny_size;
    pt_unet_config uc = m.unet.cfg;
    uc.in_channels = 4;
    pt_params P4;
    pt_params_init(&P4, PT_CPU, PT_F32);
    pt_unet u4;
    pt_unet_init(&u4, &uc, &P4, "");
    pt_params_finalize(&P4);
    for (int i = 0; i < P4.n; i++) {
        char nm[600];
        snprintf(nm, sizeof nm, "unet.%s", P4.e[i].name);
        pt_param_entry *e = pt_params_find(&m.P, nm);
        if (strcmp(P4.e[i].name, "conv_in.weight") == 0) {   // (O, 14, 3, 3) -> (O, 4, 3, 3)
            const float *src = pt_f32(e->t);
            float *dst = pt_f32(P4.e[i].t);
            int64_t O = e->t->shape[0], N = e->t->shape[1];
            for (int64_t o = 0; o < O; o++) memcpy(dst + o * 36, src + o * N * 9, sizeof(float) * 36);
            // make channels 0..3 differ from a fresh tiny init so the load is what we compare
            for (int64_t k = 0; k < O * 36; k++) dst[k] *= 1.5f;
        } else pt_copy_(P4.e[i].t, e->t);
    }
    snprintf(cfgj, sizeof cfgj,
             "{\"_class_name\": \"UNet2DConditionModel\", \"in_channels\": 4, \"out_channels\": 4, \"block_out_channels\": [%d, %d],"
             " \"layers_per_block\": %d, \"down_block_types\": [\"CrossAttnDownBlock2D\", \"DownBlock2D\"],"
             " \"up_block_types\": [\"UpBlock2D\", \"CrossAttnUpBlock2D\"], \"attention_head_dim\": %d,"
             " \"cross_attention_dim\": %d, \"norm_num_groups\": %d}",
             t->unet_channels.v[0], t->unet_channels.v[1], t->unet_layers_per_block, t->unet_heads, t->cross_attention_dim, t->norm_groups);
    char ud[2100], vd[2100], cd[2100];
    snprintf(ud, sizeof ud, "%s/unet", dir);
    save_component(&P4, "", ud, "diffusion_pytorch_model.safetensors", cfgj);
    snprintf(cfgj, sizeof cfgj,
             "{\"_class_name\": \"AutoencoderKL\", \"block_out_channels\": [%d, %d, %d, %d], \"layers_per_block\": %d,"
             " \"norm_num_groups\": %d, \"latent_channels\": 4, \"scaling_factor\": 0.18215,"
             " \"down_block_types\": [\"DownEncoderBlock2D\", \"DownEncoderBlock2D\", \"DownEncoderBlock2D\", \"DownEncoderBlock2D\"],"
             " \"up_block_types\": [\"UpDecoderBlock2D\", \"UpDecoderBlock2D\", \"UpDecoderBlock2D\", \"UpDecoderBlock2D\"]}",
             t->vae_channels.v[0], t->vae_channels.v[1], t->vae_channels.v[2], t->vae_channels.v[3], t->vae_layers_per_block, t->norm_groups);
    snprintf(vd, sizeof vd, "%s/vae", dir);
    save_component(&m.P, "vae.", vd, "diffusion_pytorch_model.safetensors", cfgj);
    snprintf(cfgj, sizeof cfgj,
             "{\"hidden_size\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d, \"num_attention_heads\": %d,"
             " \"image_size\": %d, \"patch_size\": %d, \"projection_dim\": %d, \"hidden_act\": \"quick_gelu\"}",
             t->clip_hidden, 4 * t->clip_hidden, t->clip_layers, t->clip_heads, t->clip_image_size, t->clip_patch, t->clip_hidden);
    snprintf(cd, sizeof cd, "%s/clip", dir);
    save_component(&m.P, "clip.", cd, "model.safetensors", cfgj);

    pt_config c2;
    memset(&c2, 0, sizeof c2);
    pt_config_copy(&c2, &c);
    c2.model.tiny = 0;
    tu_set_str(&c2.model.unet, ud);
    tu_set_str(&c2.model.vae, vd);
    tu_set_str(&c2.model.clip, cd);
    pt_config_validate(&c2);
    pt_model_set m2;
    pt_model_set_build(&m2, &c2, PT_MS_TRAIN_NONE);
    unet_out(&u4, &m2, x, NULL, ctx, 500, y4);
    unet_out(&m2.unet, &m2, x, p1, ctx, 500, y1);
    unet_out(&m2.unet, &m2, x, p2, ctx, 500, y2);
    double e1 = rel_err_f32(y1, y4, n), e2 = rel_err_f32(y2, y4, n);
    printf("  widened conv_in vs 4-channel UNet: rel err %.2e, %.2e\n", e1, e2);
    EXPECT(e1 < 1e-6 && e2 < 1e-6, "widened UNet differs from the pretrained 4-channel output: %g %g", e1, e2);
    // and the weights themselves: bias kept, channels 0..3 = pretrained, 4.. = 0
    pt_param_entry *wi = pt_params_find(&m2.P, "unet.conv_in.weight");
    const float *wv = pt_f32(wi->t), *w4 = pt_f32(u4.conv_in.w);
    int64_t O = wi->t->shape[0], N = wi->t->shape[1];
    int ok = 1;
    for (int64_t o = 0; o < O; o++)
        for (int64_t k = 0; k < N * 9; k++) ok &= k < 36 ? wv[o * N * 9 + k] == w4[o * 36 + k] : wv[o * N * 9 + k] == 0.0f;
    EXPECT(ok, "conv_in.weight is not [pretrained | zeros]");
    EXPECT(memcmp(pt_f32(pt_params_find(&m2.P, "unet.conv_in.bias")->t), pt_f32(u4.conv_in.b), sizeof(float) * O) == 0,
           "conv_in.bias is not the pretrained bias");
    pt_model_set_free(&m2);
    pt_config_free(&c2);
    pt_unet_free(&u4);
    pt_params_free(&P4);
    pt_model_set_free(&m);
    pt_config_free(&c);
    free(x); free(ctx); free(p1); free(p2); free(y1); free(y2); free(y4);
}

// ---- guidance ------------------------------------------------------------------------------------------
TEST_CASE(guidance_unit_scales_equal_the_conditional_prediction) {
    pt_config c;
    demo_cfg(&c, "dreampose.yaml", "unused");
    pt_model_set m;
    pt_model_set_build(&m, &c, PT_MS_TRAIN_NONE);
    // Make poses and the image matter: random pose channels in conv_in, random adapter mixing.
    tu_seed(11);
    pt_tensor *wts[2] = {m.unet.conv_in.w, m.adapter.linear1.w};
    for (int k = 0; k < 2; k++) {
        float *v = pt_f32(wts[k]);
        for (int64_t i = 0; i < pt_numel(wts[k]); i++) v[i] += 0.2f * (float)tu_normal();
    }
    const int h = m.latent_h, w = m.latent_w, P2 = 2 * m.n_poses, H = m.height, W = m.width, T = m.clip_tokens, D = m.clip_dim;
    const int B = 2;
    const int64_t per = 4 * h * w;
    float *x = pt_malloc(sizeof(float) * B * per), *poses = pt_malloc(sizeof(float) * B * P2 * h * w);
    float *ref = pt_malloc(sizeof(float) * 2 * 3 * H * W);
    for (int64_t i = 0; i < B * per; i++) x[i] = (float)tu_normal();
    for (int64_t i = 0; i < (int64_t)B * P2 * h * w; i++) poses[i] = (float)tu_uniform();
    for (int64_t i = 0; i < 3 * H * W; i++) ref[i] = ref[i + 3 * H * W] = (float)(2 * tu_uniform() - 1);
    int mark = pt_scope_begin();
    int32_t drop[2] = {1, 0};
    pt_tensor *ctx2;
    PT_NO_GRAD_BEGIN
    ctx2 = pt_model_set_context(&m, ref, 2, drop);
    PT_NO_GRAD_END
    float *cn = pt_malloc(sizeof(float) * 2 * T * D);
    pt_copy_to_host_f32(ctx2, cn);
    float *g = pt_malloc(sizeof(float) * B * per), *g2 = pt_malloc(sizeof(float) * B * per);
    pt_dp_guided_eps(&m, x, poses, B, 700, ctx2, 1.0, 1.0, g);
    pt_dp_guided_eps(&m, x, poses, B, 700, ctx2, 2.5, 0.5, g2);
    float *zero = pt_calloc((size_t)P2 * h * w, sizeof(float));
    double worst = 0, worst2 = 0, pose_effect = 0, img_effect = 0;
    for (int b = 0; b < B; b++) {
        float e00[4096], eI0[4096], eIp[4096], want[4096];
        PT_ASSERT(per <= 4096);
        unet_out(&m.unet, &m, x + b * per, zero, cn, 700, e00);                       // null image, null pose
        unet_out(&m.unet, &m, x + b * per, zero, cn + T * D, 700, eI0);               // image, null pose
        unet_out(&m.unet, &m, x + b * per, poses + (size_t)b * P2 * h * w, cn + T * D, 700, eIp);   // image, pose
        worst = fmax(worst, rel_err_f32(g + b * per, eIp, per));
        for (int64_t i = 0; i < per; i++) want[i] = e00[i] + 2.5f * (eI0[i] - e00[i]) + 0.5f * (eIp[i] - eI0[i]);
        worst2 = fmax(worst2, rel_err_f32(g2 + b * per, want, per));
        pose_effect = fmax(pose_effect, rel_err_f32(eIp, eI0, per));
        img_effect = fmax(img_effect, rel_err_f32(eI0, e00, per));
    }
    printf("  guidance: s=1 vs conditional %.2e; s=(2.5,0.5) vs formula %.2e; pose effect %.2e, image effect %.2e\n", worst,
           worst2, pose_effect, img_effect);
    EXPECT(pose_effect > 1e-3 && img_effect > 1e-3, "poses / image do not change the prediction: the test would be vacuous");
    EXPECT(worst < 1e-5, "guided prediction with s_I = s_p = 1 differs from the conditional one: %g", worst);
    EXPECT(worst2 < 1e-5, "guided prediction differs from e00 + sI(eI0 - e00) + sp(eIp - eI0): %g", worst2);
    // the formula itself, exactly
    float a[3] = {1.0f, -2.0f, 0.25f}, b2[3] = {3.0f, 0.5f, -1.0f}, c3[3] = {-1.0f, 4.0f, 2.0f}, o[3];
    pt_dp_guidance(a, b2, c3, 8.0, 3.0, 3, o);
    EXPECT(o[0] == 1.0f + 8 * 2.0f + 3 * -4.0f && o[1] == -2.0f + 8 * 2.5f + 3 * 3.5f && o[2] == 0.25f + 8 * -1.25f + 3 * 3.0f,
           "pt_dp_guidance: %g %g %g", o[0], o[1], o[2]);
    pt_scope_end(mark, NULL);
    pt_model_set_free(&m);
    pt_config_free(&c);
    free(x); free(poses); free(ref); free(cn); free(g); free(g2); free(zero);
}

int main(void) {
    snprintf(g_root, sizeof g_root, "%s", tu_tmp_init("test_dreampose"));
    snprintf(g_data, sizeof g_data, "%s/data", g_root);
    tu_synth_videos(g_data, 4, 12, 64, 0);
    pt_dist_init(0);
    RUN(adapter_at_init_returns_clip_tokens);
    RUN(conv_in_widening_keeps_the_pretrained_output);
    RUN(guidance_unit_scales_equal_the_conditional_prediction);
    RUN(phase1_loss_drops);
    RUN(subject_overfits_one_photo);
    RUN(vae_decoder_lowers_reconstruction_error);
    tu_tmp_cleanup();
    return test_summary();
}

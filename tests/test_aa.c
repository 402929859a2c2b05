// test_aa.c — the Animate Anyone regime on tiny models (CPU):
//   * READ with an empty reference bank is the plain UNet (and a filled bank changes the output);
//   * with zero-initialised motion modules the stage-2 network equals the stage-1 network frame by frame;
//   * stage 1 and stage 2 lower the loss of a fixed batch on the synthetic set, and only the
//     parameters meant to train change (every other parameter hashed before and after);
//     stage 2 starts from the stage-1 run's weights;
//   * the peer AnimateDiff fixture through the temporal hook;
//   * rendering in overlapping windows equals one pass when frames are independent (stage-1 model),
//     and the PNG frames + GIF are written;
//   * the hand mask from a drawn skeleton lies inside the keypoint hand boxes, none on a body alone.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "autograd/ops.h"
#include "datasets/image_io.h"
#include "datasets/pose_draw.h"
#include "datasets/synthetic.h"
#include "tests/test_util.h"
#include "tests/train_util.h"
#include "trainer/dist.h"
#include "trainer/hand_mask.h"
#include "trainer/regime_aa.h"
#include "trainer/render_aa.h"

static char g_root[1024], g_data[1100];

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void demo_cfg(pt_config *c, const char *file, const char *run) {
    tu_demo_config(c, file, g_root, run, g_data);
    tu_set_str(&c->model.stage1_checkpoint, "");
    tu_set_str(&c->model.checkpoint, "");
    c->data.workers = 1;
    c->train.log_every = 1000;
    c->train.checkpoint_every = 0;
}

static pt_tensor *randt(int ndim, const int64_t *shape, double scale) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    float *h = pt_malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) h[i] = (float)(scale * tu_normal());
    pt_tensor *t = pt_from_f32(PT_CPU, PT_F32, ndim, shape, h);
    free(h);
    return t;
}
static void randomize(pt_tensor *t, double scale) {
    int64_t n = pt_numel(t);
    float *h = pt_malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) h[i] = (float)(scale * tu_normal());
    pt_copy_from_host_f32(t, h);
    free(h);
}
static double max_abs_diff(pt_tensor *a, pt_tensor *b) {
    int64_t n = pt_numel(a);
    float *x = pt_malloc(sizeof(float) * n), *y = pt_malloc(sizeof(float) * n);
    pt_copy_to_host_f32(a, x);
    pt_copy_to_host_f32(b, y);
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)x[i] - y[i]));
    free(x); free(y);
    return m;
}

// ---- reference bank and motion modules -------------------------------------------------------------
TEST_CASE(empty_bank_is_the_plain_unet) {
    pt_config c;
    demo_cfg(&c, "animate_anyone_stage1.yaml", "bank");
    pt_aa_models m;
    pt_aa_models_build(&m, &c, 1, PT_AA_TRAIN_NONE);
    int mark = pt_scope_begin();
    tu_seed(11);
    const int h = m.latent_h, w = m.latent_w;
    pt_tensor *x = randt(4, PT_SHAPE(2, 4, h, w), 1.0), *ctx = randt(3, PT_SHAPE(2, 1, m.embed_dim), 1.0);
    pt_tensor *pose = randt(4, PT_SHAPE(2, 3, m.height, m.width), 0.5);
    pt_tensor *t = pt_from_i64(PT_CPU, 1, PT_SHAPE(2), (int64_t[]){10, 500});
    PT_NO_GRAD_BEGIN
    pt_tensor *plain = pt_unet_forward(&m.unet, x, t, ctx, NULL);
    pt_tensor *aa = pt_aa_denoise(&m, x, t, ctx, pose, 1, 1, 0);   // bank empty, pose guider zero-initialised
    EXPECT(max_abs_diff(aa, plain) == 0.0, "empty bank + zero pose guider == plain UNet (diff %.3g)", max_abs_diff(aa, plain));
    pt_aa_reference_pass(&m, randt(4, PT_SHAPE(2, 4, h, w), 1.0), ctx);
    EXPECT(m.bank.n == m.unet.n_transformer_blocks, "bank entries %d == transformer blocks %d", m.bank.n, m.unet.n_transformer_blocks);
    pt_tensor *nob = pt_aa_denoise(&m, x, t, ctx, pose, 1, 0, 0);
    pt_tensor *withb = pt_aa_denoise(&m, x, t, ctx, pose, 1, 1, 0);
    EXPECT(max_abs_diff(nob, plain) == 0.0, "use_bank 0 ignores a filled bank");
    EXPECT(max_abs_diff(withb, plain) > 1e-4, "a filled bank changes the output (diff %.3g)", max_abs_diff(withb, plain));
    PT_NO_GRAD_END
    pt_ref_bank_clear(&m.bank);
    pt_scope_end(mark, NULL);
    pt_aa_models_free(&m);
    pt_config_free(&c);
}

TEST_CASE(zero_motion_modules_equal_stage1_per_frame) {
    pt_config c;
    demo_cfg(&c, "animate_anyone_stage2.yaml", "mm");
    pt_aa_models m;
    pt_aa_models_build(&m, &c, 2, PT_AA_TRAIN_NONE);
    EXPECT(m.has_motion && m.mm.n == m.unet.n_temporal_slots, "motion modules built: %d", m.mm.n);
    tu_seed(12);
    randomize(m.pg.conv_out.w, 0.05);   // a live pose signal (the equality must not depend on it being zero)
    const int F = 3, h = m.latent_h, w = m.latent_w;
    int mark = pt_scope_begin();
    PT_NO_GRAD_BEGIN
    pt_tensor *ctx1 = randt(3, PT_SHAPE(1, 1, m.embed_dim), 1.0);
    pt_aa_reference_pass(&m, randt(4, PT_SHAPE(1, 4, h, w), 1.0), ctx1);
    pt_tensor *x = randt(4, PT_SHAPE(F, 4, h, w), 1.0), *pose = randt(4, PT_SHAPE(F, 3, m.height, m.width), 0.5);
    pt_tensor *t = pt_from_i64(PT_CPU, 1, PT_SHAPE(F), (int64_t[]){300, 300, 300});
    pt_tensor *ctx = pt_repeat(ctx1, 0, F);
    pt_tensor *s2 = pt_aa_denoise(&m, x, t, ctx, pose, F, 1, 0);    // (F, 4, h, w) with the temporal hook
    m.has_motion = 0;
    double worst = 0;
    for (int f = 0; f < F; f++) {
        pt_tensor *s1 = pt_aa_denoise(&m, pt_slice(x, 0, f, f + 1), pt_slice(t, 0, f, f + 1), ctx1, pt_slice(pose, 0, f, f + 1), 1, 1, 0);
        worst = fmax(worst, max_abs_diff(pt_contiguous(pt_slice(s2, 0, f, f + 1)), s1));
    }
    EXPECT(worst < 1e-5, "stage 2 with zero motion modules == stage 1 per frame (max diff %.3g)", worst);
    m.has_motion = 1;
    randomize(m.mm.mods[0].proj_out.w, 0.1);
    pt_tensor *s2b = pt_aa_denoise(&m, x, t, ctx, pose, F, 1, 0);
    EXPECT(max_abs_diff(s2b, s2) > 1e-5, "a live motion module changes the output");
    PT_NO_GRAD_END
    pt_ref_bank_clear(&m.bank);
    pt_scope_end(mark, NULL);
    pt_aa_models_free(&m);
    pt_config_free(&c);
}

// ---- training ------------------------------------------------------------------------------------------
static uint64_t hash_tensor(pt_tensor *t) {
    int64_t n = pt_numel(t);
    float *h = pt_malloc(sizeof(float) * n);
    pt_copy_to_host_f32(t, h);
    uint64_t x = 1469598103934665603ull;
    const unsigned char *p = (const unsigned char *)h;
    for (size_t i = 0; i < sizeof(float) * (size_t)n; i++) x = (x ^ p[i]) * 1099511628211ull;
    free(h);
    return x;
}

static double eval_loss(pt_aa *a, const pt_batch *b) {
    int mark = pt_scope_begin();
    double v = pt_aa_micro_step(a, &a->trainer, b, 0.0);
    pt_tape_clear();
    pt_scope_end(mark, NULL);
    pt_params_zero_grad(&a->ms.P);
    return v;
}

static int should_train(int stage, const char *nm) {
    if (stage == 2) return strncmp(nm, "motion.", 7) == 0;
    if (!strncmp(nm, "unet.", 5) || !strncmp(nm, "pose_guider.", 12)) return 1;
    if (strncmp(nm, "reference_unet.", 15) != 0) return 0;
    return strncmp(nm, "reference_unet.up_blocks.1.", 27) != 0 && strncmp(nm, "reference_unet.conv_norm_out.", 29) != 0 &&
           strncmp(nm, "reference_unet.conv_out.", 24) != 0;
}

static uint64_t g_stage1_unet_hash[4096];
static int g_n_stage1 = 0;

static void run_stage(int stage, int steps) {
    pt_config c;
    demo_cfg(&c, stage == 1 ? "animate_anyone_stage1.yaml" : "animate_anyone_stage2.yaml", stage == 1 ? "s1" : "s2");
    c.train.steps = steps;
    c.train.batch_size = stage == 1 ? 4 : 1;
    c.data.num_frames = 4;
    c.train.hand_loss_factor = 2.0;   // synthetic figures have no hands: exercises the note path
    c.data.drop_uncond = 0.25;        // both groups (conditioned / unconditioned) occur
    if (stage == 2) {
        char s1[2048];
        snprintf(s1, sizeof s1, "%s/s1", g_root);
        tu_set_str(&c.model.stage1_checkpoint, s1);
    }
    pt_aa *a = pt_calloc(1, sizeof *a);
    a->quiet = 1;
    pt_aa_init(a, &c);
    pt_params *P = &a->ms.P;
    int wrong = 0;
    for (int i = 0; i < P->n; i++) wrong += P->e[i].trainable != should_train(stage, P->e[i].name);
    EXPECT(wrong == 0, "stage %d: %d parameters with the wrong trainability", stage, wrong);
    uint64_t *before = pt_malloc(sizeof(uint64_t) * P->n);
    for (int i = 0; i < P->n; i++) before[i] = hash_tensor(P->e[i].t);
    if (stage == 2) {   // the stage-1 run's weights were loaded
        int same = 0, k = 0;
        for (int i = 0; i < P->n && k < g_n_stage1; i++)
            if (!strncmp(P->e[i].name, "unet.", 5) && !strstr(P->e[i].name, "motion")) same += before[i] == g_stage1_unet_hash[k++];
        EXPECT(g_n_stage1 > 0 && same == g_n_stage1, "stage 2 starts from the stage-1 UNet: %d of %d tensors equal", same, g_n_stage1);
    }
    pt_loader *L = pt_loader_create(&a->trainer.loader_cfg, NULL);
    const pt_batch *b = pt_loader_next(L);
    double l0 = eval_loss(a, b);
    double t0 = now_s();
    pt_aa_run(a);
    double dt = (now_s() - t0) / steps;
    double l1 = eval_loss(a, b);
    printf("  stage %d: fixed-batch loss %.5f -> %.5f after %d steps (%.3f s/step, batch %d x %d frames, %dx%d)\n", stage, l0,
           l1, steps, dt, c.train.batch_size, stage == 2 ? c.data.num_frames : 1, c.data.height, c.data.width);
    EXPECT(l1 < (stage == 1 ? 0.7 : 0.95) * l0, "stage %d loss falls: %.5f -> %.5f", stage, l0, l1);
    int changed = 0, n_train = 0, frozen_changed = 0;
    for (int i = 0; i < P->n; i++) {
        int ch = hash_tensor(P->e[i].t) != before[i];
        if (P->e[i].trainable) { n_train++; changed += ch; }
        else if (ch) { frozen_changed++; fprintf(stderr, "  frozen parameter changed: %s\n", P->e[i].name); }
    }
    EXPECT(frozen_changed == 0, "stage %d: %d frozen parameters changed", stage, frozen_changed);
    EXPECT(changed > n_train * 9 / 10, "stage %d: %d of %d trainable parameters changed", stage, changed, n_train);
    if (stage == 1) {
        g_n_stage1 = 0;
        for (int i = 0; i < P->n && g_n_stage1 < 4096; i++)
            if (!strncmp(P->e[i].name, "unet.", 5)) g_stage1_unet_hash[g_n_stage1++] = hash_tensor(P->e[i].t);
    }
    pt_loader_free(L);
    free(before);
    pt_aa_free(a);
    free(a);
    pt_config_free(&c);
}

TEST_CASE(stage1_trains_its_parameters_only) { run_stage(1, 30); }
TEST_CASE(stage2_trains_motion_modules_only) { run_stage(2, 15); }

// ---- the AnimateDiff fixture through the temporal hook ----------------------------------------------------
TEST_CASE(motion_fixture_through_temporal_hook) {
    const char *d = fixtures_dir();
    char cp[4200], wp[4200], iop[4200];
    struct stat st;
    if (d) {
        snprintf(cp, sizeof cp, "%s/motion_module_tiny.json", d);
        snprintf(wp, sizeof wp, "%s/motion_module_tiny.safetensors", d);
        snprintf(iop, sizeof iop, "%s/motion_module_tiny.io.safetensors", d);
    }
    if (!d || stat(cp, &st) || stat(wp, &st) || stat(iop, &st)) { test_skip("peer fixture motion_module_tiny not found"); return; }
    pt_json *j = pt_json_parse_file(cp);
    pt_motion_config mc;
    pt_motion_config_from_json(&mc, j);
    // the fixture comes from diffusers' temporal transformer: 8 groups, statistics over the frames
    if (!pt_json_get(j, "norm_num_groups")) mc.norm_num_groups = 8;
    if (!pt_json_get(j, "norm_over_frames")) mc.norm_over_frames = 1;
    pt_json_free(j);
    pt_weights *w = pt_weights_load(wp), *io = pt_weights_load(iop);
    pt_params P;
    pt_params_init(&P, PT_CPU, PT_F32);
    pt_motion_set s;
    memset(&s, 0, sizeof s);
    pt_motion_module_init(&s.mods[0], &P, "", &mc, mc.in_channels);
    s.n = 1;
    pt_params_finalize(&P);
    pt_motion_load(&P, w, NULL);
    int mark = pt_scope_begin();
    const pt_wtensor *hs = pt_weights_get(io, "hidden_states"), *ref = pt_weights_get(io, "out");
    int64_t n = pt_wtensor_numel(hs);
    float *h = pt_malloc(sizeof(float) * n), *r = pt_malloc(sizeof(float) * n), *o = pt_malloc(sizeof(float) * n);
    pt_weights_read_f32(hs, h);
    pt_weights_read_f32(ref, r);
    pt_tensor *x = pt_from_f32(PT_CPU, PT_F32, 4, PT_SHAPE(hs->shape[0], hs->shape[1], hs->shape[2], hs->shape[3]), h);
    PT_NO_GRAD_BEGIN
    pt_copy_to_host_f32(pt_motion_temporal_hook(&s, 0, x, mc.num_frames), o);
    PT_NO_GRAD_END
    double e = rel_err_f32(o, r, n);
    EXPECT(e < 1e-4, "temporal hook vs diffusers fixture: relative error %.3g", e);
    printf("  motion fixture through the hook: relative error %.3g\n", e);
    free(h); free(r); free(o);
    pt_scope_end(mark, NULL);
    pt_motion_modules_free(&s);
    pt_params_free(&P);
    pt_weights_free(w);
    pt_weights_free(io);
}

// ---- rendering --------------------------------------------------------------------------------------------
TEST_CASE(windows_equal_one_pass_for_independent_frames) {
    pt_config c;
    demo_cfg(&c, "animate_anyone_stage1.yaml", "render");
    c.render.steps = 3;
    c.render.cfg_scale = 2.5;
    c.render.eta = 0.5;
    pt_aa_models m;
    pt_aa_models_build(&m, &c, 1, PT_AA_TRAIN_NONE);
    tu_seed(13);
    randomize(m.pg.conv_out.w, 0.05);
    const int N = 5, H = m.height, W = m.width;
    const size_t per = (size_t)4 * m.latent_h * m.latent_w;
    float *ref = pt_malloc(sizeof(float) * 3 * H * W), *poses = pt_malloc(sizeof(float) * N * 3 * H * W);
    for (int i = 0; i < 3 * H * W; i++) ref[i] = (float)(2 * tu_uniform() - 1);
    for (int i = 0; i < N * 3 * H * W; i++) poses[i] = (float)tu_uniform();
    float *one = pt_malloc(sizeof(float) * N * per), *win = pt_malloc(sizeof(float) * N * per);
    c.render.window = 8; c.render.overlap = 2;   // N < window: a single pass
    pt_aa_sample(&m, &c, ref, poses, N, PT_WIN_CLAMP, one);
    c.render.window = 3; c.render.overlap = 1; c.render.fusion = PT_CFG_FUSION_TRIANGULAR;
    pt_aa_sample(&m, &c, ref, poses, N, PT_WIN_WRAP, win);
    double e = rel_err_f32(win, one, (int64_t)(N * per));
    EXPECT(e < 1e-5, "windows of 3 (triangular, wrapped) == one pass: relative error %.3g", e);
    // stage-1 frames are independent: a frame sampled alone equals its row of the video
    float *single = pt_malloc(sizeof(float) * per);
    c.render.window = 8;
    pt_aa_sample(&m, &c, ref, poses, 1, PT_WIN_CLAMP, single);
    EXPECT(rel_err_f32(single, one, (int64_t)per) < 1e-5, "frame 0 alone == frame 0 of the video");
    // files: reference png + pose pngs -> frames + gif
    char dir[1400], p[1600];
    snprintf(dir, sizeof dir, "%s/render_in", g_root);
    pt_mkdirs(dir);
    snprintf(p, sizeof p, "%s/ref.png", dir);
    pt_image im = pt_image_from_chw(ref, 3, H, W, -1, 1);
    pt_image_save_png(p, &im);
    pt_image_free(&im);
    tu_set_str(&c.render.reference, p);
    for (int f = 0; f < N; f++) {
        snprintf(p, sizeof p, "%s/poses/frame_%04d_pose.png", dir, f);
        if (f == 0) { char pd[1500]; snprintf(pd, sizeof pd, "%s/poses", dir); pt_mkdirs(pd); }
        pt_image pi = pt_image_from_chw(poses + (size_t)f * 3 * H * W, 3, H, W, 0, 1);
        pt_image_save_png(p, &pi);
        pt_image_free(&pi);
    }
    snprintf(p, sizeof p, "%s/poses", dir);
    tu_set_str(&c.render.poses, p);
    snprintf(p, sizeof p, "%s/out", dir);
    tu_set_str(&c.render.output, p);
    c.render.format = PT_CFG_FORMAT_GIF;
    c.render.window = 4; c.render.overlap = 1;
    double t0 = now_s();
    int n = pt_render_aa_with(&m, &c);
    printf("  render: %d frames, %d steps, windows of 4: %.2f s\n", n, c.render.steps, now_s() - t0);
    EXPECT(n == N, "frames rendered %d", n);
    snprintf(p, sizeof p, "%s/out/frame_%04d.png", dir, N - 1);
    struct stat st;
    EXPECT(stat(p, &st) == 0, "%s written", p);
    snprintf(p, sizeof p, "%s/out/clip.gif", dir);
    EXPECT(stat(p, &st) == 0 && st.st_size > 100, "%s written", p);
    free(ref); free(poses); free(one); free(win); free(single);
    pt_aa_models_free(&m);
    pt_config_free(&c);
}

// ---- hand mask ---------------------------------------------------------------------------------------------
TEST_CASE(hand_mask_from_drawn_skeleton) {
    pt_synth_opts o;
    pt_synth_opts_default(&o);
    o.width = o.height = 512;
    pt_pose_frame f;
    pt_synth_render(&o, 0, 3, NULL, NULL, &f);
    const int H = 512, W = 512, h = 64, w = 64;
    float *img = pt_malloc(sizeof(float) * 3 * H * W), *img2 = pt_malloc(sizeof(float) * 3 * H * W);
    float *mask = pt_malloc(sizeof(float) * h * w), *kmask = pt_malloc(sizeof(float) * h * w);
    pt_image cv = pt_image_alloc(W, H, 3);
    pt_pose_draw(&f, &cv, NULL);
    pt_image_to_chw(&cv, img, 0, 1);
    int body = pt_hand_mask_from_pose_image(img, H, W, h, w, mask);
    EXPECT(body == 0, "a body without hands marks no cell (got %d)", body);
    // resampled (as the loader's RandomResizedCrop does): blends of joint colours must not look like hands
    pt_crop_chw(img, 3, H, W, 7, 3, 470, 490, img2);
    pt_resize_bilinear_chw(img2, 3, 470, 490, img, H, W);
    body = pt_hand_mask_from_pose_image(img, H, W, h, w, mask);
    EXPECT(body == 0, "a resampled body without hands marks no cell (got %d)", body);
    // add a right hand: 21 points fanned around the right wrist
    pt_pose *p = &f.people[0];
    p->has_hands = 1;
    float wx = p->body[PT_KP_RWRIST][0], wy = p->body[PT_KP_RWRIST][1];
    for (int k = 0; k < 21; k++) {
        p->rhand[k][0] = wx + (k == 0 ? 0 : (float)(((k - 1) / 4) - 2) * 10.0f);
        p->rhand[k][1] = wy + (k == 0 ? 0 : 10.0f + (float)((k - 1) % 4) * 10.0f);
        p->rhand[k][2] = 0.9f;
        p->lhand[k][2] = 0.0f;
    }
    pt_pose_draw(&f, &cv, NULL);
    pt_image_to_chw(&cv, img, 0, 1);
    int nc = pt_hand_mask_from_pose_image(img, H, W, h, w, mask);
    int nk = pt_hand_mask_from_keypoints(&f, W, H, h, w, 0.3f, kmask);
    EXPECT(nc > 0 && nk > 0, "hand cells: %d from colours, %d from keypoints", nc, nk);
    // every colour cell lies within one cell of the keypoint box
    int outside = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if (mask[y * w + x] == 0) continue;
            int near = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int yy = y + dy, xx = x + dx;
                    if (yy >= 0 && yy < h && xx >= 0 && xx < w && kmask[yy * w + xx] > 0) near = 1;
                }
            outside += !near;
        }
    EXPECT(outside == 0, "%d colour cells away from the keypoint box", outside);
    float wt[4];
    pt_hand_mask_to_weight((float[]){0, 1, 0, 1}, 4, 3.0f, wt);
    EXPECT(wt[0] == 1 && wt[1] == 3 && wt[3] == 3, "weights");
    pt_image_free(&cv);
    pt_pose_frame_free(&f);
    free(img); free(img2); free(mask); free(kmask);
}

int main(void) {
    snprintf(g_root, sizeof g_root, "%s", tu_tmp_init("test_aa"));
    snprintf(g_data, sizeof g_data, "%s/data", g_root);
    tu_synth_videos(g_data, 4, 16, 64, 5);
    pt_dist_init(0);
    RUN(empty_bank_is_the_plain_unet);
    RUN(zero_motion_modules_equal_stage1_per_frame);
    RUN(stage1_trains_its_parameters_only);
    RUN(stage2_trains_motion_modules_only);
    RUN(motion_fixture_through_temporal_hook);
    RUN(windows_equal_one_pass_for_independent_frames);
    RUN(hand_mask_from_drawn_skeleton);
    int rc = test_summary();
    if (rc == 0) tu_tmp_cleanup();
    pt_dist_finalize();
    return rc;
}

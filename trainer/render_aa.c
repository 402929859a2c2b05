// render_aa.c — Animate Anyone inference with windows and classifier-free guidance (see render_aa.h).
#include "trainer/render_aa.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "autograd/ops.h"
#include "autograd/rng.h"
#include "datasets/image_io.h"
#include "datasets/keypoints.h"
#include "datasets/pose_draw.h"
#include "models/scheduler.h"
#include "tools/check.h"
#include "trainer/render_common.h"

// ---- poses ----------------------------------------------------------------------------------------
static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static void image_to_pose(const char *path, int H, int W, float *dst) {
    pt_image im = pt_image_load(path);
    if (im.c != 3) PT_USAGE("%s: a skeleton image must be RGB (got %d channels)", path, im.c);
    float *raw = pt_malloc(sizeof(float) * 3 * im.w * im.h);
    pt_image_to_chw(&im, raw, 0.0f, 1.0f);
    if (im.w == W && im.h == H) memcpy(dst, raw, sizeof(float) * 3 * H * W);
    else pt_resize_bilinear_chw(raw, 3, im.h, im.w, dst, H, W);
    free(raw);
    pt_image_free(&im);
}

static void draw_pose(const pt_pose_frame *f, int H, int W, float *dst) {
    pt_image cv = pt_image_alloc(W, H, 3);
    pt_pose_draw(f, &cv, NULL);
    pt_image_to_chw(&cv, dst, 0.0f, 1.0f);
    pt_image_free(&cv);
}

int pt_aa_load_poses(const pt_config *cfg, int H, int W, float **out) {
    const char *p = cfg->render.poses;
    struct stat st;
    if (!p || !p[0]) PT_USAGE("config key 'render.poses': empty; give a folder of skeleton images or keypoint JSON files");
    if (stat(p, &st) != 0) PT_USAGE("render.poses: '%s' does not exist", p);
    char **files = NULL;
    int n = 0, json = 0;
    if (S_ISDIR(st.st_mode)) {
        n = pt_render_list_files(p, "_keypoints.json", &files);
        if (!n) { free(files); n = pt_render_list_files(p, ".json", &files); }
        json = n > 0;
        if (!n) { free(files); n = pt_render_list_files(p, "_pose.png", &files); }
        if (!n) { free(files); n = pt_render_list_files(p, ".png", &files); }
        if (!n) PT_USAGE("render.poses: folder '%s' holds no keypoint .json or skeleton .png files", p);
    } else {
        json = ends_with(p, ".json");
        if (!json && !ends_with(p, ".png")) PT_USAGE("render.poses: '%s' is not a folder, a keypoint .json or a skeleton .png", p);
        files = pt_malloc(sizeof(char *));
        files[0] = pt_strdup(p);
        n = 1;
    }
    if (cfg->render.max_frames > 0 && cfg->render.max_frames < n) {
        for (int i = cfg->render.max_frames; i < n; i++) free(files[i]);
        n = cfg->render.max_frames;
    }
    if (cfg->render.pose_rescale && !json)
        PT_USAGE("config key 'render.pose_rescale': needs keypoint JSON poses (render.poses '%s' holds images)", p);
    float *poses = pt_malloc(sizeof(float) * (size_t)n * 3 * H * W);   // (N, 3, H, W)
    if (json) {
        pt_pose_frame *fr = pt_malloc(sizeof(pt_pose_frame) * n);
        for (int i = 0; i < n; i++) fr[i] = pt_keypoints_load(files[i]);
        if (cfg->render.pose_rescale) {
            const char *ref = cfg->render.reference, *dot = strrchr(ref, '.');
            char kp[4200];
            snprintf(kp, sizeof kp, "%.*s_keypoints.json", (int)(dot ? dot - ref : (long)strlen(ref)), ref);
            if (stat(kp, &st) != 0)
                PT_USAGE("config key 'render.pose_rescale': the reference figure's keypoints '%s' do not exist "
                         "(write the reference's OpenPose/DWPose keypoints there, or set render.pose_rescale: false)", kp);
            pt_pose_frame rf = pt_keypoints_load(kp);
            int dw = fr[0].width > 0 ? fr[0].width : W, dh = fr[0].height > 0 ? fr[0].height : H;
            int rw = rf.width > 0 ? rf.width : W, rh = rf.height > 0 ? rf.height : H;
            pt_pose_retarget r = pt_pose_retarget_fit(fr, n, &rf, dw, dh, rw, rh);
            for (int i = 0; i < n; i++) pt_pose_retarget_apply(&fr[i], &r, dw, dh);
            pt_pose_frame_free(&rf);
        }
        for (int i = 0; i < n; i++) {
            draw_pose(&fr[i], H, W, poses + (size_t)i * 3 * H * W);
            pt_pose_frame_free(&fr[i]);
        }
        free(fr);
    } else {
        for (int i = 0; i < n; i++) image_to_pose(files[i], H, W, poses + (size_t)i * 3 * H * W);
    }
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
    *out = poses;
    return n;
}

// ---- sampling ---------------------------------------------------------------------------------------
static void sched_for(const pt_config *cfg, pt_sched *s) {
    if (cfg->render.scheduler != PT_CFG_SAMPLER_DDIM)
        PT_USAGE("config key 'render.scheduler': Animate Anyone renders with ddim (got %s)", pt_config_enum_name("render.scheduler", cfg->render.scheduler));
    pt_render_sched(cfg, PT_SCHED_DDIM, s);
}

// One UNet pass over T frames. res: Pose Guider output (T, C0, h, w) host.
static void unet_pass(pt_aa_models *m, const float *x, const float *res, int T, int64_t t, pt_tensor *ctx1, int cond,
                      float *out) {
    const int h = m->latent_h, w = m->latent_w, C0 = m->unet.cfg.block_out_channels[0];
    int mark = pt_scope_begin();
    pt_ref_bank empty = {0};
    pt_unet_hooks hk = {0};
    hk.conv_in_residual = pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(T, C0, h, w), res);
    hk.ref_mode = PT_REF_READ;
    hk.ref_bank = cond ? &m->bank : &empty;
    hk.ref_frames = T;
    if (m->has_motion) { hk.temporal = pt_motion_temporal_hook; hk.temporal_ctx = &m->mm; hk.frames = T; }
    pt_tensor *ctx = cond ? pt_repeat(ctx1, 0, T) : pt_zeros(m->device, m->dtype, 3, PT_SHAPE(T, 1, m->embed_dim));
    pt_tensor *xt = pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(T, 4, h, w), x);
    pt_tensor *tt = pt_from_i64(m->device, 1, PT_SHAPE(1), &t);
    pt_copy_to_host_f32(pt_unet_forward(&m->unet, xt, tt, ctx, &hk), out);
    pt_scope_end(mark, NULL);
}

void pt_aa_sample(pt_aa_models *m, const pt_config *cfg, const float *ref, const float *poses, int N, pt_win_edge edge,
                  float *x) {
    const pt_config_render *r = &cfg->render;
    const int H = m->height, W = m->width, h = m->latent_h, w = m->latent_w, C0 = m->unet.cfg.block_out_channels[0];
    const size_t per = (size_t)4 * h * w, rper = (size_t)C0 * h * w, img = (size_t)3 * H * W;
    PT_NO_GRAD_BEGIN
    int mark = pt_scope_begin();
    // the reference: CLIP embedding and the bank, once per video
    pt_tensor *ctx1 = pt_aa_clip_embeds(m, ref, 1, NULL);                  // (1, 1, D)
    float *rl = pt_malloc(sizeof(float) * per);
    pt_aa_encode(m, ref, 1, NULL, rl);                                     // the mean latent
    pt_aa_reference_pass(m, pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(1, 4, h, w), rl), ctx1);
    // Pose Guider outputs of every frame (constant over the steps)
    float *res = pt_malloc(sizeof(float) * N * rper);                      // (N, C0, h, w)
    for (int f = 0; f < N; f++) {
        int mk = pt_scope_begin();
        pt_tensor *p = pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(1, 3, H, W), poses + f * img);
        pt_copy_to_host_f32(pt_pose_guider_forward(&m->pg, p), res + f * rper);
        pt_scope_end(mk, NULL);
    }
    for (int f = 0; f < N; f++) {
        pt_rng g;
        pt_rng_init(&g, pt_rng_derive((uint64_t)r->seed, "render.init", f));
        pt_rng_fill_normal(&g, x + f * per, (int64_t)per, 0.0f, 1.0f);
    }
    pt_win_schedule ws;
    pt_win_schedule_make(&ws, N, r->window > 0 ? r->window : N, r->window > 0 ? r->overlap : 0, edge);
    const int T = ws.window;
    pt_fuse_kind fk = r->fusion == PT_CFG_FUSION_TRIANGULAR ? PT_FUSE_TRIANGULAR : PT_FUSE_UNIFORM;
    pt_win_accum acc;
    pt_win_accum_init(&acc, N, (int64_t)per);
    float *xw = pt_malloc(sizeof(float) * T * per), *rw = pt_malloc(sizeof(float) * T * rper);
    float *ec = pt_malloc(sizeof(float) * T * per), *eu = pt_malloc(sizeof(float) * T * per);
    float *pred = pt_malloc(sizeof(float) * N * per), *noise = pt_malloc(sizeof(float) * N * per);
    pt_sched s;
    sched_for(cfg, &s);
    pt_sched_set_timesteps(&s, r->steps);
    const double g = r->cfg_scale;
    for (int i = 0; i < s.num_timesteps; i++) {
        pt_win_accum_reset(&acc);
        for (int wi = 0; wi < ws.n_windows; wi++) {
            pt_win_gather(&ws, wi, x, (int64_t)per, xw);
            for (int k = 0; k < T; k++) memcpy(rw + k * rper, res + (size_t)ws.frames[wi * T + k] * rper, sizeof(float) * rper);
            unet_pass(m, xw, rw, T, s.timesteps[i], ctx1, 1, ec);
            if (g != 1.0) {
                unet_pass(m, xw, rw, T, s.timesteps[i], ctx1, 0, eu);
                for (size_t k = 0; k < T * per; k++) ec[k] = (float)(eu[k] + g * ((double)ec[k] - eu[k]));
            }
            pt_win_accum_add(&acc, &ws, wi, ec, fk);
        }
        pt_win_accum_result(&acc, pred);
        const float *nz = NULL;
        if (s.eta > 0) {
            for (int f = 0; f < N; f++) {
                pt_rng gr;
                pt_rng_init(&gr, pt_rng_derive((uint64_t)r->seed, "render.ddim", i * 1000003 + f));
                pt_rng_fill_normal(&gr, noise + f * per, (int64_t)per, 0.0f, 1.0f);
            }
            nz = noise;
        }
        pt_ddim_step(&s, i, pred, x, (int64_t)(N * per), nz);
    }
    pt_ref_bank_clear(&m->bank);
    pt_sched_free(&s);
    pt_win_accum_free(&acc);
    pt_win_schedule_free(&ws);
    free(rl); free(res); free(xw); free(rw); free(ec); free(eu); free(pred); free(noise);
    pt_scope_end(mark, NULL);
    PT_NO_GRAD_END
}

int pt_render_aa_with(pt_aa_models *m, const pt_config *cfg) {
    const pt_config_render *r = &cfg->render;
    const int H = m->height, W = m->width;
    if (!r->reference[0]) PT_USAGE("config key 'render.reference': empty; give the reference image to animate");
    if (!r->output[0]) PT_USAGE("config key 'render.output': empty; give an output folder");
    float *ref = pt_render_load_reference(r->reference, H, W);   // (3, H, W) in [-1, 1]
    float *poses;
    int N = pt_aa_load_poses(cfg, H, W, &poses);
    const size_t per = (size_t)4 * m->latent_h * m->latent_w, img = (size_t)3 * H * W;
    float *lat = pt_malloc(sizeof(float) * N * per), *out = pt_malloc(sizeof(float) * img);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pt_aa_sample(m, cfg, ref, poses, N, PT_WIN_CLAMP, lat);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "render: %d frames sampled in %.1fs\n", N, (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec));
    pt_mkdirs(r->output);
    for (int f = 0; f < N; f++) {
        pt_aa_decode(m, lat + f * per, 1, out);
        pt_render_save_frame(r->output, f, out, H, W);
    }
    pt_render_write_clip(cfg, r->output, N, W, H);
    free(ref); free(poses); free(lat); free(out);
    return N;
}

int pt_render_aa(const pt_config *cfg) {
    if (cfg->regime != PT_CFG_REGIME_ANIMATE_ANYONE) PT_USAGE("config key 'regime': Animate Anyone rendering needs regime: animate_anyone");
    if (!cfg->model.tiny && !cfg->model.checkpoint[0] && !cfg->model.stage1_checkpoint[0])
        PT_WARN("model.checkpoint and model.stage1_checkpoint are empty: rendering with untrained Pose Guider / reference wiring");
    pt_aa_models m;
    // stage 2 checkpoints hold the motion modules; a stage-1 render has none
    pt_aa_models_build(&m, cfg, cfg->stage, PT_AA_TRAIN_NONE);
    int n = pt_render_aa_with(&m, cfg);
    pt_aa_models_free(&m);
    return n;
}

int pt_animate_anyone_render(const pt_config *cfg) { return pt_render_aa(cfg); }

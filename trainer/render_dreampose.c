// render_dreampose.c — DreamPose inference with dual classifier-free guidance (see render_dreampose.h).
#include "trainer/render_dreampose.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "autograd/ops.h"
#include "autograd/rng.h"
#include "datasets/image_io.h"
#include "datasets/npy.h"
#include "tools/check.h"
#include "trainer/render_common.h"

void pt_dp_guidance(const float *e00, const float *eI0, const float *eIp, double sI, double sp, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) {
        double a = e00[i], b = eI0[i], c = eIp[i];
        out[i] = (float)(a + sI * (b - a) + sp * (c - b));
    }
}

void pt_dp_guided_eps(pt_model_set *m, const float *x, const float *poses_lat, int B, int64_t t, pt_tensor *ctx2,
                      double sI, double sp, float *out) {
    const int P2 = 2 * m->n_poses;
    const size_t hw = (size_t)m->latent_h * m->latent_w, per = 4 * hw;
    // UNet batch (3B): rows [0, B) null image + null pose, [B, 2B) image + null pose, [2B, 3B) image + pose
    float *x3 = pt_malloc(sizeof(float) * 3 * B * per);
    float *p3 = pt_calloc((size_t)3 * B * P2 * hw, sizeof(float));
    for (int r = 0; r < 3; r++) memcpy(x3 + (size_t)r * B * per, x, sizeof(float) * B * per);
    memcpy(p3 + (size_t)2 * B * P2 * hw, poses_lat, sizeof(float) * B * P2 * hw);
    float *e = pt_malloc(sizeof(float) * 3 * B * per);
    PT_NO_GRAD_BEGIN
    int mark = pt_scope_begin();
    pt_tensor *in = pt_model_set_unet_input(m, x3, p3, 3 * B);                     // (3B, 4 + 2n, h, w)
    pt_tensor *cn = pt_repeat(pt_slice(ctx2, 0, 0, 1), 0, B);                      // (B, T, D)
    pt_tensor *ci = pt_repeat(pt_slice(ctx2, 0, 1, 2), 0, 2 * B);                  // (2B, T, D)
    pt_tensor *ctx = pt_concat((pt_tensor *[]){cn, ci}, 2, 0);                      // (3B, T, D)
    int64_t tv = t;
    pt_tensor *tt = pt_from_i64(m->device, 1, PT_SHAPE(1), &tv);
    pt_tensor *eps = pt_unet_forward(&m->unet, in, tt, ctx, NULL);                  // (3B, 4, h, w)
    pt_copy_to_host_f32(eps, e);
    pt_scope_end(mark, NULL);
    PT_NO_GRAD_END
    pt_dp_guidance(e, e + B * per, e + 2 * B * per, sI, sp, (int64_t)(B * per), out);
    free(x3); free(p3); free(e);
}

// ---- pose files -------------------------------------------------------------------------------------
static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

int pt_dp_list_poses(const char *path, char ***paths_out) {
    struct stat st;
    if (!path || !path[0]) PT_USAGE("config key 'render.poses': empty; give a folder of frame_N_densepose.npy files");
    if (stat(path, &st) != 0) PT_USAGE("render.poses: '%s' does not exist", path);
    if (!S_ISDIR(st.st_mode)) {
        if (!ends_with(path, ".npy")) PT_USAGE("render.poses: '%s' is not a folder or a DensePose .npy file", path);
        *paths_out = pt_malloc(sizeof(char *));
        (*paths_out)[0] = pt_strdup(path);
        return 1;
    }
    char **v;
    int n = pt_render_list_files(path, ".npy", &v), any_dense = 0;   // sorted
    for (int i = 0; i < n; i++) any_dense |= ends_with(v[i], "_densepose.npy");
    if (any_dense) {   // a dataset folder: only the DensePose files
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (ends_with(v[i], "_densepose.npy")) v[k++] = v[i];
            else free(v[i]);
        }
        n = k;
    }
    if (n == 0) {
        free(v);
        PT_USAGE("render.poses: folder '%s' holds no .npy DensePose files (frame_N_densepose.npy)", path);
    }
    *paths_out = v;
    return n;
}

// One pose file (2, ph, pw) -> (2, H, W) nearest -> (2, h, w) nearest (as training: loader, then regime).
static void load_pose_latent(const pt_model_set *m, const char *path, float *dst) {
    pt_npy a = pt_npy_load(path);
    if (a.ndim != 3 || a.shape[0] != 2) PT_USAGE("%s: expected a DensePose array of shape (2, H, W), got %d dims", path, a.ndim);
    float *f = pt_npy_to_f32(&a);
    int ph = (int)a.shape[1], pw = (int)a.shape[2], H = m->height, W = m->width;
    float *full = pt_malloc(sizeof(float) * 2 * H * W);
    pt_resize_nearest_chw(f, 2, ph, pw, full, H, W);
    pt_resize_nearest_chw(full, 2, H, W, dst, m->latent_h, m->latent_w);
    free(full); free(f);
    pt_npy_free(&a);
}

// ---- the render loop ---------------------------------------------------------------------------------
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sched_for(const pt_config *cfg, int force_ddim, pt_sched *s) {
    pt_render_sched(cfg, force_ddim || cfg->render.scheduler == PT_CFG_SAMPLER_DDIM ? PT_SCHED_DDIM : PT_SCHED_PNDM, s);
}

// ---- denoising and decoding (render and training samples) --------------------------------------------
// x (B, 4, h, w) host: the initial noise in, the final latents out. win (B, 2n, h, w) pose windows on
// the latent grid; ctx2 (2, T, D). s: timesteps set. DDIM eta noise of step i from (seed, key + i).
static void denoise(pt_model_set *m, pt_sched *s, pt_tensor *ctx2, const float *win, int B, double sI, double sp,
                    uint64_t seed, int64_t key, float *x) {
    const size_t per = (size_t)4 * m->latent_h * m->latent_w;
    float *eps = pt_malloc(sizeof(float) * B * per), *noise = pt_malloc(sizeof(float) * B * per);
    for (int i = 0; i < s->num_timesteps; i++) {
        pt_dp_guided_eps(m, x, win, B, s->timesteps[i], ctx2, sI, sp, eps);
        if (s->cfg.kind == PT_SCHED_PNDM) pt_pndm_step(s, i, eps, x, (int64_t)(B * per));
        else {
            const float *nz = NULL;
            if (s->eta > 0) {
                pt_rng rng;
                pt_rng_init(&rng, pt_rng_derive(seed, "render.ddim", key + i));
                pt_rng_fill_normal(&rng, noise, (int64_t)(B * per), 0.0f, 1.0f);
                nz = noise;
            }
            pt_ddim_step(s, i, eps, x, (int64_t)(B * per), nz);
        }
    }
    free(eps); free(noise);
}

// latents x (B, 4, h, w) host (scaled) -> img (B, 3, H, W) host.
static void decode(pt_model_set *m, const float *x, int B, float *img) {
    PT_NO_GRAD_BEGIN
    int mk = pt_scope_begin();
    pt_tensor *z = pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(B, 4, m->latent_h, m->latent_w), x);
    pt_tensor *dec = pt_vae_decode(&m->vae, pt_scale(z, 1.0f / m->vae.cfg.scaling_factor));   // (B, 3, H, W)
    pt_copy_to_host_f32(dec, img);
    pt_scope_end(mk, NULL);
    PT_NO_GRAD_END
}

// (2, T, D): row 0 the null-image context, row 1 the context of ref (3, H, W). In the current scope.
static pt_tensor *dual_context(pt_model_set *m, const float *ref) {
    const size_t img = (size_t)3 * m->height * m->width;
    float *ref2 = pt_malloc(sizeof(float) * 2 * img);
    memcpy(ref2, ref, sizeof(float) * img);
    memcpy(ref2 + img, ref, sizeof(float) * img);
    int32_t drop2[2] = {1, 0};
    pt_tensor *ctx2;
    PT_NO_GRAD_BEGIN
    ctx2 = pt_model_set_context(m, ref2, 2, drop2);
    PT_NO_GRAD_END
    free(ref2);
    return ctx2;
}

int pt_dreampose_render_with(pt_model_set *m, const pt_config *cfg) {
    const pt_config_render *r = &cfg->render;
    const int H = m->height, W = m->width, h = m->latent_h, w = m->latent_w, NP = m->n_poses, P2 = 2 * NP;
    const size_t hw = (size_t)h * w, per = 4 * hw;
    if (!r->reference[0]) PT_USAGE("config key 'render.reference': empty; give the subject image to animate");
    if (!r->output[0]) PT_USAGE("config key 'render.output': empty; give an output folder");
    // reference image (3, H, W) in [-1, 1]
    float *ref = pt_render_load_reference(r->reference, H, W);
    // poses on the latent grid
    char **files;
    int N = pt_dp_list_poses(r->poses, &files);
    int n_out = r->max_frames > 0 && r->max_frames < N ? r->max_frames : N;
    float *pl = pt_malloc(sizeof(float) * N * 2 * hw);   // (N, 2, h, w)
    for (int i = 0; i < N; i++) load_pose_latent(m, files[i], pl + (size_t)i * 2 * hw);
    for (int i = 0; i < N; i++) free(files[i]);
    free(files);

    pt_mkdirs(r->output);
    int mark = pt_scope_begin();
    pt_tensor *ctx2 = dual_context(m, ref);   // (2, T, D): null image, image
    free(ref);

    pt_sched s;
    sched_for(cfg, 0, &s);
    const int bs = r->batch_size > 0 ? r->batch_size : 1;
    float *x = pt_malloc(sizeof(float) * bs * per);
    float *win = pt_malloc(sizeof(float) * bs * P2 * hw);
    float *img = pt_malloc(sizeof(float) * bs * 3 * H * W);
    double t0 = now_s();
    for (int f0 = 0; f0 < n_out; f0 += bs) {
        int B = n_out - f0 < bs ? n_out - f0 : bs;
        for (int b = 0; b < B; b++) {
            int fi = f0 + b;
            pt_rng rng;
            pt_rng_init(&rng, pt_rng_derive((uint64_t)r->seed, "render.init", r->same_noise ? 0 : fi));
            pt_rng_fill_normal(&rng, x + b * per, (int64_t)per, 0.0f, 1.0f);
            for (int k = 0; k < NP; k++) {   // pose window i-k .. i+k, clamped
                int j = fi + k - NP / 2;
                j = j < 0 ? 0 : j >= N ? N - 1 : j;
                memcpy(win + ((size_t)b * P2 + 2 * k) * hw, pl + (size_t)j * 2 * hw, sizeof(float) * 2 * hw);
            }
        }
        pt_sched_set_timesteps(&s, r->steps);
        denoise(m, &s, ctx2, win, B, r->image_guidance, r->pose_guidance, (uint64_t)r->seed, (int64_t)f0 * 100003, x);
        decode(m, x, B, img);
        for (int b = 0; b < B; b++) pt_render_save_frame(r->output, f0 + b, img + (size_t)b * 3 * H * W, H, W);
        fprintf(stderr, "render: frame %d/%d  (%.1fs)\n", f0 + B, n_out, now_s() - t0);
    }
    pt_sched_free(&s);
    pt_scope_end(mark, NULL);
    free(x); free(win); free(img); free(pl);
    pt_render_write_clip(cfg, r->output, n_out, W, H);
    return n_out;
}

// ---- training samples ----------------------------------------------------------------------------------
// DensePose U, V (2, H, W) in [0, 1] -> (3, H, W) in [-1, 1]: (U, V, 0.5) inside the figure, black outside.
static void pose_colour(const float *uv, int H, int W, float *dst) {
    const size_t n = (size_t)H * W;
    for (size_t i = 0; i < n; i++) {
        float u = uv[i], v = uv[n + i];
        int in = u != 0.0f || v != 0.0f;
        dst[i] = 2.0f * u - 1.0f;
        dst[n + i] = 2.0f * v - 1.0f;
        dst[2 * n + i] = in ? 0.0f : -1.0f;
    }
}

void pt_dp_sample_grid(pt_model_set *m, const pt_config *cfg, const float *ref, const float *poses, int K, int steps,
                       uint64_t seed, const char *png) {
    const int H = m->height, W = m->width, P2 = 2 * m->n_poses;
    const size_t hw = (size_t)m->latent_h * m->latent_w, per = 4 * hw, img = (size_t)3 * H * W;
    PT_CHECKF(K >= 1 && steps >= 1, "sample grid: %d frames, %d steps", K, steps);
    const int64_t tape0 = pt_tape_size();
    PT_NO_GRAD_BEGIN
    int mark = pt_scope_begin();
    pt_tensor *ctx2 = dual_context(m, ref);                             // (2, T, D)
    float *win = pt_malloc(sizeof(float) * K * P2 * hw);                // (K, 2n, h, w)
    float *x = pt_malloc(sizeof(float) * K * per);                      // (K, 4, h, w)
    float *out = pt_malloc(sizeof(float) * K * img);                    // (K, 3, H, W)
    float *vis = pt_malloc(sizeof(float) * K * img);                    // (K, 3, H, W)
    pt_model_set_poses_to_latent(m, poses, K, NULL, win);
    for (int k = 0; k < K; k++) {
        pt_rng rng;
        pt_rng_init(&rng, pt_rng_derive(seed, "train.sample.init", cfg->render.same_noise ? 0 : k));
        pt_rng_fill_normal(&rng, x + k * per, (int64_t)per, 0.0f, 1.0f);
        pose_colour(poses + ((size_t)k * P2 + 2 * (m->n_poses / 2)) * H * W, H, W, vis + k * img);   // the centre pose
    }
    pt_sched s;
    sched_for(cfg, 1, &s);
    pt_sched_set_timesteps(&s, steps);
    denoise(m, &s, ctx2, win, K, cfg->render.image_guidance, cfg->render.pose_guidance, seed, 0, x);
    pt_sched_free(&s);
    decode(m, x, K, out);
    const float **tiles = pt_malloc(sizeof(float *) * 3 * K);
    for (int k = 0; k < K; k++) { tiles[3 * k] = ref; tiles[3 * k + 1] = vis + k * img; tiles[3 * k + 2] = out + k * img; }
    pt_image_grid_save(png, tiles, 3 * K, 3, H, W, 3, -1.0f, 1.0f);
    free(tiles); free(win); free(x); free(out); free(vis);
    pt_scope_end(mark, NULL);
    PT_NO_GRAD_END
    PT_CHECKF(pt_tape_size() == tape0, "sample grid left %lld autograd nodes", (long long)(pt_tape_size() - tape0));
}

int pt_dreampose_render(const pt_config *cfg) {
    if (cfg->regime != PT_CFG_REGIME_DREAMPOSE) PT_USAGE("config key 'regime': DreamPose rendering needs regime: dreampose");
    if (!cfg->model.tiny && !cfg->model.checkpoint[0])
        PT_WARN("model.checkpoint is empty: rendering with the pretrained weights and an untrained adapter / conv_in");
    pt_model_set m;
    pt_model_set_build(&m, cfg, PT_MS_TRAIN_NONE);
    int n = pt_dreampose_render_with(&m, cfg);
    pt_model_set_free(&m);
    return n;
}

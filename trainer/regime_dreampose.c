// regime_dreampose.c — DreamPose training phases on the shared loop (see regime_dreampose.h).
#include "trainer/regime_dreampose.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autograd/ops.h"
#include "autograd/rng.h"
#include "datasets/dataset.h"
#include "tools/check.h"
#include "trainer/ckpt.h"
#include "trainer/dist.h"
#include "trainer/regime_common.h"
#include "trainer/render_dreampose.h"

#define DP_SAMPLE_FRAMES 3   // frames in a training sample grid
#define DP_SAMPLE_STEPS 8    // DDIM steps of a training sample (fewer when render.steps is smaller)

// ---- helpers ------------------------------------------------------------------------------------
static pt_tensor *to_dev(const pt_model_set *m, int ndim, const int64_t *shape, const float *src) {
    return pt_from_f32(m->device, m->dtype, ndim, shape, src);
}

static double scalar_of(pt_tensor *t) {
    float v;
    pt_copy_to_host_f32(t, &v);
    return v;
}

// ---- cached latents (posetune pack --cache-latents) ---------------------------------------------------
// The context from the CLIP tower on cond (B, 3, H, W) and the cached conditioning latents
// cl (B, 4, h, w) (mean x scaling factor) instead of a VAE encode; a dropped row takes the null
// image's latent (zeros through the VAE) and zero CLIP pixels, as pt_model_set_context does.
static pt_tensor *context_cached(pt_model_set *m, const float *cond, const float *cl, int B, const int32_t *drop) {
    const int H = m->height, W = m->width, S = m->clip_pre.crop_h, Sw = m->clip_pre.crop_w;
    const size_t img = (size_t)3 * H * W, per = (size_t)4 * m->latent_h * m->latent_w;
    int mark = pt_scope_begin();
    float *px = pt_calloc((size_t)B * 3 * S * Sw, sizeof(float));   // (B, 3, S, S) CLIP pixel_values
    float *unit = pt_malloc(sizeof(float) * img);                    // (3, H, W) in [0, 1]
    float *lat = pt_malloc(sizeof(float) * B * per);                 // (B, 4, h, w)
    float *null_lat = NULL;                                          // (4, h, w)
    pt_tensor *ch, *lt;
    PT_NO_GRAD_BEGIN
    for (int b = 0; b < B; b++) {
        if (drop && drop[b]) {
            if (!null_lat) {
                float *zero = pt_calloc(img, sizeof(float));
                null_lat = pt_malloc(sizeof(float) * per);
                int mk = pt_scope_begin();
                pt_tensor *z = pt_vae_encode_latents(&m->vae, pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(1, 3, H, W), zero), NULL);
                pt_copy_to_host_f32(z, null_lat);
                pt_scope_end(mk, NULL);
                free(zero);
            }
            memcpy(lat + b * per, null_lat, sizeof(float) * per);
            continue;
        }
        memcpy(lat + b * per, cl + b * per, sizeof(float) * per);
        for (size_t i = 0; i < img; i++) unit[i] = 0.5f * (cond[b * img + i] + 1.0f);
        pt_clip_preprocess_chw(&m->clip_pre, unit, H, W, px + (size_t)b * 3 * S * Sw);
    }
    pt_clip_vision_out o;
    pt_clip_vision_forward(&m->clip, pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(B, 3, S, Sw), px), &o);   // (B, T, D)
    ch = o.last_hidden_state;
    lt = pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(B, 4, m->latent_h, m->latent_w), lat);
    PT_NO_GRAD_END
    free(px); free(unit); free(lat); free(null_lat);
    pt_tensor *ctx = pt_dp_adapter_forward(&m->adapter, ch, lt);   // (B, T, D)
    return pt_scope_end(mark, ctx);
}

// Use the pack's cached latents? Only for phase full on a pack file whose latents were made by this
// VAE at this size, without augmentation (the loader cannot crop latents). The check encodes frame 0
// of video 0 and compares it with its cached latent (f16): a pack cached with another VAE or size is
// refused with a warning and the frames are encoded as usual.
static int cached_latents_usable(pt_model_set *m, const pt_config *cfg, const pt_loader_config *lc) {
    if (cfg->phase != PT_CFG_PHASE_FULL || lc->n_subject > 0 || !lc->path) return 0;
    struct stat st;
    if (stat(lc->path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    pt_dataset *ds = pt_dataset_open(lc->path);
    int ok = pt_dataset_has_latents(ds);
    if (ok && lc->aug != PT_AUG_NONE) {
        PT_WARN("%s has cached latents, but data.crop_mode is not none: the frames are encoded instead", lc->path);
        ok = 0;
    }
    for (int v = 0; ok && v < pt_dataset_n_videos(ds); v++) {
        int c, h, w, fh, fw;
        pt_dataset_latent_shape(ds, v, &c, &h, &w);
        pt_dataset_frame_size(ds, v, &fh, &fw);
        if (c != 4 || h != m->latent_h || w != m->latent_w || fh != m->height || fw != m->width) {
            PT_WARN("%s: video '%s' has latents (%d, %d, %d) of %dx%d frames; training at %dx%d needs (4, %d, %d): the "
                    "frames are encoded instead", lc->path, pt_dataset_video_name(ds, v), c, h, w, fh, fw, m->height,
                    m->width, m->latent_h, m->latent_w);
            ok = 0;
        }
    }
    if (ok) {
        const size_t per = (size_t)4 * m->latent_h * m->latent_w;
        float *x = pt_malloc(sizeof(float) * 3 * m->height * m->width), *enc = pt_malloc(sizeof(float) * per);
        float *cached = pt_malloc(sizeof(float) * per);
        pt_dataset_frame(ds, 0, 0, x, m->height, m->width);
        pt_dataset_latent(ds, 0, 0, cached);
        PT_NO_GRAD_BEGIN
        int mk = pt_scope_begin();
        pt_tensor *z = pt_vae_encode_latents(&m->vae, pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(1, 3, m->height, m->width), x), NULL);
        pt_copy_to_host_f32(z, enc);
        pt_scope_end(mk, NULL);
        PT_NO_GRAD_END
        double num = 0, den = 0;
        for (size_t i = 0; i < per; i++) { num += ((double)enc[i] - cached[i]) * ((double)enc[i] - cached[i]); den += (double)enc[i] * enc[i]; }
        double rel = sqrt(num / (den > 0 ? den : 1));
        if (!(rel < 0.05)) {
            PT_WARN("%s: the cached latents differ from this VAE's encoding of frame 0 (relative %.3g): packed with another "
                    "VAE? The frames are encoded instead", lc->path, rel);
            ok = 0;
        }
        free(x); free(enc); free(cached);
    }
    pt_dataset_close(ds);
    return ok;
}

// ---- phase full / subject -----------------------------------------------------------------------
static double step_diffusion(void *self, pt_trainer *t, const pt_batch *b, double loss_scale) {
    pt_dreampose *d = self;
    pt_model_set *m = &d->ms;
    const pt_config *c = d->cfg;
    const int B = b->B, H = b->H, W = b->W, h = m->latent_h, w = m->latent_w, P2 = 2 * m->n_poses;
    PT_CHECKF(H == m->height && W == m->width, "batch %dx%d, models built for %dx%d", H, W, m->height, m->width);
    PT_CHECKF(b->densepose != NULL, "DreamPose batch without DensePose poses");
    PT_CHECKF(P2 == 10, "the loader gives 5 poses a sample, data.n_poses is %d", m->n_poses);
    const int64_t per = (int64_t)4 * h * w;
    const int subject = c->phase == PT_CFG_PHASE_SUBJECT;
    const int32_t *drop_img = subject ? NULL : b->drop_image;
    const int32_t *drop_pose = subject ? NULL : b->drop_pose;

    // x0: the target's latent sample, scaled (cached: the pack's posterior mean, scaled)
    const int cached = b->target_latent && b->cond_latent;
    if (cached) PT_CHECKF(b->LC == 4 && b->LH == h && b->LW == w, "cached latents (%d, %d, %d), expected (4, %d, %d)", b->LC, b->LH, b->LW, h, w);
    float *vn = pt_malloc(sizeof(float) * B * per);       // (B, 4, h, w) VAE sampling noise
    float *x0 = pt_malloc(sizeof(float) * B * per);       // (B, 4, h, w)
    if (cached) memcpy(x0, b->target_latent, sizeof(float) * B * per);
    else {
        pt_regime_fill_normal_rows(t, b, "vae", per, vn);
        PT_NO_GRAD_BEGIN
        int mark = pt_scope_begin();
        pt_tensor *xt = to_dev(m, 4, PT_SHAPE(B, 3, H, W), b->target);
        pt_tensor *lat = pt_vae_encode_latents(&m->vae, xt, to_dev(m, 4, PT_SHAPE(B, 4, h, w), vn));
        pt_copy_to_host_f32(lat, x0);
        pt_scope_end(mark, NULL);
        PT_NO_GRAD_END
    }

    // noise, timesteps, x_t, target
    float *eps = pt_malloc(sizeof(float) * B * per), *xn = pt_malloc(sizeof(float) * B * per);
    float *tgt = pt_malloc(sizeof(float) * B * per);
    int64_t *ts = pt_malloc(sizeof(int64_t) * B);
    pt_regime_fill_normal_rows(t, b, "noise", per, eps);
    pt_regime_timesteps_and_offset(t, b, d->sched.cfg.num_train_timesteps, c->train.noise_offset, 1, per, eps, ts);
    pt_sched_add_noise(&d->sched, x0, eps, ts, B, per, xn);
    if (c->train.prediction == PT_CFG_PRED_V) pt_sched_velocity(&d->sched, x0, eps, ts, B, per, tgt);
    else memcpy(tgt, eps, sizeof(float) * B * per);

    // poses on the latent grid, UNet input
    float *pl = pt_malloc(sizeof(float) * (size_t)B * P2 * h * w);   // (B, 10, h, w)
    pt_model_set_poses_to_latent(m, b->densepose, B, drop_pose, pl);
    pt_tensor *in = pt_model_set_unet_input(m, xn, pl, B);            // (B, 14, h, w)
    pt_tensor *ctx = cached ? context_cached(m, b->cond, b->cond_latent, B, drop_img)
                            : pt_model_set_context(m, b->cond, B, drop_img);    // (B, T, D)
    pt_tensor *tt = pt_from_i64(m->device, 1, PT_SHAPE(B), ts);
    pt_unet_hooks hk = {0};
    hk.checkpoint = c->train.gradient_checkpointing;
    pt_tensor *pred = pt_unet_forward(&m->unet, in, tt, ctx, &hk);    // (B, 4, h, w)
    if (pred->dtype != PT_F32) pred = pt_cast(pred, PT_F32);
    pt_tensor *target = pt_from_f32(m->device, PT_F32, 4, PT_SHAPE(B, 4, h, w), tgt);
    pt_tensor *wt = NULL;
    if (c->train.min_snr_gamma > 0) {
        float wv[4096];
        PT_CHECKF(B <= 4096, "batch too large");
        pt_sched_min_snr_weights(&d->sched, ts, B, c->train.min_snr_gamma, wv);
        wt = pt_from_f32(m->device, PT_F32, 4, PT_SHAPE(B, 1, 1, 1), wv);
    }
    pt_tensor *loss = pt_mse_loss(pred, target, wt);
    double v = scalar_of(loss);
    pt_backward(pt_scale(loss, (float)loss_scale), NULL);
    free(vn); free(x0); free(eps); free(xn); free(tgt); free(ts); free(pl);
    return v;
}

// ---- phase vae_decoder --------------------------------------------------------------------------
static double step_vae_decoder(void *self, pt_trainer *t, const pt_batch *b, double loss_scale) {
    pt_dreampose *d = self;
    pt_model_set *m = &d->ms;
    const int B = b->B, H = b->H, W = b->W, h = m->latent_h, w = m->latent_w;
    const int64_t per = (int64_t)4 * h * w;
    float *vn = pt_malloc(sizeof(float) * B * per);
    pt_regime_fill_normal_rows(t, b, "vae", per, vn);
    pt_tensor *x = to_dev(m, 4, PT_SHAPE(B, 3, H, W), b->target);    // (B, 3, H, W) in [-1, 1]
    pt_tensor *z;
    PT_NO_GRAD_BEGIN
    pt_tensor *mean, *logvar;
    pt_vae_encode(&m->vae, x, &mean, &logvar);                         // frozen encoder
    z = pt_vae_sample(mean, logvar, to_dev(m, 4, PT_SHAPE(B, 4, h, w), vn));
    PT_NO_GRAD_END
    m->vae.checkpoint = d->cfg->train.gradient_checkpointing;
    pt_tensor *rec = pt_vae_decode(&m->vae, z);                        // (B, 3, H, W)
    if (rec->dtype != PT_F32) rec = pt_cast(rec, PT_F32);
    pt_tensor *xf = x->dtype == PT_F32 ? x : pt_from_f32(m->device, PT_F32, 4, PT_SHAPE(B, 3, H, W), b->target);
    pt_tensor *loss = d->cfg->train.loss == PT_CFG_LOSS_L1 ? pt_l1_loss(rec, xf, NULL) : pt_mse_loss(rec, xf, NULL);
    double v = scalar_of(loss);
    pt_backward(pt_scale(loss, (float)loss_scale), NULL);
    free(vn);
    return v;
}

// ---- samples during training (train.sample_every) ------------------------------------------------
// A fixed pair from the training set: the first frame of the first video as the reference, the pose
// windows of DP_SAMPLE_FRAMES frames spread over that video; rendered with the current weights
// (trainer/render_dreampose.h pt_dp_sample_grid, its own seed: the training draws are untouched).
static void sample_diffusion(void *self, pt_trainer *t, const char *png) {
    pt_dreampose *d = self;
    pt_model_set *m = &d->ms;
    const pt_config *c = d->cfg;
    const pt_loader_config *lc = &t->loader_cfg;
    const int H = m->height, W = m->width, NP = m->n_poses, P2 = 2 * NP;
    pt_dataset *ds = lc->n_subject > 0 ? pt_dataset_open_subject(lc->subject_images, lc->subject_poses, lc->n_subject)
                                       : pt_dataset_open(lc->path);
    const int n = pt_dataset_n_frames(ds, 0), K = n < DP_SAMPLE_FRAMES ? n : DP_SAMPLE_FRAMES;
    float *ref = pt_malloc(sizeof(float) * 3 * H * W);                 // (3, H, W)
    float *poses = pt_malloc(sizeof(float) * (size_t)K * P2 * H * W);   // (K, 2n, H, W)
    pt_dataset_frame(ds, 0, 0, ref, H, W);
    for (int k = 0; k < K; k++) {
        int j = K == 1 ? n - 1 : (int)((int64_t)(k + 1) * (n - 1) / K);
        for (int p = 0; p < NP; p++) {
            int i = j + p - NP / 2;
            i = i < 0 ? 0 : i >= n ? n - 1 : i;
            pt_dataset_densepose(ds, 0, i, poses + ((size_t)k * P2 + 2 * p) * H * W, H, W);
        }
    }
    pt_dataset_close(ds);
    int steps = c->render.steps > 0 && c->render.steps < DP_SAMPLE_STEPS ? c->render.steps : DP_SAMPLE_STEPS;
    pt_dp_sample_grid(m, c, ref, poses, K, steps, pt_rng_derive((uint64_t)c->train.seed, "train.sample", 0), png);
    free(ref); free(poses);
    if (!d->quiet && !t->quiet) fprintf(stderr, "sample: %s\n", png);
}

// ---- configuration ------------------------------------------------------------------------------
static pt_aug_kind aug_of(const pt_config *c) {
    switch (c->data.crop_mode) {
    case PT_CFG_CROP_NONE: return PT_AUG_NONE;
    case PT_CFG_CROP_OFFSET: return c->phase == PT_CFG_PHASE_VAE_DECODER ? PT_AUG_VAE_CROP : PT_AUG_DREAMPOSE_CROP;
    case PT_CFG_CROP_RESIZED: return PT_AUG_RRC;
    }
    return PT_AUG_NONE;
}

char **pt_dreampose_subject_poses(const pt_config *cfg) {
    int n = cfg->data.subject_images.n;
    char **out = pt_calloc((size_t)(n ? n : 1), sizeof(char *));
    for (int i = 0; i < n; i++) {
        if (cfg->data.subject_poses.n) { out[i] = pt_strdup(cfg->data.subject_poses.v[i]); continue; }
        const char *img = cfg->data.subject_images.v[i];
        const char *dot = strrchr(img, '.'), *slash = strrchr(img, '/');
        size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - img) : strlen(img);
        size_t L = stem + 32;
        out[i] = pt_malloc(L);
        snprintf(out[i], L, "%.*s_densepose.npy", (int)stem, img);
        struct stat st;
        if (stat(out[i], &st) != 0)
            PT_USAGE("subject image '%s': no DensePose file '%s' next to it (or list the files in data.subject_poses)", img, out[i]);
    }
    return out;
}

void pt_dreampose_loader_config(const pt_config *cfg, const char *data_dir_override, pt_loader_config *lc) {
    const int subject_set = cfg->data.subject_images.n > 0 && cfg->phase != PT_CFG_PHASE_FULL;
    pt_loader_config_default(lc, subject_set ? PT_SAMPLER_SUBJECT : PT_SAMPLER_DREAMPOSE, (uint64_t)cfg->train.seed);
    if (cfg->phase == PT_CFG_PHASE_SUBJECT && !subject_set)
        PT_USAGE("config key 'data.subject_images': phase subject needs the subject's images (posetune subject --images ...)");
    lc->path = data_dir_override ? data_dir_override : cfg->data.path;
    if (!subject_set && (!lc->path || !lc->path[0]))
        PT_USAGE("config key 'data.path': empty; give a pack file or frame folder (or data.synthetic: true)");
    pt_regime_loader_common(cfg, lc);
    if (cfg->phase == PT_CFG_PHASE_FULL) {
        lc->sampler.p_drop_image = (float)cfg->data.drop_image;
        lc->sampler.p_drop_pose = (float)cfg->data.drop_pose;
        lc->sampler.p_drop_both = (float)cfg->data.drop_both;
    }
    lc->aug = aug_of(cfg);
}

int64_t pt_dreampose_done_steps(const char *out_dir) {
    char d[4096];
    snprintf(d, sizeof d, "%s/checkpoints", out_dir);
    char *p = pt_ckpt_latest(d);
    if (!p) return 0;
    const char *base = strrchr(p, '/');
    long long s = 0;
    if (sscanf(base ? base + 1 : p, "step-%lld", &s) != 1) s = 0;
    free(p);
    return s;
}

void pt_dreampose_init(pt_dreampose *d, const pt_config *cfg) {
    memset(d, 0, sizeof *d);
    d->cfg = cfg;
    if (cfg->regime != PT_CFG_REGIME_DREAMPOSE) PT_USAGE("config key 'regime': the DreamPose trainer needs regime: dreampose");
    const int vae = cfg->phase == PT_CFG_PHASE_VAE_DECODER;
    pt_model_set_build(&d->ms, cfg, vae ? PT_MS_TRAIN_VAE_DECODER : PT_MS_TRAIN_DIFFUSION);
    pt_sched_config sc = pt_regime_sched_config(cfg);   // (the spacing matters only to inference)
    pt_sched_init(&d->sched, &sc);

    if (cfg->data.synthetic && !cfg->data.path[0] && cfg->phase != PT_CFG_PHASE_SUBJECT)
        d->synthetic_dir = pt_regime_make_synthetic(cfg);
    pt_loader_config lc;
    pt_dreampose_loader_config(cfg, d->synthetic_dir, &lc);
    if (lc.sampler.mode == PT_SAMPLER_SUBJECT) {
        d->n_subject = cfg->data.subject_images.n;
        d->subject_poses = pt_dreampose_subject_poses(cfg);
        lc.subject_images = (const char *const *)cfg->data.subject_images.v;
        lc.subject_poses = (const char *const *)d->subject_poses;
        lc.n_subject = d->n_subject;
    }
    d->ops.name = vae ? "dreampose/vae_decoder" : cfg->phase == PT_CFG_PHASE_SUBJECT ? "dreampose/subject" : "dreampose/full";
    d->ops.micro_step = vae ? step_vae_decoder : step_diffusion;
    d->ops.sample = vae ? NULL : sample_diffusion;   // the VAE decoder phase: no samples
    lc.use_latents = !vae && cached_latents_usable(&d->ms, cfg, &lc);
    if (lc.use_latents && pt_dist_get()->rank == 0 && !d->quiet)
        fprintf(stderr, "posetune: using the cached VAE latents of %s (posterior means; no VAE encode per step)\n", lc.path);
    pt_trainer_init(&d->trainer, cfg, &d->ms.P, &lc);
    d->trainer.quiet = d->quiet;
}

double pt_dreampose_run(pt_dreampose *d) { return pt_trainer_run(&d->trainer, &d->ops, d); }

void pt_dreampose_free(pt_dreampose *d) {
    pt_trainer_free(&d->trainer);
    pt_sched_free(&d->sched);
    pt_model_set_free(&d->ms);
    for (int i = 0; i < d->n_subject; i++) free(d->subject_poses[i]);
    free(d->subject_poses);
    free(d->synthetic_dir);
    memset(d, 0, sizeof *d);
}

double pt_dreampose_train(const pt_config *cfg) {
    pt_dreampose *d = pt_malloc(sizeof *d);
    pt_dreampose_init(d, cfg);
    double loss = pt_dreampose_run(d);
    pt_dreampose_free(d);
    free(d);
    return loss;
}

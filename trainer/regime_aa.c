// regime_aa.c — Animate Anyone stage 1 / stage 2 on the shared loop (see regime_aa.h).
#include "trainer/regime_aa.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/rng.h"
#include "tools/check.h"
#include "trainer/dist.h"
#include "trainer/hand_mask.h"
#include "trainer/regime_common.h"

// rows idx[0..n) of src (rows of `row` floats) into dst
static void gather_rows(const float *src, const int *idx, int n, size_t row, float *dst) {
    for (int i = 0; i < n; i++) memcpy(dst + (size_t)i * row, src + (size_t)idx[i] * row, sizeof(float) * row);
}

// The loss of one group of samples (all conditioned, or all unconditioned), summed as
// mean-over-group * n / B so that the groups add up to the mean over the batch.
static pt_tensor *group_loss(pt_aa *a, const int *idx, int n, int B, int F, int cond, const float *ref_img,
                             const float *ref_lat, const float *xt, const int64_t *ts, const float *tgt, const float *wt,
                             const float *poses) {
    pt_aa_models *m = &a->ms;
    const int H = m->height, W = m->width, h = m->latent_h, w = m->latent_w, D = m->embed_dim, NF = n * F;
    const size_t per = (size_t)4 * h * w, img = (size_t)3 * H * W;
    const int train_ref = a->stage == 1;
    float *buf = pt_malloc(sizeof(float) * (size_t)NF * (img > per ? img : per));
    pt_tensor *ctx;
    if (cond) {
        gather_rows(ref_img, idx, n, img, buf);
        ctx = pt_aa_clip_embeds(m, buf, n, NULL);                                     // (n, 1, D)
        gather_rows(ref_lat, idx, n, per, buf);
        pt_tensor *rl = pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(n, 4, h, w), buf);
        if (train_ref) pt_aa_reference_pass(m, rl, ctx);
        else { PT_NO_GRAD_BEGIN pt_aa_reference_pass(m, rl, ctx); PT_NO_GRAD_END }
    } else {
        ctx = pt_zeros(m->device, m->dtype, 3, PT_SHAPE(n, 1, D));                    // the unconditional embedding
    }
    if (F > 1) ctx = pt_mc_repeat_interleave_batch(ctx, F);                           // (n*F, 1, D)
    gather_rows(xt, idx, n, F * per, buf);
    pt_tensor *x = pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(NF, 4, h, w), buf);  // (n*F, 4, h, w)
    gather_rows(poses, idx, n, F * img, buf);
    pt_tensor *pose = pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(NF, 3, H, W), buf);
    int64_t *tt = pt_malloc(sizeof(int64_t) * NF);
    for (int i = 0; i < n; i++)
        for (int f = 0; f < F; f++) tt[i * F + f] = ts[idx[i]];
    pt_tensor *tv = pt_from_i64(m->device, 1, PT_SHAPE(NF), tt);
    pt_tensor *pred;
    if (a->stage == 2) {   // frozen pose guider: its output needs no tape
        pt_tensor *res;
        PT_NO_GRAD_BEGIN res = pt_pose_guider_forward(&m->pg, pose); PT_NO_GRAD_END
        pt_unet_hooks hk = {0};
        pt_ref_bank empty = {0};
        hk.conv_in_residual = res;
        hk.ref_mode = PT_REF_READ;
        hk.ref_bank = cond ? &m->bank : &empty;
        hk.ref_frames = F;
        hk.temporal = pt_motion_temporal_hook;
        hk.temporal_ctx = &m->mm;
        hk.frames = F;
        hk.checkpoint = a->cfg->train.gradient_checkpointing;
        pred = pt_unet_forward(&m->unet, x, tv, ctx, &hk);
    } else {
        pred = pt_aa_denoise(m, x, tv, ctx, pose, 1, cond, a->cfg->train.gradient_checkpointing);
    }
    if (pred->dtype != PT_F32) pred = pt_cast(pred, PT_F32);
    gather_rows(tgt, idx, n, F * per, buf);
    pt_tensor *target = pt_from_f32(m->device, PT_F32, 4, PT_SHAPE(NF, 4, h, w), buf);
    pt_tensor *weight = NULL;
    if (wt) {
        gather_rows(wt, idx, n, (size_t)F * h * w, buf);
        weight = pt_from_f32(m->device, PT_F32, 4, PT_SHAPE(NF, 1, h, w), buf);
    }
    free(buf); free(tt);
    return pt_scale(pt_mse_loss(pred, target, weight), (float)n / (float)B);
}

double pt_aa_micro_step(void *self, pt_trainer *t, const pt_batch *b, double loss_scale) {
    pt_aa *a = self;
    pt_aa_models *m = &a->ms;
    const pt_config *c = a->cfg;
    const int B = b->B, H = b->H, W = b->W, h = m->latent_h, w = m->latent_w;
    const int F = a->stage == 2 ? b->F : 1;
    PT_CHECKF(H == m->height && W == m->width, "batch %dx%d, models built for %dx%d", H, W, m->height, m->width);
    const float *frames = a->stage == 2 ? b->clip_frames : b->target;   // (B, F, 3, H, W)
    const float *poses = a->stage == 2 ? b->clip_poses : b->pose_image; // (B, F, 3, H, W) in [0, 1]
    PT_CHECKF(frames && poses && b->cond, "Animate Anyone batch without %s", !frames ? "frames" : !poses ? "pose images" : "reference");
    const size_t per = (size_t)4 * h * w, fper = F * per, hw = (size_t)h * w;

    // latents of the frames and the reference (VAE samples)
    float *vn = pt_malloc(sizeof(float) * B * fper), *x0 = pt_malloc(sizeof(float) * B * fper);
    float *rn = pt_malloc(sizeof(float) * B * per), *rl = pt_malloc(sizeof(float) * B * per);
    pt_regime_fill_normal_rows(t, b, "vae", (int64_t)fper, vn);
    pt_regime_fill_normal_rows(t, b, "ref_vae", (int64_t)per, rn);
    pt_aa_encode(m, frames, B * F, vn, x0);
    pt_aa_encode(m, b->cond, B, rn, rl);

    // noise (+ offset per sample and channel), timesteps, x_t, target, unconditional flags
    float *eps = pt_malloc(sizeof(float) * B * fper), *xt = pt_malloc(sizeof(float) * B * fper);
    float *tgt = pt_malloc(sizeof(float) * B * fper);
    int64_t *ts = pt_malloc(sizeof(int64_t) * B), *tsf = pt_malloc(sizeof(int64_t) * B * F);
    int *keep = pt_malloc(sizeof(int) * B), *drop = pt_malloc(sizeof(int) * B), nk = 0, nd = 0;
    pt_regime_fill_normal_rows(t, b, "noise", (int64_t)fper, eps);
    pt_regime_timesteps_and_offset(t, b, a->sched.cfg.num_train_timesteps, c->train.noise_offset, F, (int64_t)per, eps, ts);
    for (int k = 0; k < B; k++) {
        for (int f = 0; f < F; f++) tsf[k * F + f] = ts[k];
        pt_rng r;
        pt_rng_init(&r, pt_trainer_sample_seed(t, &b->samples[k], "uncond"));
        if (pt_rng_uniform(&r) < c->data.drop_uncond) drop[nd++] = k;
        else keep[nk++] = k;
    }
    pt_sched_add_noise(&a->sched, x0, eps, tsf, B * F, (int64_t)per, xt);
    if (c->train.prediction == PT_CFG_PRED_V) pt_sched_velocity(&a->sched, x0, eps, tsf, B * F, (int64_t)per, tgt);
    else memcpy(tgt, eps, sizeof(float) * B * fper);

    // loss weights (B*F, 1, h, w): min-SNR per sample x hand regions per frame
    float *wt = NULL;
    const int hand = c->train.hand_loss_factor > 1;
    if (c->train.min_snr_gamma > 0 || hand) {
        wt = pt_malloc(sizeof(float) * B * F * hw);
        float *mask = pt_malloc(sizeof(float) * hw);
        int marked = 0;
        for (int k = 0; k < B; k++) {
            double sw = c->train.min_snr_gamma > 0 ? pt_sched_min_snr_weight(&a->sched, ts[k], c->train.min_snr_gamma) : 1.0;
            for (int f = 0; f < F; f++) {
                float *row = wt + ((size_t)k * F + f) * hw;
                for (size_t i = 0; i < hw; i++) row[i] = (float)sw;
                if (!hand) continue;
                const float *pim = poses + ((size_t)k * F + f) * 3 * H * W;
                int n = pt_hand_mask_from_pose_image(pim, H, W, h, w, mask);
                marked += n;
                for (size_t i = 0; i < hw; i++) if (mask[i] > 0) row[i] *= (float)c->train.hand_loss_factor;
            }
        }
        if (hand && !marked && !a->hand_note_done && t->rank == 0) {
            fprintf(stderr, "posetune: train.hand_loss_factor %.3g: no hand pixels in the pose images of this batch; "
                    "those samples use weight 1 (this note is printed once)\n", c->train.hand_loss_factor);
            a->hand_note_done = 1;
        }
        free(mask);
    }

    pt_tensor *loss = NULL;
    if (nk) loss = group_loss(a, keep, nk, B, F, 1, b->cond, rl, xt, ts, tgt, wt, poses);
    if (nd) {
        pt_tensor *ld = group_loss(a, drop, nd, B, F, 0, b->cond, rl, xt, ts, tgt, wt, poses);
        loss = loss ? pt_add(loss, ld) : ld;
    }
    float v;
    pt_copy_to_host_f32(loss, &v);
    pt_backward(pt_scale(loss, (float)loss_scale), NULL);
    pt_ref_bank_clear(&m->bank);
    free(vn); free(x0); free(rn); free(rl); free(eps); free(xt); free(tgt); free(ts); free(tsf);
    free(keep); free(drop); free(wt);
    return v;
}

// ---- configuration ----------------------------------------------------------------------------------
void pt_aa_loader_config(const pt_config *cfg, const char *data_dir_override, pt_loader_config *lc) {
    pt_loader_config_default(lc, cfg->stage == 2 ? PT_SAMPLER_AA_STAGE2 : PT_SAMPLER_AA_STAGE1, (uint64_t)cfg->train.seed);
    lc->path = data_dir_override ? data_dir_override : cfg->data.path;
    if (!lc->path || !lc->path[0]) PT_USAGE("config key 'data.path': empty; give a pack file or frame folder (or data.synthetic: true)");
    pt_regime_loader_common(cfg, lc);
    lc->sampler.margin = cfg->data.ref_margin;
    lc->sampler.num_frames = cfg->data.num_frames;
    lc->sampler.stride = cfg->data.frame_stride;
    if (cfg->stage == 2 && cfg->data.num_frames > PT_MAX_CLIP)
        PT_USAGE("config key 'data.num_frames': %d exceeds the maximum clip length %d", cfg->data.num_frames, PT_MAX_CLIP);
    lc->aug = cfg->data.crop_mode == PT_CFG_CROP_RESIZED ? PT_AUG_RRC : PT_AUG_NONE;
    if (cfg->data.crop_mode == PT_CFG_CROP_OFFSET) PT_USAGE("config key 'data.crop_mode': offset is DreamPose's crop; Animate Anyone uses none or resized");
}

void pt_aa_init(pt_aa *a, const pt_config *cfg) {
    int quiet = a->quiet;   // the one field a caller may set before init
    memset(a, 0, sizeof *a);
    a->quiet = quiet;
    a->cfg = cfg;
    if (cfg->regime != PT_CFG_REGIME_ANIMATE_ANYONE) PT_USAGE("config key 'regime': the Animate Anyone trainer needs regime: animate_anyone");
    a->stage = cfg->stage;
    pt_aa_models_build(&a->ms, cfg, a->stage, a->stage == 2 ? PT_AA_TRAIN_STAGE2 : PT_AA_TRAIN_STAGE1);
    pt_sched_config sc = pt_regime_sched_config(cfg);
    pt_sched_init(&a->sched, &sc);
    if (cfg->data.synthetic && !cfg->data.path[0]) a->synthetic_dir = pt_regime_make_synthetic(cfg);
    pt_loader_config lc;
    pt_aa_loader_config(cfg, a->synthetic_dir, &lc);
    a->ops.name = a->stage == 2 ? "animate_anyone/2" : "animate_anyone/1";
    a->ops.micro_step = pt_aa_micro_step;
    a->ops.sample = NULL;   // samples: posetune render
    pt_trainer_init(&a->trainer, cfg, &a->ms.P, &lc);
    a->trainer.quiet = a->quiet;
}

double pt_aa_run(pt_aa *a) { return pt_trainer_run(&a->trainer, &a->ops, a); }

void pt_aa_free(pt_aa *a) {
    pt_trainer_free(&a->trainer);
    pt_sched_free(&a->sched);
    pt_aa_models_free(&a->ms);
    free(a->synthetic_dir);
    memset(a, 0, sizeof *a);
}

double pt_animate_anyone_train(const pt_config *cfg) {
    pt_aa *a = pt_calloc(1, sizeof *a);
    pt_aa_init(a, cfg);
    double loss = pt_aa_run(a);
    pt_aa_free(a);
    free(a);
    return loss;
}

int pt_regime_aa_train(const pt_config *cfg) {
    pt_animate_anyone_train(cfg);
    return 0;
}

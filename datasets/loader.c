// loader.c — prefetching batch loader (see loader.h).
#include "datasets/loader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autograd/rng.h"
#include "datasets/augment.h"
#include "datasets/dataset.h"
#include "tools/check.h"

typedef struct slot {
    pt_batch b;
    int ready;
    pt_sampler_state after;   // sampler state after this batch's samples
} slot;

typedef struct worker {
    struct pt_loader *l;
    pthread_t th;
    pt_dataset *ds;
    float *tmp;
    size_t tmp_cap;
} worker;

struct pt_loader {
    pt_loader_config c;
    pt_sampler *sampler;      // guarded by m
    slot *slots;              // (K)
    int K;
    worker *workers;
    int n_workers;
    pthread_mutex_t m;
    pthread_cond_t cv_work, cv_ready;
    int64_t next_assign, next_consume;
    int held, stop;
    int err_code;
    char err_msg[2048];
    pt_sampler_state consumed;
    uint64_t aug_seed;
    int dense;                // DensePose poses (else pose images)
    int LC, LH, LW;
};

void pt_loader_config_default(pt_loader_config *c, pt_sampler_mode mode, uint64_t seed) {
    memset(c, 0, sizeof *c);
    pt_sampler_config_default(&c->sampler, mode, seed);
    c->batch_size = 1;
    c->height = 512;
    c->width = 512;
    c->n_threads = 2;
    c->n_prefetch = 4;
    c->crop_p = 0.7f;
}

static void *def_alloc(size_t n, void *ctx) { (void)ctx; return pt_malloc(n); }
static void def_release(void *p, void *ctx) { (void)ctx; free(p); }
static float *falloc(pt_loader *l, size_t n) { return n ? (float *)l->c.alloc(sizeof(float) * n, l->c.alloc_ctx) : NULL; }

static pt_dataset *open_ds(const pt_loader_config *c) {
    if (c->n_subject > 0) return pt_dataset_open_subject(c->subject_images, c->subject_poses, c->n_subject);
    if (!c->path) PT_USAGE("loader: no dataset path and no subject images");
    return pt_dataset_open(c->path);
}

// ---- filling one batch ----------------------------------------------------------------------
enum { RD_FRAME, RD_DENSE, RD_POSEIMG };

// Read (v, i) at (rh, rw), crop with box, resample to dst (C, H, W).
static void load(worker *w, int what, int v, int i, const pt_crop *box, int rh, int rw, float *dst) {
    pt_loader *l = w->l;
    int C = what == RD_DENSE ? 2 : 3;
    size_t need = sizeof(float) * (size_t)C * rh * rw;
    if (need > w->tmp_cap) { free(w->tmp); w->tmp = pt_malloc(need); w->tmp_cap = need; }
    if (what == RD_FRAME) pt_dataset_frame(w->ds, v, i, w->tmp, rh, rw);
    else if (what == RD_DENSE) pt_dataset_densepose(w->ds, v, i, w->tmp, rh, rw);
    else pt_dataset_pose_image(w->ds, v, i, w->tmp, rh, rw);
    pt_aug_apply(box, w->tmp, C, rh, rw, dst, l->c.height, l->c.width, what == RD_DENSE ? PT_INTERP_NEAREST : PT_INTERP_BILINEAR);
}

static void fill_sample(worker *w, pt_batch *b, int k) {
    pt_loader *l = w->l;
    const pt_sample *s = &b->samples[k];
    int H = l->c.height, W = l->c.width, v = s->video;
    size_t img = (size_t)3 * H * W;
    pt_rng r = {l->aug_seed, s->key * 64};
    int nh, nw;
    pt_dataset_frame_size(w->ds, v, &nh, &nw);
    // Geometry: where target-side images are read and cropped, and the same for cond.
    int rh = H, rw = W;
    pt_crop id = pt_aug_identity(H, W), tbox = id, cbox = id;
    switch (l->c.aug) {
    case PT_AUG_NONE: break;
    case PT_AUG_DREAMPOSE_CROP: tbox = pt_aug_dreampose_crop(&r, H, W, l->c.crop_p); break;
    case PT_AUG_VAE_CROP: tbox = pt_aug_vae_crop(&r, H, W); break;
    case PT_AUG_RRC: rh = nh; rw = nw; tbox = cbox = pt_aug_rrc(&r, nh, nw, 0.9f, 1.0f, 0.9f, 1.0f); break;
    case PT_AUG_CENTER_CROP: rh = nh; rw = nw; tbox = cbox = pt_aug_center_crop(nh, nw, H, W); break;
    }
    load(w, RD_FRAME, v, s->cond, &cbox, rh, rw, b->cond + k * img);
    if (s->n_clip > 0) {
        for (int f = 0; f < s->n_clip; f++) {
            load(w, RD_FRAME, v, s->clip[f], &tbox, rh, rw, b->clip_frames + ((size_t)k * b->F + f) * img);
            load(w, RD_POSEIMG, v, s->clip[f], &tbox, rh, rw, b->clip_poses + ((size_t)k * b->F + f) * img);
        }
        memcpy(b->target + k * img, b->clip_frames + (size_t)k * b->F * img, sizeof(float) * img);
    } else {
        load(w, RD_FRAME, v, s->target, &tbox, rh, rw, b->target + k * img);
        if (b->densepose)
            for (int p = 0; p < PT_POSE_WINDOW; p++)
                load(w, RD_DENSE, v, s->poses[p], &tbox, rh, rw, b->densepose + ((size_t)k * 10 + 2 * p) * H * W);
        if (b->pose_image) load(w, RD_POSEIMG, v, s->target, &tbox, rh, rw, b->pose_image + k * img);
    }
    if (b->target_latent) {
        size_t n = (size_t)l->LC * l->LH * l->LW;
        pt_dataset_latent(w->ds, v, s->target, b->target_latent + k * n);
        pt_dataset_latent(w->ds, v, s->cond, b->cond_latent + k * n);
    }
    b->drop_image[k] = s->drop_image;
    b->drop_pose[k] = s->drop_pose;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    pt_loader *l = w->l;
    PT_TRY {
        w->ds = open_ds(&l->c);
        pthread_mutex_lock(&l->m);
        while (!l->stop && !l->err_code) {
            if (l->next_assign >= l->next_consume + l->K) { pthread_cond_wait(&l->cv_work, &l->m); continue; }
            int64_t seq = l->next_assign++;
            slot *sl = &l->slots[seq % l->K];
            for (int k = 0; k < sl->b.B; k++) pt_sampler_next(l->sampler, &sl->b.samples[k]);
            sl->after = pt_sampler_get_state(l->sampler);
            sl->b.seq = seq;
            pthread_mutex_unlock(&l->m);
            for (int k = 0; k < sl->b.B; k++) fill_sample(w, &sl->b, k);
            pthread_mutex_lock(&l->m);
            sl->ready = 1;
            pthread_cond_broadcast(&l->cv_ready);
        }
        pthread_mutex_unlock(&l->m);
    } PT_CATCH {
        pthread_mutex_lock(&l->m);
        if (!l->err_code) {
            l->err_code = pt_last_error_code() ? pt_last_error_code() : PT_EXIT_RUNTIME;
            snprintf(l->err_msg, sizeof l->err_msg, "%s", pt_last_error());
        }
        pthread_cond_broadcast(&l->cv_ready);
        pthread_mutex_unlock(&l->m);
    } PT_END_TRY;
    return NULL;
}

// ---- public API -----------------------------------------------------------------------------
pt_loader *pt_loader_create(const pt_loader_config *cfg, const pt_sampler_state *resume) {
    pt_loader_config c = *cfg;
    if (!c.alloc) { c.alloc = def_alloc; c.release = def_release; }
    if (c.batch_size < 1 || c.height < 1 || c.width < 1) PT_USAGE("loader: batch %d and size %dx%d must be positive", c.batch_size, c.height, c.width);
    if (c.n_threads < 1) c.n_threads = 1;
    if (c.n_prefetch < 2) c.n_prefetch = 2;
    // Metadata from one handle in this thread (workers open their own).
    pt_dataset *ds = open_ds(&c);
    int nv = pt_dataset_n_videos(ds);
    pt_sampler_mode mode = c.sampler.mode;
    // Compatibility checks (the handle is closed before failing).
    char why[1200] = "";
    const char *dname = pt_dataset_path(ds), *kname = pt_pose_kind_name(pt_dataset_pose_kind(ds));
    if (mode == PT_SAMPLER_DREAMPOSE && !pt_dataset_has_densepose(ds))
        snprintf(why, sizeof why, "%s: DreamPose training needs DensePose poses; this dataset has %s poses", dname, kname);
    else if ((mode == PT_SAMPLER_AA_STAGE1 || mode == PT_SAMPLER_AA_STAGE2) && !pt_dataset_has_pose_image(ds))
        snprintf(why, sizeof why, "%s: Animate Anyone training needs skeleton pose images; this dataset has %s poses", dname, kname);
    else if (c.use_latents && !pt_dataset_has_latents(ds))
        snprintf(why, sizeof why, "%s: use_latents: the pack file has no cached latents", dname);
    else if (c.use_latents && c.aug != PT_AUG_NONE)
        snprintf(why, sizeof why, "%s: use_latents: cached latents cannot be cropped; set augmentation to none", dname);
    if (why[0]) { pt_dataset_close(ds); PT_USAGE("%s", why); }
    pt_loader *l = pt_calloc(1, sizeof *l);
    l->c = c;
    l->dense = mode == PT_SAMPLER_DREAMPOSE || (mode == PT_SAMPLER_SUBJECT && pt_dataset_has_densepose(ds));
    if (c.use_latents) pt_dataset_latent_shape(ds, 0, &l->LC, &l->LH, &l->LW);
    int *nf = pt_malloc(sizeof(int) * nv);
    for (int v = 0; v < nv; v++) nf[v] = pt_dataset_n_frames(ds, v);
    pt_dataset_close(ds);
    l->sampler = pt_sampler_create(&c.sampler, nf, nv);
    free(nf);
    if (resume) pt_sampler_set_state(l->sampler, *resume);
    l->consumed = pt_sampler_get_state(l->sampler);
    l->aug_seed = pt_rng_derive(c.sampler.seed, "loader.augment", c.sampler.rank);
    // Ring of K batches.
    l->K = c.n_prefetch;
    l->slots = pt_calloc(l->K, sizeof(slot));
    int B = c.batch_size, H = c.height, W = c.width;
    size_t img = (size_t)B * 3 * H * W;
    int F = mode == PT_SAMPLER_AA_STAGE2 ? c.sampler.num_frames : 0;
    for (int i = 0; i < l->K; i++) {
        pt_batch *b = &l->slots[i].b;
        b->mode = mode; b->B = B; b->H = H; b->W = W; b->F = F;
        b->target = falloc(l, img);
        b->cond = falloc(l, img);
        if (F) { b->clip_frames = falloc(l, img * F); b->clip_poses = falloc(l, img * F); }
        else if (l->dense) b->densepose = falloc(l, (size_t)B * 10 * H * W);
        else b->pose_image = falloc(l, img);
        if (c.use_latents) {
            b->LC = l->LC; b->LH = l->LH; b->LW = l->LW;
            b->target_latent = falloc(l, (size_t)B * l->LC * l->LH * l->LW);
            b->cond_latent = falloc(l, (size_t)B * l->LC * l->LH * l->LW);
        }
        b->drop_image = l->c.alloc(sizeof(int32_t) * B, l->c.alloc_ctx);
        b->drop_pose = l->c.alloc(sizeof(int32_t) * B, l->c.alloc_ctx);
        b->samples = pt_calloc(B, sizeof(pt_sample));
    }
    pthread_mutex_init(&l->m, NULL);
    pthread_cond_init(&l->cv_work, NULL);
    pthread_cond_init(&l->cv_ready, NULL);
    l->n_workers = c.n_threads;
    l->workers = pt_calloc(l->n_workers, sizeof(worker));
    for (int i = 0; i < l->n_workers; i++) {
        l->workers[i].l = l;
        if (pthread_create(&l->workers[i].th, NULL, worker_main, &l->workers[i]) != 0)
            PT_RUNTIME("loader: pthread_create failed for worker %d", i);
    }
    return l;
}

const pt_batch *pt_loader_next(pt_loader *l) {
    pthread_mutex_lock(&l->m);
    if (l->held) {
        l->slots[l->next_consume % l->K].ready = 0;
        l->next_consume++;
        l->held = 0;
        pthread_cond_broadcast(&l->cv_work);
    }
    slot *sl = &l->slots[l->next_consume % l->K];
    while (!(sl->ready && sl->b.seq == l->next_consume) && !l->err_code) pthread_cond_wait(&l->cv_ready, &l->m);
    if (l->err_code) {
        int code = l->err_code;
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", l->err_msg);
        pthread_mutex_unlock(&l->m);
        PT_FAIL(code, "data loader: %s", msg);
    }
    l->held = 1;
    l->consumed = sl->after;
    pthread_mutex_unlock(&l->m);
    return &sl->b;
}

pt_sampler_state pt_loader_get_state(const pt_loader *l) { return l->consumed; }

void pt_loader_free(pt_loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->m);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->m);
    for (int i = 0; i < l->n_workers; i++) {
        pthread_join(l->workers[i].th, NULL);
        pt_dataset_close(l->workers[i].ds);
        free(l->workers[i].tmp);
    }
    for (int i = 0; i < l->K; i++) {
        pt_batch *b = &l->slots[i].b;
        float *bufs[] = {b->target, b->cond, b->densepose, b->pose_image, b->clip_frames, b->clip_poses, b->target_latent, b->cond_latent};
        for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) if (bufs[k]) l->c.release(bufs[k], l->c.alloc_ctx);
        l->c.release(b->drop_image, l->c.alloc_ctx);
        l->c.release(b->drop_pose, l->c.alloc_ctx);
        free(b->samples);
    }
    pthread_mutex_destroy(&l->m);
    pthread_cond_destroy(&l->cv_work);
    pthread_cond_destroy(&l->cv_ready);
    pt_sampler_free(l->sampler);
    free(l->slots); free(l->workers); free(l);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

double pt_loader_bench(const pt_loader_config *c, int n_batches) {
    pt_loader *l = pt_loader_create(c, NULL);
    pt_loader_next(l);   // warm-up (thread start, file open)
    double t0 = now_s();
    for (int i = 0; i < n_batches; i++) pt_loader_next(l);
    double dt = now_s() - t0;
    pt_loader_free(l);
    return dt > 0 ? n_batches / dt : 0.0;
}

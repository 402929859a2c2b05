// test_loader.c — the prefetching loader: batch contents against the dataset, determinism under
// different thread counts, resume, the allocation callback, worker errors, and a throughput number.
#include <time.h>
#include <unistd.h>

#include "autograd/rng.h"
#include "datasets/augment.h"
#include "datasets/dataset.h"
#include "datasets/loader.h"
#include "datasets/pack.h"
#include "datasets/synthetic.h"
#include "tests/test_util.h"

static char g_root[1024], g_dense[1200], g_skel[1200], g_raw[1200];
static const int H = 24, W = 32;

static void sh(const char *cmd) { if (system(cmd) != 0) PT_RUNTIME("test: command failed: %s", cmd); }

static void make_pack(const char *raw, const char *out, pt_pose_kind k, int h, int w, int nv, int nf, int skip_synth) {
    if (!skip_synth) {
        pt_synth_opts o;
        pt_synth_opts_default(&o);
        o.n_videos = nv; o.n_frames = nf; o.height = h; o.width = w; o.seed = 3;
        pt_synth_generate(raw, &o);
    }
    pt_pack_opts po;
    pt_pack_opts_default(&po);
    po.out = out; po.pose_kind = k; po.quiet = 1;
    const char *srcs[1] = {raw};
    pt_pack(srcs, 1, &po);
}

static size_t img_n(void) { return (size_t)3 * H * W; }

static int batches_equal(const pt_batch *a, const pt_batch *b) {
    size_t n = (size_t)a->B * img_n();
    if (a->B != b->B || memcmp(a->samples, b->samples, sizeof(pt_sample) * a->B)) return 0;
    if (memcmp(a->target, b->target, n * 4) || memcmp(a->cond, b->cond, n * 4)) return 0;
    if (a->densepose && memcmp(a->densepose, b->densepose, (size_t)a->B * 10 * H * W * 4)) return 0;
    if (a->pose_image && memcmp(a->pose_image, b->pose_image, n * 4)) return 0;
    if (a->clip_frames && memcmp(a->clip_frames, b->clip_frames, n * a->F * 4)) return 0;
    if (memcmp(a->drop_image, b->drop_image, 4 * a->B) || memcmp(a->drop_pose, b->drop_pose, 4 * a->B)) return 0;
    return 1;
}

// Copy of a batch (for comparing against a later loader).
typedef struct { pt_batch b; } saved;
static void save(saved *s, const pt_batch *b) {
    s->b = *b;
    size_t n = (size_t)b->B * img_n();
    s->b.target = pt_malloc(n * 4); memcpy(s->b.target, b->target, n * 4);
    s->b.cond = pt_malloc(n * 4); memcpy(s->b.cond, b->cond, n * 4);
    s->b.densepose = NULL; s->b.pose_image = NULL; s->b.clip_frames = NULL;
    if (b->densepose) { s->b.densepose = pt_malloc(n * 40 / 3); memcpy(s->b.densepose, b->densepose, n * 40 / 3); }
    s->b.samples = pt_malloc(sizeof(pt_sample) * b->B); memcpy(s->b.samples, b->samples, sizeof(pt_sample) * b->B);
    s->b.drop_image = pt_malloc(4 * b->B); memcpy(s->b.drop_image, b->drop_image, 4 * b->B);
    s->b.drop_pose = pt_malloc(4 * b->B); memcpy(s->b.drop_pose, b->drop_pose, 4 * b->B);
}
static void unsave(saved *s) {
    free(s->b.target); free(s->b.cond); free(s->b.densepose); free(s->b.samples); free(s->b.drop_image); free(s->b.drop_pose);
}

TEST_CASE(dreampose_batch_contents) {
    pt_loader_config c;
    pt_loader_config_default(&c, PT_SAMPLER_DREAMPOSE, 42);
    c.path = g_dense; c.batch_size = 3; c.height = H; c.width = W;
    c.sampler.p_drop_image = 0.3f;
    pt_loader *l = pt_loader_create(&c, NULL);
    pt_dataset *ds = pt_dataset_open(g_dense);
    float *want = pt_malloc(sizeof(float) * img_n());
    int drops = 0;
    for (int it = 0; it < 6; it++) {
        const pt_batch *b = pt_loader_next(l);
        EXPECT(b->seq == it && b->B == 3 && b->densepose && !b->pose_image, "batch %d layout", it);
        for (int k = 0; k < b->B; k++) {
            const pt_sample *s = &b->samples[k];
            pt_dataset_frame(ds, s->video, s->target, want, H, W);
            EXPECT(memcmp(want, b->target + k * img_n(), img_n() * 4) == 0, "batch %d row %d target", it, k);
            pt_dataset_frame(ds, s->video, s->cond, want, H, W);
            EXPECT(memcmp(want, b->cond + k * img_n(), img_n() * 4) == 0, "batch %d row %d cond", it, k);
            for (int p = 0; p < 5; p++) {
                pt_dataset_densepose(ds, s->video, s->poses[p], want, H, W);
                EXPECT(memcmp(want, b->densepose + ((size_t)k * 10 + 2 * p) * H * W, sizeof(float) * 2 * H * W) == 0,
                       "batch %d row %d pose %d", it, k, p);
            }
            EXPECT(b->drop_image[k] == s->drop_image && b->drop_pose[k] == s->drop_pose, "flags");
            drops += b->drop_image[k];
        }
    }
    EXPECT(drops > 0, "no image dropout in 18 samples at p=0.3");
    free(want);
    pt_dataset_close(ds);
    pt_loader_free(l);
}

// Same batches with 1 thread / ring 2 and 3 threads / ring 6, with a random crop in play.
TEST_CASE(deterministic_across_threads) {
    pt_loader_config c;
    pt_loader_config_default(&c, PT_SAMPLER_DREAMPOSE, 7);
    c.path = g_dense; c.batch_size = 2; c.height = H; c.width = W; c.aug = PT_AUG_DREAMPOSE_CROP;
    c.sampler.p_drop_pose = 0.2f;
    c.n_threads = 1; c.n_prefetch = 2;
    pt_loader *a = pt_loader_create(&c, NULL);
    c.n_threads = 3; c.n_prefetch = 6;
    pt_loader *b = pt_loader_create(&c, NULL);
    int cropped_differs = 0;
    pt_dataset *ds = pt_dataset_open(g_dense);
    float *plain = pt_malloc(sizeof(float) * img_n());
    for (int i = 0; i < 30; i++) {   // 30 x 2 > 36 items: crosses an epoch
        const pt_batch *x = pt_loader_next(a), *y = pt_loader_next(b);
        EXPECT(batches_equal(x, y), "batch %d differs between thread counts", i);
        pt_dataset_frame(ds, x->samples[0].video, x->samples[0].target, plain, H, W);
        cropped_differs += memcmp(plain, x->target, img_n() * 4) != 0;
    }
    EXPECT(cropped_differs > 10 && cropped_differs < 30, "crop applied to %d of 30 targets (p = 0.7)", cropped_differs);
    free(plain);
    pt_dataset_close(ds);
    pt_loader_free(a);
    pt_loader_free(b);
}

TEST_CASE(resume_same_next_batches) {
    pt_loader_config c;
    pt_loader_config_default(&c, PT_SAMPLER_DREAMPOSE, 99);
    c.path = g_dense; c.batch_size = 4; c.height = H; c.width = W; c.aug = PT_AUG_DREAMPOSE_CROP;
    c.sampler.p_drop_image = c.sampler.p_drop_pose = c.sampler.p_drop_both = 0.1f;
    pt_loader *l = pt_loader_create(&c, NULL);
    for (int i = 0; i < 7; i++) pt_loader_next(l);   // 28 samples: mid-epoch (36 items)
    pt_sampler_state st = pt_loader_get_state(l);
    EXPECT(st.epoch == 0 && st.cursor == 28, "state (%lld, %lld), expected (0, 28)", (long long)st.epoch, (long long)st.cursor);
    saved want[5];
    for (int i = 0; i < 5; i++) save(&want[i], pt_loader_next(l));
    pt_loader_free(l);
    pt_loader *r = pt_loader_create(&c, &st);
    for (int i = 0; i < 5; i++) {
        const pt_batch *b = pt_loader_next(r);
        EXPECT(batches_equal(b, &want[i].b), "resumed batch %d differs", i);
        unsave(&want[i]);
    }
    pt_loader_free(r);
}

TEST_CASE(aa_stage1_rrc_same_box) {
    pt_loader_config c;
    pt_loader_config_default(&c, PT_SAMPLER_AA_STAGE1, 5);
    c.path = g_skel; c.batch_size = 2; c.height = 20; c.width = 20; c.aug = PT_AUG_RRC;
    c.sampler.margin = 4;
    pt_loader *l = pt_loader_create(&c, NULL);
    pt_dataset *ds = pt_dataset_open(g_skel);
    size_t on = (size_t)3 * 20 * 20;
    float *nat = pt_malloc(sizeof(float) * 3 * H * W), *want = pt_malloc(sizeof(float) * on);
    uint64_t aug_seed = pt_rng_derive(5, "loader.augment", 0);
    for (int it = 0; it < 4; it++) {
        const pt_batch *b = pt_loader_next(l);
        EXPECT(b->pose_image && !b->densepose, "stage-1 batch has pose images");
        for (int k = 0; k < 2; k++) {
            const pt_sample *s = &b->samples[k];
            EXPECT(abs(s->cond - s->target) >= 4, "margin");
            pt_rng r = {aug_seed, s->key * 64};   // the loader's documented per-sample stream
            pt_crop box = pt_aug_rrc(&r, H, W, 0.9f, 1.0f, 0.9f, 1.0f);
            pt_dataset_frame(ds, s->video, s->target, nat, 0, 0);
            pt_aug_apply(&box, nat, 3, H, W, want, 20, 20, PT_INTERP_BILINEAR);
            EXPECT(memcmp(want, b->target + k * on, on * 4) == 0, "target row %d", k);
            pt_dataset_frame(ds, s->video, s->cond, nat, 0, 0);
            pt_aug_apply(&box, nat, 3, H, W, want, 20, 20, PT_INTERP_BILINEAR);
            EXPECT(memcmp(want, b->cond + k * on, on * 4) == 0, "reference row %d (same box)", k);
            pt_dataset_pose_image(ds, s->video, s->target, nat, 0, 0);
            pt_aug_apply(&box, nat, 3, H, W, want, 20, 20, PT_INTERP_BILINEAR);
            EXPECT(memcmp(want, b->pose_image + k * on, on * 4) == 0, "pose row %d (same box)", k);
        }
    }
    free(nat); free(want);
    pt_dataset_close(ds);
    pt_loader_free(l);
}

static int g_allocs, g_frees;
static void *count_alloc(size_t n, void *ctx) { (*(int *)ctx)++; g_allocs++; return pt_malloc(n); }
static void count_free(void *p, void *ctx) { g_frees++; free(p); }

TEST_CASE(stage2_clips_and_alloc_callback) {
    pt_loader_config c;
    pt_loader_config_default(&c, PT_SAMPLER_AA_STAGE2, 1);
    c.path = g_skel; c.batch_size = 1; c.height = H; c.width = W;
    c.sampler.num_frames = 4; c.sampler.stride = 3;   // span 10 <= 12 frames
    int ctx = 0;
    g_allocs = g_frees = 0;
    c.alloc = count_alloc; c.release = count_free; c.alloc_ctx = &ctx;
    pt_loader *l = pt_loader_create(&c, NULL);
    pt_dataset *ds = pt_dataset_open(g_skel);
    float *want = pt_malloc(sizeof(float) * img_n());
    for (int it = 0; it < 3; it++) {
        const pt_batch *b = pt_loader_next(l);
        EXPECT(b->F == 4 && b->clip_frames && b->clip_poses, "clip layout");
        const pt_sample *s = &b->samples[0];
        for (int f = 0; f < 4; f++) {
            EXPECT(f == 0 || s->clip[f] - s->clip[f - 1] == 3, "stride");
            pt_dataset_frame(ds, s->video, s->clip[f], want, H, W);
            EXPECT(memcmp(want, b->clip_frames + f * img_n(), img_n() * 4) == 0, "clip frame %d", f);
            pt_dataset_pose_image(ds, s->video, s->clip[f], want, H, W);
            EXPECT(memcmp(want, b->clip_poses + f * img_n(), img_n() * 4) == 0, "clip pose %d", f);
        }
    }
    free(want);
    pt_dataset_close(ds);
    pt_loader_free(l);
    EXPECT(ctx > 0 && g_allocs == ctx && g_frees == g_allocs, "alloc callback: %d allocs (ctx %d), %d frees", g_allocs, ctx, g_frees);
}

TEST_CASE(worker_error_reraised) {
    char raw[1300], cmd[6000];
    snprintf(raw, sizeof raw, "%s/broken", g_root);
    pt_synth_opts o;
    pt_synth_opts_default(&o);
    o.n_videos = 1; o.n_frames = 4; o.height = H; o.width = W;
    pt_synth_generate(raw, &o);
    // Keep the PNG header (it passes the header check) but cut the body.
    snprintf(cmd, sizeof cmd, "head -c 60 '%s/video_0000/frame_0002.png' > '%s/t' && mv '%s/t' '%s/video_0000/frame_0002.png'", raw, raw, raw, raw);
    sh(cmd);
    pt_loader_config c;
    pt_loader_config_default(&c, PT_SAMPLER_DREAMPOSE, 1);
    c.path = raw; c.batch_size = 4; c.height = H; c.width = W;
    pt_loader *l = pt_loader_create(&c, NULL);
    EXPECT_FAILS(pt_loader_next(l), 2, "frame_0002.png");
    pt_loader_free(l);
    c.sampler.mode = PT_SAMPLER_AA_STAGE1;   // a DensePose-only pack cannot feed Animate Anyone
    c.path = g_dense;
    EXPECT_FAILS(pt_loader_create(&c, NULL), 2, "skeleton");
}

// Subject set: photos + their DensePose files; the 5 pose slots hold the target's own pose.
TEST_CASE(subject_set) {
    char im[3][1400], po[3][1400];
    const char *ims[3], *pos[3];
    for (int i = 0; i < 3; i++) {
        snprintf(im[i], sizeof im[i], "%s/video_0001/frame_%04d.png", g_raw, 2 * i);
        snprintf(po[i], sizeof po[i], "%s/video_0001/frame_%04d_densepose.npy", g_raw, 2 * i);
        ims[i] = im[i]; pos[i] = po[i];
    }
    pt_loader_config c;
    pt_loader_config_default(&c, PT_SAMPLER_SUBJECT, 4);
    c.subject_images = ims; c.subject_poses = pos; c.n_subject = 3;
    c.batch_size = 1; c.height = H; c.width = W; c.aug = PT_AUG_DREAMPOSE_CROP;
    pt_loader *l = pt_loader_create(&c, NULL);
    pt_dataset *ds = pt_dataset_open(g_dense);
    float *want = pt_malloc(sizeof(float) * img_n());
    int seen[3] = {0};
    for (int it = 0; it < 6; it++) {
        const pt_batch *b = pt_loader_next(l);
        const pt_sample *s = &b->samples[0];
        seen[s->target]++;
        EXPECT(s->cond != s->target, "subject cond == target");
        for (int p = 1; p < 5; p++)
            EXPECT(memcmp(b->densepose, b->densepose + (size_t)2 * p * H * W, sizeof(float) * 2 * H * W) == 0, "pose slot %d", p);
        pt_dataset_frame(ds, 1, 2 * s->cond, want, H, W);   // the conditioning photo is not cropped
        EXPECT(memcmp(want, b->cond, img_n() * 4) == 0, "subject cond image");
    }
    EXPECT(seen[0] == 2 && seen[1] == 2 && seen[2] == 2, "subject photos cycle: %d %d %d", seen[0], seen[1], seen[2]);
    free(want);
    pt_dataset_close(ds);
    pt_loader_free(l);
}

static double now_s(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + 1e-9 * ts.tv_nsec; }

// Throughput at 512x512 from HDF5, batch 4, 2 threads (printed for docs/perf.md).
TEST_CASE(bench_512) {
    char raw[1300], out[1300];
    snprintf(raw, sizeof raw, "%s/bench", g_root);
    snprintf(out, sizeof out, "%s/bench.h5", g_root);
    double t0 = now_s();
    make_pack(raw, out, PT_POSE_DENSEPOSE, 512, 512, 2, 12, 0);
    double t1 = now_s();
    pt_loader_config c;
    pt_loader_config_default(&c, PT_SAMPLER_DREAMPOSE, 0);
    c.path = out; c.batch_size = 4; c.height = 512; c.width = 512; c.n_threads = 2;
    double dp = pt_loader_bench(&c, 20);
    c.aug = PT_AUG_DREAMPOSE_CROP;
    double dpc = pt_loader_bench(&c, 20);
    c.aug = PT_AUG_RRC;   // reads at the stored size, crops, resamples every image
    double rrc = pt_loader_bench(&c, 20);
    printf("loader bench (512x512, batch 4, 2 threads, HDF5, %ld cores): DreamPose %.2f batches/s, "
           "DreamPose+crop %.2f, DreamPose+RandomResizedCrop %.2f batches/s (synth+pack: %.1f frames/s)\n",
           sysconf(_SC_NPROCESSORS_ONLN), dp, dpc, rrc, 24 / (t1 - t0));
    EXPECT(dp > 0.2, "loader slower than 0.2 batches/s (%g)", dp);
}

int main(void) {
    const char *t = getenv("POSETUNE_TEST_TMP");
    snprintf(g_root, sizeof g_root, "%s/test_loader_%d", t ? t : "/tmp", (int)getpid());
    pt_mkdirs(g_root);
    snprintf(g_raw, sizeof g_raw, "%s/raw", g_root);
    snprintf(g_dense, sizeof g_dense, "%s/dense.h5", g_root);
    snprintf(g_skel, sizeof g_skel, "%s/skel.h5", g_root);
    make_pack(g_raw, g_dense, PT_POSE_DENSEPOSE, H, W, 3, 12, 0);
    make_pack(g_raw, g_skel, PT_POSE_SKELETON, H, W, 3, 12, 1);
    RUN(dreampose_batch_contents);
    RUN(deterministic_across_threads);
    RUN(resume_same_next_batches);
    RUN(aa_stage1_rrc_same_box);
    RUN(stage2_clips_and_alloc_callback);
    RUN(subject_set);
    RUN(worker_error_reraised);
    RUN(bench_512);
    int rc = test_summary();
    if (rc == 0) { char cmd[1200]; snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root); sh(cmd); }
    return rc;
}

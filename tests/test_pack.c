// test_pack.c — pack synthetic video folders into HDF5 and read them back; validation errors;
// resume; the latent hook.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datasets/dataset.h"
#include "datasets/h5util.h"
#include "datasets/image_io.h"
#include "datasets/loader.h"
#include "datasets/npy.h"
#include "datasets/pack.h"
#include "datasets/synthetic.h"
#include "tests/test_util.h"

static char g_root[1024];
static const int SH = 24, SW = 32, NF = 6;

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) PT_RUNTIME("test: command failed: %s", cmd);
}
static int exists(const char *p) { struct stat st; return stat(p, &st) == 0; }

// A fresh synthetic set in g_root/<name> (2 videos of NF frames, SH x SW).
static void make_set(const char *name, char *dir, size_t cap) {
    snprintf(dir, cap, "%s/%s", g_root, name);
    sh("rm -rf '%s'", dir);
    pt_synth_opts o;
    pt_synth_opts_default(&o);
    o.n_videos = 2; o.n_frames = NF; o.height = SH; o.width = SW; o.seed = 7;
    pt_synth_generate(dir, &o);
}

static void pack(const char *src, const char *out, pt_pose_kind k, int h, int w, int resume) {
    pt_pack_opts o;
    pt_pack_opts_default(&o);
    o.out = out; o.pose_kind = k; o.height = h; o.width = w; o.resume = resume; o.quiet = 1;
    const char *srcs[1] = {src};
    pt_pack(srcs, 1, &o);
}

// Independent expectation: the PNG's bytes as u/127.5 - 1, (3, H, W).
static void expect_frame_equal(pt_dataset *ds, int v, const char *png) {
    pt_image im = pt_image_load(png);
    float *got = pt_malloc(sizeof(float) * 3 * im.h * im.w);
    int i = atoi(strrchr(png, '_') + 1);
    pt_dataset_frame(ds, v, i, got, 0, 0);
    double maxd = 0;
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < im.h * im.w; p++) {
            double want = im.px[p * 3 + c] / 127.5 - 1.0;
            double d = fabs(got[c * im.h * im.w + p] - want);
            if (d > maxd) maxd = d;
        }
    EXPECT(maxd < 1e-6, "%s: max |diff| %g", png, maxd);
    free(got);
    pt_image_free(&im);
}

TEST_CASE(roundtrip_densepose) {
    char dir[1200], out[1300], path[1500];
    make_set("rt", dir, sizeof dir);
    snprintf(out, sizeof out, "%s/rt.h5", g_root);
    pack(dir, out, PT_POSE_AUTO, 0, 0, 0);
    pt_dataset *ds = pt_dataset_open(out);
    EXPECT(pt_dataset_n_videos(ds) == 2, "n_videos %d", pt_dataset_n_videos(ds));
    EXPECT(pt_dataset_pose_kind(ds) == PT_POSE_DENSEPOSE, "kind %d", pt_dataset_pose_kind(ds));
    EXPECT(!strcmp(pt_dataset_video_name(ds, 1), "video_0001"), "name %s", pt_dataset_video_name(ds, 1));
    EXPECT_CLOSE(pt_dataset_fps(ds, 0), 8.0, 0, 0);
    float *uv = pt_malloc(sizeof(float) * 2 * SH * SW);
    for (int v = 0; v < 2; v++) {
        EXPECT(pt_dataset_n_frames(ds, v) == NF, "n_frames %d", pt_dataset_n_frames(ds, v));
        int h, w;
        pt_dataset_frame_size(ds, v, &h, &w);
        EXPECT(h == SH && w == SW, "size %dx%d", h, w);
        for (int i = 0; i < NF; i++) {
            snprintf(path, sizeof path, "%s/video_%04d/frame_%04d.png", dir, v, i);
            expect_frame_equal(ds, v, path);
            snprintf(path, sizeof path, "%s/video_%04d/frame_%04d_densepose.npy", dir, v, i);
            pt_npy a = pt_npy_load(path);
            const double *ref = a.data;
            pt_dataset_densepose(ds, v, i, uv, 0, 0);
            double maxd = 0, sum = 0;
            for (int k = 0; k < 2 * SH * SW; k++) { double d = fabs(uv[k] - ref[k]); if (d > maxd) maxd = d; sum += ref[k]; }
            EXPECT(maxd <= 4.9e-4, "densepose %d/%d: max |diff| %g (float16 half-ulp bound at 1 is 4.9e-4)", v, i, maxd);
            EXPECT(sum > 1, "densepose fixture is empty (sum %g)", sum);
            pt_npy_free(&a);
        }
    }
    EXPECT_FAILS(pt_dataset_pose_image(ds, 0, 0, uv, 0, 0), 2, "densepose");
    // The raw folder through the same API gives the same pixels.
    pt_dataset *raw = pt_dataset_open(dir);
    EXPECT(pt_dataset_n_videos(raw) == 2 && pt_dataset_n_frames(raw, 1) == NF, "raw counts");
    float *a = pt_malloc(sizeof(float) * 3 * 16 * 20), *b = pt_malloc(sizeof(float) * 3 * 16 * 20);
    pt_dataset_frame(raw, 1, 3, a, 16, 20);
    pt_dataset_frame(ds, 1, 3, b, 16, 20);
    EXPECT(rel_err_f32(a, b, 3 * 16 * 20) < 1e-6, "raw vs packed resized frame differ");
    free(a); free(b); free(uv);
    pt_dataset_close(raw);
    pt_dataset_close(ds);
}

TEST_CASE(roundtrip_skeleton_resized) {
    char dir[1200], out[1300], path[1500];
    make_set("sk", dir, sizeof dir);
    snprintf(out, sizeof out, "%s/sk.h5", g_root);
    const int H = 12, W = 20;
    pack(dir, out, PT_POSE_SKELETON, H, W, 0);
    pt_dataset *ds = pt_dataset_open(out);
    EXPECT(pt_dataset_pose_kind(ds) == PT_POSE_SKELETON, "kind");
    float *got = pt_malloc(sizeof(float) * 3 * H * W), *src = pt_malloc(sizeof(float) * 3 * SH * SW), *want = pt_malloc(sizeof(float) * 3 * H * W);
    for (int i = 0; i < NF; i += 2) {
        for (int pose = 0; pose < 2; pose++) {
            snprintf(path, sizeof path, "%s/video_0000/frame_%04d%s.png", dir, i, pose ? "_pose" : "");
            pt_image im = pt_image_load(path);
            pt_image_to_chw(&im, src, 0.f, 1.f);
            pt_resize_bilinear_chw(src, 3, SH, SW, want, H, W);   // packer: resize then round to uint8
            if (pose) pt_dataset_pose_image(ds, 0, i, got, 0, 0);
            else {
                pt_dataset_frame(ds, 0, i, got, 0, 0);
                for (int k = 0; k < 3 * H * W; k++) got[k] = (got[k] + 1) * 0.5f;
            }
            double maxd = 0;
            for (int k = 0; k < 3 * H * W; k++) { double d = fabs(got[k] - want[k]); if (d > maxd) maxd = d; }
            EXPECT(maxd <= 0.5 / 255 + 1e-5, "%s at %dx%d: max |diff| %g (uint8 rounding bound %g)", path, H, W, maxd, 0.5 / 255);
            pt_image_free(&im);
        }
    }
    EXPECT_FAILS(pt_dataset_densepose(ds, 0, 0, got, 0, 0), 2, "skeleton");
    free(got); free(src); free(want);
    pt_dataset_close(ds);
}

TEST_CASE(densepose_resize_nearest) {
    char dir[1200], out[1300], path[1500];
    make_set("dn", dir, sizeof dir);
    snprintf(out, sizeof out, "%s/dn.h5", g_root);
    const int H = 10, W = 14;
    pack(dir, out, PT_POSE_DENSEPOSE, H, W, 0);
    pt_dataset *ds = pt_dataset_open(out);
    snprintf(path, sizeof path, "%s/video_0001/frame_0004_densepose.npy", dir);
    pt_npy a = pt_npy_load(path);
    const double *ref = a.data;
    float *got = pt_malloc(sizeof(float) * 2 * H * W);
    pt_dataset_densepose(ds, 1, 4, got, 0, 0);
    double maxd = 0;
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {   // torch 'nearest': src = floor(dst * in / out)
                int sy = y * SH / H, sx = x * SW / W;
                double d = fabs(got[(c * H + y) * W + x] - ref[(c * SH + sy) * SW + sx]);
                if (d > maxd) maxd = d;
            }
    EXPECT(maxd <= 4.9e-4, "nearest-resized densepose: max |diff| %g", maxd);
    pt_npy_free(&a);
    free(got);
    pt_dataset_close(ds);
}

// Every validation failure exits 2 naming the file, before the output exists.
TEST_CASE(validation_errors) {
    char dir[1200], out[1300], p[1500];
    snprintf(out, sizeof out, "%s/bad.h5", g_root);
    // frame / pose count mismatch
    make_set("bad1", dir, sizeof dir);
    snprintf(p, sizeof p, "%s/video_0001/frame_0003_densepose.npy", dir);
    unlink(p);
    unlink(out);
    EXPECT_FAILS(pack(dir, out, PT_POSE_DENSEPOSE, 0, 0, 0), 2, "frame_0003_densepose.npy");
    EXPECT(!exists(out), "output written despite a validation error");
    pack(dir, out, PT_POSE_SKELETON, 0, 0, 0);   // the other pose kind is complete: fine
    EXPECT(exists(out), "skeleton pack of a set with a DensePose gap failed");
    unlink(out);
    // a pose file without a frame
    make_set("bad1b", dir, sizeof dir);
    sh("cp '%s/video_0000/frame_0001_densepose.npy' '%s/video_0000/frame_0042_densepose.npy'", dir, dir);
    EXPECT_FAILS(pack(dir, out, PT_POSE_DENSEPOSE, 0, 0, 0), 2, "frame_0042_densepose.npy");
    // corrupt PNG (garbage)
    make_set("bad2", dir, sizeof dir);
    sh("head -c 300 /dev/urandom > '%s/video_0000/frame_0002.png'", dir);
    EXPECT_FAILS(pack(dir, out, PT_POSE_AUTO, 0, 0, 0), 2, "video_0000/frame_0002.png");
    EXPECT(!exists(out), "output written despite a validation error");
    // truncated PNG: the header is fine, the body is cut (found when decoded, still exit 2 + name)
    make_set("bad3", dir, sizeof dir);
    sh("head -c 60 '%s/video_0001/frame_0004.png' > '%s/t.png' && mv '%s/t.png' '%s/video_0001/frame_0004.png'", dir, dir, dir, dir);
    EXPECT_FAILS(pack(dir, out, PT_POSE_AUTO, 0, 0, 0), 2, "video_0001/frame_0004.png");
    // truncated .npy
    make_set("bad4", dir, sizeof dir);
    sh("head -c 200 '%s/video_0000/frame_0001_densepose.npy' > '%s/t.npy' && mv '%s/t.npy' '%s/video_0000/frame_0001_densepose.npy'",
       dir, dir, dir, dir);
    unlink(out);
    EXPECT_FAILS(pack(dir, out, PT_POSE_DENSEPOSE, 0, 0, 0), 2, "frame_0001_densepose.npy");
    EXPECT(!exists(out), "output written despite a validation error");
    // size mismatch between a frame and its pose
    make_set("bad5", dir, sizeof dir);
    {
        pt_image im = pt_image_alloc(SW + 3, SH, 3);
        snprintf(p, sizeof p, "%s/video_0001/frame_0002_pose.png", dir);
        pt_image_save_png(p, &im);
        pt_image_free(&im);
    }
    EXPECT_FAILS(pack(dir, out, PT_POSE_SKELETON, 0, 0, 0), 2, "frame_0002_pose.png");
    // missing folder
    snprintf(p, sizeof p, "%s/no_such_folder", g_root);
    EXPECT_FAILS(pack(p, out, PT_POSE_AUTO, 0, 0, 0), 2, "no_such_folder");
    // empty video folder inside a folder of videos
    make_set("bad6", dir, sizeof dir);
    sh("mkdir -p '%s/video_0002_empty'", dir);
    EXPECT_FAILS(pack(dir, out, PT_POSE_AUTO, 0, 0, 0), 2, "video_0002_empty");
    // an empty folder given directly
    snprintf(p, sizeof p, "%s/bad7", g_root);
    sh("rm -rf '%s' && mkdir -p '%s'", p, p);
    EXPECT_FAILS(pack(p, out, PT_POSE_AUTO, 0, 0, 0), 2, "bad7");
    // a skeleton-only set asked for DensePose
    make_set("bad8", dir, sizeof dir);
    sh("rm '%s'/video_000*/frame_*_densepose.npy", dir);
    EXPECT_FAILS(pack(dir, out, PT_POSE_DENSEPOSE, 0, 0, 0), 2, "video_0000");
}

// Resume: a complete group is skipped, a partial one (no `complete` attribute) is redone.
TEST_CASE(resume_redoes_partial) {
    char dir[1200], out[1300], path[1500];
    make_set("rs", dir, sizeof dir);
    snprintf(out, sizeof out, "%s/rs.h5", g_root);
    pack(dir, out, PT_POSE_AUTO, 0, 0, 0);
    // Damage video_0001 like a crash would: pixels of frame 2 zeroed, `complete` missing.
    pt_h5_init();
    hid_t f = H5_CHECK(H5Fopen(out, H5F_ACC_RDWR, H5P_DEFAULT), out);
    hid_t g = H5_CHECK(H5Gopen2(f, "videos/video_0001", H5P_DEFAULT), out);
    H5_CHECK(H5Adelete(g, "complete"), out);
    hid_t d = H5_CHECK(H5Dopen2(g, "frames", H5P_DEFAULT), out);
    uint8_t *zeros = pt_calloc((size_t)NF * SH * SW * 3, 1);
    H5_CHECK(H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros), out);
    free(zeros);
    H5Dclose(d); H5Gclose(g); H5Fclose(f);
    // Reading skips the partial group (with a warning).
    pt_dataset *ds = pt_dataset_open(out);
    EXPECT(pt_dataset_n_videos(ds) == 1, "partial group not skipped: %d videos", pt_dataset_n_videos(ds));
    pt_dataset_close(ds);
    pt_pack_opts o;
    pt_pack_opts_default(&o);
    o.out = out; o.resume = 1; o.quiet = 1;
    const char *srcs[1] = {dir};
    int written = pt_pack(srcs, 1, &o);
    EXPECT(written == 1, "resume wrote %d videos, expected 1 (video_0000 complete)", written);
    ds = pt_dataset_open(out);
    EXPECT(pt_dataset_n_videos(ds) == 2, "after resume %d videos", pt_dataset_n_videos(ds));
    for (int i = 0; i < NF; i++) {
        snprintf(path, sizeof path, "%s/video_0001/frame_%04d.png", dir, i);
        expect_frame_equal(ds, 1, path);
    }
    pt_dataset_close(ds);
    // Resume with nothing to do writes nothing.
    EXPECT(pt_pack(srcs, 1, &o) == 0, "second resume rewrote videos");
}

// A real crash (SIGKILL mid-video through POSETUNE_FAULT, in a forked child), then --resume.
TEST_CASE(crash_then_resume) {
    char dir[1200], out[1300], path[1500];
    make_set("cr", dir, sizeof dir);
    snprintf(out, sizeof out, "%s/cr.h5", g_root);
    fflush(stdout); fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("POSETUNE_FAULT", "pack_mid_video", 1);
        pack(dir, out, PT_POSE_AUTO, 0, 0, 0);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child was not killed by the fault point (status %d)", st);
    pt_dataset *ds = pt_dataset_open(out);   // the crashed file opens; only video_0000 is complete
    EXPECT(pt_dataset_n_videos(ds) == 1, "crashed file: %d complete videos, expected 1", pt_dataset_n_videos(ds));
    pt_dataset_close(ds);
    pt_pack_opts o;
    pt_pack_opts_default(&o);
    o.out = out; o.resume = 1; o.quiet = 1;
    const char *srcs[1] = {dir};
    EXPECT(pt_pack(srcs, 1, &o) == 1, "resume after the crash should write exactly video_0001");
    ds = pt_dataset_open(out);
    EXPECT(pt_dataset_n_videos(ds) == 2, "after resume %d videos", pt_dataset_n_videos(ds));
    for (int v = 0; v < 2; v++)
        for (int i = 0; i < NF; i++) {
            snprintf(path, sizeof path, "%s/video_%04d/frame_%04d.png", dir, v, i);
            expect_frame_equal(ds, v, path);
        }
    pt_dataset_close(ds);
}

// Latent hook: a fake encoder (8x8 mean of channel c % 3) goes to /latents and back.
static void fake_encoder(void *ctx, const float *img, int H, int W, float *lat) {
    (void)ctx;
    int h = H / 8, w = W / 8;
    for (int c = 0; c < 4; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double s = 0;
                for (int dy = 0; dy < 8; dy++)
                    for (int dx = 0; dx < 8; dx++) s += img[((c % 3) * H + y * 8 + dy) * W + x * 8 + dx];
                lat[(c * h + y) * w + x] = (float)(s / 64);
            }
}

TEST_CASE(latent_hook) {
    char dir[1200], out[1300], path[1500];
    make_set("lt", dir, sizeof dir);
    snprintf(out, sizeof out, "%s/lt.h5", g_root);
    pt_pack_opts o;
    pt_pack_opts_default(&o);
    o.out = out; o.quiet = 1; o.latent_fn = fake_encoder;
    const char *srcs[1] = {dir};
    pt_pack(srcs, 1, &o);
    pt_dataset *ds = pt_dataset_open(out);
    EXPECT(pt_dataset_has_latents(ds), "no latents");
    int c, h, w;
    pt_dataset_latent_shape(ds, 0, &c, &h, &w);
    EXPECT(c == 4 && h == SH / 8 && w == SW / 8, "latent shape %d %d %d", c, h, w);
    float *lat = pt_malloc(sizeof(float) * c * h * w);
    pt_dataset_latent(ds, 1, 2, lat);
    snprintf(path, sizeof path, "%s/video_0001/frame_0002.png", dir);
    pt_image im = pt_image_load(path);
    double maxd = 0;
    for (int k = 0; k < c; k++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double s = 0;
                for (int dy = 0; dy < 8; dy++)
                    for (int dx = 0; dx < 8; dx++) s += im.px[((y * 8 + dy) * SW + x * 8 + dx) * 3 + k % 3] / 127.5 - 1;
                double d = fabs(lat[(k * h + y) * w + x] - s / 64);
                if (d > maxd) maxd = d;
            }
    EXPECT(maxd < 1e-3, "latent max |diff| %g", maxd);
    // The loader hands the cached latents out with each batch.
    pt_loader_config lc;
    pt_loader_config_default(&lc, PT_SAMPLER_DREAMPOSE, 3);
    lc.path = out; lc.batch_size = 2; lc.height = SH; lc.width = SW; lc.use_latents = 1;
    pt_loader *l = pt_loader_create(&lc, NULL);
    for (int it = 0; it < 3; it++) {
        const pt_batch *b = pt_loader_next(l);
        EXPECT(b->target_latent && b->LC == 4 && b->LH == h && b->LW == w, "batch latent layout");
        for (int k = 0; k < 2; k++) {
            pt_dataset_latent(ds, b->samples[k].video, b->samples[k].target, lat);
            EXPECT(memcmp(lat, b->target_latent + (size_t)k * c * h * w, sizeof(float) * c * h * w) == 0, "target latent row %d", k);
            pt_dataset_latent(ds, b->samples[k].video, b->samples[k].cond, lat);
            EXPECT(memcmp(lat, b->cond_latent + (size_t)k * c * h * w, sizeof(float) * c * h * w) == 0, "cond latent row %d", k);
        }
    }
    pt_loader_free(l);
    lc.aug = PT_AUG_DREAMPOSE_CROP;
    EXPECT_FAILS(pt_loader_create(&lc, NULL), 2, "cannot be cropped");
    pt_image_free(&im);
    free(lat);
    pt_dataset_close(ds);
}

int main(void) {
    const char *t = getenv("POSETUNE_TEST_TMP");
    snprintf(g_root, sizeof g_root, "%s/test_pack_%d", t ? t : "/tmp", (int)getpid());
    pt_mkdirs(g_root);
    RUN(roundtrip_densepose);
    RUN(roundtrip_skeleton_resized);
    RUN(densepose_resize_nearest);
    RUN(validation_errors);
    RUN(resume_redoes_partial);
    RUN(crash_then_resume);
    RUN(latent_hook);
    int rc = test_summary();
    if (rc == 0) sh("rm -rf '%s'", g_root);
    return rc;
}

// test_synthetic.c — the synthetic dataset: layout, determinism, keypoints on the figure, DensePose
// support equal to the figure mask, skeleton image colours, smooth motion, speed.
#include "datasets/image_io.h"
#include "datasets/keypoints.h"
#include "datasets/npy.h"
#include "datasets/pose_draw.h"
#include "datasets/synthetic.h"
#include "tests/test_util.h"
#include "tools/json.h"

#include <time.h>
#include <unistd.h>

static pt_synth_opts small_opts(uint64_t seed) {
    pt_synth_opts o;
    pt_synth_opts_default(&o);
    o.n_videos = 2; o.n_frames = 6; o.width = 64; o.height = 80; o.seed = seed;
    return o;
}

static int same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = pt_read_file(a, &na), *y = pt_read_file(b, &nb);
    int same = na == nb && memcmp(x, y, na) == 0;
    free(x); free(y);
    return same;
}

static const char *const KINDS[4] = {"%s/video_%04d/frame_%04d.png", "%s/video_%04d/frame_%04d_keypoints.json",
                                     "%s/video_%04d/frame_%04d_pose.png", "%s/video_%04d/frame_%04d_densepose.npy"};

TEST_CASE(layout_and_determinism) {
    pt_synth_opts o = small_opts(7);
    char a[2048], b[2048], c[2048];
    snprintf(a, sizeof a, "%s", tu_tmp_path("a"));
    snprintf(b, sizeof b, "%s", tu_tmp_path("b"));
    snprintf(c, sizeof c, "%s", tu_tmp_path("c"));
    pt_synth_generate(a, &o);
    pt_synth_generate(b, &o);
    pt_synth_opts o2 = small_opts(8);
    pt_synth_generate(c, &o2);
    char pa[4096], pb[4096], pc[4096];
    int n_same_other_seed = 0;
    for (int v = 0; v < o.n_videos; v++)
        for (int t = 0; t < o.n_frames; t++)
            for (int k = 0; k < 4; k++) {
                snprintf(pa, sizeof pa, KINDS[k], a, v, t);
                snprintf(pb, sizeof pb, KINDS[k], b, v, t);
                snprintf(pc, sizeof pc, KINDS[k], c, v, t);
                EXPECT(access(pa, R_OK) == 0, "missing %s", pa);
                EXPECT(same_file(pa, pb), "%s differs between runs with the same seed", pa);
                n_same_other_seed += same_file(pa, pc);
            }
    EXPECT(n_same_other_seed == 0, "%d files identical under another seed", n_same_other_seed);
    // the two videos of one seed look different
    snprintf(pa, sizeof pa, KINDS[0], a, 0, 0);
    snprintf(pb, sizeof pb, KINDS[0], a, 1, 0);
    EXPECT(!same_file(pa, pb), "videos 0 and 1 identical");
    snprintf(pa, sizeof pa, "%s/video_0001/meta.json", a);
    pt_json *m = pt_json_parse_file(pa);
    EXPECT(pt_json_int(m, "n_frames", 0) == 6 && pt_json_int(m, "width", 0) == 64 && pt_json_int(m, "height", 0) == 80,
           "meta.json sizes");
    EXPECT(pt_json_num(m, "fps", 0) > 0, "meta.json fps");
    pt_json_free(m);
}

static int is_figure(const uint8_t *p) { return p[0] <= 160 && p[1] <= 160 && p[2] <= 160; }
static int is_background(const uint8_t *p) { return p[0] >= 170 && p[1] >= 170 && p[2] >= 170; }

TEST_CASE(keypoints_on_figure_and_densepose_mask) {
    pt_synth_opts o = small_opts(3);
    char d[2048];
    snprintf(d, sizeof d, "%s", tu_tmp_path("m"));
    pt_synth_generate(d, &o);
    char path[4096];
    for (int v = 0; v < o.n_videos; v++)
        for (int t = 0; t < o.n_frames; t++) {
            snprintf(path, sizeof path, KINDS[0], d, v, t);
            pt_image im = pt_image_load(path);
            EXPECT(im.w == 64 && im.h == 80, "frame size");
            snprintf(path, sizeof path, KINDS[1], d, v, t);
            pt_pose_frame kp = pt_keypoints_load(path);
            EXPECT(kp.n_people == 1 && kp.people[0].n_body == 18 && kp.width == 64 && kp.height == 80 && !kp.normalized,
                   "keypoint file header");
            for (int j = 0; j < 18; j++) {
                const float *q = kp.people[0].body[j];
                int x = (int)lrintf(q[0]), y = (int)lrintf(q[1]);
                EXPECT(x >= 0 && x < 64 && y >= 0 && y < 80, "keypoint %d at (%g, %g) outside the frame", j, q[0], q[1]);
                if (x < 0 || x >= 64 || y < 0 || y >= 80) continue;
                EXPECT(is_figure(im.px + ((size_t)y * 64 + x) * 3), "video %d frame %d keypoint %d at (%d,%d) is not on the figure",
                       v, t, j, x, y);
                EXPECT(q[2] >= 0.3f && q[2] <= 1.0f, "confidence %g", q[2]);
            }
            snprintf(path, sizeof path, KINDS[3], d, v, t);
            pt_npy dp = pt_npy_load(path);
            EXPECT(dp.dtype == PT_F64 && dp.ndim == 3 && dp.shape[0] == 2 && dp.shape[1] == 80 && dp.shape[2] == 64,
                   "densepose is float64 (2, H, W)");
            const double *U = dp.data, *V = U + 80 * 64;
            int bad = 0, n_fig = 0;
            for (int i = 0; i < 80 * 64; i++) {
                const uint8_t *p = im.px + (size_t)i * 3;
                int fig = is_figure(p), bg = is_background(p);
                int nz = U[i] != 0 || V[i] != 0;
                if (!(fig ^ bg)) bad++;                       // every pixel is clearly one or the other
                if (nz != fig) bad++;                         // DensePose support == figure mask
                if (nz && !(U[i] > 0 && U[i] <= 1 && V[i] > 0 && V[i] <= 1)) bad++;
                n_fig += fig;
            }
            EXPECT(bad == 0, "video %d frame %d: %d pixels break the mask rules", v, t, bad);
            EXPECT(n_fig > 64 * 80 / 20 && n_fig < 64 * 80 / 2, "figure covers %d pixels", n_fig);
            // the skeleton image: neck joint in its palette colour, background black at a corner
            snprintf(path, sizeof path, KINDS[2], d, v, t);
            pt_image pose = pt_image_load(path);
            int nx = (int)kp.people[0].body[1][0], ny = (int)kp.people[0].body[1][1];
            const uint8_t *np_ = pose.px + ((size_t)ny * 64 + nx) * 3;
            EXPECT(np_[0] == PT_POSE_PALETTE[1][0] && np_[1] == PT_POSE_PALETTE[1][1] && np_[2] == PT_POSE_PALETTE[1][2],
                   "neck joint colour (%d,%d,%d)", np_[0], np_[1], np_[2]);
            EXPECT(pose.px[0] == 0 && pose.px[1] == 0 && pose.px[2] == 0, "pose background black");
            pt_image_free(&pose);
            pt_npy_free(&dp);
            pt_pose_frame_free(&kp);
            pt_image_free(&im);
        }
}

TEST_CASE(in_memory_render_matches_files_and_moves_smoothly) {
    pt_synth_opts o = small_opts(3);
    pt_image im;
    pt_pose_frame prev = {0}, kp;
    double *dp = pt_malloc(sizeof(double) * 2 * 64 * 80);
    char path[4096];
    float max_step = 0, total = 0;
    for (int t = 0; t < o.n_frames; t++) {
        pt_synth_render(&o, 1, t, &im, dp, &kp);
        snprintf(path, sizeof path, KINDS[0], tu_tmp_path("m"), 1, t);
        pt_image f = pt_image_load(path);
        EXPECT(memcmp(f.px, im.px, 64 * 80 * 3) == 0, "in-memory frame %d equals the file", t);
        pt_image_free(&f);
        if (t > 0)
            for (int j = 0; j < 18; j++) {
                float dx = kp.people[0].body[j][0] - prev.people[0].body[j][0];
                float dy = kp.people[0].body[j][1] - prev.people[0].body[j][1];
                float s = sqrtf(dx * dx + dy * dy);
                if (s > max_step) max_step = s;
                total += s;
            }
        pt_pose_frame_free(&prev);
        prev = kp;
        pt_image_free(&im);
    }
    pt_pose_frame_free(&prev);
    free(dp);
    EXPECT(total > 5.0f, "the figure moves (total keypoint travel %g px)", total);
    EXPECT(max_step < 0.15f * 80, "smooth motion (largest per-frame step %g px)", max_step);
}

TEST_CASE(fast_enough) {
    pt_synth_opts o;
    pt_synth_opts_default(&o);
    o.n_videos = 2; o.n_frames = 24; o.width = 128; o.height = 128;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pt_synth_generate(tu_tmp_path("speed"), &o);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (b.tv_sec - a.tv_sec) + 1e-9 * (b.tv_nsec - a.tv_nsec);
    printf("  48 frames at 128x128 in %.3f s\n", s);
    EXPECT(s < 5.0, "generation took %.2f s", s);
    EXPECT_FAILS(pt_synth_generate(tu_tmp_path("bad"), &(pt_synth_opts){1, 1, 8, 8, 0}), PT_EXIT_USAGE, "too small");
}

int main(void) {
    tu_tmp_init("test_synthetic");
    RUN(layout_and_determinism);
    RUN(keypoints_on_figure_and_densepose_mask);
    RUN(in_memory_render_matches_files_and_moves_smoothly);
    RUN(fast_enough);
    tu_tmp_cleanup();
    return test_summary();
}

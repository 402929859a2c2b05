// test_augment.c — crop boxes (ranges, probabilities) and the crop+resize resampler
// (planted marks land at the same place in image and pose; bilinear is exact on linear ramps).
#include "datasets/augment.h"
#include "tests/test_util.h"

// Centroid of values > thr in channel 0 of a (C, H, W) buffer.
static void centroid(const float *x, int H, int W, float thr, double *cy, double *cx) {
    double sy = 0, sx = 0, sw = 0;
    for (int y = 0; y < H; y++)
        for (int xx = 0; xx < W; xx++) {
            float v = x[y * W + xx];
            if (v > thr) { sy += v * y; sx += v * xx; sw += v; }
        }
    *cy = sw ? sy / sw : -1; *cx = sw ? sx / sw : -1;
}

// A 4x4 mark at (y0, x0) in a 3-channel image (value 1 on 0) and a 2-channel DensePose map.
static void check_marks(const pt_crop *b, int H, int W, int OH, int OW, int y0, int x0) {
    float *img = pt_calloc((size_t)3 * H * W, sizeof(float)), *pose = pt_calloc((size_t)2 * H * W, sizeof(float));
    for (int y = y0; y < y0 + 4; y++)
        for (int x = x0; x < x0 + 4; x++) {
            for (int c = 0; c < 3; c++) img[(c * H + y) * W + x] = 1;
            for (int c = 0; c < 2; c++) pose[(c * H + y) * W + x] = 0.5f;
        }
    float *oi = pt_malloc(sizeof(float) * 3 * OH * OW), *op = pt_malloc(sizeof(float) * 2 * OH * OW);
    pt_aug_apply(b, img, 3, H, W, oi, OH, OW, PT_INTERP_BILINEAR);
    pt_aug_apply(b, pose, 2, H, W, op, OH, OW, PT_INTERP_NEAREST);
    double iy, ix, py, px;
    centroid(oi, OH, OW, 0.0f, &iy, &ix);
    centroid(op, OH, OW, 0.0f, &py, &px);
    // Hand-derived: the mark's centre (y0 + 2 in pixel-edge units) maps to (c - top) * OH / h - 0.5.
    double ey = (y0 + 2.0 - b->top) * OH / b->height - 0.5, ex = (x0 + 2.0 - b->left) * OW / b->width - 0.5;
    EXPECT(fabs(iy - ey) < 0.35 && fabs(ix - ex) < 0.35, "image mark at (%.2f, %.2f), expected (%.2f, %.2f)", iy, ix, ey, ex);
    EXPECT(fabs(py - ey) < 0.6 && fabs(px - ex) < 0.6, "pose mark at (%.2f, %.2f), expected (%.2f, %.2f)", py, px, ey, ex);
    EXPECT(fabs(py - iy) < 0.6 && fabs(px - ix) < 0.6, "image (%.2f, %.2f) and pose (%.2f, %.2f) marks disagree", iy, ix, py, px);
    free(img); free(pose); free(oi); free(op);
}

TEST_CASE(planted_marks_same_place) {
    pt_rng r;
    pt_rng_init(&r, 11);
    const int H = 160, W = 128;
    for (int t = 0; t < 12; t++) {
        int y0 = 20 + (int)pt_rng_int(&r, 0, 110), x0 = 30 + (int)pt_rng_int(&r, 0, 60);
        pt_crop b = pt_aug_dreampose_crop(&r, H, W, 1.0f);
        EXPECT(b.applied, "p=1 crop not applied");
        check_marks(&b, H, W, H, W, y0, x0);
        b = pt_aug_rrc(&r, H, W, 0.9f, 1.0f, 0.9f, 1.0f);
        check_marks(&b, H, W, 96, 96, y0, x0);
        b = pt_aug_vae_crop(&r, H, W);
        check_marks(&b, H, W, H, W, y0, x0);
    }
    pt_crop b = pt_aug_center_crop(H, W, 64, 64);
    check_marks(&b, H, W, 64, 64, 70, 60);
}

TEST_CASE(dreampose_crop_ranges) {
    pt_rng r;
    pt_rng_init(&r, 5);
    const int N = 6000;
    int applied = 0, top_max = 0, left_hit_max = 0;
    float hmin = 1e9f, hmax = 0;
    for (int i = 0; i < N; i++) {
        pt_crop b = pt_aug_dreampose_crop(&r, 640, 512, 0.7f);
        if (!b.applied) { EXPECT(b.top == 0 && b.height == 640 && b.width == 512, "identity"); continue; }
        applied++;
        int top = (int)b.top;
        EXPECT(b.top == top && top >= 0 && top <= 24, "top %g", b.top);
        EXPECT(b.height >= 615 && b.height < 640 - b.top, "height %g with top %g", b.height, b.top);
        EXPECT(fabsf(b.width - b.height * 0.8f) < 1e-3f, "aspect: %g x %g", b.height, b.width);
        EXPECT(b.left >= 0 && b.left + b.width <= 512 + 1e-3f, "left %g width %g outside 512", b.left, b.width);
        if (top > top_max) top_max = top;
        if (b.left + b.width > 511.9f) left_hit_max++;
        if (b.height < hmin) hmin = b.height;
        if (b.height > hmax) hmax = b.height;
    }
    double sd = sqrt(N * 0.7 * 0.3);
    EXPECT(fabs(applied - 0.7 * N) < 3 * sd, "applied %d of %d, expected 70%%", applied, N);
    EXPECT(top_max == 24 && hmin == 615 && hmax == 639, "ranges: top max %d, height [%g, %g]", top_max, hmin, hmax);
    // Scaled to 320x256: everything halves.
    for (int i = 0; i < 500; i++) {
        pt_crop b = pt_aug_dreampose_crop(&r, 320, 256, 1.0f);
        EXPECT(b.top <= 12 && b.height >= 307.5f && b.height < 320 - b.top + 1e-3f && b.left + b.width <= 256 + 1e-3f,
               "320x256 box top %g h %g left %g w %g", b.top, b.height, b.left, b.width);
    }
}

TEST_CASE(rrc_and_vae_ranges) {
    pt_rng r;
    pt_rng_init(&r, 6);
    for (int i = 0; i < 3000; i++) {
        pt_crop b = pt_aug_rrc(&r, 768, 576, 0.9f, 1.0f, 0.9f, 1.0f);
        double area = b.height * b.width / (768.0 * 576.0), ratio = b.width / b.height;
        EXPECT(b.top >= 0 && b.left >= 0 && b.top + b.height <= 768 && b.left + b.width <= 576, "rrc box outside");
        // A successful try has area in [0.9, 1] and ratio in [0.9, 1] (up to rounding to pixels); the
        // fallback (576/768 = 0.75 < 0.9) is the centred full-width box at ratio 0.9.
        int fallback = b.width == 576 && fabs(b.height - 640) < 0.5;
        EXPECT(fallback || (area > 0.9 - 0.004 && area <= 1.0 && ratio > 0.9 - 0.004 && ratio < 1.0 + 0.004),
               "rrc area %g ratio %g", area, ratio);
        b = pt_aug_rrc(&r, 512, 512, 0.9f, 1.0f, 0.9f, 1.0f);   // square: the tries succeed
        area = b.height * b.width / (512.0 * 512.0); ratio = b.width / b.height;
        EXPECT(area > 0.9 - 0.004 && area <= 1.0 && ratio > 0.9 - 0.005 && ratio < 1.0 + 0.005 &&
               b.top + b.height <= 512 && b.left + b.width <= 512, "square rrc area %g ratio %g", area, ratio);
        pt_crop v = pt_aug_vae_crop(&r, 640, 512);
        EXPECT(v.top >= 0 && v.top <= 50 && fabsf(v.width / v.height - 0.8f) < 1e-4f && fabsf(v.left + v.width - 512) < 1e-3f &&
               fabsf(v.top + v.height - 640) < 1e-3f, "vae crop top %g %gx%g", v.top, v.height, v.width);
    }
    pt_crop c = pt_aug_center_crop(100, 200, 50, 50);
    EXPECT(c.top == 0 && c.left == 50 && c.height == 100 && c.width == 100, "center crop %g %g %g %g", c.top, c.left, c.height, c.width);
}

TEST_CASE(bilinear_exact_on_ramp) {
    const int H = 40, W = 30, OH = 37, OW = 33;
    float *src = pt_malloc(sizeof(float) * H * W), *dst = pt_malloc(sizeof(float) * OH * OW);
    for (int y = 0; y < H; y++) for (int x = 0; x < W; x++) src[y * W + x] = 2.0f * y + 3.0f * x;
    pt_crop b = {3.5f, 2.0f, 34.0f, 25.5f, 1};
    pt_aug_apply(&b, src, 1, H, W, dst, OH, OW, PT_INTERP_BILINEAR);
    double maxd = 0;
    for (int y = 0; y < OH; y++)
        for (int x = 0; x < OW; x++) {
            double fy = b.top + (y + 0.5) * b.height / OH - 0.5, fx = b.left + (x + 0.5) * b.width / OW - 0.5;
            double d = fabs(dst[y * OW + x] - (2 * fy + 3 * fx));
            if (d > maxd) maxd = d;
        }
    EXPECT(maxd < 1e-3, "bilinear ramp max |diff| %g", maxd);
    // Identity box at the same size is an exact copy.
    pt_crop id = pt_aug_identity(H, W);
    float *cp = pt_malloc(sizeof(float) * H * W);
    pt_aug_apply(&id, src, 1, H, W, cp, H, W, PT_INTERP_NEAREST);
    EXPECT(memcmp(cp, src, sizeof(float) * H * W) == 0, "identity not exact");
    free(src); free(dst); free(cp);
}

int main(void) {
    RUN(planted_marks_same_place);
    RUN(dreampose_crop_ranges);
    RUN(rrc_and_vae_ranges);
    RUN(bilinear_exact_on_ramp);
    return test_summary();
}

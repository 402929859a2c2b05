// augment.c — crop boxes and the crop+resize resampler (see augment.h).
#include "datasets/augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/image_io.h"

#include "tools/check.h"

pt_crop pt_aug_identity(int H, int W) { pt_crop c = {0, 0, (float)H, (float)W, 0}; return c; }

pt_crop pt_aug_dreampose_crop(pt_rng *r, int H, int W, float p) {
    float u = pt_rng_uniform(r);
    if (u >= p) return pt_aug_identity(H, W);
    // Integer draws at the reference size 640 (as DreamPose's randint), then scaled to H.
    float s = H / 640.0f;
    int top = (int)pt_rng_int(r, 0, 25);            // [0, 24]
    int left = (int)pt_rng_int(r, 0, 25);           // [0, 24] (in 512-wide units)
    int h640 = (int)pt_rng_int(r, 615, 640 - top);  // [615, 640 - top)
    pt_crop c;
    c.applied = 1;
    c.top = top * s;
    c.height = h640 * s;
    c.width = c.height * (float)W / (float)H;
    c.left = left * (W / 512.0f);
    if (c.left + c.width > W) c.left = W - c.width;
    if (c.left < 0) c.left = 0;
    return c;
}

pt_crop pt_aug_vae_crop(pt_rng *r, int H, int W) {
    int o = (int)pt_rng_int(r, 0, 51);   // [0, 50] at 640
    pt_crop c;
    c.applied = o > 0;
    c.top = o * (H / 640.0f);
    c.height = H - c.top;
    c.width = c.height * (float)W / (float)H;
    c.left = W - c.width;
    return c;
}

pt_crop pt_aug_rrc(pt_rng *r, int H, int W, float scale_lo, float scale_hi, float ratio_lo, float ratio_hi) {
    float area = (float)H * W;
    float lr0 = logf(ratio_lo), lr1 = logf(ratio_hi);
    for (int t = 0; t < 10; t++) {
        float ta = area * (scale_lo + (scale_hi - scale_lo) * pt_rng_uniform(r));
        float ar = expf(lr0 + (lr1 - lr0) * pt_rng_uniform(r));
        int w = (int)lroundf(sqrtf(ta * ar)), h = (int)lroundf(sqrtf(ta / ar));
        if (w > 0 && h > 0 && w <= W && h <= H) {
            int i = (int)pt_rng_int(r, 0, H - h + 1), j = (int)pt_rng_int(r, 0, W - w + 1);
            pt_crop c = {(float)i, (float)j, (float)h, (float)w, 1};
            return c;
        }
    }
    // Fallback (torchvision): center crop at the clamped ratio.
    float in_ratio = (float)W / H;
    int w, h;
    if (in_ratio < ratio_lo) { w = W; h = (int)lroundf(w / ratio_lo); }
    else if (in_ratio > ratio_hi) { h = H; w = (int)lroundf(h * ratio_hi); }
    else { w = W; h = H; }
    pt_crop c = {(float)((H - h) / 2), (float)((W - w) / 2), (float)h, (float)w, 1};
    return c;
}

pt_crop pt_aug_center_crop(int H, int W, int out_h, int out_w) {
    // Largest box with aspect out_w/out_h inside (H, W), centred.
    float ch = (float)H, cw = (float)H * out_w / out_h;
    if (cw > W) { cw = (float)W; ch = (float)W * out_h / out_w; }
    pt_crop c = {(H - ch) * 0.5f, (W - cw) * 0.5f, ch, cw, !(ch == H && cw == W)};
    return c;
}

void pt_aug_apply(const pt_crop *b, const float *src, int C, int H, int W, float *dst, int OH, int OW, pt_interp interp) {
    PT_CHECKF(b->height > 0 && b->width > 0 && b->top >= -1e-3f && b->left >= -1e-3f &&
              b->top + b->height <= H + 1e-3f && b->left + b->width <= W + 1e-3f,
              "augment: crop box (top %g, left %g, %gx%g) is outside the %dx%d image", b->top, b->left, b->height, b->width, H, W);
    if (b->top == 0 && b->left == 0 && b->height == H && b->width == W && OH == H && OW == W) {
        if (dst != src) memcpy(dst, src, sizeof(float) * (size_t)C * H * W);
        return;
    }
    float sy = b->height / OH, sx = b->width / OW;
    if (interp == PT_INTERP_BILINEAR && (sy > 2 || sx > 2)) {
        // Shrinking by more than 2x: crop the (rounded) box and use the antialiased resize.
        int t = (int)lroundf(b->top), l = (int)lroundf(b->left);
        int h = (int)lroundf(b->height), w = (int)lroundf(b->width);
        if (t + h > H) h = H - t;
        if (l + w > W) w = W - l;
        float *tmp = pt_malloc(sizeof(float) * (size_t)C * h * w);
        pt_crop_chw(src, C, H, W, t, l, h, w, tmp);
        pt_resize_bilinear_chw(tmp, C, h, w, dst, OH, OW);
        free(tmp);
        return;
    }
    size_t plane = (size_t)H * W, oplane = (size_t)OH * OW;
    if (interp == PT_INTERP_NEAREST) {
        for (int y = 0; y < OH; y++) {
            int iy = (int)floorf(b->top + (y + 0.5f) * sy);
            iy = iy < 0 ? 0 : iy >= H ? H - 1 : iy;
            for (int x = 0; x < OW; x++) {
                int ix = (int)floorf(b->left + (x + 0.5f) * sx);
                ix = ix < 0 ? 0 : ix >= W ? W - 1 : ix;
                for (int c = 0; c < C; c++) dst[c * oplane + (size_t)y * OW + x] = src[c * plane + (size_t)iy * W + ix];
            }
        }
        return;
    }
    for (int y = 0; y < OH; y++) {
        float fy = b->top + (y + 0.5f) * sy - 0.5f;
        if (fy < 0) fy = 0;
        if (fy > H - 1) fy = (float)(H - 1);
        int y0 = (int)fy, y1 = y0 + 1 < H ? y0 + 1 : y0;
        float wy = fy - y0;
        for (int x = 0; x < OW; x++) {
            float fx = b->left + (x + 0.5f) * sx - 0.5f;
            if (fx < 0) fx = 0;
            if (fx > W - 1) fx = (float)(W - 1);
            int x0 = (int)fx, x1 = x0 + 1 < W ? x0 + 1 : x0;
            float wx = fx - x0;
            for (int c = 0; c < C; c++) {
                const float *s = src + c * plane;
                float top = s[(size_t)y0 * W + x0] * (1 - wx) + s[(size_t)y0 * W + x1] * wx;
                float bot = s[(size_t)y1 * W + x0] * (1 - wx) + s[(size_t)y1 * W + x1] * wx;
                dst[c * oplane + (size_t)y * OW + x] = top * (1 - wy) + bot * wy;
            }
        }
    }
}

// image_io.c — stb_image based image files and float (C, H, W) resize / crop / grid helpers.
#include "datasets/image_io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>
#include <stb_image_write.h>

#include "tools/check.h"

pt_image pt_image_alloc(int w, int h, int c) {
    if (w <= 0 || h <= 0 || c <= 0) PT_USAGE("image size %dx%dx%d is not positive", w, h, c);
    pt_image im = {w, h, c, pt_calloc((size_t)w * h * c, 1)};
    return im;
}

pt_image pt_image_load(const char *path) {
    size_t len = 0;
    char *buf = pt_read_file(path, &len);
    if (len > 0x7fffffff) { free(buf); PT_USAGE("image '%s' is too large (%zu bytes)", path, len); }
    int w = 0, h = 0, n = 0;
    uint8_t *px = stbi_load_from_memory((const stbi_uc *)buf, (int)len, &w, &h, &n, 3);
    free(buf);
    if (!px) {
        const char *why = stbi_failure_reason();
        PT_USAGE("cannot decode image '%s': %s (expected a PNG or JPEG file)", path, why ? why : "unknown error");
    }
    pt_image im = {w, h, 3, pt_malloc((size_t)w * h * 3)};
    memcpy(im.px, px, (size_t)w * h * 3);   // own the buffer with our allocator
    stbi_image_free(px);
    return im;
}

typedef struct { FILE *f; int failed; } png_sink;
static void png_write_cb(void *ctx, void *data, int size) {
    png_sink *s = ctx;
    if (!s->failed && fwrite(data, 1, (size_t)size, s->f) != (size_t)size) s->failed = 1;
}

static void check_image(const char *path, const pt_image *im) {
    if (!im || !im->px || im->w <= 0 || im->h <= 0 || (im->c != 1 && im->c != 3 && im->c != 4))
        PT_USAGE("cannot write '%s': image must be W x H x {1, 3, 4} uint8 (got %dx%dx%d)", path,
                 im ? im->w : 0, im ? im->h : 0, im ? im->c : 0);
}

void pt_image_save_png(const char *path, const pt_image *im) {
    check_image(path, im);
    pt_atomic_file af;
    pt_atomic_open(&af, path);
    png_sink s = {af.f, 0};
    int ok = stbi_write_png_to_func(png_write_cb, &s, im->w, im->h, im->c, im->px, im->w * im->c);
    if (!ok || s.failed) {
        pt_atomic_abort(&af);
        PT_RUNTIME("writing PNG '%s' failed (%s)", path, s.failed ? "write error" : "encoder error");
    }
    pt_atomic_commit(&af);
}

void pt_image_save_png_direct(const char *path, const pt_image *im) {
    check_image(path, im);
    FILE *f = pt_fopen(path, "wb");
    png_sink s = {f, 0};
    int ok = stbi_write_png_to_func(png_write_cb, &s, im->w, im->h, im->c, im->px, im->w * im->c);
    if (!ok || s.failed) {
        fclose(f);
        PT_RUNTIME("writing PNG '%s' failed (%s)", path, s.failed ? "write error" : "encoder error");
    }
    pt_fclose(f, path);
}

void pt_image_free(pt_image *im) {
    if (!im) return;
    free(im->px);
    im->px = NULL;
    im->w = im->h = im->c = 0;
}

void pt_image_to_chw(const pt_image *im, float *dst, float lo, float hi) {
    const int64_t hw = (int64_t)im->w * im->h;
    const float s = (hi - lo) / 255.0f;
    for (int ch = 0; ch < im->c; ch++)
        for (int64_t i = 0; i < hw; i++) dst[ch * hw + i] = lo + s * (float)im->px[i * im->c + ch];
}

pt_image pt_image_from_chw(const float *src, int c, int h, int w, float lo, float hi) {
    pt_image im = pt_image_alloc(w, h, c);
    const int64_t hw = (int64_t)w * h;
    const float s = 255.0f / (hi - lo);
    for (int ch = 0; ch < c; ch++)
        for (int64_t i = 0; i < hw; i++) {
            float v = (src[ch * hw + i] - lo) * s;
            if (!(v > 0.0f)) v = 0.0f;   // also maps NaN to 0
            if (v > 255.0f) v = 255.0f;
            im.px[i * c + ch] = (uint8_t)lrintf(v);
        }
    return im;
}

// ---- resizing: separable passes with per-axis weight tables -----------------------------------
// For output index o the taps are idx[o*k + j] with weights wt[o*k + j], j < k (k = taps per output).
typedef struct { int k; int *idx; float *wt; } axis_taps;

static axis_taps make_taps(int in, int out) {
    axis_taps t;
    double s = (double)in / (double)out;
    if (s > 2.0) {   // area averaging: box [o*s, (o+1)*s) with fractional edge weights
        t.k = (int)ceil(s) + 1;
        t.idx = pt_calloc((size_t)out * t.k, sizeof(int));
        t.wt = pt_calloc((size_t)out * t.k, sizeof(float));
        for (int o = 0; o < out; o++) {
            double a = o * s, b = (o + 1) * s;
            int j = 0;
            for (int i = (int)floor(a); i < b && i < in && j < t.k; i++) {
                double lo = i > a ? i : a, hi = i + 1 < b ? i + 1 : b;
                if (hi <= lo) continue;
                t.idx[o * t.k + j] = i;
                t.wt[o * t.k + j] = (float)((hi - lo) / s);
                j++;
            }
        }
    } else {         // bilinear, align_corners=False
        t.k = 2;
        t.idx = pt_malloc((size_t)out * 2 * sizeof(int));
        t.wt = pt_malloc((size_t)out * 2 * sizeof(float));
        for (int o = 0; o < out; o++) {
            double src = (o + 0.5) * s - 0.5;
            if (src < 0) src = 0;
            int i0 = (int)src;
            if (i0 > in - 1) i0 = in - 1;
            int i1 = i0 + 1 < in ? i0 + 1 : in - 1;
            float l = (float)(src - i0);
            t.idx[2 * o] = i0; t.wt[2 * o] = 1.0f - l;
            t.idx[2 * o + 1] = i1; t.wt[2 * o + 1] = l;
        }
    }
    return t;
}

void pt_resize_bilinear_chw(const float *src, int c, int h, int w, float *dst, int oh, int ow) {
    PT_CHECKF(h > 0 && w > 0 && oh > 0 && ow > 0, "resize %dx%d -> %dx%d: sizes must be positive", h, w, oh, ow);
    axis_taps tx = make_taps(w, ow), ty = make_taps(h, oh);
    float *tmp = pt_malloc((size_t)c * h * ow * sizeof(float));   // (C, H, OW)
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++) {
            const float *row = src + ((size_t)ch * h + y) * w;
            float *trow = tmp + ((size_t)ch * h + y) * ow;
            for (int x = 0; x < ow; x++) {
                float acc = 0;
                for (int j = 0; j < tx.k; j++) acc += tx.wt[x * tx.k + j] * row[tx.idx[x * tx.k + j]];
                trow[x] = acc;
            }
        }
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < oh; y++) {
            float *drow = dst + ((size_t)ch * oh + y) * ow;
            for (int x = 0; x < ow; x++) drow[x] = 0;
            for (int j = 0; j < ty.k; j++) {
                float wgt = ty.wt[y * ty.k + j];
                if (wgt == 0) continue;
                const float *trow = tmp + ((size_t)ch * h + ty.idx[y * ty.k + j]) * ow;
                for (int x = 0; x < ow; x++) drow[x] += wgt * trow[x];
            }
        }
    free(tmp);
    free(tx.idx); free(tx.wt); free(ty.idx); free(ty.wt);
}

void pt_resize_nearest_chw(const float *src, int c, int h, int w, float *dst, int oh, int ow) {
    PT_CHECKF(h > 0 && w > 0 && oh > 0 && ow > 0, "resize %dx%d -> %dx%d: sizes must be positive", h, w, oh, ow);
    int *xs = pt_malloc((size_t)ow * sizeof(int));
    const float sx = (float)w / (float)ow, sy = (float)h / (float)oh;   // torch computes in float
    for (int x = 0; x < ow; x++) { int i = (int)floorf(x * sx); xs[x] = i < w ? i : w - 1; }
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < oh; y++) {
            int iy = (int)floorf(y * sy);
            if (iy > h - 1) iy = h - 1;
            const float *row = src + ((size_t)ch * h + iy) * w;
            float *drow = dst + ((size_t)ch * oh + y) * ow;
            for (int x = 0; x < ow; x++) drow[x] = row[xs[x]];
        }
    free(xs);
}

void pt_crop_chw(const float *src, int c, int h, int w, int top, int left, int ch, int cw, float *dst) {
    if (top < 0 || left < 0 || ch <= 0 || cw <= 0 || top + ch > h || left + cw > w)
        PT_USAGE("crop box top %d left %d size %dx%d does not fit in a %dx%d image", top, left, ch, cw, h, w);
    for (int k = 0; k < c; k++)
        for (int y = 0; y < ch; y++)
            memcpy(dst + ((size_t)k * ch + y) * cw, src + ((size_t)k * h + top + y) * w + left, (size_t)cw * sizeof(float));
}

void pt_image_grid_save(const char *path, const float *const *chw_images, int n, int c, int h, int w,
                        int cols, float lo, float hi) {
    if (n <= 0 || (c != 1 && c != 3)) PT_USAGE("image grid '%s': need n > 0 images of 1 or 3 channels (got n=%d c=%d)", path, n, c);
    if (cols <= 0 || cols > n) cols = n;
    const int rows = (n + cols - 1) / cols, gap = 2;
    const int gw = cols * w + (cols - 1) * gap, gh = rows * h + (rows - 1) * gap;
    pt_image grid = pt_image_alloc(gw, gh, 3);
    for (int i = 0; i < n; i++) {
        if (!chw_images[i]) continue;
        pt_image tile = pt_image_from_chw(chw_images[i], c, h, w, lo, hi);
        int oy = (i / cols) * (h + gap), ox = (i % cols) * (w + gap);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int k = 0; k < 3; k++)
                    grid.px[((size_t)(oy + y) * gw + ox + x) * 3 + k] = tile.px[((size_t)y * w + x) * c + (c == 3 ? k : 0)];
        pt_image_free(&tile);
    }
    pt_image_save_png(path, &grid);
    pt_image_free(&grid);
}

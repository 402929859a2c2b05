// clip_preprocess.c — CLIPImageProcessor: shortest-side bicubic resize, center crop, normalise.
#include "models/clip_preprocess.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tools/check.h"

void pt_clip_preprocess_default(pt_clip_preprocess_config *c) {
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    c->shortest_edge = 224;
    c->crop_h = c->crop_w = 224;
    c->do_center_crop = 1;
    c->rescale_factor = 1.0f / 255.0f;
    memcpy(c->mean, mean, sizeof mean);
    memcpy(c->std, std, sizeof std);
}

static void float3(const pt_json *j, const char *key, float *dst) {
    const pt_json *a = pt_json_get(j, key);
    if (!a) return;
    if (a->type != PT_JSON_ARR || a->n != 3 || a->items[0].type != PT_JSON_NUM || a->items[1].type != PT_JSON_NUM ||
        a->items[2].type != PT_JSON_NUM)
        PT_USAGE("%s:%d: '%s' must be an array of 3 numbers", pt_json_source(j), a->line, key);
    for (int i = 0; i < 3; i++) dst[i] = (float)a->items[i].num;
}

void pt_clip_preprocess_config_from_json(pt_clip_preprocess_config *c, const pt_json *j) {
    pt_clip_preprocess_default(c);
    const pt_json *s = pt_json_get(j, "size");
    if (s && s->type == PT_JSON_NUM) c->shortest_edge = (int)s->num;
    else if (s) c->shortest_edge = pt_json_int(s, "shortest_edge", c->shortest_edge);
    const pt_json *cs = pt_json_get(j, "crop_size");
    if (cs && cs->type == PT_JSON_NUM) c->crop_h = c->crop_w = (int)cs->num;
    else if (cs) {
        c->crop_h = pt_json_int(cs, "height", c->crop_h);
        c->crop_w = pt_json_int(cs, "width", c->crop_w);
    }
    c->do_center_crop = pt_json_bool(j, "do_center_crop", c->do_center_crop);
    c->rescale_factor = (float)pt_json_num(j, "rescale_factor", c->rescale_factor);
    float3(j, "image_mean", c->mean);
    float3(j, "image_std", c->std);
    if (c->shortest_edge < 1 || c->crop_h < 1 || c->crop_w < 1)
        PT_USAGE("%s: size / crop_size must be positive", pt_json_source(j));
}

void pt_clip_preprocess_resized_size(const pt_clip_preprocess_config *c, int h, int w, int *oh, int *ow) {
    int s = c->shortest_edge;
    if (h <= w) { *oh = s; *ow = (int)((double)s * w / h); }
    else { *ow = s; *oh = (int)((double)s * h / w); }
}

// ---- PIL's separable resampling -------------------------------------------------------------------
static double bicubic(double x) {   // Keys, a = -0.5
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

// Coefficients of every output index: window [lo[i], lo[i] + n[i]) and weights k[i * ksize + t].
static int coeffs(int in, int out, int **lo_out, int **n_out, double **k_out) {
    double scale = (double)in / out, fs = scale > 1.0 ? scale : 1.0, support = 2.0 * fs;
    int ksize = (int)ceil(support) * 2 + 1;
    int *lo = pt_malloc(sizeof(int) * (size_t)out), *n = pt_malloc(sizeof(int) * (size_t)out);
    double *k = pt_calloc((size_t)out * (size_t)ksize, sizeof(double));
    for (int i = 0; i < out; i++) {
        double center = (i + 0.5) * scale, ww = 0.0;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in) xmax = in;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double wgt = bicubic((x + xmin - center + 0.5) / fs);
            k[(size_t)i * ksize + x] = wgt;
            ww += wgt;
        }
        if (ww != 0.0)
            for (int x = 0; x < xmax; x++) k[(size_t)i * ksize + x] /= ww;
        lo[i] = xmin; n[i] = xmax;
    }
    *lo_out = lo; *n_out = n; *k_out = k;
    return ksize;
}

// One pass along a line of `in` samples with stride `st` into `out` samples with stride `dt`.
// round_u8: PIL's 8-bit path (22-bit fixed-point weights, rounding, clipping to 0..255).
static void pass(const float *src, int in, long st, float *dst, int out, long dt, const int *lo, const int *n,
                 const double *k, int ksize, int round_u8) {
    for (int i = 0; i < out; i++) {
        const double *kk = k + (size_t)i * ksize;
        if (round_u8) {
            int64_t ss = 1 << 21;
            for (int t = 0; t < n[i]; t++) {
                int64_t ki = (int64_t)(kk[t] < 0 ? kk[t] * (1 << 22) - 0.5 : kk[t] * (1 << 22) + 0.5);
                ss += (int64_t)src[(lo[i] + t) * st] * ki;
            }
            int64_t v = ss >> 22;
            dst[i * dt] = (float)(v < 0 ? 0 : v > 255 ? 255 : v);
        } else {
            double acc = 0.0;
            for (int t = 0; t < n[i]; t++) acc += kk[t] * src[(lo[i] + t) * st];
            dst[i * dt] = (float)acc;
        }
    }
}

void pt_resize_bicubic_pil_chw(const float *src, int c, int h, int w, float *dst, int oh, int ow, int round_u8) {
    PT_CHECKF(h > 0 && w > 0 && oh > 0 && ow > 0, "bicubic resize %dx%d -> %dx%d", h, w, oh, ow);
    int *hlo, *hn, *vlo, *vn;
    double *hk, *vk;
    int hks = coeffs(w, ow, &hlo, &hn, &hk), vks = coeffs(h, oh, &vlo, &vn, &vk);
    float *tmp = pt_malloc(sizeof(float) * (size_t)c * h * ow);   // (C, H, OW)
    for (int ch = 0; ch < c; ch++) {
        for (int y = 0; y < h; y++)   // horizontal pass (PIL skips it when the width is unchanged)
            if (ow == w) memcpy(tmp + ((size_t)ch * h + y) * ow, src + ((size_t)ch * h + y) * w, sizeof(float) * w);
            else pass(src + ((size_t)ch * h + y) * w, w, 1, tmp + ((size_t)ch * h + y) * ow, ow, 1, hlo, hn, hk, hks, round_u8);
        for (int x = 0; x < ow; x++)  // vertical pass
            if (oh == h) for (int y = 0; y < h; y++) dst[((size_t)ch * oh + y) * ow + x] = tmp[((size_t)ch * h + y) * ow + x];
            else pass(tmp + (size_t)ch * h * ow + x, h, ow, dst + (size_t)ch * oh * ow + x, oh, ow, vlo, vn, vk, vks, round_u8);
    }
    free(tmp); free(hlo); free(hn); free(hk); free(vlo); free(vn); free(vk);
}

// ---- the processor --------------------------------------------------------------------------------
// planes (3, H, W) in the input's scale (0..255 for u8, 0..1 for float) -> dst (3, crop).
static void finish(const pt_clip_preprocess_config *c, const float *src, int h, int w, int round_u8, float scale,
                   float *dst) {
    int oh, ow;
    pt_clip_preprocess_resized_size(c, h, w, &oh, &ow);
    float *rs = pt_malloc(sizeof(float) * 3 * (size_t)oh * ow);
    pt_resize_bicubic_pil_chw(src, 3, h, w, rs, oh, ow, round_u8);
    int ch = oh, cw = ow, top = 0, left = 0;
    if (c->do_center_crop) {
        ch = c->crop_h; cw = c->crop_w;
        if (ch > oh || cw > ow)
            PT_USAGE("clip preprocess: crop %dx%d larger than the resized image %dx%d", ch, cw, oh, ow);
        top = (oh - ch) / 2; left = (ow - cw) / 2;
    }
    for (int k = 0; k < 3; k++)
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++) {
                float v = rs[((size_t)k * oh + top + y) * ow + left + x] * scale;
                dst[((size_t)k * ch + y) * cw + x] = (v - c->mean[k]) / c->std[k];
            }
    free(rs);
}

void pt_clip_preprocess_u8(const pt_clip_preprocess_config *c, const uint8_t *rgb, int h, int w, float *dst) {
    float *planes = pt_malloc(sizeof(float) * 3 * (size_t)h * w);   // (3, H, W) in 0..255
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++) planes[((size_t)k * h + y) * w + x] = rgb[((size_t)y * w + x) * 3 + k];
    finish(c, planes, h, w, 1, c->rescale_factor, dst);
    free(planes);
}

void pt_clip_preprocess_chw(const pt_clip_preprocess_config *c, const float *src, int h, int w, float *dst) {
    finish(c, src, h, w, 0, 1.0f, dst);
}

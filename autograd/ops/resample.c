// resample.c — zero padding, nearest 2x upsampling, max / average pooling over the last two dims.
// CPU fp32 reference here (backward as a scatter over the outputs); CUDA kernels in resample.cu
// (backward as a gather over the inputs, no atomics). Inputs may be strided views: they are
// copied to contiguous first, outside autograd.
#include <math.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/ops/resample_cuda.h"
#include "tools/check.h"

static pt_tensor *contig_nograd(pt_tensor *x) {
    if (pt_is_contiguous(x)) return x;
    pt_tensor *c;
    PT_NO_GRAD_BEGIN
    c = pt_empty(x->device, x->dtype, x->ndim, x->shape);
    pt_copy_(c, x);
    PT_NO_GRAD_END
    return c;
}

// Checks and returns the number of (H, W) planes of x; the output shape is x's with the last two
// dims replaced by (Ho, Wo).
static int64_t planes(const char *op, const pt_tensor *x, int64_t Ho, int64_t Wo, int64_t *oshape) {
    char s[128];
    PT_CHECKF(x->ndim >= 2, "%s: input %s needs at least 2 dims (..., H, W)", op, pt_shape_str(x, s, sizeof s));
    PT_CHECKF(x->device == PT_CUDA || x->dtype == PT_F32, "%s: CPU supports f32 only (got %s)", op, pt_dtype_name(x->dtype));
    int64_t P = 1;
    for (int d = 0; d < x->ndim - 2; d++) { P *= x->shape[d]; oshape[d] = x->shape[d]; }
    oshape[x->ndim - 2] = Ho;
    oshape[x->ndim - 1] = Wo;
    return P;
}
#define HH(t) ((t)->shape[(t)->ndim - 2])
#define WW(t) ((t)->shape[(t)->ndim - 1])

// ---- pad2d --------------------------------------------------------------------------------------
// i = {left, right, top, bottom}
static void pad2d_backward(pt_node *n) {
    pt_tensor *g = contig_nograd(pt_node_grad_out(n, 0)), *x = n->in[0];
    int64_t l = n->i[0], r = n->i[1], t = n->i[2], b = n->i[3], H = HH(x), W = WW(x), Wo = W + l + r;
    int64_t oshape[PT_MAX_DIMS], P = planes("pad2d", x, H, W, oshape);
    pt_tensor *dx = pt_empty(g->device, g->dtype, x->ndim, x->shape);
    if (g->device == PT_CPU) {
        const float *gp = pt_data(g);
        float *dp = pt_data(dx);
        for (int64_t p = 0; p < P; p++)
            for (int64_t h = 0; h < H; h++)
                memcpy(dp + (p * H + h) * W, gp + (p * (H + t + b) + h + t) * Wo + l, (size_t)W * sizeof(float));
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_pad2d_backward(pt_data(g), pt_data(dx), g->dtype, P, H, W, l, r, t, b);
#endif
    }
    pt_grad_accum(x, dx);
}

pt_tensor *pt_pad2d(pt_tensor *x, int left, int right, int top, int bottom) {
    PT_CHECKF(left >= 0 && right >= 0 && top >= 0 && bottom >= 0, "pad2d: negative padding (%d, %d, %d, %d)", left, right,
              top, bottom);
    int64_t H = x->ndim >= 2 ? HH(x) : 0, W = x->ndim >= 2 ? WW(x) : 0;
    int64_t Ho = H + top + bottom, Wo = W + left + right;
    int64_t oshape[PT_MAX_DIMS], P = planes("pad2d", x, Ho, Wo, oshape);
    pt_tensor *xc = contig_nograd(x);
    pt_tensor *y = pt_empty(x->device, x->dtype, x->ndim, oshape);
    if (x->device == PT_CPU) {
        const float *xp = pt_data(xc);
        float *yp = pt_data(y);
        memset(yp, 0, pt_nbytes(y));
        for (int64_t p = 0; p < P; p++)
            for (int64_t h = 0; h < H; h++)
                memcpy(yp + (p * Ho + h + top) * Wo + left, xp + (p * H + h) * W, (size_t)W * sizeof(float));
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_pad2d(pt_data(xc), pt_data(y), x->dtype, P, H, W, left, right, top, bottom);
#endif
    }
    pt_node *n = pt_node_new("pad2d", pad2d_backward, 1, (pt_tensor *[]){x});
    if (n) {
        n->i[0] = left; n->i[1] = right; n->i[2] = top; n->i[3] = bottom;
        pt_node_add_output(n, y);
    }
    return y;
}

// ---- upsample_nearest2x -------------------------------------------------------------------------
static void upsample_backward(pt_node *n) {
    pt_tensor *g = contig_nograd(pt_node_grad_out(n, 0)), *x = n->in[0];
    int64_t H = HH(x), W = WW(x), oshape[PT_MAX_DIMS], P = planes("upsample_nearest2x", x, H, W, oshape);
    pt_tensor *dx = pt_empty(g->device, g->dtype, x->ndim, x->shape);
    if (g->device == PT_CPU) {
        const float *gp = pt_data(g);
        float *dp = pt_data(dx);
        memset(dp, 0, pt_nbytes(dx));
        for (int64_t p = 0; p < P; p++)
            for (int64_t i = 0; i < 2 * H; i++)
                for (int64_t j = 0; j < 2 * W; j++) dp[(p * H + i / 2) * W + j / 2] += gp[(p * 2 * H + i) * 2 * W + j];
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_upsample2x_backward(pt_data(g), pt_data(dx), g->dtype, P, H, W);
#endif
    }
    pt_grad_accum(x, dx);
}

pt_tensor *pt_upsample_nearest2x(pt_tensor *x) {
    int64_t H = x->ndim >= 2 ? HH(x) : 0, W = x->ndim >= 2 ? WW(x) : 0;
    int64_t oshape[PT_MAX_DIMS], P = planes("upsample_nearest2x", x, 2 * H, 2 * W, oshape);
    pt_tensor *xc = contig_nograd(x);
    pt_tensor *y = pt_empty(x->device, x->dtype, x->ndim, oshape);
    if (x->device == PT_CPU) {
        const float *xp = pt_data(xc);
        float *yp = pt_data(y);
        for (int64_t p = 0; p < P; p++)
            for (int64_t i = 0; i < 2 * H; i++)
                for (int64_t j = 0; j < 2 * W; j++) yp[(p * 2 * H + i) * 2 * W + j] = xp[(p * H + i / 2) * W + j / 2];
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_upsample2x(pt_data(xc), pt_data(y), x->dtype, P, H, W);
#endif
    }
    pt_node *n = pt_node_new("upsample_nearest2x", upsample_backward, 1, (pt_tensor *[]){x});
    if (n) pt_node_add_output(n, y);
    return y;
}

// ---- max / avg pooling ----------------------------------------------------------------------------
// saved = {argmax (P, Ho, Wo) i32} for max; i = {k, s, is_max}
static void pool_backward(pt_node *n) {
    pt_tensor *g = contig_nograd(pt_node_grad_out(n, 0)), *x = n->in[0];
    int64_t k = n->i[0], s = n->i[1];
    int is_max = (int)n->i[2];
    int64_t H = HH(x), W = WW(x), Ho = HH(g), Wo = WW(g), oshape[PT_MAX_DIMS], P = planes("pool2d", x, H, W, oshape);
    pt_tensor *dx = pt_empty(g->device, g->dtype, x->ndim, x->shape);
    const int32_t *idx = is_max ? (const int32_t *)pt_data(n->saved[0]) : NULL;
    if (g->device == PT_CPU) {
        const float *gp = pt_data(g);
        float *dp = pt_data(dx);
        memset(dp, 0, pt_nbytes(dx));
        float inv = 1.0f / (float)(k * k);
        for (int64_t p = 0; p < P; p++) {
            float *d = dp + p * H * W;
            for (int64_t ho = 0; ho < Ho; ho++)
                for (int64_t wo = 0; wo < Wo; wo++) {
                    int64_t o = (p * Ho + ho) * Wo + wo;
                    if (is_max) { d[idx[o]] += gp[o]; continue; }
                    for (int64_t i = 0; i < k; i++)
                        for (int64_t j = 0; j < k; j++) d[(ho * s + i) * W + wo * s + j] += gp[o] * inv;
                }
        }
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_pool2d_backward(pt_data(g), idx, pt_data(dx), g->dtype, P, H, W, k, s, is_max);
#endif
    }
    pt_grad_accum(x, dx);
}

static pt_tensor *pool2d(pt_tensor *x, int k, int s, int is_max) {
    const char *op = is_max ? "max_pool2d" : "avg_pool2d";
    PT_CHECKF(k >= 1 && s >= 1, "%s: kernel %d, stride %d", op, k, s);
    int64_t H = x->ndim >= 2 ? HH(x) : 0, W = x->ndim >= 2 ? WW(x) : 0;
    PT_CHECKF(H >= k && W >= k, "%s: kernel %d larger than the input (%lld, %lld)", op, k, (long long)H, (long long)W);
    int64_t Ho = (H - k) / s + 1, Wo = (W - k) / s + 1;
    int64_t oshape[PT_MAX_DIMS], P = planes(op, x, Ho, Wo, oshape);
    PT_CHECKF(H * W < ((int64_t)1 << 31), "%s: plane of %lld elements too large for int32 indices", op, (long long)(H * W));
    pt_tensor *xc = contig_nograd(x);
    pt_tensor *y = pt_empty(x->device, x->dtype, x->ndim, oshape);
    pt_tensor *am = is_max ? pt_empty(x->device, PT_I32, 3, PT_SHAPE(P, Ho, Wo)) : NULL;   // (P, Ho, Wo) argmax
    if (x->device == PT_CPU) {
        const float *xp = pt_data(xc);
        float *yp = pt_data(y);
        int32_t *ip = am ? pt_data(am) : NULL;
        float inv = 1.0f / (float)(k * k);
        for (int64_t p = 0; p < P; p++) {
            const float *xs = xp + p * H * W;
            for (int64_t ho = 0; ho < Ho; ho++)
                for (int64_t wo = 0; wo < Wo; wo++) {
                    int64_t o = (p * Ho + ho) * Wo + wo, best = (ho * s) * W + wo * s;
                    float acc = is_max ? xs[best] : 0.0f;
                    for (int64_t i = 0; i < k; i++)
                        for (int64_t j = 0; j < k; j++) {
                            int64_t q = (ho * s + i) * W + wo * s + j;
                            float v = xs[q];
                            if (!is_max) acc += v;
                            else if (v > acc || (isnan(v) && !isnan(acc))) { acc = v; best = q; }
                        }
                    yp[o] = is_max ? acc : acc * inv;
                    if (ip) ip[o] = (int32_t)best;
                }
        }
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_pool2d(pt_data(xc), pt_data(y), am ? (int32_t *)pt_data(am) : NULL, x->dtype, P, H, W, k, s, is_max);
#endif
    }
    pt_node *n = pt_node_new(op, pool_backward, 1, (pt_tensor *[]){x});
    if (n) {
        n->i[0] = k; n->i[1] = s; n->i[2] = is_max;
        if (am) pt_node_save(n, am);
        pt_node_add_output(n, y);
    }
    if (am) pt_release(am);
    return y;
}

pt_tensor *pt_max_pool2d(pt_tensor *x, int k, int stride) { return pool2d(x, k, stride, 1); }
pt_tensor *pt_avg_pool2d(pt_tensor *x, int k, int stride) { return pool2d(x, k, stride, 0); }

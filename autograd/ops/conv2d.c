// conv2d.c — 2-D convolution (groups = 1, symmetric zero padding, one stride) as im2col + GEMM.
//
// Per image b, with L = Ho*Wo and CKK = C*kh*kw:
//   col_b (CKK, L) = im2col(x_b)            y_b (O, L) = W (O, CKK) col_b + bias
//   dcol (CKK, L) = W^T dy_b, dx_b = col2im(dcol)      dW (O, CKK) += dy_b col_b^T      db = sum dy
// The CPU works one image at a time (temp buffer CKK*L floats); CUDA works in chunks of images
// whose columns fit a bounded workspace, with one strided-batched cuBLAS call per chunk. A 1x1,
// stride-1, unpadded conv uses x itself as its columns (no im2col).
#include <string.h>

#include "autograd/cpu_gemm.h"
#include "autograd/ops.h"
#include "autograd/ops/conv2d_cuda.h"
#include "tools/check.h"

#define CONV_WORKSPACE_DEFAULT ((int64_t)256 << 20)   // CUDA column buffer per chunk
static int64_t g_workspace_bytes = CONV_WORKSPACE_DEFAULT;
void pt_conv2d_set_workspace_bytes(int64_t bytes) { g_workspace_bytes = bytes > 0 ? bytes : CONV_WORKSPACE_DEFAULT; }

// ---- CPU im2col / col2im (one image) ---------------------------------------------------------
static void cpu_im2col(const float *x, float *col, const pt_conv_geom *g) {   // x (C, H, W) -> col (CKK, L)
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                float *row = col + ((c * g->kh + ki) * g->kw + kj) * g->Ho * g->Wo;
                for (int64_t ho = 0; ho < g->Ho; ho++) {
                    float *o = row + ho * g->Wo;
                    int64_t hi = ho * g->stride - g->pad + ki;
                    if (hi < 0 || hi >= g->H) { memset(o, 0, (size_t)g->Wo * sizeof(float)); continue; }
                    const float *xr = x + (c * g->H + hi) * g->W;
                    for (int64_t wo = 0; wo < g->Wo; wo++) {
                        int64_t wi = wo * g->stride - g->pad + kj;
                        o[wo] = (wi >= 0 && wi < g->W) ? xr[wi] : 0.0f;
                    }
                }
            }
}

static void cpu_col2im(const float *col, float *dx, const pt_conv_geom *g) {   // dx (C, H, W) = adjoint
    memset(dx, 0, (size_t)(g->C * g->H * g->W) * sizeof(float));
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                const float *row = col + ((c * g->kh + ki) * g->kw + kj) * g->Ho * g->Wo;
                for (int64_t ho = 0; ho < g->Ho; ho++) {
                    int64_t hi = ho * g->stride - g->pad + ki;
                    if (hi < 0 || hi >= g->H) continue;
                    float *xr = dx + (c * g->H + hi) * g->W;
                    const float *o = row + ho * g->Wo;
                    for (int64_t wo = 0; wo < g->Wo; wo++) {
                        int64_t wi = wo * g->stride - g->pad + kj;
                        if (wi >= 0 && wi < g->W) xr[wi] += o[wo];
                    }
                }
            }
}

// nb images: x (nb, C, H, W) -> col (nb, CKK, L) on either device.
static void im2col(pt_device dev, pt_dtype dt, const void *x, void *col, int64_t nb, const pt_conv_geom *g) {
    if (dev == PT_CPU) {
        int64_t xs = g->C * g->H * g->W, cs = g->C * g->kh * g->kw * g->Ho * g->Wo;
        for (int64_t b = 0; b < nb; b++) cpu_im2col((const float *)x + b * xs, (float *)col + b * cs, g);
        return;
    }
#ifdef POSETUNE_HAVE_CUDA
    pt_cuda_im2col(x, col, dt, nb, g);
#endif
}
static void col2im(pt_device dev, pt_dtype dt, const void *col, void *dx, int64_t nb, const pt_conv_geom *g) {
    if (dev == PT_CPU) {
        int64_t xs = g->C * g->H * g->W, cs = g->C * g->kh * g->kw * g->Ho * g->Wo;
        for (int64_t b = 0; b < nb; b++) cpu_col2im((const float *)col + b * cs, (float *)dx + b * xs, g);
        return;
    }
#ifdef POSETUNE_HAVE_CUDA
    pt_cuda_col2im(col, dx, dt, nb, g);
#endif
}

// ---- shared geometry -------------------------------------------------------------------------
typedef struct conv_plan {
    pt_conv_geom g;
    int64_t B, O, L, CKK;
    int direct;     // 1x1, stride 1, no padding: the columns are x itself
    int64_t chunk;  // images per GEMM call
} conv_plan;

static conv_plan make_plan(const pt_tensor *x, const pt_tensor *w, int stride, int pad) {
    conv_plan p;
    p.g = (pt_conv_geom){.C = x->shape[1], .H = x->shape[2], .W = x->shape[3], .kh = w->shape[2], .kw = w->shape[3],
                         .stride = stride, .pad = pad};
    p.g.Ho = (p.g.H + 2 * pad - p.g.kh) / stride + 1;
    p.g.Wo = (p.g.W + 2 * pad - p.g.kw) / stride + 1;
    p.B = x->shape[0];
    p.O = w->shape[0];
    p.L = p.g.Ho * p.g.Wo;
    p.CKK = p.g.C * p.g.kh * p.g.kw;
    p.direct = p.g.kh == 1 && p.g.kw == 1 && stride == 1 && pad == 0;
    int64_t per = p.CKK * p.L * (int64_t)pt_dtype_size(x->dtype);
    p.chunk = 1;
    if (x->device == PT_CUDA && per > 0) {
        p.chunk = g_workspace_bytes / per;
        if (p.chunk < 1) p.chunk = 1;
        if (p.chunk > p.B) p.chunk = p.B;
    }
    return p;
}

static pt_tensor *contig_nograd(pt_tensor *x) {
    if (pt_is_contiguous(x)) return x;
    pt_tensor *c = pt_empty(x->device, x->dtype, x->ndim, x->shape);
    pt_copy_(c, x);
    return c;
}

static size_t esz(const pt_tensor *t) { return pt_dtype_size(t->dtype); }
#define AT(t, elems) ((char *)pt_data(t) + (size_t)(elems) * esz(t))

// Columns of images [b0, b0+nb) of x: x itself when direct, else im2col into ws.
static const void *columns(const conv_plan *p, pt_tensor *x, pt_tensor *ws, int64_t b0, int64_t nb) {
    const void *xb = AT(x, b0 * p->g.C * p->g.H * p->g.W);
    if (p->direct) return xb;
    im2col(x->device, x->dtype, xb, pt_data(ws), nb, &p->g);
    return pt_data(ws);
}

// ---- backward ----------------------------------------------------------------------------------
// saved: x contiguous (when w needs a gradient), w contiguous (when x does); i = {stride, pad, x slot, w slot}
static void conv2d_backward(pt_node *n) {
    pt_tensor *g = contig_nograd(pt_node_grad_out(n, 0));   // (B, O, Ho, Wo)
    pt_tensor *xin = n->in[0], *win = n->in[1];
    pt_tensor *x = n->i[2] >= 0 ? n->saved[n->i[2]] : NULL, *w = n->i[3] >= 0 ? n->saved[n->i[3]] : NULL;
    conv_plan p = make_plan(xin, win, (int)n->i[0], (int)n->i[1]);
    pt_device dev = g->device;
    pt_dtype dt = g->dtype;
    int need_cols = !p.direct && (pt_node_needs_grad(n, 0) || pt_node_needs_grad(n, 1));
    pt_tensor *ws = need_cols ? pt_empty(dev, dt, 3, PT_SHAPE(p.chunk, p.CKK, p.L)) : NULL;   // (chunk, CKK, L)
    if (pt_node_needs_grad(n, 0)) {
        pt_tensor *dx = pt_empty(dev, dt, 4, xin->shape);   // (B, C, H, W)
        for (int64_t b0 = 0; b0 < p.B; b0 += p.chunk) {
            int64_t nb = p.B - b0 < p.chunk ? p.B - b0 : p.chunk;
            void *dxb = AT(dx, b0 * p.g.C * p.g.H * p.g.W);
            void *dcol = p.direct ? dxb : pt_data(ws);   // (nb, CKK, L) = W^T (CKK, O) dy_b (O, L)
            pt_gemm(dev, dt, dt, &(pt_gemm_args){.trans_a = 1, .trans_b = 0, .M = p.CKK, .N = p.L, .K = p.O, .alpha = 1,
                                                 .A = pt_data(w), .lda = p.CKK, .sa = 0,
                                                 .B = AT(g, b0 * p.O * p.L), .ldb = p.L, .sb = p.O * p.L,
                                                 .C = dcol, .ldc = p.L, .sc = p.CKK * p.L, .batch = nb});
            if (!p.direct) col2im(dev, dt, dcol, dxb, nb, &p.g);
        }
        pt_grad_accum(xin, dx);
    }
    if (pt_node_needs_grad(n, 1)) {
        pt_tensor *dw = pt_empty(dev, dt, 4, win->shape);   // (O, C, kh, kw) = (O, CKK)
        // 16-bit weights: accumulate the per-image products in fp32, round once at the end.
        pt_tensor *acc = dt == PT_F32 ? dw : pt_empty(dev, PT_F32, 2, PT_SHAPE(p.O, p.CKK));
        for (int64_t b0 = 0; b0 < p.B; b0 += p.chunk) {
            int64_t nb = p.B - b0 < p.chunk ? p.B - b0 : p.chunk;
            const char *cols = columns(&p, x, ws, b0, nb);
            for (int64_t j = 0; j < nb; j++) {   // dW (O, CKK) += dy_b (O, L) col_b^T (L, CKK)
                pt_gemm(dev, dt, PT_F32,
                        &(pt_gemm_args){.trans_a = 0, .trans_b = 1, .M = p.O, .N = p.CKK, .K = p.L, .alpha = 1,
                                        .beta = (b0 + j) == 0 ? 0.0f : 1.0f,
                                        .A = AT(g, (b0 + j) * p.O * p.L), .lda = p.L,
                                        .B = cols + (size_t)(j * p.CKK * p.L) * esz(x), .ldb = p.L,
                                        .C = pt_data(acc), .ldc = p.CKK});
            }
        }
        if (p.B == 0) pt_zero_(acc);
        if (acc != dw) pt_copy_(dw, pt_reshape(acc, 4, win->shape));
        pt_grad_accum(win, dw);
    }
    if (n->in[2] && pt_node_needs_grad(n, 2)) {
        pt_tensor *db = pt_sum_to_shape(g, 4, PT_SHAPE(1, p.O, 1, 1));
        pt_grad_accum(n->in[2], pt_reshape(db, 1, PT_SHAPE(p.O)));
    }
}

// ---- forward ------------------------------------------------------------------------------------
pt_tensor *pt_conv2d(pt_tensor *x, pt_tensor *w, pt_tensor *b, int stride, int pad) {
    char s1[128], s2[128];
    PT_CHECKF(x->device == w->device && x->dtype == w->dtype && (!b || (b->device == x->device && b->dtype == x->dtype)),
              "conv2d: input %s and weight %s (and bias) must share device and dtype", pt_shape_str(x, s1, sizeof s1),
              pt_shape_str(w, s2, sizeof s2));
    PT_CHECKF(x->device == PT_CUDA || x->dtype == PT_F32, "conv2d: CPU supports f32 only (got %s)", pt_dtype_name(x->dtype));
    PT_CHECKF(x->ndim == 4 && w->ndim == 4 && x->shape[1] == w->shape[1],
              "conv2d: input %s (B, C, H, W) does not match weight %s (O, C, kh, kw)", pt_shape_str(x, s1, sizeof s1),
              pt_shape_str(w, s2, sizeof s2));
    PT_CHECKF(stride >= 1 && pad >= 0, "conv2d: stride %d, pad %d", stride, pad);
    PT_CHECKF(x->shape[2] + 2 * pad >= w->shape[2] && x->shape[3] + 2 * pad >= w->shape[3],
              "conv2d: kernel %s larger than the padded input %s", pt_shape_str(w, s2, sizeof s2), pt_shape_str(x, s1, sizeof s1));
    PT_CHECKF(!b || (b->ndim == 1 && b->shape[0] == w->shape[0]), "conv2d: bias %s, expected (%lld)",
              pt_shape_str(b, s1, sizeof s1), (long long)w->shape[0]);
    conv_plan p = make_plan(x, w, stride, pad);
    pt_device dev = x->device;
    pt_dtype dt = x->dtype;
    pt_tensor *y = pt_empty(dev, dt, 4, PT_SHAPE(p.B, p.O, p.g.Ho, p.g.Wo));
    pt_tensor *xc, *wc;
    PT_NO_GRAD_BEGIN
    xc = contig_nograd(x);
    wc = contig_nograd(w);
    if (b) pt_bias_fill(dev, dt, pt_data(y), pt_data(contig_nograd(b)), p.B, p.O, p.L);
    pt_tensor *ws = p.direct ? NULL : pt_empty(dev, dt, 3, PT_SHAPE(p.chunk, p.CKK, p.L));   // (chunk, CKK, L)
    for (int64_t b0 = 0; b0 < p.B; b0 += p.chunk) {
        int64_t nb = p.B - b0 < p.chunk ? p.B - b0 : p.chunk;
        const void *cols = columns(&p, xc, ws, b0, nb);   // (nb, CKK, L)
        pt_gemm(dev, dt, dt, &(pt_gemm_args){.trans_a = 0, .trans_b = 0, .M = p.O, .N = p.L, .K = p.CKK, .alpha = 1,
                                             .beta = b ? 1.0f : 0.0f, .A = pt_data(wc), .lda = p.CKK, .sa = 0,
                                             .B = cols, .ldb = p.L, .sb = p.CKK * p.L,
                                             .C = AT(y, b0 * p.O * p.L), .ldc = p.L, .sc = p.O * p.L, .batch = nb});
    }
    if (ws) pt_release(ws);
    PT_NO_GRAD_END
    pt_node *n = pt_node_new("conv2d", conv2d_backward, 3, (pt_tensor *[]){x, w, b});
    if (n) {
        n->i[0] = stride; n->i[1] = pad;
        n->i[2] = n->i[3] = -1;
        if (pt_node_needs_grad(n, 1)) { pt_node_save(n, xc); n->i[2] = n->n_saved - 1; }
        if (pt_node_needs_grad(n, 0)) { pt_node_save(n, wc); n->i[3] = n->n_saved - 1; }
        pt_node_add_output(n, y);
    }
    return y;
}

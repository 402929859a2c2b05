// norm.c — group norm (optionally fused with SiLU) and layer norm.
// CPU fp32 reference here (double accumulation of the statistics); CUDA kernels in norm.cu.
// Statistics are always fp32 (biased variance, as PyTorch). Backward saves the input, the
// affine parameters and (mean, rstd) per group / row; the normalised activations are recomputed.
//
// Backward of y = xhat * w + b, xhat = (x - mean) * rstd, over a set of n elements:
//   dxhat = dy * w;  dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
//   dw = sum(dy * xhat), db = sum(dy) over everything but the channel.
// The SiLU-fused variant first turns dy into dz = dy * silu'(z), z = group_norm(x) recomputed.
#include <math.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/ops/norm_cuda.h"
#include "tools/check.h"

static pt_tensor *contig(pt_tensor *x) { return pt_is_contiguous(x) ? x : pt_contiguous(x); }

// A gradient in x's dtype and contiguous (grad mode is off in backward).
static pt_tensor *grad_like(pt_tensor *g, const pt_tensor *x) {
    if (g->dtype != x->dtype) g = pt_cast(g, x->dtype);
    return contig(g);
}

// An affine parameter (C) in the dtype of x (a differentiable cast when it differs).
static pt_tensor *affine_param(pt_tensor *p, pt_tensor *x, int64_t C, const char *op, const char *which) {
    if (!p) return NULL;
    PT_CHECKF(p->device == x->device, "%s: %s is on another device than the input", op, which);
    PT_CHECKF(pt_numel(p) == C, "%s: %s has %lld elements, expected %lld", op, which, (long long)pt_numel(p), (long long)C);
    if (p->dtype != x->dtype) p = pt_cast(p, x->dtype);
    return contig(p);
}

static inline float silu_f(float z) { return z / (1.0f + expf(-z)); }
static inline float silu_grad_f(float z) {
    float s = 1.0f / (1.0f + expf(-z));
    return s * (1.0f + z * (1.0f - s));
}

// ---- CPU group norm --------------------------------------------------------------------------
// x, y (N, C, S); mean, rstd (N, G); w, b (C) or NULL.
static void cpu_gn_fwd(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd,
                       int64_t N, int64_t C, int64_t S, int64_t G, float eps, int silu) {
    int64_t Cg = C / G, m = Cg * S;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t g = 0; g < G; g++) {
            const float *xg = x + (n * C + g * Cg) * S;   // (Cg, S), contiguous
            double s = 0;
            for (int64_t i = 0; i < m; i++) s += xg[i];
            double mu = s / (double)m, v = 0;
            for (int64_t i = 0; i < m; i++) v += ((double)xg[i] - mu) * ((double)xg[i] - mu);
            float r = (float)(1.0 / sqrt(v / (double)m + (double)eps));
            mean[n * G + g] = (float)mu;
            rstd[n * G + g] = r;
            float *yg = y + (n * C + g * Cg) * S;
            for (int64_t c = 0; c < Cg; c++) {
                int64_t ch = g * Cg + c;
                float wc = w ? w[ch] : 1.0f, bc = b ? b[ch] : 0.0f;
                for (int64_t s2 = 0; s2 < S; s2++) {
                    float z = ((xg[c * S + s2] - (float)mu) * r) * wc + bc;
                    yg[c * S + s2] = silu ? silu_f(z) : z;
                }
            }
        }
    }
}

// dx (N, C, S) or NULL; dw, db (C) or NULL (only when w, b exist).
static void cpu_gn_bwd(const float *x, const float *w, const float *b, const float *dy, const float *mean,
                       const float *rstd, float *dx, float *dw, float *db, int64_t N, int64_t C, int64_t S, int64_t G,
                       int silu) {
    int64_t Cg = C / G, m = Cg * S;
    double *acc_w = pt_calloc((size_t)C, sizeof(double)), *acc_b = pt_calloc((size_t)C, sizeof(double));
    for (int64_t n = 0; n < N; n++) {
        for (int64_t g = 0; g < G; g++) {
            float mu = mean[n * G + g], r = rstd[n * G + g];
            double sum_dxh = 0, sum_dxh_xh = 0;
            for (int64_t c = 0; c < Cg; c++) {
                int64_t ch = g * Cg + c;
                float wc = w ? w[ch] : 1.0f, bc = b ? b[ch] : 0.0f;
                const float *xc = x + (n * C + ch) * S, *dyc = dy + (n * C + ch) * S;
                for (int64_t s = 0; s < S; s++) {
                    float xh = (xc[s] - mu) * r;
                    float dz = dyc[s];
                    if (silu) dz *= silu_grad_f(xh * wc + bc);
                    acc_w[ch] += (double)dz * xh;
                    acc_b[ch] += dz;
                    sum_dxh += (double)dz * wc;
                    sum_dxh_xh += (double)dz * wc * xh;
                }
            }
            if (!dx) continue;
            float m1 = (float)(sum_dxh / (double)m), m2 = (float)(sum_dxh_xh / (double)m);
            for (int64_t c = 0; c < Cg; c++) {
                int64_t ch = g * Cg + c;
                float wc = w ? w[ch] : 1.0f, bc = b ? b[ch] : 0.0f;
                const float *xc = x + (n * C + ch) * S, *dyc = dy + (n * C + ch) * S;
                float *dxc = dx + (n * C + ch) * S;
                for (int64_t s = 0; s < S; s++) {
                    float xh = (xc[s] - mu) * r;
                    float dz = dyc[s];
                    if (silu) dz *= silu_grad_f(xh * wc + bc);
                    dxc[s] = r * (dz * wc - m1 - xh * m2);
                }
            }
        }
    }
    for (int64_t c = 0; c < C; c++) {
        if (dw) dw[c] = (float)acc_w[c];
        if (db) db[c] = (float)acc_b[c];
    }
    free(acc_w); free(acc_b);
}

// ---- CPU layer norm --------------------------------------------------------------------------
// x, y (R, D); mean, rstd (R); w, b (D) or NULL.
static void cpu_ln_fwd(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd, int64_t R,
                       int64_t D, float eps) {
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * D;
        double s = 0, v = 0;
        for (int64_t j = 0; j < D; j++) s += xr[j];
        double mu = s / (double)D;
        for (int64_t j = 0; j < D; j++) v += ((double)xr[j] - mu) * ((double)xr[j] - mu);
        float rs = (float)(1.0 / sqrt(v / (double)D + (double)eps));
        mean[r] = (float)mu;
        rstd[r] = rs;
        for (int64_t j = 0; j < D; j++) y[r * D + j] = ((xr[j] - (float)mu) * rs) * (w ? w[j] : 1.0f) + (b ? b[j] : 0.0f);
    }
}

static void cpu_ln_bwd(const float *x, const float *w, const float *dy, const float *mean, const float *rstd, float *dx,
                       float *dw, float *db, int64_t R, int64_t D) {
    double *acc_w = pt_calloc((size_t)D, sizeof(double)), *acc_b = pt_calloc((size_t)D, sizeof(double));
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * D, *dyr = dy + r * D;
        float mu = mean[r], rs = rstd[r];
        double s1 = 0, s2 = 0;
        for (int64_t j = 0; j < D; j++) {
            float xh = (xr[j] - mu) * rs, dxh = dyr[j] * (w ? w[j] : 1.0f);
            s1 += dxh;
            s2 += (double)dxh * xh;
            acc_w[j] += (double)dyr[j] * xh;
            acc_b[j] += dyr[j];
        }
        if (!dx) continue;
        float m1 = (float)(s1 / (double)D), m2 = (float)(s2 / (double)D);
        for (int64_t j = 0; j < D; j++) {
            float xh = (xr[j] - mu) * rs, dxh = dyr[j] * (w ? w[j] : 1.0f);
            dx[r * D + j] = rs * (dxh - m1 - xh * m2);
        }
    }
    for (int64_t j = 0; j < D; j++) {
        if (dw) dw[j] = (float)acc_w[j];
        if (db) db[j] = (float)acc_b[j];
    }
    free(acc_w); free(acc_b);
}

static void *data_or_null(pt_tensor *t) { return t ? pt_data(t) : NULL; }

// ---- group norm: dispatch + autograd -----------------------------------------------------------
// in = {x, w, b}; saved = {x, w|-, b|-, mean, rstd} at the indices in n->i[4..8].
// n->i = {N, C, S, G, idx_w, idx_b, idx_mean, idx_rstd}, n->f[0] = silu.
static void group_norm_backward(pt_node *n) {
    pt_tensor *g = pt_node_grad_out(n, 0);
    pt_tensor *x = n->saved[0];
    pt_tensor *w = n->i[4] >= 0 ? n->saved[n->i[4]] : NULL, *b = n->i[5] >= 0 ? n->saved[n->i[5]] : NULL;
    pt_tensor *mean = n->saved[n->i[6]], *rstd = n->saved[n->i[7]];
    int64_t N = n->i[0], C = n->i[1], S = n->i[2], G = n->i[3];
    int silu = n->f[0] != 0.0;
    g = grad_like(g, x);
    pt_tensor *dx = pt_node_needs_grad(n, 0) ? pt_empty(x->device, x->dtype, x->ndim, x->shape) : NULL;
    pt_tensor *dw = w && pt_node_needs_grad(n, 1) ? pt_empty(w->device, w->dtype, w->ndim, w->shape) : NULL;
    pt_tensor *db = b && pt_node_needs_grad(n, 2) ? pt_empty(b->device, b->dtype, b->ndim, b->shape) : NULL;
    if (x->device == PT_CPU) {
        cpu_gn_bwd(pt_data(x), data_or_null(w), data_or_null(b), pt_data(g), pt_data(mean), pt_data(rstd),
                   data_or_null(dx), data_or_null(dw), data_or_null(db), N, C, S, G, silu);
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_group_norm_bwd(x->dtype, pt_data(x), data_or_null(w), data_or_null(b), pt_data(g), pt_data(mean),
                               pt_data(rstd), data_or_null(dx), data_or_null(dw), data_or_null(db), N, C, S, G, silu);
#endif
    }
    if (dx) pt_grad_accum(n->in[0], dx);
    if (dw) pt_grad_accum(n->in[1], dw);
    if (db) pt_grad_accum(n->in[2], db);
}

static pt_tensor *group_norm_op(pt_tensor *x, int groups, pt_tensor *w, pt_tensor *b, float eps, int silu) {
    const char *op = silu ? "group_norm_silu" : "group_norm";
    PT_CHECKF(x->ndim >= 2, "%s: input must be (B, C, ...), got %d dims", op, x->ndim);
    int64_t N = x->shape[0], C = x->shape[1], S = 1;
    for (int d = 2; d < x->ndim; d++) S *= x->shape[d];
    PT_CHECKF(groups > 0 && C % groups == 0, "%s: %lld channels are not divisible into %d groups", op, (long long)C, groups);
    x = contig(x);
    w = affine_param(w, x, C, op, "weight");
    b = affine_param(b, x, C, op, "bias");
    pt_tensor *y = pt_empty(x->device, x->dtype, x->ndim, x->shape);
    pt_tensor *mean = pt_empty(x->device, PT_F32, PT_DIMS(N * groups));
    pt_tensor *rstd = pt_empty(x->device, PT_F32, PT_DIMS(N * groups));
    if (pt_numel(x) > 0) {
        if (x->device == PT_CPU) {
            PT_CHECKF(x->dtype == PT_F32, "CPU %s supports f32 only (got %s)", op, pt_dtype_name(x->dtype));
            cpu_gn_fwd(pt_data(x), data_or_null(w), data_or_null(b), pt_data(y), pt_data(mean), pt_data(rstd), N, C, S,
                       groups, eps, silu);
        } else {
#ifdef POSETUNE_HAVE_CUDA
            pt_cuda_group_norm_fwd(x->dtype, pt_data(x), data_or_null(w), data_or_null(b), pt_data(y), pt_data(mean),
                                   pt_data(rstd), N, C, S, groups, eps, silu);
#endif
        }
    }
    pt_node *n = pt_node_new(op, group_norm_backward, 3, (pt_tensor *[]){x, w, b});
    if (n) {
        n->i[0] = N; n->i[1] = C; n->i[2] = S; n->i[3] = groups;
        n->f[0] = silu;
        pt_node_save(n, x);
        n->i[4] = w ? n->n_saved : -1; if (w) pt_node_save(n, w);
        n->i[5] = b ? n->n_saved : -1; if (b) pt_node_save(n, b);
        n->i[6] = n->n_saved; pt_node_save(n, mean);
        n->i[7] = n->n_saved; pt_node_save(n, rstd);
        pt_node_add_output(n, y);
    }
    return y;
}

pt_tensor *pt_group_norm(pt_tensor *x, int groups, pt_tensor *w, pt_tensor *b, float eps) {
    return group_norm_op(x, groups, w, b, eps, 0);
}
pt_tensor *pt_group_norm_silu(pt_tensor *x, int groups, pt_tensor *w, pt_tensor *b, float eps) {
    return group_norm_op(x, groups, w, b, eps, 1);
}

// ---- layer norm: dispatch + autograd -----------------------------------------------------------
// saved = {x, w|-, mean, rstd}; n->i = {R, D, idx_w, idx_mean, idx_rstd}.
static void layer_norm_backward(pt_node *n) {
    pt_tensor *g = pt_node_grad_out(n, 0);
    pt_tensor *x = n->saved[0], *w = n->i[2] >= 0 ? n->saved[n->i[2]] : NULL;
    pt_tensor *mean = n->saved[n->i[3]], *rstd = n->saved[n->i[4]];
    int64_t R = n->i[0], D = n->i[1];
    g = grad_like(g, x);
    pt_tensor *dx = pt_node_needs_grad(n, 0) ? pt_empty(x->device, x->dtype, x->ndim, x->shape) : NULL;
    pt_tensor *dw = pt_node_needs_grad(n, 1) ? pt_empty(x->device, x->dtype, PT_DIMS(D)) : NULL;
    pt_tensor *db = pt_node_needs_grad(n, 2) ? pt_empty(x->device, x->dtype, PT_DIMS(D)) : NULL;
    if (x->device == PT_CPU) {
        cpu_ln_bwd(pt_data(x), data_or_null(w), pt_data(g), pt_data(mean), pt_data(rstd), data_or_null(dx),
                   data_or_null(dw), data_or_null(db), R, D);
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_layer_norm_bwd(x->dtype, pt_data(x), data_or_null(w), pt_data(g), pt_data(mean), pt_data(rstd),
                               data_or_null(dx), data_or_null(dw), data_or_null(db), R, D);
#endif
    }
    if (dx) pt_grad_accum(n->in[0], dx);
    if (dw) pt_grad_accum(n->in[1], pt_reshape(dw, n->in[1]->ndim, n->in[1]->shape));
    if (db) pt_grad_accum(n->in[2], pt_reshape(db, n->in[2]->ndim, n->in[2]->shape));
}

pt_tensor *pt_layer_norm(pt_tensor *x, pt_tensor *w, pt_tensor *b, float eps) {
    PT_CHECKF(x->ndim >= 1, "layer_norm: input must have at least one dim");
    int64_t D = x->shape[x->ndim - 1], R = D ? pt_numel(x) / D : 0;
    x = contig(x);
    w = affine_param(w, x, D, "layer_norm", "weight");
    b = affine_param(b, x, D, "layer_norm", "bias");
    pt_tensor *y = pt_empty(x->device, x->dtype, x->ndim, x->shape);
    pt_tensor *mean = pt_empty(x->device, PT_F32, PT_DIMS(R));
    pt_tensor *rstd = pt_empty(x->device, PT_F32, PT_DIMS(R));
    if (pt_numel(x) > 0) {
        if (x->device == PT_CPU) {
            PT_CHECKF(x->dtype == PT_F32, "CPU layer_norm supports f32 only (got %s)", pt_dtype_name(x->dtype));
            cpu_ln_fwd(pt_data(x), data_or_null(w), data_or_null(b), pt_data(y), pt_data(mean), pt_data(rstd), R, D, eps);
        } else {
#ifdef POSETUNE_HAVE_CUDA
            pt_cuda_layer_norm_fwd(x->dtype, pt_data(x), data_or_null(w), data_or_null(b), pt_data(y), pt_data(mean),
                                   pt_data(rstd), R, D, eps);
#endif
        }
    }
    pt_node *n = pt_node_new("layer_norm", layer_norm_backward, 3, (pt_tensor *[]){x, w, b});
    if (n) {
        n->i[0] = R; n->i[1] = D;
        pt_node_save(n, x);
        n->i[2] = w ? n->n_saved : -1; if (w) pt_node_save(n, w);
        n->i[3] = n->n_saved; pt_node_save(n, mean);
        n->i[4] = n->n_saved; pt_node_save(n, rstd);
        pt_node_add_output(n, y);
    }
    return y;
}

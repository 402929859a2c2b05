// attention.c — multi-head scaled dot-product attention, memory-efficient.
//   q (B, Sq, H*D), k (B, Skv, H*D), v (B, Skv, H*Dv) -> out (B, Sq, H*Dv)
//   out[b, i, h] = softmax_j(scale * q[b,i,h] . k[b,j,h]) v[b,j,h]; head h uses columns h*D..(h+1)*D-1.
// Backward keeps q, k, v, out and the row log-sum-exp lse (B, H, Sq) f32 — never the (Sq, Skv)
// probabilities — and recomputes P row by row (FlashAttention-2):
//   D_i = dO_i . O_i;  P_ij = exp(scale q_i.k_j - lse_i);  dP_ij = dO_i . v_j;  dS = P (dP - D_i)
//   dq_i = scale sum_j dS_ij k_j;  dk_j = scale sum_i dS_ij q_i;  dv_j = sum_i P_ij dO_i.
// CPU fp32 reference here: a loop over (b, h, query row) with one row buffer of length Skv.
// CUDA: fused tiled kernels in attention.cu.
#include <math.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/ops/attention_cuda.h"
#include "tools/check.h"

static pt_tensor *contig(pt_tensor *x) { return pt_is_contiguous(x) ? x : pt_contiguous(x); }

typedef struct attn_dims { int64_t B, Sq, Skv, H, D, Dv; float scale; } attn_dims;

static inline float dotf(const float *a, const float *b, int64_t n) {
    float s = 0.0f;
    for (int64_t d = 0; d < n; d++) s += a[d] * b[d];
    return s;
}

// ---- CPU reference -------------------------------------------------------------------------------
static void cpu_attn_fwd(const float *q, const float *k, const float *v, float *out, float *lse, attn_dims a) {
    int64_t qs = a.H * a.D, vs = a.H * a.Dv;   // row strides of q/k and v/out
    float *s = pt_malloc(sizeof(float) * (size_t)(a.Skv ? a.Skv : 1));      // (Skv) one score row
    double *acc = pt_malloc(sizeof(double) * (size_t)(a.Dv ? a.Dv : 1));   // (Dv)
    for (int64_t b = 0; b < a.B; b++) {
        for (int64_t h = 0; h < a.H; h++) {
            for (int64_t i = 0; i < a.Sq; i++) {
                const float *qi = q + (b * a.Sq + i) * qs + h * a.D;
                float m = -INFINITY;
                for (int64_t j = 0; j < a.Skv; j++) {
                    s[j] = a.scale * dotf(qi, k + (b * a.Skv + j) * qs + h * a.D, a.D);
                    if (s[j] > m) m = s[j];
                }
                double l = 0;
                for (int64_t e = 0; e < a.Dv; e++) acc[e] = 0;
                for (int64_t j = 0; j < a.Skv; j++) {
                    float p = expf(s[j] - m);
                    l += p;
                    const float *vj = v + (b * a.Skv + j) * vs + h * a.Dv;
                    for (int64_t e = 0; e < a.Dv; e++) acc[e] += (double)p * vj[e];
                }
                float *oi = out + (b * a.Sq + i) * vs + h * a.Dv;
                for (int64_t e = 0; e < a.Dv; e++) oi[e] = (float)(acc[e] / l);
                lse[(b * a.H + h) * a.Sq + i] = m + (float)log(l);
            }
        }
    }
    free(s);
    free(acc);
}

// dq, dk, dv zero-initialised by the caller (dk, dv accumulate over query rows).
static void cpu_attn_bwd(const float *q, const float *k, const float *v, const float *out, const float *dout,
                         const float *lse, float *dq, float *dk, float *dv, attn_dims a) {
    int64_t qs = a.H * a.D, vs = a.H * a.Dv;
    float *dqi = pt_malloc(sizeof(float) * (size_t)(a.D ? a.D : 1));   // (D)
    for (int64_t b = 0; b < a.B; b++) {
        for (int64_t h = 0; h < a.H; h++) {
            for (int64_t i = 0; i < a.Sq; i++) {
                const float *qi = q + (b * a.Sq + i) * qs + h * a.D;
                const float *oi = out + (b * a.Sq + i) * vs + h * a.Dv, *doi = dout + (b * a.Sq + i) * vs + h * a.Dv;
                float Di = dotf(doi, oi, a.Dv), L = lse[(b * a.H + h) * a.Sq + i];
                memset(dqi, 0, sizeof(float) * (size_t)a.D);
                for (int64_t j = 0; j < a.Skv; j++) {
                    const float *kj = k + (b * a.Skv + j) * qs + h * a.D, *vj = v + (b * a.Skv + j) * vs + h * a.Dv;
                    float p = expf(a.scale * dotf(qi, kj, a.D) - L);
                    float ds = p * (dotf(doi, vj, a.Dv) - Di);
                    float *dkj = dk + (b * a.Skv + j) * qs + h * a.D, *dvj = dv + (b * a.Skv + j) * vs + h * a.Dv;
                    for (int64_t d = 0; d < a.D; d++) {
                        dqi[d] += ds * kj[d];
                        dkj[d] += a.scale * ds * qi[d];
                    }
                    for (int64_t e = 0; e < a.Dv; e++) dvj[e] += p * doi[e];
                }
                float *dq_row = dq + (b * a.Sq + i) * qs + h * a.D;
                for (int64_t d = 0; d < a.D; d++) dq_row[d] = a.scale * dqi[d];
            }
        }
    }
    free(dqi);
}

// ---- autograd ----------------------------------------------------------------------------------
// saved = {q, k, v, out, lse}; n->i = {B, Sq, Skv, H, D, Dv}, n->f[0] = scale.
static void attention_backward(pt_node *n) {
    attn_dims a = {n->i[0], n->i[1], n->i[2], n->i[3], n->i[4], n->i[5], (float)n->f[0]};
    pt_tensor *q = n->saved[0], *k = n->saved[1], *v = n->saved[2], *out = n->saved[3], *lse = n->saved[4];
    pt_tensor *g = pt_node_grad_out(n, 0);
    if (g->dtype != out->dtype) g = pt_cast(g, out->dtype);
    g = contig(g);
    int need_q = pt_node_needs_grad(n, 0), need_k = pt_node_needs_grad(n, 1), need_v = pt_node_needs_grad(n, 2);
    pt_tensor *dq = need_q ? pt_zeros(q->device, q->dtype, q->ndim, q->shape) : NULL;
    pt_tensor *dk = need_k ? pt_zeros(k->device, k->dtype, k->ndim, k->shape) : NULL;
    pt_tensor *dv = need_v ? pt_zeros(v->device, v->dtype, v->ndim, v->shape) : NULL;
    if (q->device == PT_CPU) {
        // the reference computes all three; scratch for the ones nobody wants
        pt_tensor *dq_ = dq ? dq : pt_zeros(PT_CPU, PT_F32, q->ndim, q->shape);
        pt_tensor *dk_ = dk ? dk : pt_zeros(PT_CPU, PT_F32, k->ndim, k->shape);
        pt_tensor *dv_ = dv ? dv : pt_zeros(PT_CPU, PT_F32, v->ndim, v->shape);
        cpu_attn_bwd(pt_data(q), pt_data(k), pt_data(v), pt_data(out), pt_data(g), pt_data(lse), pt_data(dq_),
                     pt_data(dk_), pt_data(dv_), a);
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_attention_bwd(q->dtype, pt_data(q), pt_data(k), pt_data(v), pt_data(out), pt_data(g), pt_data(lse),
                              dq ? pt_data(dq) : NULL, dk ? pt_data(dk) : NULL, dv ? pt_data(dv) : NULL, a.B, a.Sq, a.Skv,
                              a.H, a.D, a.Dv, a.scale);
#endif
    }
    if (dq) pt_grad_accum(n->in[0], dq);
    if (dk) pt_grad_accum(n->in[1], dk);
    if (dv) pt_grad_accum(n->in[2], dv);
}

// Large head dims (the VAE's single-head mid-block attention has D = 512) don't fit the fused
// CUDA kernels' shared-memory tiles: compute softmax(q k^T) v with batched GEMMs and a
// materialised (B*H, Sq, Skv) score matrix instead, differentiable through the ordinary ops.
#define PT_ATTN_FUSED_MAX_D 256
static int g_force_materialized = 0;
void pt_attention_force_materialized(int on) { g_force_materialized = on; }   // tests
static pt_tensor *attention_materialized(pt_tensor *q, pt_tensor *k, pt_tensor *v, int64_t B, int64_t Sq, int64_t Skv,
                                         int64_t H, int64_t D, int64_t Dv, float scale) {
    int mark = pt_scope_begin();
    int perm[4] = {0, 2, 1, 3};
    pt_tensor *qh = pt_reshape(pt_permute(pt_reshape(q, 4, (int64_t[]){B, Sq, H, D}), perm), 3, (int64_t[]){B * H, Sq, D});
    pt_tensor *kh = pt_reshape(pt_permute(pt_reshape(k, 4, (int64_t[]){B, Skv, H, D}), perm), 3, (int64_t[]){B * H, Skv, D});
    pt_tensor *vh = pt_reshape(pt_permute(pt_reshape(v, 4, (int64_t[]){B, Skv, H, Dv}), perm), 3, (int64_t[]){B * H, Skv, Dv});
    pt_tensor *s = pt_scale(pt_matmul(qh, pt_transpose(kh, 1, 2)), scale);          // (B*H, Sq, Skv)
    pt_tensor *o = pt_matmul(pt_softmax(s), vh);                                    // (B*H, Sq, Dv)
    o = pt_permute(pt_reshape(o, 4, (int64_t[]){B, H, Sq, Dv}), perm);              // (B, Sq, H, Dv)
    return pt_scope_end(mark, pt_reshape(o, 3, (int64_t[]){B, Sq, H * Dv}));
}

pt_tensor *pt_attention(pt_tensor *q, pt_tensor *k, pt_tensor *v, int heads, float scale) {
    PT_CHECKF(q->ndim == 3 && k->ndim == 3 && v->ndim == 3, "attention: q, k, v must be (B, S, H*D), got %d, %d, %d dims",
              q->ndim, k->ndim, v->ndim);
    PT_CHECKF(q->device == k->device && q->device == v->device, "attention: q, k, v on different devices");
    PT_CHECKF(q->dtype == k->dtype && q->dtype == v->dtype, "attention: q, k, v dtypes %s, %s, %s differ",
              pt_dtype_name(q->dtype), pt_dtype_name(k->dtype), pt_dtype_name(v->dtype));
    PT_CHECKF(heads > 0, "attention: %d heads", heads);
    attn_dims a;
    a.B = q->shape[0]; a.Sq = q->shape[1]; a.Skv = k->shape[1]; a.H = heads;
    PT_CHECKF(k->shape[0] == a.B && v->shape[0] == a.B, "attention: batch sizes %lld, %lld, %lld differ",
              (long long)a.B, (long long)k->shape[0], (long long)v->shape[0]);
    PT_CHECKF(v->shape[1] == a.Skv, "attention: k has %lld tokens, v %lld", (long long)a.Skv, (long long)v->shape[1]);
    PT_CHECKF(q->shape[2] == k->shape[2], "attention: q width %lld != k width %lld", (long long)q->shape[2], (long long)k->shape[2]);
    PT_CHECKF(q->shape[2] % heads == 0 && v->shape[2] % heads == 0, "attention: widths %lld, %lld not divisible by %d heads",
              (long long)q->shape[2], (long long)v->shape[2], heads);
    a.D = q->shape[2] / heads; a.Dv = v->shape[2] / heads;
    a.scale = scale > 0.0f ? scale : (float)(1.0 / sqrt((double)(a.D ? a.D : 1)));
    PT_CHECKF(a.Skv > 0 || a.Sq == 0, "attention: no keys (Skv = 0)");
    if (g_force_materialized || (q->device == PT_CUDA && (a.D > PT_ATTN_FUSED_MAX_D || a.Dv > PT_ATTN_FUSED_MAX_D)))
        return attention_materialized(q, k, v, a.B, a.Sq, a.Skv, a.H, a.D, a.Dv, a.scale);
    q = contig(q); k = contig(k); v = contig(v);
    pt_tensor *out = pt_empty(q->device, q->dtype, PT_DIMS(a.B, a.Sq, a.H * a.Dv));
    pt_tensor *lse = pt_empty(q->device, PT_F32, PT_DIMS(a.B, a.H, a.Sq));
    if (pt_numel(out) > 0) {
        if (q->device == PT_CPU) {
            PT_CHECKF(q->dtype == PT_F32, "CPU attention supports f32 only (got %s)", pt_dtype_name(q->dtype));
            cpu_attn_fwd(pt_data(q), pt_data(k), pt_data(v), pt_data(out), pt_data(lse), a);
        } else {
#ifdef POSETUNE_HAVE_CUDA
            pt_cuda_attention_fwd(q->dtype, pt_data(q), pt_data(k), pt_data(v), pt_data(out), pt_data(lse), a.B, a.Sq,
                                  a.Skv, a.H, a.D, a.Dv, a.scale);
#endif
        }
    }
    pt_node *n = pt_node_new("attention", attention_backward, 3, (pt_tensor *[]){q, k, v});
    if (n) {
        n->i[0] = a.B; n->i[1] = a.Sq; n->i[2] = a.Skv; n->i[3] = a.H; n->i[4] = a.D; n->i[5] = a.Dv;
        n->f[0] = a.scale;
        pt_node_save(n, q); pt_node_save(n, k); pt_node_save(n, v);
        pt_node_save(n, out); pt_node_save(n, lse);
        pt_node_add_output(n, out);
    }
    return out;
}

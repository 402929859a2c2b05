// activation.c — SiLU, GELU (erf and tanh forms), QuickGELU, GEGLU and softmax over the last dim.
// CPU fp32 reference here; CUDA kernels in activation.cu. Backward saves the input (the output
// for softmax) and recomputes the derivative.
//
//   silu(x)       = x s(x)                    silu'       = s (1 + x (1 - s))
//   gelu(x)       = x Phi(x)                  gelu'       = Phi(x) + x phi(x)
//   gelu_tanh(x)  = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
//                                             gelu_tanh'  = (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3*0.044715 x^2)
//   quick_gelu(x) = x s(1.702 x)              quick_gelu' = s + 1.702 x s (1 - s)
//   geglu(x)      = h gelu(g) with (h, g) = the two halves of the last dim (diffusers GEGLU)
//   softmax'      : dx = y (dy - sum(dy y))
#include <math.h>

#include "autograd/ops.h"
#include "autograd/ops/activation_cuda.h"
#include "tools/check.h"

static pt_tensor *contig(pt_tensor *x) { return pt_is_contiguous(x) ? x : pt_contiguous(x); }
static pt_tensor *grad_like(pt_tensor *g, const pt_tensor *x) {
    if (g->dtype != x->dtype) g = pt_cast(g, x->dtype);
    return contig(g);
}
static void check_cpu_f32(const pt_tensor *x, const char *op) {
    PT_CHECKF(x->dtype == PT_F32, "CPU %s supports f32 only (got %s)", op, pt_dtype_name(x->dtype));
}

static const double SQRT_2_OVER_PI = 0.7978845608028654, INV_SQRT_2 = 0.7071067811865476,
                    INV_SQRT_2PI = 0.3989422804014327;

static float act_f(int kind, float x) {
    switch (kind) {
    case PT_ACT_SILU: return x / (1.0f + expf(-x));
    case PT_ACT_GELU: return (float)(0.5 * x * (1.0 + erf(x * INV_SQRT_2)));
    case PT_ACT_GELU_TANH: {
        double u = SQRT_2_OVER_PI * (x + 0.044715 * (double)x * x * x);
        return (float)(0.5 * x * (1.0 + tanh(u)));
    }
    default: return x / (1.0f + expf(-1.702f * x));
    }
}

static float act_df(int kind, float x) {
    switch (kind) {
    case PT_ACT_SILU: { float s = 1.0f / (1.0f + expf(-x)); return s * (1.0f + x * (1.0f - s)); }
    case PT_ACT_GELU: return (float)(0.5 * (1.0 + erf(x * INV_SQRT_2)) + x * INV_SQRT_2PI * exp(-0.5 * (double)x * x));
    case PT_ACT_GELU_TANH: {
        double x2 = (double)x * x, t = tanh(SQRT_2_OVER_PI * (x + 0.044715 * x2 * x));
        return (float)(0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x2));
    }
    default: { float s = 1.0f / (1.0f + expf(-1.702f * x)); return s + 1.702f * x * s * (1.0f - s); }
    }
}

// ---- pointwise activations ---------------------------------------------------------------------
// n->i[0] = kind; saved = {x}.
static void act_backward(pt_node *n) {
    pt_tensor *x = n->saved[0], *g = grad_like(pt_node_grad_out(n, 0), x);
    int kind = (int)n->i[0];
    pt_tensor *dx = pt_empty(x->device, x->dtype, x->ndim, x->shape);
    int64_t N = pt_numel(x);
    if (x->device == PT_CPU) {
        const float *xp = pt_data(x), *gp = pt_data(g);
        float *dp = pt_data(dx);
        for (int64_t i = 0; i < N; i++) dp[i] = gp[i] * act_df(kind, xp[i]);
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_act_bwd(x->dtype, kind, pt_data(x), pt_data(g), pt_data(dx), N);
#endif
    }
    pt_grad_accum(n->in[0], dx);
}

static pt_tensor *act_op(pt_tensor *x, int kind, const char *name) {
    x = contig(x);
    pt_tensor *y = pt_empty(x->device, x->dtype, x->ndim, x->shape);
    int64_t N = pt_numel(x);
    if (x->device == PT_CPU) {
        check_cpu_f32(x, name);
        const float *xp = pt_data(x);
        float *yp = pt_data(y);
        for (int64_t i = 0; i < N; i++) yp[i] = act_f(kind, xp[i]);
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_act_fwd(x->dtype, kind, pt_data(x), pt_data(y), N);
#endif
    }
    pt_node *n = pt_node_new(name, act_backward, 1, (pt_tensor *[]){x});
    if (n) { n->i[0] = kind; pt_node_save(n, x); pt_node_add_output(n, y); }
    return y;
}

pt_tensor *pt_silu(pt_tensor *x) { return act_op(x, PT_ACT_SILU, "silu"); }
pt_tensor *pt_gelu(pt_tensor *x, int tanh_approx) {
    return act_op(x, tanh_approx ? PT_ACT_GELU_TANH : PT_ACT_GELU, tanh_approx ? "gelu_tanh" : "gelu");
}
pt_tensor *pt_quick_gelu(pt_tensor *x) { return act_op(x, PT_ACT_QUICK_GELU, "quick_gelu"); }

// ---- GEGLU ------------------------------------------------------------------------------------
// x (R, 2D) -> y (R, D); saved = {x}; n->i = {R, D}.
static void geglu_backward(pt_node *n) {
    pt_tensor *x = n->saved[0], *g = pt_node_grad_out(n, 0);
    g = grad_like(g, x);
    int64_t R = n->i[0], D = n->i[1];
    pt_tensor *dx = pt_empty(x->device, x->dtype, x->ndim, x->shape);
    if (x->device == PT_CPU) {
        const float *xp = pt_data(x), *gp = pt_data(g);
        float *dp = pt_data(dx);
        for (int64_t r = 0; r < R; r++) {
            for (int64_t j = 0; j < D; j++) {
                float h = xp[r * 2 * D + j], gate = xp[r * 2 * D + D + j], dy = gp[r * D + j];
                dp[r * 2 * D + j] = dy * act_f(PT_ACT_GELU, gate);
                dp[r * 2 * D + D + j] = dy * h * act_df(PT_ACT_GELU, gate);
            }
        }
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_geglu_bwd(x->dtype, pt_data(x), pt_data(g), pt_data(dx), R, D);
#endif
    }
    pt_grad_accum(n->in[0], dx);
}

pt_tensor *pt_geglu(pt_tensor *x) {
    PT_CHECKF(x->ndim >= 1 && x->shape[x->ndim - 1] % 2 == 0, "geglu: the last dim must be even (2 * D)");
    x = contig(x);
    int64_t D = x->shape[x->ndim - 1] / 2, R = D ? pt_numel(x) / (2 * D) : 0;
    int64_t shape[PT_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
    shape[x->ndim - 1] = D;
    pt_tensor *y = pt_empty(x->device, x->dtype, x->ndim, shape);
    if (x->device == PT_CPU) {
        check_cpu_f32(x, "geglu");
        const float *xp = pt_data(x);
        float *yp = pt_data(y);
        for (int64_t r = 0; r < R; r++)
            for (int64_t j = 0; j < D; j++) yp[r * D + j] = xp[r * 2 * D + j] * act_f(PT_ACT_GELU, xp[r * 2 * D + D + j]);
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_geglu_fwd(x->dtype, pt_data(x), pt_data(y), R, D);
#endif
    }
    pt_node *n = pt_node_new("geglu", geglu_backward, 1, (pt_tensor *[]){x});
    if (n) { n->i[0] = R; n->i[1] = D; pt_node_save(n, x); pt_node_add_output(n, y); }
    return y;
}

// ---- softmax over the last dim -------------------------------------------------------------------
// saved = {y}; n->i = {R, D}.
static void softmax_backward(pt_node *n) {
    pt_tensor *y = n->saved[0], *g = grad_like(pt_node_grad_out(n, 0), y);
    int64_t R = n->i[0], D = n->i[1];
    pt_tensor *dx = pt_empty(y->device, y->dtype, y->ndim, y->shape);
    if (y->device == PT_CPU) {
        const float *yp = pt_data(y), *gp = pt_data(g);
        float *dp = pt_data(dx);
        for (int64_t r = 0; r < R; r++) {
            double s = 0;
            for (int64_t j = 0; j < D; j++) s += (double)gp[r * D + j] * yp[r * D + j];
            for (int64_t j = 0; j < D; j++) dp[r * D + j] = yp[r * D + j] * (gp[r * D + j] - (float)s);
        }
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_softmax_bwd(y->dtype, pt_data(y), pt_data(g), pt_data(dx), R, D);
#endif
    }
    pt_grad_accum(n->in[0], dx);
}

pt_tensor *pt_softmax(pt_tensor *x) {
    PT_CHECKF(x->ndim >= 1, "softmax needs at least one dim");
    x = contig(x);
    int64_t D = x->shape[x->ndim - 1], R = D ? pt_numel(x) / D : 0;
    pt_tensor *y = pt_empty(x->device, x->dtype, x->ndim, x->shape);
    if (x->device == PT_CPU) {
        check_cpu_f32(x, "softmax");
        const float *xp = pt_data(x);
        float *yp = pt_data(y);
        for (int64_t r = 0; r < R; r++) {
            float m = -INFINITY;
            for (int64_t j = 0; j < D; j++) m = fmaxf(m, xp[r * D + j]);
            double s = 0;
            for (int64_t j = 0; j < D; j++) { yp[r * D + j] = expf(xp[r * D + j] - m); s += yp[r * D + j]; }
            float inv = (float)(1.0 / s);
            for (int64_t j = 0; j < D; j++) yp[r * D + j] *= inv;
        }
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_softmax_fwd(x->dtype, pt_data(x), pt_data(y), R, D);
#endif
    }
    pt_node *n = pt_node_new("softmax", softmax_backward, 1, (pt_tensor *[]){x});
    if (n) { n->i[0] = R; n->i[1] = D; pt_node_save(n, y); pt_node_add_output(n, y); }
    return y;
}

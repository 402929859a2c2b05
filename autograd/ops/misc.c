// misc.c — sinusoidal timestep embedding and the regression losses (MSE, L1).
// CPU fp32 reference here; CUDA kernels in misc.cu.
//
// Timestep embedding (diffusers get_timestep_embedding), t (B) -> (B, dim) f32:
//   half = dim / 2; freq_j = exp(-ln(max_period) * j / (half - downscale_freq_shift));
//   a_j = t * freq_j * scale; emb = [sin(a), cos(a)] ([cos, sin] when flip_sin_to_cos); an odd
//   dim gets a zero last column. Computed in f32 like diffusers. No gradient.
// Losses: mean(weight * (pred - target)^2) or mean(weight * |pred - target|) over all elements of
//   pred; weight broadcast to pred (e.g. (B,1,1,1) or (B,1,H,W)) or NULL. The result is an f32
//   scalar (0 dims) for every input dtype. Gradients to pred and target (not to weight); the L1
//   subgradient at 0 is 0.
#include <math.h>

#include "autograd/ops.h"
#include "autograd/ops/misc_cuda.h"
#include "tools/check.h"

static pt_tensor *contig(pt_tensor *x) { return pt_is_contiguous(x) ? x : pt_contiguous(x); }

// ---- timestep embedding ----------------------------------------------------------------------------
pt_tensor *pt_timestep_embedding(pt_tensor *t, int dim, int flip_sin_to_cos, float downscale_freq_shift, float scale,
                                 float max_period) {
    PT_CHECKF(t->ndim <= 1, "timestep_embedding: timesteps must be (B), got %d dims", t->ndim);
    PT_CHECKF(dim >= 1, "timestep_embedding: dim %d", dim);
    int half = dim / 2;
    PT_CHECKF(half == 0 || (float)half - downscale_freq_shift != 0.0f, "timestep_embedding: half dim equals the freq shift");
    int64_t B = pt_numel(t);
    pt_tensor *emb = pt_empty(t->device, PT_F32, PT_DIMS(B, dim));
    if (B == 0) return emb;
    t = contig(t);
    if (t->device == PT_CPU) {
        PT_CHECKF(t->dtype == PT_I64 || t->dtype == PT_F32, "CPU timestep_embedding: timesteps must be i64 or f32 (got %s)",
                  pt_dtype_name(t->dtype));
        float *e = pt_f32(emb);
        float neg_log = -logf(max_period);
        for (int64_t b = 0; b < B; b++) {
            float tb = t->dtype == PT_I64 ? (float)((const int64_t *)pt_data(t))[b] : ((const float *)pt_data(t))[b];
            float *row = e + b * dim;
            for (int j = 0; j < half; j++) {
                float freq = expf(neg_log * (float)j / ((float)half - downscale_freq_shift));
                float a = tb * freq * scale;
                row[flip_sin_to_cos ? half + j : j] = sinf(a);
                row[flip_sin_to_cos ? j : half + j] = cosf(a);
            }
            if (dim % 2) row[dim - 1] = 0.0f;
        }
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_timestep_embedding(t->dtype, pt_data(t), pt_data(emb), B, dim, flip_sin_to_cos, downscale_freq_shift,
                                   scale, max_period);
#endif
    }
    return emb;
}

// ---- losses --------------------------------------------------------------------------------------
// CPU: sum over pred's elements of w * err (double accumulation), or the gradient.
static void cpu_loss(const float *p, const float *tg, const float *w, const int64_t *ws, int ndim, const int64_t *shape,
                     int l1, double *sum, float gscale, float *dp, float *dt) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    int64_t idx[PT_MAX_DIMS] = {0}, wo = 0;
    double acc = 0;
    for (int64_t i = 0; i < n; i++) {
        float diff = p[i] - tg[i], wv = w ? w[wo] : 1.0f;
        if (sum) acc += (double)wv * (l1 ? fabsf(diff) : diff * diff);
        if (dp || dt) {
            float gr = gscale * wv * (l1 ? (float)((diff > 0) - (diff < 0)) : 2.0f * diff);
            if (dp) dp[i] = gr;
            if (dt) dt[i] = -gr;
        }
        for (int d = ndim - 1; d >= 0; d--) {   // advance the weight offset with the index
            wo += ws[d];
            if (++idx[d] < shape[d]) break;
            wo -= ws[d] * shape[d];
            idx[d] = 0;
        }
    }
    if (sum) *sum = acc;
}

// saved = {pred, target, weight|-}; n->i = {l1, has_weight, wstride[0..ndim)}.
static void loss_backward(pt_node *n) {
    pt_tensor *g = pt_node_grad_out(n, 0);
    pt_tensor *pred = n->saved[0], *target = n->saved[1], *w = n->i[1] ? n->saved[2] : NULL;
    int l1 = (int)n->i[0], ndim = pred->ndim;
    int64_t ws[PT_MAX_DIMS] = {0};
    for (int d = 0; d < ndim; d++) ws[d] = n->i[2 + d];
    if (g->dtype != PT_F32) g = pt_cast(g, PT_F32);
    int need_p = pt_node_needs_grad(n, 0), need_t = pt_node_needs_grad(n, 1);
    pt_tensor *dp = need_p ? pt_empty(pred->device, pred->dtype, pred->ndim, pred->shape) : NULL;
    pt_tensor *dt = need_t ? pt_empty(pred->device, pred->dtype, pred->ndim, pred->shape) : NULL;
    int64_t N = pt_numel(pred);
    if (N == 0) {
        // nothing to do
    } else if (pred->device == PT_CPU) {
        float gscale = pt_f32(g)[0] / (float)N;
        cpu_loss(pt_data(pred), pt_data(target), w ? pt_data(w) : NULL, ws, ndim, pred->shape, l1, NULL, gscale,
                 dp ? pt_data(dp) : NULL, dt ? pt_data(dt) : NULL);
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_loss_bwd(pred->dtype, l1, pt_data(pred), pt_data(target), w ? pt_data(w) : NULL, ws, ndim, pred->shape,
                         pt_data(g), dp ? pt_data(dp) : NULL, dt ? pt_data(dt) : NULL);
#endif
    }
    if (dp) pt_grad_accum(n->in[0], dp);
    if (dt) pt_grad_accum(n->in[1], dt);
}

static pt_tensor *loss_op(pt_tensor *pred, pt_tensor *target, pt_tensor *weight, int l1) {
    const char *op = l1 ? "l1_loss" : "mse_loss";
    if (!pt_same_shape(pred, target)) {
        char a[128], b[128];
        PT_RUNTIME("%s: pred %s and target %s differ in shape", op, pt_shape_str(pred, a, sizeof a), pt_shape_str(target, b, sizeof b));
    }
    PT_CHECKF(pred->device == target->device && pred->dtype == target->dtype, "%s: pred and target differ in device or dtype", op);
    pred = contig(pred);
    target = contig(target);
    int ndim = pred->ndim;
    int64_t ws[PT_MAX_DIMS] = {0};
    pt_tensor *w = NULL;
    if (weight) {
        PT_CHECKF(weight->device == pred->device, "%s: weight on another device than pred", op);
        PT_CHECKF(weight->ndim <= ndim, "%s: weight has more dims (%d) than pred (%d)", op, weight->ndim, ndim);
        PT_NO_GRAD_BEGIN
        w = weight->dtype == PT_F32 && pt_is_contiguous(weight) ? weight : pt_clone_nograd(weight, weight->device, PT_F32);
        PT_NO_GRAD_END
        int pad = ndim - w->ndim;
        for (int d = 0; d < ndim; d++) {
            int64_t s = d < pad ? 1 : w->shape[d - pad];
            PT_CHECKF(s == 1 || s == pred->shape[d], "%s: weight dim %d has size %lld, pred %lld (must be 1 or equal)", op, d,
                      (long long)s, (long long)pred->shape[d]);
            ws[d] = (d < pad || s == 1) ? 0 : w->stride[d - pad];
        }
    }
    pt_tensor *out = pt_empty(pred->device, PT_F32, 0, NULL);
    int64_t N = pt_numel(pred);
    if (pred->device == PT_CPU) {
        PT_CHECKF(pred->dtype == PT_F32, "CPU %s supports f32 only (got %s)", op, pt_dtype_name(pred->dtype));
        double s = 0;
        if (N) cpu_loss(pt_data(pred), pt_data(target), w ? pt_data(w) : NULL, ws, ndim, pred->shape, l1, &s, 0, NULL, NULL);
        pt_f32(out)[0] = N ? (float)(s / (double)N) : 0.0f;
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_loss_fwd(pred->dtype, l1, pt_data(pred), pt_data(target), w ? pt_data(w) : NULL, ws, ndim, pred->shape,
                         pt_data(out));
#endif
    }
    pt_node *n = pt_node_new(op, loss_backward, 2, (pt_tensor *[]){pred, target});
    if (n) {
        n->i[0] = l1; n->i[1] = w != NULL;
        for (int d = 0; d < ndim; d++) n->i[2 + d] = ws[d];
        pt_node_save(n, pred); pt_node_save(n, target);
        if (w) pt_node_save(n, w);
        pt_node_add_output(n, out);
    }
    return out;
}

pt_tensor *pt_mse_loss(pt_tensor *pred, pt_tensor *target, pt_tensor *weight) { return loss_op(pred, target, weight, 0); }
pt_tensor *pt_l1_loss(pt_tensor *pred, pt_tensor *target, pt_tensor *weight) { return loss_op(pred, target, weight, 1); }

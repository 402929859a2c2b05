// elementwise.c — add/sub/mul with broadcasting, scale, affine combinations.
// CPU fp32 reference here; CUDA kernels in elementwise.cu. Inputs may be strided views.
#include <string.h>

#include "autograd/ops.h"
#include "autograd/ops/elementwise_cuda.h"
#include "tools/check.h"

// Broadcast shapes a, b -> out (numpy rules, aligned at the last dim). Fills strides of a, b in
// out's index space (0 along broadcast dims).
static void broadcast(const pt_tensor *a, const pt_tensor *b, int *ndim, int64_t *shape, int64_t *sa, int64_t *sb) {
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int d = 0; d < n; d++) {
        int da = d - (n - a->ndim), db = d - (n - b->ndim);
        int64_t xa = da >= 0 ? a->shape[da] : 1, xb = db >= 0 ? b->shape[db] : 1;
        if (xa != xb && xa != 1 && xb != 1) {
            char s1[128], s2[128];
            PT_RUNTIME("shapes %s and %s cannot be broadcast (dim %d: %lld vs %lld)", pt_shape_str(a, s1, sizeof s1),
                       pt_shape_str(b, s2, sizeof s2), d, (long long)xa, (long long)xb);
        }
        shape[d] = xa > xb ? xa : xb;
        sa[d] = (da >= 0 && xa != 1) ? a->stride[da] : 0;
        sb[d] = (db >= 0 && xb != 1) ? b->stride[db] : 0;
    }
    *ndim = n;
}

// out = alpha*a + beta*b (+ gamma*a*b): one kernel covers add, sub, mul and affine forms.
static void cpu_combine(float *out, const float *a, const int64_t *sa, const float *b, const int64_t *sb,
                        int ndim, const int64_t *shape, float alpha, float beta, float gamma, float c) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    int64_t idx[PT_MAX_DIMS] = {0};
    int64_t oa = 0, ob = 0;
    for (int64_t i = 0; i < n; i++) {
        float x = a[oa], y = b ? b[ob] : 0.0f;
        out[i] = alpha * x + beta * y + gamma * x * y + c;
        for (int d = ndim - 1; d >= 0; d--) {
            oa += sa[d];
            if (b) ob += sb[d];
            if (++idx[d] < shape[d]) break;
            oa -= sa[d] * shape[d];
            if (b) ob -= sb[d] * shape[d];
            idx[d] = 0;
        }
    }
}

static pt_tensor *combine_raw(pt_tensor *a, pt_tensor *b, float alpha, float beta, float gamma, float c) {
    int ndim;
    int64_t shape[PT_MAX_DIMS], sa[PT_MAX_DIMS], sb[PT_MAX_DIMS];
    if (b) {
        PT_CHECKF(a->device == b->device, "elementwise op on tensors of different devices");
        PT_CHECKF(a->dtype == b->dtype, "elementwise op on dtypes %s and %s (cast first)", pt_dtype_name(a->dtype), pt_dtype_name(b->dtype));
        broadcast(a, b, &ndim, shape, sa, sb);
    } else {
        ndim = a->ndim;
        for (int d = 0; d < ndim; d++) { shape[d] = a->shape[d]; sa[d] = a->stride[d]; sb[d] = 0; }
    }
    pt_tensor *out = pt_empty(a->device, a->dtype, ndim, shape);
    if (pt_numel(out) == 0) return out;
    if (a->device == PT_CPU) {
        PT_CHECKF(a->dtype == PT_F32, "CPU elementwise ops support f32 only (got %s)", pt_dtype_name(a->dtype));
        cpu_combine(pt_f32(out), pt_data(a), sa, b ? pt_data(b) : NULL, sb, ndim, shape, alpha, beta, gamma, c);
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_combine(pt_data(out), a->dtype, pt_data(a), sa, b ? pt_data(b) : NULL, sb, ndim, shape, alpha, beta, gamma, c);
#endif
    }
    return out;
}

// dst += src, in place, no autograd: gradient accumulation into persistent buffers without a
// temporary (out aliases a: every element is read before it is written, at the same index).
void pt_accumulate_(pt_tensor *dst, const pt_tensor *src) {
    PT_CHECKF(pt_same_shape(dst, src) && dst->dtype == src->dtype && dst->device == src->device,
              "pt_accumulate_: shapes, dtypes and devices must match");
    PT_CHECKF(pt_is_contiguous(dst), "pt_accumulate_: the destination must be contiguous");
    if (pt_numel(dst) == 0) return;
    if (dst->device == PT_CPU) {
        PT_CHECKF(dst->dtype == PT_F32, "CPU elementwise ops support f32 only (got %s)", pt_dtype_name(dst->dtype));
        cpu_combine(pt_data(dst), pt_data(dst), dst->stride, pt_data(src), src->stride, dst->ndim, dst->shape, 1.0f, 1.0f, 0.0f, 0.0f);
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_combine(pt_data(dst), dst->dtype, pt_data(dst), dst->stride, pt_data(src), src->stride, dst->ndim, dst->shape,
                        1.0f, 1.0f, 0.0f, 0.0f);
#endif
    }
}

// ---- autograd glue ----------------------------------------------------------------------------
// n->f = {alpha, beta, gamma}; saved = {a, b} only when gamma != 0 (products need the inputs).
static void combine_backward(pt_node *n) {
    pt_tensor *g = pt_node_grad_out(n, 0);
    float alpha = (float)n->f[0], beta = (float)n->f[1], gamma = (float)n->f[2];
    pt_tensor *a = n->in[0], *b = n->in[1];
    for (int k = 0; k < 2; k++) {
        if (!pt_node_needs_grad(n, k)) continue;
        pt_tensor *self = k == 0 ? a : b;
        float lin = k == 0 ? alpha : beta;
        pt_tensor *gi;
        if (gamma != 0.0f) {
            pt_tensor *other = n->saved[k == 0 ? 1 : 0];
            gi = combine_raw(g, other, 0.0f, 0.0f, gamma, 0.0f);          // g * other * gamma
            if (lin != 0.0f) gi = combine_raw(gi, g, 1.0f, lin, 0.0f, 0.0f);
        } else {
            gi = lin == 1.0f ? g : combine_raw(g, NULL, lin, 0.0f, 0.0f, 0.0f);
        }
        pt_grad_accum(self, pt_sum_to_shape(gi, self->ndim, self->shape));
    }
}

static pt_tensor *combine(pt_tensor *a, pt_tensor *b, float alpha, float beta, float gamma, float c, const char *name) {
    pt_tensor *out = combine_raw(a, b, alpha, beta, gamma, c);
    pt_node *n = pt_node_new(name, combine_backward, b ? 2 : 1, (pt_tensor *[]){a, b});
    if (n) {
        n->f[0] = alpha; n->f[1] = beta; n->f[2] = gamma;
        if (gamma != 0.0f) { pt_node_save(n, a); pt_node_save(n, b); }
        pt_node_add_output(n, out);
    }
    return out;
}

pt_tensor *pt_add(pt_tensor *a, pt_tensor *b) { return combine(a, b, 1.0f, 1.0f, 0.0f, 0.0f, "add"); }
pt_tensor *pt_sub(pt_tensor *a, pt_tensor *b) { return combine(a, b, 1.0f, -1.0f, 0.0f, 0.0f, "sub"); }
pt_tensor *pt_mul(pt_tensor *a, pt_tensor *b) { return combine(a, b, 0.0f, 0.0f, 1.0f, 0.0f, "mul"); }
pt_tensor *pt_scale(pt_tensor *a, float s) { return combine(a, NULL, s, 0.0f, 0.0f, 0.0f, "scale"); }
pt_tensor *pt_add_scalar(pt_tensor *a, float s) { return combine(a, NULL, 1.0f, 0.0f, 0.0f, s, "add_scalar"); }
pt_tensor *pt_axpby(pt_tensor *a, float alpha, pt_tensor *b, float beta) {
    PT_CHECKF(pt_same_shape(a, b), "pt_axpby needs equal shapes");
    return combine(a, b, alpha, beta, 0.0f, 0.0f, "axpby");
}

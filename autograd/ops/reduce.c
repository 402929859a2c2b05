// reduce.c — sum, mean, and sum-to-shape (the reduction of broadcast gradients).
// CPU fp32 reference (double accumulation); CUDA kernel in elementwise.cu.
#include "autograd/ops.h"
#include "autograd/ops/elementwise_cuda.h"
#include "tools/check.h"

// Sum x over the dims where out_shape (same ndim after left-padding with 1s) is 1.
static pt_tensor *sum_to_raw(pt_tensor *x, int ndim, const int64_t *shape) {
    PT_CHECKF(ndim <= x->ndim, "sum_to_shape: target has more dims than the input");
    int64_t oshape[PT_MAX_DIMS];
    int pad = x->ndim - ndim;
    for (int d = 0; d < x->ndim; d++) {
        oshape[d] = d < pad ? 1 : shape[d - pad];
        PT_CHECKF(oshape[d] == 1 || oshape[d] == x->shape[d], "sum_to_shape: dim %d is %lld, target %lld", d,
                  (long long)x->shape[d], (long long)oshape[d]);
    }
    pt_tensor *out = pt_empty(x->device, x->dtype, ndim, shape);
    if (x->device == PT_CPU) {
        PT_CHECKF(x->dtype == PT_F32, "CPU reductions support f32 only");
        int64_t on = pt_numel(out), n = pt_numel(x);
        double *acc = pt_calloc((size_t)(on ? on : 1), sizeof(double));
        const float *xp = pt_data(x);
        int64_t idx[PT_MAX_DIMS] = {0};
        for (int64_t i = 0; i < n; i++) {
            int64_t xo = 0, oo = 0;
            for (int d = 0; d < x->ndim; d++) {
                xo += idx[d] * x->stride[d];
                oo = oo * oshape[d] + (oshape[d] == 1 ? 0 : idx[d]);
            }
            acc[oo] += xp[xo];
            for (int d = x->ndim - 1; d >= 0; d--) { if (++idx[d] < x->shape[d]) break; idx[d] = 0; }
        }
        float *op = pt_f32(out);
        for (int64_t i = 0; i < on; i++) op[i] = (float)acc[i];
        free(acc);
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_sum_to(pt_data(out), pt_data(x), x->stride, x->dtype, x->ndim, x->shape, oshape);
#endif
    }
    return out;
}

// Expand g (shape of the reduced result) back to the input's shape, times `scale`.
static pt_tensor *expand_like(pt_tensor *g, pt_tensor *like, float scale) {
    // broadcasting add onto zeros gives the expansion; one fused kernel via combine(zeros, g)
    pt_tensor *z = pt_zeros(like->device, g->dtype, like->ndim, like->shape);
    return pt_axpby(z, 0.0f, pt_add(z, g), scale);
}

static void sum_to_backward(pt_node *n) {
    pt_tensor *g = pt_node_grad_out(n, 0);
    pt_tensor *x = n->in[0];
    pt_grad_accum(x, expand_like(g, x, (float)n->f[0]));
}

static pt_tensor *reduce_op(pt_tensor *x, int ndim, const int64_t *shape, float scale, const char *name) {
    pt_tensor *out = sum_to_raw(x, ndim, shape);
    if (scale != 1.0f) {
        PT_NO_GRAD_BEGIN
        pt_tensor *s = pt_scale(out, scale);
        pt_release(out);
        out = s;
        PT_NO_GRAD_END
    }
    pt_node *n = pt_node_new(name, sum_to_backward, 1, (pt_tensor *[]){x});
    if (n) { n->f[0] = scale; pt_node_add_output(n, out); }
    return out;
}

pt_tensor *pt_sum_to_shape(pt_tensor *x, int ndim, const int64_t *shape) {
    int same = ndim == x->ndim;
    for (int d = 0; same && d < ndim; d++) same = shape[d] == x->shape[d];
    if (same) return pt_reshape(x, x->ndim, x->shape);   // a view that routes the gradient
    return reduce_op(x, ndim, shape, 1.0f, "sum_to_shape");
}
pt_tensor *pt_sum(pt_tensor *x) { return reduce_op(x, 0, NULL, 1.0f, "sum"); }
pt_tensor *pt_mean(pt_tensor *x) {
    int64_t n = pt_numel(x);
    return reduce_op(x, 0, NULL, n ? 1.0f / (float)n : 0.0f, "mean");
}

// gradcheck.h — central finite differences against the autograd gradients (CPU, f32 ops,
// double-accumulated losses). Used by every op test.
//
//   loss(x) = sum(f(x) * R)   with R a fixed random tensor, so dloss/dout = R.
//   analytic: pt_backward; numeric: (loss(x + eps e_j) - loss(x - eps e_j)) / 2eps for up to
//   `max_checks` elements j of each input (all when the input is small).
// Returns the worst relative error ||analytic - numeric|| / ||numeric|| over the inputs.
#pragma once
#include "autograd/ops.h"
#include "tests/test_util.h"

typedef pt_tensor *(*gc_fn)(pt_tensor **in, int n_in, void *ctx);

static inline double gc_loss(gc_fn f, pt_tensor **in, int n_in, void *ctx, const float *R) {
    double acc = 0;
    int mark = pt_scope_begin();
    PT_NO_GRAD_BEGIN
    pt_tensor *out = f(in, n_in, ctx);
    int64_t n = pt_numel(out);
    float *o = (float *)pt_malloc(sizeof(float) * (size_t)(n ? n : 1));
    pt_copy_to_host_f32(out, o);
    for (int64_t i = 0; i < n; i++) acc += (double)o[i] * (double)R[i];
    free(o);
    PT_NO_GRAD_END
    pt_scope_end(mark, NULL);
    return acc;
}

// Random f32 CPU leaf that requires grad.
static inline pt_tensor *gc_input(int ndim, const int64_t *shape, double scale) {
    pt_tensor *t = pt_empty(PT_CPU, PT_F32, ndim, shape);
    float *p = pt_f32(t);
    for (int64_t i = 0; i < pt_numel(t); i++) p[i] = (float)(scale * tu_normal());
    t->requires_grad = 1;
    return t;
}

static inline double gradcheck(const char *label, gc_fn f, pt_tensor **in, int n_in, void *ctx, double eps, int max_checks) {
    int mark = pt_scope_begin();
    for (int k = 0; k < n_in; k++) if (in[k]->grad) { pt_release(in[k]->grad); in[k]->grad = NULL; }
    pt_tensor *out = f(in, n_in, ctx);
    int64_t no = pt_numel(out);
    float *R = (float *)pt_malloc(sizeof(float) * (size_t)(no ? no : 1));
    for (int64_t i = 0; i < no; i++) R[i] = (float)tu_normal();
    pt_tensor *Rt = pt_from_f32(PT_CPU, PT_F32, out->ndim, out->shape, R);
    pt_tensor *loss = pt_sum(pt_mul(out, Rt));
    pt_backward(loss, NULL);
    double worst = 0;
    for (int k = 0; k < n_in; k++) {
        pt_tensor *x = in[k];
        if (!x->requires_grad) continue;
        int64_t n = pt_numel(x);
        float *xp = pt_f32(x);
        float *ga = (float *)pt_calloc((size_t)(n ? n : 1), sizeof(float));
        if (x->grad) pt_copy_to_host_f32(x->grad, ga);
        double num2 = 0, den2 = 0;
        int64_t step = (max_checks > 0 && n > max_checks) ? n / max_checks : 1;
        for (int64_t j = 0; j < n; j += step) {
            float save = xp[j];
            xp[j] = save + (float)eps;
            double lp = gc_loss(f, in, n_in, ctx, R);
            xp[j] = save - (float)eps;
            double lm = gc_loss(f, in, n_in, ctx, R);
            xp[j] = save;
            double g = (lp - lm) / (2 * eps);
            num2 += (ga[j] - g) * (ga[j] - g);
            den2 += g * g;
        }
        double rel = den2 > 0 ? sqrt(num2 / den2) : sqrt(num2);
        if (rel > worst) worst = rel;
        if (rel > 1e-2) printf("  gradcheck %s: input %d relative error %.3g\n", label, k, rel);
        free(ga);
    }
    free(R);
    pt_scope_end(mark, NULL);
    return worst;
}

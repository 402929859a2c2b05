// gpu_check.h — compare an op (or a whole model function) on CUDA against the CPU reference:
// forward output and the gradients of every input that requires grad, for loss = sum(out * R).
// Used by every tests/gpu/gpu_*.c (built only with CUDA; run on the device by tests/gpu/run.sh).
#pragma once
#include "autograd/ops.h"
#include "tests/gradcheck.h"

typedef struct gpu_result { double out_err, grad_err; } gpu_result;

// Runs fn on the CPU inputs (f32) and on copies converted to (PT_CUDA, dt). Relative errors
// ||gpu - cpu|| / ||cpu|| of the output and the worst input gradient.
static inline gpu_result gpu_compare(gc_fn fn, pt_tensor **cpu_in, int n_in, void *ctx, pt_dtype dt) {
    gpu_result r = {0, 0};
    int mark = pt_scope_begin();
    for (int k = 0; k < n_in; k++) if (cpu_in[k]->grad) { pt_release(cpu_in[k]->grad); cpu_in[k]->grad = NULL; }
    pt_tensor *out = fn(cpu_in, n_in, ctx);
    int64_t no = pt_numel(out);
    float *R = (float *)pt_malloc(sizeof(float) * (size_t)no);
    for (int64_t i = 0; i < no; i++) R[i] = (float)tu_normal();
    pt_tensor *Rc = pt_from_f32(PT_CPU, PT_F32, out->ndim, out->shape, R);
    int any_grad = out->requires_grad;
    if (any_grad) pt_backward(pt_sum(pt_mul(out, Rc)), NULL);
    float *oc = (float *)pt_malloc(sizeof(float) * (size_t)no);
    pt_copy_to_host_f32(out, oc);

    pt_tensor *gin[PT_NODE_MAX_IN];
    for (int k = 0; k < n_in; k++) {
        pt_dtype kd = cpu_in[k]->dtype == PT_F32 ? dt : cpu_in[k]->dtype;
        gin[k] = pt_clone_nograd(cpu_in[k], PT_CUDA, kd);
        gin[k]->requires_grad = cpu_in[k]->requires_grad;
    }
    pt_tensor *og = fn(gin, n_in, ctx);
    float *o2 = (float *)pt_malloc(sizeof(float) * (size_t)no);
    pt_copy_to_host_f32(og, o2);
    r.out_err = rel_err_f32(o2, oc, no);
    if (any_grad) {
        pt_tensor *Rg = pt_from_f32(PT_CUDA, og->dtype, og->ndim, og->shape, R);
        pt_backward(pt_sum(pt_mul(og, Rg)), NULL);
        for (int k = 0; k < n_in; k++) {
            if (!cpu_in[k]->requires_grad || !cpu_in[k]->grad) continue;
            int64_t n = pt_numel(cpu_in[k]);
            float *a = (float *)pt_malloc(sizeof(float) * (size_t)n), *b = (float *)pt_malloc(sizeof(float) * (size_t)n);
            pt_copy_to_host_f32(cpu_in[k]->grad, a);
            if (gin[k]->grad) pt_copy_to_host_f32(gin[k]->grad, b); else for (int64_t i = 0; i < n; i++) b[i] = 0;
            double e = rel_err_f32(b, a, n);
            if (e > r.grad_err) r.grad_err = e;
            free(a); free(b);
        }
    }
    free(R); free(oc); free(o2);
    pt_scope_end(mark, NULL);
    return r;
}

// Report one comparison as a test line; tolerances from the autograd issue: f32 1e-4, bf16 1e-2.
#define GPU_EXPECT(label, res, dt)                                                                  \
    do { double tol_ = (dt) == PT_F32 ? 1e-4 : 1e-2;                                                \
         printf("  %-40s %-5s out %.2e grad %.2e\n", label, pt_dtype_name(dt), (res).out_err, (res).grad_err); \
         EXPECT((res).out_err <= tol_ && (res).grad_err <= tol_, "%s (%s): out %.3g grad %.3g > %g", label, \
                pt_dtype_name(dt), (res).out_err, (res).grad_err, tol_); } while (0)

// optim.h — AdamW, global-norm gradient clipping and gradient zeroing on ONE flat fp32 buffer.
//
// Layout (as in llm.c): every trainable parameter lives in one contiguous fp32 buffer of n
// elements; the gradients in a second one with the same layout; AdamW's m and v are two more.
// A list of segments {offset, count, weight_decay} covers [0, n) in order (contiguous, no gaps)
// and says which ranges get weight decay. PyTorch/diffusers apply decay to every parameter by
// default, so segs = NULL means one segment with decay on. Adjacent segments with the same flag are
// merged internally (so a UNet's ~700 tensors become a few runs).
//
// AdamW, exactly torch.optim.AdamW (amsgrad off, maximize off), step t = 1, 2, ...:
//   p <- p * (1 - lr*wd)                      (wd = 0 for segments without decay)
//   m <- b1*m + (1-b1)*g ;  v <- b2*v + (1-b2)*g^2
//   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// The CPU step computes each element in double from the stored fp32 values and rounds p, m, v
// once (the reference); the CUDA step computes in fp32 (differences are a few ulp).
//
// Clipping (torch.nn.utils.clip_grad_norm_, norm type 2): norm = ||g||_2 over the whole buffer,
// g *= min(1, max_norm / (norm + 1e-6)). Returns the pre-clip norm for logging. max_norm <= 0
// only measures. If the norm is not finite the gradients are left untouched: the caller must check
// the returned value and skip the step (torch would instead turn every gradient into NaN).
//
// Checkpointing: the state is (step, m[n], v[n]); pt_adamw_get_state / set_state copy it to / from
// plain host arrays (also when the state lives on the GPU).
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_param_segment {
    int64_t offset, count;
    int weight_decay;        // 1: apply the optimizer's weight decay to this range
} pt_param_segment;

typedef struct pt_adamw_config {
    double beta1, beta2, eps, weight_decay;
} pt_adamw_config;

typedef struct pt_adamw {
    pt_adamw_config cfg;
    int64_t n;               // elements of params / grads / m / v
    int64_t step;            // updates done so far (t of the last update)
    float *m, *v;            // (n,) host memory, or device memory when on_device
    int on_device;
    int nruns;               // merged decay runs covering [0, n)
    int64_t *run_end;        // (nruns,) exclusive end of each run, ascending (host)
    int *run_decay;          // (nruns,) 0/1 (host)
    void *d_run_end, *d_run_decay;  // device copies (CUDA)
} pt_adamw;

// torch.optim.AdamW defaults: betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2.
pt_adamw_config pt_adamw_config_default(void);

// Host state (m = v = 0, step 0). segs may be NULL (all decay). Bad segments fail with PT_USAGE
// naming the segment index.
void pt_adamw_init(pt_adamw *o, const pt_adamw_config *cfg, int64_t n, const pt_param_segment *segs, int nsegs);
void pt_adamw_free(pt_adamw *o);   // host or device state
// One fused pass over all n parameters; increments o->step first.
void pt_adamw_step(pt_adamw *o, float *params, const float *grads, double lr);

// State save / restore through host arrays of n floats.
void pt_adamw_get_state(const pt_adamw *o, int64_t *step, float *m, float *v);
void pt_adamw_set_state(pt_adamw *o, int64_t step, const float *m, const float *v);

// Gradients (host).
double pt_grad_norm(const float *g, int64_t n);                    // double accumulation
double pt_clip_grad_norm(float *g, int64_t n, double max_norm);    // returns the pre-clip norm
void pt_grad_zero(float *g, int64_t n);

#ifdef POSETUNE_HAVE_CUDA
// Device state (m, v zeroed on the compute stream).
void pt_adamw_init_cuda(pt_adamw *o, const pt_adamw_config *cfg, int64_t n, const pt_param_segment *segs, int nsegs);
// One kernel launch over the whole buffer (grid-stride). If bf16_out is not NULL, the updated
// parameters are also written there as bf16 (round to nearest even) in the same pass.
void pt_adamw_step_cuda(pt_adamw *o, float *d_params, const float *d_grads, double lr, uint16_t *d_bf16_out);
// Two-stage reduction (per-block partial sums, then one block). Both sync to return the norm.
double pt_grad_norm_cuda(const float *d_g, int64_t n);
double pt_clip_grad_norm_cuda(float *d_g, int64_t n, double max_norm);
// Asynchronous variant: the norm stays on the device (d_norm_out, one float) and the scaling
// kernel reads it there; nothing waits for the host.
void pt_clip_grad_norm_cuda_async(float *d_g, int64_t n, float max_norm, float *d_norm_out);
void pt_grad_zero_cuda(float *d_g, int64_t n);
// internal (optim.c <-> optim_cuda.cu)
void pt_adamw_cuda_alloc_state(pt_adamw *o);
void pt_adamw_cuda_free_state(pt_adamw *o);
void pt_adamw_cuda_download_state(const pt_adamw *o, float *m, float *v);
void pt_adamw_cuda_upload_state(pt_adamw *o, const float *m, const float *v);
#endif

#ifdef __cplusplus
}
#endif

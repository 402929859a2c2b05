// ops.h — every differentiable op. One op family a file in autograd/ops/: the fp32 CPU reference,
// the dispatch + autograd glue (<family>.c), and the CUDA kernels beside it (<family>.cu, with
// its declarations in <family>_cuda.h). All inputs must be on one device; results are on it too.
// CPU supports f32 (and i64 where noted); CUDA supports f32, bf16 and f16 (fp32 accumulation).
// Every function returns a new tensor registered in the current scope.
#pragma once
#include "autograd/tape.h"
#include "autograd/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---- elementwise (ops/elementwise.c) ---------------------------------------------------------
pt_tensor *pt_add(pt_tensor *a, pt_tensor *b);   // numpy-style broadcasting
pt_tensor *pt_sub(pt_tensor *a, pt_tensor *b);
pt_tensor *pt_mul(pt_tensor *a, pt_tensor *b);
pt_tensor *pt_scale(pt_tensor *a, float s);      // a * s
pt_tensor *pt_add_scalar(pt_tensor *a, float s); // a + s
pt_tensor *pt_axpby(pt_tensor *a, float alpha, pt_tensor *b, float beta);  // alpha a + beta b (same shape)

// ---- reductions (ops/reduce.c) --------------------------------------------------------------
pt_tensor *pt_sum(pt_tensor *x);                 // scalar (ndim 0)
pt_tensor *pt_mean(pt_tensor *x);                // scalar
// Sum of x over the dims where `shape` has 1 (keepdim), e.g. reducing a broadcast gradient.
pt_tensor *pt_sum_to_shape(pt_tensor *x, int ndim, const int64_t *shape);

// ---- shape and layout (ops/shape.c) -----------------------------------------------------------
pt_tensor *pt_reshape(pt_tensor *x, int ndim, const int64_t *shape);  // one -1 allowed; a view when contiguous
pt_tensor *pt_permute(pt_tensor *x, const int *perm);                  // view
pt_tensor *pt_transpose(pt_tensor *x, int d0, int d1);                 // view
pt_tensor *pt_contiguous(pt_tensor *x);                                // x itself (new reference) if contiguous
pt_tensor *pt_slice(pt_tensor *x, int dim, int64_t start, int64_t end); // view
pt_tensor *pt_concat(pt_tensor *const *xs, int n, int dim);
pt_tensor *pt_cast(pt_tensor *x, pt_dtype dt);                         // gradient cast back to x's dtype
pt_tensor *pt_to_device(pt_tensor *x, pt_device dev);
pt_tensor *pt_repeat(pt_tensor *x, int dim, int64_t times);            // tile along dim: (.., n, ..) -> (.., n*times, ..)

// ---- matrix products (ops/matmul.c) ----------------------------------------------------------
pt_tensor *pt_linear(pt_tensor *x, pt_tensor *w, pt_tensor *b);   // x (..., in) w (out, in) b (out)|NULL -> (..., out)
pt_tensor *pt_matmul(pt_tensor *a, pt_tensor *b);                 // (..., M, K) @ (..., K, N); b may be 2-D

// ---- convolution and resampling (ops/conv2d.c, ops/resample.c) -------------------------------
pt_tensor *pt_conv2d(pt_tensor *x, pt_tensor *w, pt_tensor *b, int stride, int pad);  // x (B,C,H,W) w (O,C,kh,kw) b (O)|NULL
pt_tensor *pt_pad2d(pt_tensor *x, int left, int right, int top, int bottom);         // zero padding
pt_tensor *pt_upsample_nearest2x(pt_tensor *x);                                       // (B,C,H,W) -> (B,C,2H,2W)
pt_tensor *pt_max_pool2d(pt_tensor *x, int k, int stride);
pt_tensor *pt_avg_pool2d(pt_tensor *x, int k, int stride);

// ---- normalisation (ops/norm.c) ---------------------------------------------------------------
pt_tensor *pt_group_norm(pt_tensor *x, int groups, pt_tensor *w, pt_tensor *b, float eps);  // x (B, C, *); fp32 statistics
pt_tensor *pt_group_norm_silu(pt_tensor *x, int groups, pt_tensor *w, pt_tensor *b, float eps);  // fused silu(group_norm(x))
pt_tensor *pt_layer_norm(pt_tensor *x, pt_tensor *w, pt_tensor *b, float eps);  // over the last dim; w, b may be NULL

// ---- activations (ops/activation.c) ----------------------------------------------------------
pt_tensor *pt_silu(pt_tensor *x);
pt_tensor *pt_gelu(pt_tensor *x, int tanh_approx);
pt_tensor *pt_quick_gelu(pt_tensor *x);         // x * sigmoid(1.702 x)
pt_tensor *pt_geglu(pt_tensor *x);              // (..., 2D) -> (..., D): x[..., :D] * gelu(x[..., D:])
pt_tensor *pt_softmax(pt_tensor *x);            // over the last dim

// ---- attention (ops/attention.c) -------------------------------------------------------------
// q (B, Sq, H*D), k (B, Skv, H*D), v (B, Skv, H*Dv) -> (B, Sq, H*Dv); scale <= 0 means 1/sqrt(D).
// Memory-efficient: backward keeps q, k, v, the output and the row log-sum-exp (B, H, Sq), never
// the (Sq, Skv) probability matrix.
pt_tensor *pt_attention(pt_tensor *q, pt_tensor *k, pt_tensor *v, int heads, float scale);

// ---- embeddings and losses (ops/misc.c) ------------------------------------------------------
// Sinusoidal timestep embedding as diffusers' get_timestep_embedding: t (B) i64 or f32 -> (B, dim) f32.
pt_tensor *pt_timestep_embedding(pt_tensor *t, int dim, int flip_sin_to_cos, float downscale_freq_shift,
                                 float scale, float max_period);
// mean(weight * (pred - target)^2); weight broadcastable to pred (e.g. (B,1,1,1) per-sample or
// (B,1,H,W) regional) or NULL. Gradient flows to pred only.
pt_tensor *pt_mse_loss(pt_tensor *pred, pt_tensor *target, pt_tensor *weight);
pt_tensor *pt_l1_loss(pt_tensor *pred, pt_tensor *target, pt_tensor *weight);

#ifdef __cplusplus
}
#endif

// activation_cuda.h — CUDA kernels of activation.c. Tensors contiguous, of dtype dt.
#pragma once
// Activation kinds shared by activation.c and activation.cu (also in the CPU-only build).
enum { PT_ACT_SILU = 0, PT_ACT_GELU = 1, PT_ACT_GELU_TANH = 2, PT_ACT_QUICK_GELU = 3 };

#ifdef POSETUNE_HAVE_CUDA
#include <stdint.h>

#include "autograd/dtype.h"

#ifdef __cplusplus
extern "C" {
#endif
// y = f(x) (n elements).
void pt_cuda_act_fwd(pt_dtype dt, int kind, const void *x, void *y, int64_t n);
// dx = dy * f'(x).
void pt_cuda_act_bwd(pt_dtype dt, int kind, const void *x, const void *dy, void *dx, int64_t n);
// x (R, 2D) -> y (R, D) = x[:, :D] * gelu(x[:, D:]).
void pt_cuda_geglu_fwd(pt_dtype dt, const void *x, void *y, int64_t R, int64_t D);
// dx (R, 2D) from dy (R, D).
void pt_cuda_geglu_bwd(pt_dtype dt, const void *x, const void *dy, void *dx, int64_t R, int64_t D);
// Softmax over rows of length D: y (R, D); backward dx = y * (dy - sum(dy * y)).
void pt_cuda_softmax_fwd(pt_dtype dt, const void *x, void *y, int64_t R, int64_t D);
void pt_cuda_softmax_bwd(pt_dtype dt, const void *y, const void *dy, void *dx, int64_t R, int64_t D);
#ifdef __cplusplus
}
#endif
#endif

// conv2d_cuda.h — CUDA side of conv2d.c: im2col / col2im (the GEMMs go through pt_gemm).
#pragma once
#include <stdint.h>

#include "autograd/dtype.h"

// Convolution geometry of one image: x (C, H, W), kernel (kh, kw), output (Ho, Wo).
// (Shared with the CPU path, so outside the CUDA guard.)
typedef struct pt_conv_geom { int64_t C, H, W, kh, kw, stride, pad, Ho, Wo; } pt_conv_geom;

// Bound of the CUDA column buffer per GEMM call (images are processed in chunks that fit it;
// at least one image). 0 restores the default (256 MiB). Defined in conv2d.c; tests use it to
// force several chunks.
void pt_conv2d_set_workspace_bytes(int64_t bytes);

#ifdef POSETUNE_HAVE_CUDA
#ifdef __cplusplus
extern "C" {
#endif

// x (nb, C, H, W) -> col (nb, C*kh*kw, Ho*Wo), row (c*kh + ki)*kw + kj, column ho*Wo + wo;
// taps that fall into the zero padding are 0.
void pt_cuda_im2col(const void *x, void *col, pt_dtype dt, int64_t nb, const pt_conv_geom *g);
// The adjoint: dx (nb, C, H, W) = sum of the dcol entries that read each input element
// (a gather over the kernel taps, no atomics; dx is overwritten).
void pt_cuda_col2im(const void *dcol, void *dx, pt_dtype dt, int64_t nb, const pt_conv_geom *g);
#ifdef __cplusplus
}
#endif
#endif

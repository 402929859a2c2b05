// elementwise_cuda.h — CUDA kernels of elementwise.c and reduce.c.
#pragma once
#ifdef POSETUNE_HAVE_CUDA
#include <stdint.h>

#include "autograd/dtype.h"

#ifdef __cplusplus
extern "C" {
#endif
// out (contiguous, shape) = alpha*a + beta*b + gamma*a*b + c, a/b addressed by strides (0 = broadcast).
void pt_cuda_combine(void *out, pt_dtype dt, const void *a, const int64_t *sa, const void *b, const int64_t *sb,
                     int ndim, const int64_t *shape, float alpha, float beta, float gamma, float c);
// out (contiguous, out_shape) = sum of x over the dims where out_shape is 1 (x strided, in_shape).
void pt_cuda_sum_to(void *out, const void *x, const int64_t *xs, pt_dtype dt, int ndim, const int64_t *in_shape,
                    const int64_t *out_shape);
#ifdef __cplusplus
}
#endif
#endif

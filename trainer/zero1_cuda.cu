// zero1_cuda.cu — the one kernel ZeRO-1 needs besides AdamW: scaling the gradient shard by the
// global clipping coefficient (the norm is global, so optim's clip kernel cannot be reused).
#include <stdint.h>

#include "autograd/cuda_common.h"

// declared in trainer/zero1.h (not included: it pulls in C-only headers)

__global__ void zero1_scale_kernel(float *__restrict__ x, int64_t n, float s) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) x[i] *= s;
}

extern "C" void pt_zero1_scale_cuda(float *x, int64_t n, float s) {
    if (n <= 0) return;
    int64_t blocks = (n + 255) / 256;
    int g = (int)(blocks < 65535 ? blocks : 65535);
    zero1_scale_kernel<<<g, 256, 0, pt_cuda()->stream>>>(x, n, s);
    CUDA_LAUNCH_CHECK();
}

// optim_cuda.cu — AdamW (one fused launch over the flat buffer, optional bf16 copy of the
// updated parameters), two-stage gradient-norm reduction, clipping and zeroing on the GPU.
// Formulas: optim.h. Everything runs on the engine's compute stream (pt_cuda()->stream).
#include <cuda_bf16.h>
#include <math.h>

#include "autograd/cuda_common.h"
#include "trainer/optim.h"

static const int kThreads = 256;
static const int kNormBlocks = 1024;  // stage-1 blocks of the norm reduction (fixed: deterministic)

static int grid_for(int64_t n) {
    int64_t want = (n + kThreads - 1) / kThreads;
    int64_t cap = (int64_t)pt_cuda()->sm_count * 16;
    if (want > cap) want = cap;
    return want < 1 ? 1 : (int)want;
}

// ---------------------------------------------------------------- AdamW

// omb1/omb2 are 1 - beta computed in double on the host (as torch does): 1 - 0.999f is off by 1e-5.
// Each thread walks i = tid, tid + stride, ... ; its run index only moves forward, so after one
// binary search it advances with a cursor (runs are few; the loads hit cache).
__global__ void adamw_kernel(float *__restrict__ p, const float *__restrict__ g, float *__restrict__ m,
                             float *__restrict__ v, __nv_bfloat16 *__restrict__ out_bf16, int64_t n,
                             const int64_t *__restrict__ run_end, const int *__restrict__ run_decay, int nruns,
                             float b1, float omb1, float b2, float omb2, float eps, float step_size,
                             float inv_sqrt_bc2, float decay_factor) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    if (i >= n) return;
    int lo = 0, hi = nruns - 1;  // first run with end > i
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (run_end[mid] > i) hi = mid; else lo = mid + 1;
    }
    int r = lo;
    int64_t end = run_end[r];
    float dec = run_decay[r] ? decay_factor : 1.0f;
    for (; i < n; i += stride) {
        while (i >= end) { r++; end = run_end[r]; dec = run_decay[r] ? decay_factor : 1.0f; }
        float gi = g[i];
        float pi = p[i] * dec;
        float mi = b1 * m[i] + omb1 * gi;
        float vi = b2 * v[i] + omb2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        pi -= step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
        p[i] = pi;
        if (out_bf16) out_bf16[i] = __float2bfloat16(pi);
    }
}

extern "C" void pt_adamw_cuda_alloc_state(pt_adamw *o) {
    cudaStream_t st = pt_cuda()->stream;
    size_t bytes = sizeof(float) * (size_t)(o->n > 0 ? o->n : 1);
    o->m = (float *)pt_cuda_alloc(bytes);
    o->v = (float *)pt_cuda_alloc(bytes);
    CUDA_CHECK(cudaMemsetAsync(o->m, 0, bytes, st));
    CUDA_CHECK(cudaMemsetAsync(o->v, 0, bytes, st));
    o->d_run_end = pt_cuda_alloc(sizeof(int64_t) * o->nruns);
    o->d_run_decay = pt_cuda_alloc(sizeof(int) * o->nruns);
    CUDA_CHECK(cudaMemcpyAsync(o->d_run_end, o->run_end, sizeof(int64_t) * o->nruns, cudaMemcpyHostToDevice, st));
    CUDA_CHECK(cudaMemcpyAsync(o->d_run_decay, o->run_decay, sizeof(int) * o->nruns, cudaMemcpyHostToDevice, st));
    CUDA_CHECK(cudaStreamSynchronize(st));  // the host tables may be freed by the caller later
    o->on_device = 1;
}

extern "C" void pt_adamw_cuda_free_state(pt_adamw *o) {
    size_t bytes = sizeof(float) * (size_t)(o->n > 0 ? o->n : 1);
    pt_cuda_free(o->m, bytes);
    pt_cuda_free(o->v, bytes);
    pt_cuda_free(o->d_run_end, sizeof(int64_t) * o->nruns);
    pt_cuda_free(o->d_run_decay, sizeof(int) * o->nruns);
    o->m = o->v = NULL;
    o->d_run_end = o->d_run_decay = NULL;
    o->on_device = 0;
}

extern "C" void pt_adamw_cuda_download_state(const pt_adamw *o, float *m, float *v) {
    cudaStream_t st = pt_cuda()->stream;
    CUDA_CHECK(cudaMemcpyAsync(m, o->m, sizeof(float) * o->n, cudaMemcpyDeviceToHost, st));
    CUDA_CHECK(cudaMemcpyAsync(v, o->v, sizeof(float) * o->n, cudaMemcpyDeviceToHost, st));
    CUDA_CHECK(cudaStreamSynchronize(st));
}

extern "C" void pt_adamw_cuda_upload_state(pt_adamw *o, const float *m, const float *v) {
    cudaStream_t st = pt_cuda()->stream;
    CUDA_CHECK(cudaMemcpyAsync(o->m, m, sizeof(float) * o->n, cudaMemcpyHostToDevice, st));
    CUDA_CHECK(cudaMemcpyAsync(o->v, v, sizeof(float) * o->n, cudaMemcpyHostToDevice, st));
    CUDA_CHECK(cudaStreamSynchronize(st));
}

extern "C" void pt_adamw_step_cuda(pt_adamw *o, float *d_params, const float *d_grads, double lr,
                                   uint16_t *d_bf16_out) {
    PT_CHECKF(o->on_device, "optimizer: pt_adamw_step_cuda needs device state (pt_adamw_init_cuda)");
    o->step++;
    if (o->n == 0) return;
    double bc1 = 1.0 - pow(o->cfg.beta1, (double)o->step), bc2 = 1.0 - pow(o->cfg.beta2, (double)o->step);
    adamw_kernel<<<grid_for(o->n), kThreads, 0, pt_cuda()->stream>>>(
        d_params, d_grads, o->m, o->v, (__nv_bfloat16 *)d_bf16_out, o->n, (const int64_t *)o->d_run_end,
        (const int *)o->d_run_decay, o->nruns, (float)o->cfg.beta1, (float)(1.0 - o->cfg.beta1),
        (float)o->cfg.beta2, (float)(1.0 - o->cfg.beta2), (float)o->cfg.eps,
        (float)(lr / bc1), (float)(1.0 / sqrt(bc2)), (float)(1.0 - lr * o->cfg.weight_decay));
    CUDA_LAUNCH_CHECK();
}

// ---------------------------------------------------------------- gradient norm

__device__ __forceinline__ float warp_sum(float x) {
    for (int off = 16; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
    return x;
}

// Stage 1: block b writes the sum of squares of its grid-stride share into partial[b].
__global__ void sumsq_partial_kernel(const float *__restrict__ g, int64_t n, float *__restrict__ partial) {
    __shared__ float warps[32];
    float s = 0.0f;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float x = g[i];
        s += x * x;
    }
    s = warp_sum(s);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) warps[warp] = s;
    __syncthreads();
    if (warp == 0) {
        s = lane < (int)(blockDim.x >> 5) ? warps[lane] : 0.0f;
        s = warp_sum(s);
        if (lane == 0) partial[blockIdx.x] = s;
    }
}

// Stage 2: one block sums the partials in double and writes sqrt into *norm.
__global__ void sumsq_final_kernel(const float *__restrict__ partial, int np, float *__restrict__ norm) {
    __shared__ double sh[1024];
    double s = 0.0;
    for (int i = threadIdx.x; i < np; i += blockDim.x) s += (double)partial[i];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) *norm = (float)sqrt(sh[0]);
}

// g *= min(1, max_norm / (norm + 1e-6)); nothing when the norm is not finite or max_norm <= 0.
__global__ void clip_scale_kernel(float *__restrict__ g, int64_t n, const float *__restrict__ norm, float max_norm) {
    float nv = *norm;
    if (!(max_norm > 0.0f) || !isfinite(nv)) return;
    float coef = max_norm / (nv + 1e-6f);
    if (coef >= 1.0f) return;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        g[i] *= coef;
}

static void norm_to_device(const float *d_g, int64_t n, float *d_norm) {
    cudaStream_t st = pt_cuda()->stream;
    float *partial = (float *)pt_cuda_alloc(sizeof(float) * kNormBlocks);
    sumsq_partial_kernel<<<kNormBlocks, kThreads, 0, st>>>(d_g, n, partial);
    CUDA_LAUNCH_CHECK();
    sumsq_final_kernel<<<1, 1024, 0, st>>>(partial, kNormBlocks, d_norm);
    CUDA_LAUNCH_CHECK();
    pt_cuda_free(partial, sizeof(float) * kNormBlocks);
}

extern "C" void pt_clip_grad_norm_cuda_async(float *d_g, int64_t n, float max_norm, float *d_norm_out) {
    norm_to_device(d_g, n, d_norm_out);
    if (max_norm > 0.0f && n > 0) {
        clip_scale_kernel<<<grid_for(n), kThreads, 0, pt_cuda()->stream>>>(d_g, n, d_norm_out, max_norm);
        CUDA_LAUNCH_CHECK();
    }
}

static double read_norm(float *d_norm) {
    float h = 0.0f;
    cudaStream_t st = pt_cuda()->stream;
    CUDA_CHECK(cudaMemcpyAsync(&h, d_norm, sizeof(float), cudaMemcpyDeviceToHost, st));
    CUDA_CHECK(cudaStreamSynchronize(st));
    pt_cuda_free(d_norm, sizeof(float));
    return (double)h;
}

extern "C" double pt_grad_norm_cuda(const float *d_g, int64_t n) {
    float *d_norm = (float *)pt_cuda_alloc(sizeof(float));
    norm_to_device(d_g, n, d_norm);
    return read_norm(d_norm);
}

extern "C" double pt_clip_grad_norm_cuda(float *d_g, int64_t n, double max_norm) {
    float *d_norm = (float *)pt_cuda_alloc(sizeof(float));
    pt_clip_grad_norm_cuda_async(d_g, n, (float)max_norm, d_norm);
    return read_norm(d_norm);
}

extern "C" void pt_grad_zero_cuda(float *d_g, int64_t n) {
    if (n > 0) CUDA_CHECK(cudaMemsetAsync(d_g, 0, sizeof(float) * (size_t)n, pt_cuda()->stream));
}

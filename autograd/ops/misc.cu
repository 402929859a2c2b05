// misc.cu — CUDA kernels for misc.c: timestep embedding and the MSE / L1 losses.
// The loss sum is deterministic: per-block partial sums, then one block adds them in order.
#include "autograd/cuda_types.cuh"
#include "autograd/ops/misc_cuda.h"

// ---- timestep embedding: one thread per (b, j < half) ---------------------------------------------
template <typename T>
__device__ __forceinline__ float misc_ld_t(const void *t, int64_t i) { return pt_ld<T>((const T *)t, i); }

__global__ void temb_kernel(pt_dtype t_dt, const void *t, float *emb, int64_t B, int dim, int flip, float shift,
                            float scale, float neg_log) {
    int half = dim / 2;
    PT_GRID_STRIDE(i, B * (int64_t)(half > 0 ? half : 1)) {
        int64_t b = half > 0 ? i / half : i;
        float *row = emb + b * dim;
        if (half > 0) {
            int j = (int)(i % half);
            float tb;
            switch (t_dt) {
            case PT_I64: tb = (float)((const int64_t *)t)[b]; break;
            case PT_I32: tb = (float)((const int32_t *)t)[b]; break;
            case PT_BF16: tb = misc_ld_t<__nv_bfloat16>(t, b); break;
            case PT_F16: tb = misc_ld_t<__half>(t, b); break;
            default: tb = ((const float *)t)[b]; break;
            }
            float freq = expf(neg_log * (float)j / ((float)half - shift));
            float a = tb * freq * scale;
            row[flip ? half + j : j] = sinf(a);
            row[flip ? j : half + j] = cosf(a);
        }
        if ((dim & 1) && (half == 0 || i % half == 0)) row[dim - 1] = 0.0f;
    }
}

extern "C" void pt_cuda_timestep_embedding(pt_dtype t_dt, const void *t, float *emb, int64_t B, int dim,
                                           int flip_sin_to_cos, float downscale_freq_shift, float scale, float max_period) {
    PT_CHECKF(t_dt == PT_I64 || t_dt == PT_I32 || t_dt == PT_F32 || t_dt == PT_BF16 || t_dt == PT_F16,
              "timestep_embedding: timesteps of dtype %s", pt_dtype_name(t_dt));
    int64_t n = B * (int64_t)(dim / 2 > 0 ? dim / 2 : 1);
    if (n == 0) return;
    temb_kernel<<<pt_grid_1d(n, 256), 256, 0, pt_cuda()->stream>>>(t_dt, t, emb, B, dim, flip_sin_to_cos,
                                                                   downscale_freq_shift, scale, -logf(max_period));
    CUDA_LAUNCH_CHECK();
}

// ---- losses ---------------------------------------------------------------------------------------
// Offset of element i (flat index in pred's contiguous layout) in the broadcast weight.
__device__ __forceinline__ int64_t misc_w_offset(int64_t i, const pt_dims5 &ws, const pt_dims5 &shape, int ndim) {
    int64_t off = 0;
    for (int d = ndim - 1; d >= 0; d--) {
        off += (i % shape.v[d]) * ws.v[d];
        i /= shape.v[d];
    }
    return off;
}

#define MISC_LOSS_THREADS 256
#define MISC_LOSS_MAX_BLOCKS 1024

template <typename T>
__global__ void loss_partial_kernel(int l1, const T *p, const T *t, const float *w, pt_dims5 ws, pt_dims5 shape, int ndim,
                                    int64_t n, float *partial) {
    __shared__ float sh[MISC_LOSS_THREADS / 32];
    float acc = 0.0f;
    PT_GRID_STRIDE(i, n) {
        float d = pt_ld<T>(p, i) - pt_ld<T>(t, i);
        float e = l1 ? fabsf(d) : d * d;
        if (w) e *= w[misc_w_offset(i, ws, shape, ndim)];
        acc += e;
    }
    for (int m = 16; m > 0; m >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, m);
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = acc;
    __syncthreads();
    if (threadIdx.x == 0) {
        float s = 0.0f;
        for (int k = 0; k < MISC_LOSS_THREADS / 32; k++) s += sh[k];
        partial[blockIdx.x] = s;
    }
}

// One thread adds the partial sums in order (at most MISC_LOSS_MAX_BLOCKS), in double.
__global__ void loss_final_kernel(const float *partial, int nb, float inv_n, float *out) {
    if (threadIdx.x != 0) return;
    double s = 0.0;
    for (int k = 0; k < nb; k++) s += partial[k];
    out[0] = (float)(s * (double)inv_n);
}

template <typename T>
__global__ void loss_bwd_kernel(int l1, const T *p, const T *t, const float *w, pt_dims5 ws, pt_dims5 shape, int ndim,
                                int64_t n, const float *g, T *dp, T *dt) {
    float gs = g[0] / (float)n;
    PT_GRID_STRIDE(i, n) {
        float d = pt_ld<T>(p, i) - pt_ld<T>(t, i);
        float gr = gs * (l1 ? (float)((d > 0.0f) - (d < 0.0f)) : 2.0f * d);
        if (w) gr *= w[misc_w_offset(i, ws, shape, ndim)];
        if (dp) dp[i] = pt_cvt<T>(gr);
        if (dt) dt[i] = pt_cvt<T>(-gr);
    }
}

static void misc_dims(const int64_t *wstride, int ndim, const int64_t *shape, pt_dims5 *ws, pt_dims5 *sh, int64_t *n) {
    *n = 1;
    for (int d = 0; d < 5; d++) { ws->v[d] = 0; sh->v[d] = 1; }
    for (int d = 0; d < ndim; d++) { ws->v[d] = wstride[d]; sh->v[d] = shape[d]; *n *= shape[d]; }
}

extern "C" void pt_cuda_loss_fwd(pt_dtype dt, int l1, const void *pred, const void *target, const float *weight,
                                 const int64_t *wstride, int ndim, const int64_t *shape, float *out) {
    pt_dims5 ws, sh;
    int64_t n;
    misc_dims(wstride, ndim, shape, &ws, &sh, &n);
    cudaStream_t st = pt_cuda()->stream;
    if (n == 0) { CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(float), st)); return; }
    int nb = pt_grid_1d(n, MISC_LOSS_THREADS);
    if (nb > MISC_LOSS_MAX_BLOCKS) nb = MISC_LOSS_MAX_BLOCKS;
    float *partial = (float *)pt_cuda_alloc(sizeof(float) * (size_t)nb);
    PT_DISPATCH_FLOAT(dt, loss_partial_kernel<scalar_t><<<nb, MISC_LOSS_THREADS, 0, st>>>(
                              l1, (const scalar_t *)pred, (const scalar_t *)target, weight, ws, sh, ndim, n, partial));
    CUDA_LAUNCH_CHECK();
    loss_final_kernel<<<1, 32, 0, st>>>(partial, nb, 1.0f / (float)n, out);
    CUDA_LAUNCH_CHECK();
    pt_cuda_free(partial, sizeof(float) * (size_t)nb);
}

extern "C" void pt_cuda_loss_bwd(pt_dtype dt, int l1, const void *pred, const void *target, const float *weight,
                                 const int64_t *wstride, int ndim, const int64_t *shape, const float *g_dev, void *dpred,
                                 void *dtarget) {
    pt_dims5 ws, sh;
    int64_t n;
    misc_dims(wstride, ndim, shape, &ws, &sh, &n);
    if (n == 0 || (!dpred && !dtarget)) return;
    PT_DISPATCH_FLOAT(dt, loss_bwd_kernel<scalar_t><<<pt_grid_1d(n, 256), 256, 0, pt_cuda()->stream>>>(
                              l1, (const scalar_t *)pred, (const scalar_t *)target, weight, ws, sh, ndim, n, g_dev,
                              (scalar_t *)dpred, (scalar_t *)dtarget));
    CUDA_LAUNCH_CHECK();
}

// norm.cu — CUDA kernels for norm.c: group norm (+ fused SiLU) and layer norm, forward and
// backward. Statistics and every reduction in fp32; inputs/outputs f32, bf16 or f16.
//
// Group norm forward:  stats (one block per (n, g), two passes over the contiguous group)
//                      -> apply (grid-stride, normalise + affine [+ SiLU]).
// Group norm backward: per-(n, c) sums of dz*xhat and dz (one block each) -> per-(n, g) means
//                      and per-channel dw/db (tiny kernels) -> dx (grid-stride).
// Layer norm: one block per row forward and for dx; dw/db by a two-stage column reduction.
#include "autograd/cuda_types.cuh"
#include "autograd/ops/norm_cuda.h"

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
__device__ __forceinline__ float nrm_block_sum(float v, float *sh) {
    for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
    __syncthreads();   // sh may still be read by a previous call
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
    __syncthreads();
    int lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    v = lane < nw ? sh[lane] : 0.0f;
    for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
    return v;
}

__device__ __forceinline__ float nrm_sigmoid(float z) { return 1.0f / (1.0f + __expf(-z)); }

static int nrm_threads(int64_t n) { return n >= 512 ? 512 : (n >= 128 ? 128 : 32); }

// ---- group norm ---------------------------------------------------------------------------------
// One block per (n, g): the group is the contiguous chunk [blk*m, (blk+1)*m) of x (N, C, S).
template <typename T>
__global__ void gn_stats_kernel(const T *x, float *mean, float *rstd, int64_t m, float eps) {
    __shared__ float sh[32];
    const T *xg = x + (int64_t)blockIdx.x * m;
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) s += pt_ld<T>(xg, i);
    float mu = nrm_block_sum(s, sh) / (float)m;
    float v = 0.0f;
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) { float d = pt_ld<T>(xg, i) - mu; v += d * d; }
    float var = nrm_block_sum(v, sh) / (float)m;
    if (threadIdx.x == 0) { mean[blockIdx.x] = mu; rstd[blockIdx.x] = rsqrtf(var + eps); }
}

// y = (x - mean) * rstd * w[c] + b[c]  (then SiLU); element i has row i / S = n*C + c, group (i / S) / Cg.
template <typename T>
__global__ void gn_apply_kernel(const T *x, const T *w, const T *b, T *y, const float *mean, const float *rstd,
                                int64_t total, int64_t C, int64_t S, int64_t Cg, int silu) {
    PT_GRID_STRIDE(i, total) {
        int64_t row = i / S, c = row % C, ng = row / Cg;
        float z = (pt_ld<T>(x, i) - mean[ng]) * rstd[ng];
        if (w) z *= pt_ld<T>(w, c);
        if (b) z += pt_ld<T>(b, c);
        if (silu) z *= nrm_sigmoid(z);
        y[i] = pt_cvt<T>(z);
    }
}

// dz of the affine output: dy, or dy * silu'(z) for the fused op (z recomputed from xhat).
template <typename T>
__device__ __forceinline__ float gn_dz(float dy, float xh, float wc, float bc, int silu) {
    if (!silu) return dy;
    float z = xh * wc + bc, s = nrm_sigmoid(z);
    return dy * s * (1.0f + z * (1.0f - s));
}

// One block per (n, c): a[n,c] = sum_s dz * xhat, bs[n,c] = sum_s dz.
template <typename T>
__global__ void gn_bwd_channel_kernel(const T *x, const T *w, const T *b, const T *dy, const float *mean,
                                      const float *rstd, float *a, float *bs, int64_t C, int64_t S, int64_t Cg, int silu) {
    __shared__ float sh[32];
    int64_t row = blockIdx.x, c = row % C, ng = row / Cg;
    float mu = mean[ng], r = rstd[ng];
    float wc = w ? pt_ld<T>(w, c) : 1.0f, bc = b ? pt_ld<T>(b, c) : 0.0f;
    const T *xr = x + row * S, *dyr = dy + row * S;
    float sa = 0.0f, sb = 0.0f;
    for (int64_t s = threadIdx.x; s < S; s += blockDim.x) {
        float xh = (pt_ld<T>(xr, s) - mu) * r;
        float dz = gn_dz<T>(pt_ld<T>(dyr, s), xh, wc, bc, silu);
        sa += dz * xh;
        sb += dz;
    }
    sa = nrm_block_sum(sa, sh);
    sb = nrm_block_sum(sb, sh);
    if (threadIdx.x == 0) { a[row] = sa; bs[row] = sb; }
}

// One thread per (n, g): m1 = mean(dxhat), m2 = mean(dxhat * xhat) over the group.
template <typename T>
__global__ void gn_bwd_group_kernel(const T *w, const float *a, const float *bs, float *m1, float *m2, int64_t NG,
                                    int64_t C, int64_t Cg, int64_t S) {
    int64_t ng = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (ng >= NG) return;
    float s1 = 0.0f, s2 = 0.0f;
    for (int64_t k = 0; k < Cg; k++) {
        int64_t row = ng * Cg + k, c = row % C;   // rows of group ng are n*C + g*Cg + k = ng*Cg + k
        float wc = w ? pt_ld<T>(w, c) : 1.0f;
        s1 += wc * bs[row];
        s2 += wc * a[row];
    }
    float inv = 1.0f / (float)(Cg * S);
    m1[ng] = s1 * inv;
    m2[ng] = s2 * inv;
}

// One thread per channel: dw[c] = sum_n a[n,c], db[c] = sum_n bs[n,c].
template <typename T>
__global__ void gn_bwd_param_kernel(const float *a, const float *bs, T *dw, T *db, int64_t N, int64_t C) {
    int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float sw = 0.0f, sb = 0.0f;
    for (int64_t n = 0; n < N; n++) { sw += a[n * C + c]; sb += bs[n * C + c]; }
    if (dw) dw[c] = pt_cvt<T>(sw);
    if (db) db[c] = pt_cvt<T>(sb);
}

// dx = rstd * (dz * w - m1 - xhat * m2)
template <typename T>
__global__ void gn_bwd_dx_kernel(const T *x, const T *w, const T *b, const T *dy, const float *mean, const float *rstd,
                                 const float *m1, const float *m2, T *dx, int64_t total, int64_t C, int64_t S,
                                 int64_t Cg, int silu) {
    PT_GRID_STRIDE(i, total) {
        int64_t row = i / S, c = row % C, ng = row / Cg;
        float r = rstd[ng], xh = (pt_ld<T>(x, i) - mean[ng]) * r;
        float wc = w ? pt_ld<T>(w, c) : 1.0f, bc = b ? pt_ld<T>(b, c) : 0.0f;
        float dz = gn_dz<T>(pt_ld<T>(dy, i), xh, wc, bc, silu);
        dx[i] = pt_cvt<T>(r * (dz * wc - m1[ng] - xh * m2[ng]));
    }
}

extern "C" void pt_cuda_group_norm_fwd(pt_dtype dt, const void *x, const void *w, const void *b, void *y, float *mean,
                                       float *rstd, int64_t N, int64_t C, int64_t S, int64_t G, float eps, int silu) {
    int64_t Cg = C / G, m = Cg * S, total = N * C * S;
    if (total == 0) return;
    PT_CHECKF(N * G < (1LL << 31), "group_norm: too many groups");
    cudaStream_t st = pt_cuda()->stream;
    PT_DISPATCH_FLOAT(dt, {
        gn_stats_kernel<scalar_t><<<(unsigned)(N * G), nrm_threads(m), 0, st>>>((const scalar_t *)x, mean, rstd, m, eps);
        CUDA_LAUNCH_CHECK();
        gn_apply_kernel<scalar_t><<<pt_grid_1d(total, 256), 256, 0, st>>>(
            (const scalar_t *)x, (const scalar_t *)w, (const scalar_t *)b, (scalar_t *)y, mean, rstd, total, C, S, Cg, silu);
        CUDA_LAUNCH_CHECK();
    });
}

extern "C" void pt_cuda_group_norm_bwd(pt_dtype dt, const void *x, const void *w, const void *b, const void *dy,
                                       const float *mean, const float *rstd, void *dx, void *dw, void *db, int64_t N,
                                       int64_t C, int64_t S, int64_t G, int silu) {
    int64_t Cg = C / G, total = N * C * S, NG = N * G;
    if (total == 0) return;
    PT_CHECKF(N * C < (1LL << 31), "group_norm backward: too many channels");
    cudaStream_t st = pt_cuda()->stream;
    // (N, C) a, (N, C) bs, (N, G) m1, (N, G) m2 in one f32 scratch buffer
    size_t bytes = sizeof(float) * (size_t)(2 * N * C + 2 * NG);
    float *scratch = (float *)pt_cuda_alloc(bytes);
    float *a = scratch, *bs = a + N * C, *m1 = bs + N * C, *m2 = m1 + NG;
    PT_DISPATCH_FLOAT(dt, {
        const scalar_t *X = (const scalar_t *)x, *W = (const scalar_t *)w, *B = (const scalar_t *)b, *DY = (const scalar_t *)dy;
        gn_bwd_channel_kernel<scalar_t><<<(unsigned)(N * C), nrm_threads(S), 0, st>>>(X, W, B, DY, mean, rstd, a, bs, C, S, Cg, silu);
        CUDA_LAUNCH_CHECK();
        if (dw || db) {
            gn_bwd_param_kernel<scalar_t><<<(unsigned)((C + 255) / 256), 256, 0, st>>>(a, bs, (scalar_t *)dw, (scalar_t *)db, N, C);
            CUDA_LAUNCH_CHECK();
        }
        if (dx) {
            gn_bwd_group_kernel<scalar_t><<<(unsigned)((NG + 255) / 256), 256, 0, st>>>(W, a, bs, m1, m2, NG, C, Cg, S);
            CUDA_LAUNCH_CHECK();
            gn_bwd_dx_kernel<scalar_t><<<pt_grid_1d(total, 256), 256, 0, st>>>(X, W, B, DY, mean, rstd, m1, m2,
                                                                               (scalar_t *)dx, total, C, S, Cg, silu);
            CUDA_LAUNCH_CHECK();
        }
    });
    pt_cuda_free(scratch, bytes);
}

// ---- layer norm ---------------------------------------------------------------------------------
// One block per row of x (R, D).
template <typename T>
__global__ void ln_fwd_kernel(const T *x, const T *w, const T *b, T *y, float *mean, float *rstd, int64_t D, float eps) {
    __shared__ float sh[32];
    int64_t row = blockIdx.x;
    const T *xr = x + row * D;
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) s += pt_ld<T>(xr, j);
    float mu = nrm_block_sum(s, sh) / (float)D;
    float v = 0.0f;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) { float d = pt_ld<T>(xr, j) - mu; v += d * d; }
    float r = rsqrtf(nrm_block_sum(v, sh) / (float)D + eps);
    if (threadIdx.x == 0) { mean[row] = mu; rstd[row] = r; }
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
        float z = (pt_ld<T>(xr, j) - mu) * r;
        if (w) z *= pt_ld<T>(w, j);
        if (b) z += pt_ld<T>(b, j);
        y[row * D + j] = pt_cvt<T>(z);
    }
}

// One block per row: dx = rstd * (dy*w - mean(dy*w) - xhat * mean(dy*w*xhat)).
template <typename T>
__global__ void ln_bwd_dx_kernel(const T *x, const T *w, const T *dy, const float *mean, const float *rstd, T *dx, int64_t D) {
    __shared__ float sh[32];
    int64_t row = blockIdx.x;
    const T *xr = x + row * D, *dyr = dy + row * D;
    float mu = mean[row], r = rstd[row];
    float s1 = 0.0f, s2 = 0.0f;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
        float xh = (pt_ld<T>(xr, j) - mu) * r, g = pt_ld<T>(dyr, j) * (w ? pt_ld<T>(w, j) : 1.0f);
        s1 += g;
        s2 += g * xh;
    }
    float m1 = nrm_block_sum(s1, sh) / (float)D, m2 = nrm_block_sum(s2, sh) / (float)D;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
        float xh = (pt_ld<T>(xr, j) - mu) * r, g = pt_ld<T>(dyr, j) * (w ? pt_ld<T>(w, j) : 1.0f);
        dx[row * D + j] = pt_cvt<T>(r * (g - m1 - xh * m2));
    }
}

// Column sums over a chunk of rows: block (32, 8) covers 32 columns; grid (ceil(D/32), n_chunks).
// part_w/part_b (n_chunks, D) f32.
template <typename T>
__global__ void ln_bwd_param_partial_kernel(const T *x, const T *dy, const float *mean, const float *rstd, float *part_w,
                                            float *part_b, int64_t R, int64_t D, int64_t rows_per_chunk) {
    __shared__ float sw[8][33], sb[8][33];
    int64_t col = (int64_t)blockIdx.x * 32 + threadIdx.x;
    int64_t r0 = (int64_t)blockIdx.y * rows_per_chunk, r1 = r0 + rows_per_chunk < R ? r0 + rows_per_chunk : R;
    float aw = 0.0f, ab = 0.0f;
    if (col < D) {
        for (int64_t r = r0 + threadIdx.y; r < r1; r += 8) {
            float g = pt_ld<T>(dy, r * D + col);
            aw += g * (pt_ld<T>(x, r * D + col) - mean[r]) * rstd[r];
            ab += g;
        }
    }
    sw[threadIdx.y][threadIdx.x] = aw;
    sb[threadIdx.y][threadIdx.x] = ab;
    __syncthreads();
    if (threadIdx.y == 0 && col < D) {
        for (int k = 1; k < 8; k++) { aw += sw[k][threadIdx.x]; ab += sb[k][threadIdx.x]; }
        part_w[(int64_t)blockIdx.y * D + col] = aw;
        part_b[(int64_t)blockIdx.y * D + col] = ab;
    }
}

template <typename T>
__global__ void ln_bwd_param_final_kernel(const float *part_w, const float *part_b, T *dw, T *db, int64_t n_chunks, int64_t D) {
    int64_t col = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= D) return;
    float aw = 0.0f, ab = 0.0f;
    for (int64_t k = 0; k < n_chunks; k++) { aw += part_w[k * D + col]; ab += part_b[k * D + col]; }
    if (dw) dw[col] = pt_cvt<T>(aw);
    if (db) db[col] = pt_cvt<T>(ab);
}

extern "C" void pt_cuda_layer_norm_fwd(pt_dtype dt, const void *x, const void *w, const void *b, void *y, float *mean,
                                       float *rstd, int64_t R, int64_t D, float eps) {
    if (R == 0 || D == 0) return;
    PT_CHECKF(R < (1LL << 31), "layer_norm: too many rows");
    PT_DISPATCH_FLOAT(dt, ln_fwd_kernel<scalar_t><<<(unsigned)R, nrm_threads(D), 0, pt_cuda()->stream>>>(
                              (const scalar_t *)x, (const scalar_t *)w, (const scalar_t *)b, (scalar_t *)y, mean, rstd, D, eps));
    CUDA_LAUNCH_CHECK();
}

extern "C" void pt_cuda_layer_norm_bwd(pt_dtype dt, const void *x, const void *w, const void *dy, const float *mean,
                                       const float *rstd, void *dx, void *dw, void *db, int64_t R, int64_t D) {
    if (R == 0 || D == 0) return;
    PT_CHECKF(R < (1LL << 31), "layer_norm backward: too many rows");
    cudaStream_t st = pt_cuda()->stream;
    PT_DISPATCH_FLOAT(dt, {
        if (dx) {
            ln_bwd_dx_kernel<scalar_t><<<(unsigned)R, nrm_threads(D), 0, st>>>(
                (const scalar_t *)x, (const scalar_t *)w, (const scalar_t *)dy, mean, rstd, (scalar_t *)dx, D);
            CUDA_LAUNCH_CHECK();
        }
        if (dw || db) {
            int64_t n_chunks = (R + 63) / 64;
            if (n_chunks > 256) n_chunks = 256;
            int64_t rows_per_chunk = (R + n_chunks - 1) / n_chunks;
            size_t bytes = sizeof(float) * (size_t)(2 * n_chunks * D);
            float *part = (float *)pt_cuda_alloc(bytes);
            dim3 grid((unsigned)((D + 31) / 32), (unsigned)n_chunks), block(32, 8);
            ln_bwd_param_partial_kernel<scalar_t><<<grid, block, 0, st>>>((const scalar_t *)x, (const scalar_t *)dy, mean,
                                                                          rstd, part, part + n_chunks * D, R, D, rows_per_chunk);
            CUDA_LAUNCH_CHECK();
            ln_bwd_param_final_kernel<scalar_t><<<(unsigned)((D + 255) / 256), 256, 0, st>>>(
                part, part + n_chunks * D, (scalar_t *)dw, (scalar_t *)db, n_chunks, D);
            CUDA_LAUNCH_CHECK();
            pt_cuda_free(part, bytes);
        }
    });
}

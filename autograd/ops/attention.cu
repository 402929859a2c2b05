// attention.cu — fused multi-head attention for attention.c (FlashAttention-2 algorithm, fp32
// math in shared memory, no tensor cores). POSETUNE_ATTN_TC=1 routes the bf16 forward to the
// tensor-core kernel of attention_tc.cu where it applies (opt-in until validated in the op).
//
// Tiles of AT_BQ = 32 query rows and AT_BK = 32 key rows; 4 warps a block. A tile row of 32
// scores is computed by the 32 lanes of one warp, so softmax statistics are warp reductions and
// everything after the cooperative tile loads is warp-local (__syncwarp only).
//   forward  : block per (b*h, q tile); streams kv tiles, online softmax; writes out and lse.
//   backward : Drow = rowsum(dO * O) (one warp a row);
//              dK/dV: block per (b*h, kv tile), streams q tiles (recomputes P from lse);
//              dQ   : block per (b*h, q tile), streams kv tiles.
//   Two passes instead of atomics: deterministic results, at the cost of recomputing S and dP.
// Shared-memory rows are padded to an odd stride (dim + 1) so a warp reading 32 different rows
// at one column hits 32 banks. Head dims up to 256 fit (shared memory opt-in above 48 KB).
#include "autograd/cuda_types.cuh"
#include "autograd/ops/attention_cuda.h"

#define AT_BQ 32
#define AT_BK 32
#define AT_NW 4
#define AT_NT (AT_NW * 32)

__device__ __forceinline__ float at_warp_max(float v) {
    for (int m = 16; m > 0; m >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, m));
    return v;
}
__device__ __forceinline__ float at_warp_sum(float v) {
    for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
    return v;
}

// Load rows [r0, r0 + nrows) of a (rows, stride) matrix, columns [c0, c0 + w), into sh (nrows, w + 1),
// zero for rows >= limit.
template <typename T>
__device__ __forceinline__ void at_load_tile(float *sh, const T *src, int64_t r0, int nrows, int64_t limit,
                                             int64_t stride, int64_t c0, int w) {
    int ld = w + 1;
    for (int idx = threadIdx.x; idx < nrows * w; idx += blockDim.x) {
        int r = idx / w, c = idx % w;
        int64_t row = r0 + r;
        sh[r * ld + c] = row < limit ? pt_ld<T>(src, row * stride + c0 + c) : 0.0f;
    }
}

// ---- forward --------------------------------------------------------------------------------------
template <typename T>
__global__ void __launch_bounds__(AT_NT) attn_fwd_kernel(const T *q, const T *k, const T *v, T *out, float *lse,
                                                         int Sq, int Skv, int H, int D, int Dv, float scale, int nqt) {
    extern __shared__ float smem[];
    int ldq = D + 1, ldv = Dv + 1;
    float *sQ = smem;                       // (BQ, D+1)
    float *sK = sQ + AT_BQ * ldq;           // (BK, D+1)
    float *sV = sK + AT_BK * ldq;           // (BK, Dv+1)
    float *sO = sV + AT_BK * ldv;           // (BQ, Dv) unnormalised output accumulator
    float *sP = sO + AT_BQ * Dv;            // (NW, BK) one probability row per warp
    float *sM = sP + AT_NW * AT_BK;         // (BQ) running max
    float *sL = sM + AT_BQ;                 // (BQ) running sum
    int bh = blockIdx.x / nqt, qt = blockIdx.x % nqt, b = bh / H, h = bh % H;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int64_t q0 = (int64_t)qt * AT_BQ;
    int64_t qs = (int64_t)H * D, vs = (int64_t)H * Dv;
    const T *qb = q + (int64_t)b * Sq * qs, *kb = k + (int64_t)b * Skv * qs, *vb = v + (int64_t)b * Skv * vs;

    at_load_tile<T>(sQ, qb, q0, AT_BQ, Sq, qs, (int64_t)h * D, D);
    for (int i = threadIdx.x; i < AT_BQ * Dv; i += blockDim.x) sO[i] = 0.0f;
    for (int i = threadIdx.x; i < AT_BQ; i += blockDim.x) { sM[i] = -INFINITY; sL[i] = 0.0f; }

    for (int64_t k0 = 0; k0 < Skv; k0 += AT_BK) {
        __syncthreads();   // previous tile fully consumed (and initial loads visible)
        at_load_tile<T>(sK, kb, k0, AT_BK, Skv, qs, (int64_t)h * D, D);
        at_load_tile<T>(sV, vb, k0, AT_BK, Skv, vs, (int64_t)h * Dv, Dv);
        __syncthreads();
        int valid = k0 + lane < Skv;
        for (int r = warp; r < AT_BQ; r += AT_NW) {
            if (q0 + r >= Sq) break;   // rows increase with r: the rest are padding too
            const float *qr = sQ + r * ldq, *kc = sK + lane * ldq;
            float s = 0.0f;
            for (int d = 0; d < D; d++) s += qr[d] * kc[d];
            s = valid ? s * scale : -INFINITY;
            float m_old = sM[r], m_new = fmaxf(m_old, at_warp_max(s));   // finite: lane 0 is always valid
            float p = valid ? __expf(s - m_new) : 0.0f;
            float alpha = __expf(m_old - m_new);                          // 0 on the first tile
            float psum = at_warp_sum(p);
            sP[warp * AT_BK + lane] = p;
            __syncwarp();
            float *orow = sO + r * Dv;
            for (int e = lane; e < Dv; e += 32) {
                float acc = orow[e] * alpha;
                for (int c = 0; c < AT_BK; c++) acc += sP[warp * AT_BK + c] * sV[c * ldv + e];
                orow[e] = acc;
            }
            __syncwarp();   // everyone read sM[r] and sP before they change
            if (lane == 0) { sM[r] = m_new; sL[r] = sL[r] * alpha + psum; }
            __syncwarp();
        }
    }
    __syncthreads();
    T *ob = out + (int64_t)b * Sq * vs;
    for (int r = warp; r < AT_BQ; r += AT_NW) {
        int64_t i = q0 + r;
        if (i >= Sq) break;
        float inv = 1.0f / sL[r];
        for (int e = lane; e < Dv; e += 32) ob[i * vs + (int64_t)h * Dv + e] = pt_cvt<T>(sO[r * Dv + e] * inv);
        if (lane == 0) lse[(int64_t)bh * Sq + i] = sM[r] + logf(sL[r]);
    }
}

// ---- backward: Drow[b, h, i] = dO_i . O_i (one warp a row) ----------------------------------------
template <typename T>
__global__ void attn_drow_kernel(const T *out, const T *dout, float *drow, int64_t rows, int Sq, int H, int Dv) {
    int64_t row = (int64_t)blockIdx.x * AT_NW + (threadIdx.x >> 5);   // row = (b*Sq + i)*H + h
    int lane = threadIdx.x & 31;
    if (row >= rows) return;
    const T *o = out + row * Dv, *g = dout + row * Dv;   // (b, i, h*Dv) is row*Dv in (B, Sq, H*Dv)
    float s = 0.0f;
    for (int e = lane; e < Dv; e += 32) s += pt_ld<T>(o, e) * pt_ld<T>(g, e);
    s = at_warp_sum(s);
    int64_t h = row % H, bi = row / H, i = bi % Sq, b = bi / Sq;
    if (lane == 0) drow[(b * H + h) * Sq + i] = s;
}

// ---- backward: dK, dV (block per (b*h, kv tile); lanes run over the query rows of a q tile) --------
template <typename T>
__global__ void __launch_bounds__(AT_NT) attn_bwd_dkdv_kernel(const T *q, const T *k, const T *v, const T *dout,
                                                              const float *lse, const float *drow, T *dk, T *dv, int Sq,
                                                              int Skv, int H, int D, int Dv, float scale, int nkt) {
    extern __shared__ float smem[];
    int ldq = D + 1, ldv = Dv + 1;
    float *sK = smem;                  // (BK, D+1)
    float *sV = sK + AT_BK * ldq;      // (BK, Dv+1)
    float *sQ = sV + AT_BK * ldv;      // (BQ, D+1)
    float *sG = sQ + AT_BQ * ldq;      // (BQ, Dv+1)  dO tile
    float *sdK = sG + AT_BQ * ldv;     // (BK, D)
    float *sdV = sdK + AT_BK * D;      // (BK, Dv)
    float *sP = sdV + AT_BK * Dv;      // (NW, BQ)
    float *sS = sP + AT_NW * AT_BQ;    // (NW, BQ)    dS
    float *sLse = sS + AT_NW * AT_BQ;  // (BQ)
    float *sDr = sLse + AT_BQ;         // (BQ)
    int bh = blockIdx.x / nkt, kt = blockIdx.x % nkt, b = bh / H, h = bh % H;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int64_t k0 = (int64_t)kt * AT_BK;
    int64_t qs = (int64_t)H * D, vs = (int64_t)H * Dv;
    const T *qb = q + (int64_t)b * Sq * qs, *kb = k + (int64_t)b * Skv * qs, *vb = v + (int64_t)b * Skv * vs;
    const T *gb = dout + (int64_t)b * Sq * vs;
    const float *lse_bh = lse + (int64_t)bh * Sq, *dr_bh = drow + (int64_t)bh * Sq;

    at_load_tile<T>(sK, kb, k0, AT_BK, Skv, qs, (int64_t)h * D, D);
    at_load_tile<T>(sV, vb, k0, AT_BK, Skv, vs, (int64_t)h * Dv, Dv);
    for (int i = threadIdx.x; i < AT_BK * D; i += blockDim.x) sdK[i] = 0.0f;
    for (int i = threadIdx.x; i < AT_BK * Dv; i += blockDim.x) sdV[i] = 0.0f;

    for (int64_t q0 = 0; q0 < Sq; q0 += AT_BQ) {
        __syncthreads();
        at_load_tile<T>(sQ, qb, q0, AT_BQ, Sq, qs, (int64_t)h * D, D);
        at_load_tile<T>(sG, gb, q0, AT_BQ, Sq, vs, (int64_t)h * Dv, Dv);
        for (int i = threadIdx.x; i < AT_BQ; i += blockDim.x) {
            int valid = q0 + i < Sq;
            sLse[i] = valid ? lse_bh[q0 + i] : INFINITY;   // P = 0 on padding rows
            sDr[i] = valid ? dr_bh[q0 + i] : 0.0f;
        }
        __syncthreads();
        for (int c = warp; c < AT_BK; c += AT_NW) {
            if (k0 + c >= Skv) break;
            const float *kc = sK + c * ldq, *vc = sV + c * ldv, *qr = sQ + lane * ldq, *gr = sG + lane * ldv;
            float s = 0.0f, dp = 0.0f;
            for (int d = 0; d < D; d++) s += qr[d] * kc[d];
            for (int e = 0; e < Dv; e++) dp += gr[e] * vc[e];
            float p = __expf(s * scale - sLse[lane]);
            sP[warp * AT_BQ + lane] = p;
            sS[warp * AT_BQ + lane] = p * (dp - sDr[lane]);
            __syncwarp();
            for (int e = lane; e < Dv; e += 32) {
                float acc = sdV[c * Dv + e];
                for (int r = 0; r < AT_BQ; r++) acc += sP[warp * AT_BQ + r] * sG[r * ldv + e];
                sdV[c * Dv + e] = acc;
            }
            for (int d = lane; d < D; d += 32) {
                float acc = sdK[c * D + d];
                for (int r = 0; r < AT_BQ; r++) acc += sS[warp * AT_BQ + r] * sQ[r * ldq + d];
                sdK[c * D + d] = acc;
            }
            __syncwarp();
        }
    }
    __syncthreads();
    for (int c = warp; c < AT_BK; c += AT_NW) {
        int64_t j = k0 + c;
        if (j >= Skv) break;
        if (dk) for (int d = lane; d < D; d += 32) dk[((int64_t)b * Skv + j) * qs + (int64_t)h * D + d] = pt_cvt<T>(sdK[c * D + d] * scale);
        if (dv) for (int e = lane; e < Dv; e += 32) dv[((int64_t)b * Skv + j) * vs + (int64_t)h * Dv + e] = pt_cvt<T>(sdV[c * Dv + e]);
    }
}

// ---- backward: dQ (block per (b*h, q tile); lanes run over the keys of a kv tile) -----------------
template <typename T>
__global__ void __launch_bounds__(AT_NT) attn_bwd_dq_kernel(const T *q, const T *k, const T *v, const T *dout,
                                                            const float *lse, const float *drow, T *dq, int Sq, int Skv,
                                                            int H, int D, int Dv, float scale, int nqt) {
    extern __shared__ float smem[];
    int ldq = D + 1, ldv = Dv + 1;
    float *sQ = smem;                  // (BQ, D+1)
    float *sG = sQ + AT_BQ * ldq;      // (BQ, Dv+1)  dO tile
    float *sK = sG + AT_BQ * ldv;      // (BK, D+1)
    float *sV = sK + AT_BK * ldq;      // (BK, Dv+1)
    float *sdQ = sV + AT_BK * ldv;     // (BQ, D)
    float *sS = sdQ + AT_BQ * D;       // (NW, BK)    dS
    int bh = blockIdx.x / nqt, qt = blockIdx.x % nqt, b = bh / H, h = bh % H;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int64_t q0 = (int64_t)qt * AT_BQ;
    int64_t qs = (int64_t)H * D, vs = (int64_t)H * Dv;
    const T *qb = q + (int64_t)b * Sq * qs, *kb = k + (int64_t)b * Skv * qs, *vb = v + (int64_t)b * Skv * vs;
    const T *gb = dout + (int64_t)b * Sq * vs;
    const float *lse_bh = lse + (int64_t)bh * Sq, *dr_bh = drow + (int64_t)bh * Sq;

    at_load_tile<T>(sQ, qb, q0, AT_BQ, Sq, qs, (int64_t)h * D, D);
    at_load_tile<T>(sG, gb, q0, AT_BQ, Sq, vs, (int64_t)h * Dv, Dv);
    for (int i = threadIdx.x; i < AT_BQ * D; i += blockDim.x) sdQ[i] = 0.0f;

    for (int64_t k0 = 0; k0 < Skv; k0 += AT_BK) {
        __syncthreads();
        at_load_tile<T>(sK, kb, k0, AT_BK, Skv, qs, (int64_t)h * D, D);
        at_load_tile<T>(sV, vb, k0, AT_BK, Skv, vs, (int64_t)h * Dv, Dv);
        __syncthreads();
        int valid = k0 + lane < Skv;
        for (int r = warp; r < AT_BQ; r += AT_NW) {
            if (q0 + r >= Sq) break;
            const float *qr = sQ + r * ldq, *gr = sG + r * ldv, *kc = sK + lane * ldq, *vc = sV + lane * ldv;
            float s = 0.0f, dp = 0.0f;
            for (int d = 0; d < D; d++) s += qr[d] * kc[d];
            for (int e = 0; e < Dv; e++) dp += gr[e] * vc[e];
            float p = valid ? __expf(s * scale - lse_bh[q0 + r]) : 0.0f;
            sS[warp * AT_BK + lane] = p * (dp - dr_bh[q0 + r]);
            __syncwarp();
            for (int d = lane; d < D; d += 32) {
                float acc = sdQ[r * D + d];
                for (int c = 0; c < AT_BK; c++) acc += sS[warp * AT_BK + c] * sK[c * ldq + d];
                sdQ[r * D + d] = acc;
            }
            __syncwarp();
        }
    }
    __syncthreads();
    for (int r = warp; r < AT_BQ; r += AT_NW) {
        int64_t i = q0 + r;
        if (i >= Sq) break;
        for (int d = lane; d < D; d += 32) dq[((int64_t)b * Sq + i) * qs + (int64_t)h * D + d] = pt_cvt<T>(sdQ[r * D + d] * scale);
    }
}

// ---- launchers -------------------------------------------------------------------------------------
static size_t at_fwd_smem(int D, int Dv) {
    return sizeof(float) * (size_t)(AT_BQ * (D + 1) + AT_BK * (D + 1) + AT_BK * (Dv + 1) + AT_BQ * Dv + AT_NW * AT_BK + 2 * AT_BQ);
}
static size_t at_dkdv_smem(int D, int Dv) {
    return sizeof(float) * (size_t)(AT_BK * (D + 1) + AT_BK * (Dv + 1) + AT_BQ * (D + 1) + AT_BQ * (Dv + 1) + AT_BK * D +
                                    AT_BK * Dv + 2 * AT_NW * AT_BQ + 2 * AT_BQ);
}
static size_t at_dq_smem(int D, int Dv) {
    return sizeof(float) * (size_t)(AT_BQ * (D + 1) + AT_BQ * (Dv + 1) + AT_BK * (D + 1) + AT_BK * (Dv + 1) + AT_BQ * D + AT_NW * AT_BK);
}

// Allow `bytes` of dynamic shared memory for kernel fn (opt-in above 48 KB); fail clearly if too much.
static void at_smem_attr(const void *fn, size_t bytes, const char *what, int D, int Dv) {
    static int optin = 0;
    if (!optin) CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, pt_cuda()->device));
    PT_CHECKF(bytes <= (size_t)optin, "attention %s: head dims D=%d, Dv=%d need %zu bytes of shared memory, the device allows %d",
              what, D, Dv, bytes, optin);
    if (bytes > 48 * 1024) CUDA_CHECK(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}

static void at_check_dims(int64_t B, int64_t Sq, int64_t Skv, int64_t H) {
    PT_CHECKF(Sq < (1LL << 30) && Skv < (1LL << 30), "attention: sequence too long (%lld, %lld)", (long long)Sq, (long long)Skv);
    int64_t nqt = (Sq + AT_BQ - 1) / AT_BQ, nkt = (Skv + AT_BK - 1) / AT_BK;
    PT_CHECKF(B * H * (nqt > nkt ? nqt : nkt) < (1LL << 31), "attention: grid too large (B=%lld, H=%lld)", (long long)B, (long long)H);
}

extern "C" void pt_cuda_attention_fwd(pt_dtype dt, const void *q, const void *k, const void *v, void *out, float *lse,
                                      int64_t B, int64_t Sq, int64_t Skv, int64_t H, int64_t D, int64_t Dv, float scale) {
    if (B * Sq * H == 0) return;
    // opt-in tensor-core path (attention_tc.cu; bf16, D == Dv, D % 8 == 0, ...): 0 = not applicable
    if (pt_attention_tc_enabled() && pt_cuda_attention_fwd_tc(dt, q, k, v, out, lse, B, Sq, Skv, H, D, Dv, scale)) return;
    at_check_dims(B, Sq, Skv, H);
    int nqt = (int)((Sq + AT_BQ - 1) / AT_BQ);
    size_t smem = at_fwd_smem((int)D, (int)Dv);
    cudaStream_t st = pt_cuda()->stream;
    PT_DISPATCH_FLOAT(dt, {
        at_smem_attr((const void *)attn_fwd_kernel<scalar_t>, smem, "forward", (int)D, (int)Dv);
        attn_fwd_kernel<scalar_t><<<(unsigned)(B * H * nqt), AT_NT, smem, st>>>(
            (const scalar_t *)q, (const scalar_t *)k, (const scalar_t *)v, (scalar_t *)out, lse, (int)Sq, (int)Skv, (int)H,
            (int)D, (int)Dv, scale, nqt);
        CUDA_LAUNCH_CHECK();
    });
}

extern "C" void pt_cuda_attention_bwd(pt_dtype dt, const void *q, const void *k, const void *v, const void *out,
                                      const void *dout, const float *lse, void *dq, void *dk, void *dv, int64_t B,
                                      int64_t Sq, int64_t Skv, int64_t H, int64_t D, int64_t Dv, float scale) {
    if (B * Sq * H == 0 || Skv == 0) return;
    at_check_dims(B, Sq, Skv, H);
    int nqt = (int)((Sq + AT_BQ - 1) / AT_BQ), nkt = (int)((Skv + AT_BK - 1) / AT_BK);
    cudaStream_t st = pt_cuda()->stream;
    int64_t rows = B * Sq * H;
    size_t dr_bytes = sizeof(float) * (size_t)rows;
    float *drow = (float *)pt_cuda_alloc(dr_bytes);   // (B, H, Sq)
    PT_DISPATCH_FLOAT(dt, {
        const scalar_t *Q = (const scalar_t *)q, *K = (const scalar_t *)k, *V = (const scalar_t *)v, *G = (const scalar_t *)dout;
        attn_drow_kernel<scalar_t><<<(unsigned)((rows + AT_NW - 1) / AT_NW), AT_NT, 0, st>>>(
            (const scalar_t *)out, G, drow, rows, (int)Sq, (int)H, (int)Dv);
        CUDA_LAUNCH_CHECK();
        if (dk || dv) {
            size_t smem = at_dkdv_smem((int)D, (int)Dv);
            at_smem_attr((const void *)attn_bwd_dkdv_kernel<scalar_t>, smem, "backward dK/dV", (int)D, (int)Dv);
            attn_bwd_dkdv_kernel<scalar_t><<<(unsigned)(B * H * nkt), AT_NT, smem, st>>>(
                Q, K, V, G, lse, drow, (scalar_t *)dk, (scalar_t *)dv, (int)Sq, (int)Skv, (int)H, (int)D, (int)Dv, scale, nkt);
            CUDA_LAUNCH_CHECK();
        }
        if (dq) {
            size_t smem = at_dq_smem((int)D, (int)Dv);
            at_smem_attr((const void *)attn_bwd_dq_kernel<scalar_t>, smem, "backward dQ", (int)D, (int)Dv);
            attn_bwd_dq_kernel<scalar_t><<<(unsigned)(B * H * nqt), AT_NT, smem, st>>>(
                Q, K, V, G, lse, drow, (scalar_t *)dq, (int)Sq, (int)Skv, (int)H, (int)D, (int)Dv, scale, nqt);
            CUDA_LAUNCH_CHECK();
        }
    });
    pt_cuda_free(drow, dr_bytes);
}

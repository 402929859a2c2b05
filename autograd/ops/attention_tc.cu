// attention_tc.cu — tensor-core attention forward (bf16), an opt-in replacement for the forward
// kernel of attention.cu. Version 4 of dev/attention/attention_forward.cu (measurements and the
// design notes in dev/attention/README.md and docs/perf.md):
//   FlashAttention-2 on mma.sync.m16n8k16 bf16 -> f32; 8 warps x 16 queries = 128 queries a block;
//   K/V tiles of 64 keys double-buffered through cp.async; online softmax in registers in base 2
//   (ex2.approx); fragments by ldmatrix (x4, .trans for V); P reused as the A operand straight
//   from the S accumulators; O staged through the warp's rows of the Q tile for 16-byte stores.
// Same contract as pt_cuda_attention_fwd (contiguous q (B, Sq, H*D), k, v (B, Skv, H*D),
// out (B, Sq, H*D), lse (B, H, Sq) f32, natural log: lse = max_j s_ij + log sum_j exp(s_ij - max),
// s = scale q.k — what attention.cu's backward recomputes P from), for:
//   dtype bf16, D == Dv, D % 8 == 0 (16-byte copies), ceil16(D) in {16,32,48,64,80,96,128,160}
//   (D = 104..112 and 136..144 are not instantiated), Skv > 0, q/k/v/out 16-byte aligned,
//   a device and a build with sm_80+ code, and the block's shared memory within the opt-in limit.
// Otherwise pt_cuda_attention_fwd_tc returns 0 and the caller runs the fp32-FMA kernel.
// D is padded to DP = ceil16(D) (40 -> 48) with zero columns that exist only in shared memory.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/cuda_types.cuh"
#include "autograd/ops/attention_cuda.h"

#define TC_NW 8            // warps a block
#define TC_BQ (16 * TC_NW)  // queries a block
#define TC_BK 64           // keys a tile

namespace {
typedef __nv_bfloat16 bf16;

// =====================================================================================================
// Tensor-core building blocks (sm_80+: cp.async, mma.sync bf16, ldmatrix).
//
// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32:  D (16x8) = A (16x16) * B (16x8) + C (16x8).
// Per lane: g = lane / 4 (PTX "groupID", 0..7), t = lane % 4 ("threadID_in_group", 0..3).
// A 32-bit register holds two bf16: the LOW 16 bits are the element with the smaller k (or column)
// index — what a 32-bit load of two adjacent bf16 from memory gives (little endian).
//   A, 4 regs (row m, column k):   a[0] = A[g  ][2t, 2t+1]     a[2] = A[g  ][2t+8, 2t+9]
//                                  a[1] = A[g+8][2t, 2t+1]     a[3] = A[g+8][2t+8, 2t+9]
//   B, 2 regs (row k, column n):   b[0] = B[2t, 2t+1][g]       b[1] = B[2t+8, 2t+9][g]
//   C/D, 4 f32 (row m, column n):  c[0], c[1] = C[g  ][2t, 2t+1]
//                                  c[2], c[3] = C[g+8][2t, 2t+1]
// For S = Q K^T: A = Q tile (queries x d), B[k = d][n = key] = K[key][d] (rows of K in shared memory).
// For O = P V:   A = P (queries x keys) from the S accumulators (softmax_tile below);
//   B[k = key][n = e] = V[key][e]: two elements of one V column, one row apart — ldmatrix .trans.
// (Compiled only for sm_80+ device passes and the host pass; older archs get an empty kernel.)
// =====================================================================================================
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
__device__ __forceinline__ void mma_bf16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }
// 16 bytes global -> shared, asynchronous; src_bytes = 0 writes 16 zero bytes and reads nothing.
__device__ __forceinline__ void cp_async16(void *dst, const void *src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(dst)), "l"(src), "r"(src_bytes)
                 : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
// Four 8x8 b16 matrices; lanes 8i..8i+7 give the 16-byte row addresses of matrix i. Lane l receives
// in r[i] row l/4, columns 2(l%4), 2(l%4)+1 of matrix i (with .trans: column l/4, rows 2(l%4), +1).
__device__ __forceinline__ void ldsm_x4(uint32_t r[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(p))
                 : "memory");
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t r[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(p))
                 : "memory");
}
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);   // .x (low 16 bits) = lo
    return *reinterpret_cast<uint32_t *>(&v);
}
// 2^x on the special-function unit (one MUFU.EX2; ex2(-inf) = +0, relative error ~2^-22).
__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

// Copy rows [r0, r0 + ROWS) of one head's (nrows, D) slice (row stride rs elements; src points at
// row 0 column 0 of the head) into a shared tile (ROWS, LD), 16 bytes a cp.async. Rows >= nrows are
// zero-filled (the source address is clamped to row 0, which exists, and nothing is read).
// Columns [D, LD) are not touched: the kernel zeroes [D, DP) once.
template <int ROWS, int LD, int NTHREADS>
__device__ __forceinline__ void load_tile_async(bf16 *s, const bf16 *src, int64_t r0, int64_t nrows, int64_t rs, int D) {
    int ch = D >> 3;   // 16-byte chunks a row
    for (int idx = threadIdx.x; idx < ROWS * ch; idx += NTHREADS) {
        int r = idx / ch, c = idx - r * ch;
        int64_t row = r0 + r;
        bool ok = row < nrows;
        cp_async16(s + r * LD + 8 * c, src + (ok ? row : 0) * rs + 8 * c, ok ? 16 : 0);
    }
}

// Online-softmax step on one 16-query x 64-key score tile held as 8 accumulator n-tiles s[j] (keys
// 8j..8j+7 of the tile). This lane owns rows g (c[0], c[1]) and g+8 (c[2], c[3]); m, l are those
// rows' running max (log2 units: m = scale*log2(e)*max s) and this lane's partial running sum.
// Rescales o, and turns the scores into the A fragments of P for the P V product:
//   pa[kk] covers keys 16kk..16kk+15 of the tile:  pa[kk][0] = P[g][16kk+2t, +1] = s[2kk][0..1]
//   pa[kk][1] = P[g+8][16kk+2t, +1] = s[2kk][2..3]; pa[kk][2], pa[kk][3]: the same from s[2kk+1].
template <int NT>
__device__ __forceinline__ void softmax_tile(float s[8][4], float m[2], float l[2], float o[NT][4], uint32_t pa[4][4],
                                             float sl, int key0, int Skv) {
    int t = threadIdx.x & 3;
    if (key0 + TC_BK > Skv) {   // the last tile: keys past Skv get -inf (probability 0)
#pragma unroll
        for (int j = 0; j < 8; j++)
#pragma unroll
            for (int i = 0; i < 4; i++)
                if (key0 + 8 * j + 2 * t + (i & 1) >= Skv) s[j][i] = -INFINITY;
    }
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < 8; j++) {
        mx[0] = fmaxf(mx[0], fmaxf(s[j][0], s[j][1]));
        mx[1] = fmaxf(mx[1], fmaxf(s[j][2], s[j][3]));
    }
    float mn[2], alpha[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {   // the 4 lanes of a quad (same g) hold one row between them
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        mn[r] = fmaxf(m[r], mx[r] * sl);   // finite: every tile holds at least one valid key (sl > 0)
        alpha[r] = fast_exp2(m[r] - mn[r]);    // 0 on the first tile (m = -inf)
        m[r] = mn[r];
        l[r] *= alpha[r];
    }
#pragma unroll
    for (int n = 0; n < NT; n++) {
        o[n][0] *= alpha[0]; o[n][1] *= alpha[0];
        o[n][2] *= alpha[1]; o[n][3] *= alpha[1];
    }
#pragma unroll
    for (int j = 0; j < 8; j++) {
        float p0 = fast_exp2(fmaf(s[j][0], sl, -mn[0])), p1 = fast_exp2(fmaf(s[j][1], sl, -mn[0]));
        float p2 = fast_exp2(fmaf(s[j][2], sl, -mn[1])), p3 = fast_exp2(fmaf(s[j][3], sl, -mn[1]));
        l[0] += p0 + p1;
        l[1] += p2 + p3;
        pa[j >> 1][(j & 1) * 2 + 0] = pack_bf16(p0, p1);
        pa[j >> 1][(j & 1) * 2 + 1] = pack_bf16(p2, p3);
    }
}

// Epilogue: finish the row sums, write lse (natural log: m*ln2 = scale*max s, plus log of the sum of
// exp(scale*s - max)), normalise O and write it through the warp's own 16 rows of the (now unused)
// Q tile, so that global stores are 16 bytes wide.
template <int NT, int LD>
__device__ __forceinline__ void store_tile(float o[NT][4], const float m[2], float l[2], bf16 *sQw, bf16 *ob,
                                           float *lse_bh, int64_t i0, int Sq, int64_t rs, int D) {
    int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    float inv[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
        inv[r] = 1.0f / l[r];
        int64_t i = i0 + g + 8 * r;
        if (t == 0 && i < Sq) lse_bh[i] = m[r] * 0.69314718055994531f + logf(l[r]);
    }
#pragma unroll
    for (int n = 0; n < NT; n++) {   // o[n] covers columns 8n..8n+7: c[0..1] row g, c[2..3] row g+8
        *reinterpret_cast<uint32_t *>(sQw + g * LD + 8 * n + 2 * t) = pack_bf16(o[n][0] * inv[0], o[n][1] * inv[0]);
        *reinterpret_cast<uint32_t *>(sQw + (g + 8) * LD + 8 * n + 2 * t) = pack_bf16(o[n][2] * inv[1], o[n][3] * inv[1]);
    }
    __syncwarp();
    int ch = D >> 3;
    for (int idx = lane; idx < 16 * ch; idx += 32) {
        int r = idx / ch, c = idx - r * ch;
        if (i0 + r < Sq) *reinterpret_cast<uint4 *>(ob + (i0 + r) * rs + 8 * c) = *reinterpret_cast<const uint4 *>(sQw + r * LD + 8 * c);
    }
}

#endif  // sm_80+

// Shared-memory tile row stride LD = DP + 8 elements: DP is a multiple of 16, so a row is
// DP/8 + 1 (odd) 16-byte units long. ldmatrix reads 8 rows of 16 bytes at an odd stride in 16-byte
// units: 8 distinct bank quads, conflict-free (as are the 32-bit epilogue stores).
__host__ __device__ constexpr int tile_ld(int DP) { return DP + 8; }
constexpr size_t tc_smem_bytes(int DP) { return sizeof(bf16) * (size_t)(TC_BQ + 4 * TC_BK) * tile_ld(DP); }

// =====================================================================================================
// The kernel. Block = (b, h, 128-query tile); 1-D grid, query tile fastest (blocks of one head
// share K/V in L2). Shared: sQ (BQ, LD) | sK[2] (BK, LD) | sV[2] (BK, LD) bf16; columns [D, DP) zero.
// ldmatrix x4 lane addresses (lane l, r8 = l % 8, hi = (l / 8) % 2, qd = l / 16):
//   Q (A, rows m, cols k):   row 16w + r8 + 8hi, col 16kk + 8qd -> r = a[0..3] directly.
//   K (B of two n-tiles):    key 8j + r8 + 8qd,  col 16kk + 8hi -> r[0], r[1] = b0, b1 of n-tile j,
//                                                                  r[2], r[3] = b0, b1 of n-tile j+1.
//   V (.trans, two n-tiles): key 16kk + r8 + 8hi, col 8n + 8qd -> r[0], r[1] = b0, b1 of n-tile n,
//                                                                  r[2], r[3] = b0, b1 of n-tile n+1.
// (NT = DP/8 is even since DP is a multiple of 16.) Query rows past Sq compute on zeros and are not
// stored; a warp whose 16 rows are all past Sq skips the math. Key rows past Skv are zero-filled and
// masked to -inf. sl = scale * log2(e).
// =====================================================================================================
template <int DP>
__global__ void __launch_bounds__(TC_NW * 32) attn_fwd_tc_kernel(const bf16 *q, const bf16 *k, const bf16 *v, bf16 *out,
                                                                 float *lse, int Sq, int Skv, int H, int D, float sl,
                                                                 int nqt) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    constexpr int BQ = TC_BQ, BK = TC_BK, LD = tile_ld(DP), KS = DP / 16, NT = DP / 8, NTH = TC_NW * 32;
    extern __shared__ __align__(16) unsigned char tc_smem[];
    bf16 *sQ = reinterpret_cast<bf16 *>(tc_smem), *sK = sQ + BQ * LD, *sV = sK + 2 * BK * LD;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int r8 = lane & 7, hi = (lane >> 3) & 1, qd = lane >> 4;
    int qt = blockIdx.x % nqt, bh = blockIdx.x / nqt, b = bh / H, h = bh % H;
    int64_t rs = (int64_t)H * D, q0 = (int64_t)qt * BQ;
    const bf16 *qb = q + (int64_t)b * Sq * rs + (int64_t)h * D;
    const bf16 *kb = k + (int64_t)b * Skv * rs + (int64_t)h * D, *vb = v + (int64_t)b * Skv * rs + (int64_t)h * D;

    if (DP > D)   // zero the pad columns of all tiles (BQ + 4*BK consecutive rows); cp.async never writes them
        for (int idx = threadIdx.x; idx < (BQ + 4 * BK) * (DP - D); idx += NTH)
            sQ[(idx / (DP - D)) * LD + D + idx % (DP - D)] = __float2bfloat16(0.0f);
    load_tile_async<BQ, LD, NTH>(sQ, qb, q0, Sq, rs, D);
    load_tile_async<BK, LD, NTH>(sK, kb, 0, Skv, rs, D);
    load_tile_async<BK, LD, NTH>(sV, vb, 0, Skv, rs, D);
    cp_async_commit();

    bool active = q0 + 16 * warp < Sq;
    float o[NT][4] = {}, m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    uint32_t qf[KS][4];   // Q fragments of this warp's 16 rows, kept for all key tiles
    int nkt = (Skv + BK - 1) / BK;
    for (int it = 0; it < nkt; it++) {
        int buf = it & 1;
        if (it + 1 < nkt) {   // prefetch the next tile into the other buffer (freed by the last barrier)
            load_tile_async<BK, LD, NTH>(sK + (buf ^ 1) * BK * LD, kb, (int64_t)(it + 1) * BK, Skv, rs, D);
            load_tile_async<BK, LD, NTH>(sV + (buf ^ 1) * BK * LD, vb, (int64_t)(it + 1) * BK, Skv, rs, D);
            cp_async_commit();
            cp_async_wait<1>();   // all but the newest group done: tile `it` (and Q) have landed
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const bf16 *cK = sK + buf * BK * LD, *cV = sV + buf * BK * LD;
        if (active) {
            if (it == 0)
#pragma unroll
                for (int kk = 0; kk < KS; kk++) ldsm_x4(qf[kk], sQ + (16 * warp + r8 + 8 * hi) * LD + 16 * kk + 8 * qd);
            float s[8][4] = {};   // S = Q K^T: n-tile j = keys 8j..8j+7 of the tile
#pragma unroll
            for (int kk = 0; kk < KS; kk++)
#pragma unroll
                for (int j = 0; j < 8; j += 2) {
                    uint32_t r[4];
                    ldsm_x4(r, cK + (8 * j + r8 + 8 * qd) * LD + 16 * kk + 8 * hi);
                    mma_bf16(s[j], qf[kk], r[0], r[1]);
                    mma_bf16(s[j + 1], qf[kk], r[2], r[3]);
                }
            uint32_t pa[4][4];
            softmax_tile<NT>(s, m, l, o, pa, sl, it * BK, Skv);
#pragma unroll
            for (int kk = 0; kk < 4; kk++)   // O += P V over keys 16kk..16kk+15
#pragma unroll
                for (int n = 0; n < NT; n += 2) {
                    uint32_t r[4];
                    ldsm_x4_trans(r, cV + (16 * kk + r8 + 8 * hi) * LD + 8 * n + 8 * qd);
                    mma_bf16(o[n], pa[kk], r[0], r[1]);
                    mma_bf16(o[n + 1], pa[kk], r[2], r[3]);
                }
        }
        __syncthreads();   // everyone is done with buffer `buf` before the next prefetch overwrites it
    }
    if (active)
        store_tile<NT, LD>(o, m, l, sQ + 16 * warp * LD, out + (int64_t)b * Sq * rs + (int64_t)h * D,
                           lse + (int64_t)bh * Sq, q0 + 16 * warp, Sq, rs, D);
#endif
}

// Once per instantiation: is there sm_80+ code for it on this device (ptxVersion: the virtual
// architecture the running code came from; a build for older archs only has an empty body), and
// does its shared memory fit? Raises the dynamic shared-memory limit (needed above 48 KB).
template <int DP> int tc_prepare(void) {
    static int state = 0;   // 0 unknown, 1 usable, -1 not
    if (state == 0) {
        const void *fn = (const void *)attn_fwd_tc_kernel<DP>;
        size_t smem = tc_smem_bytes(DP);
        cudaFuncAttributes fa;
        int optin = 0;
        if (cudaFuncGetAttributes(&fa, fn) != cudaSuccess) {
            (void)cudaGetLastError();   // no image for this device: not an error of the op
            state = -1;
            return 0;
        }
        CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, pt_cuda()->device));
        if (fa.ptxVersion < 80 || smem > (size_t)optin) {
            state = -1;
        } else {
            if (smem > 48 * 1024) CUDA_CHECK(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
            state = 1;
        }
    }
    return state == 1;
}

template <int DP>
int tc_launch(const void *q, const void *k, const void *v, void *out, float *lse, int64_t B, int64_t Sq, int64_t Skv,
              int64_t H, int64_t D, float scale) {
    if (!tc_prepare<DP>()) return 0;
    int nqt = (int)((Sq + TC_BQ - 1) / TC_BQ);
    float sl = scale * 1.4426950408889634f;   // scores in log2 units: exp(x) = exp2(x log2 e)
    attn_fwd_tc_kernel<DP><<<(unsigned)(B * H * nqt), TC_NW * 32, tc_smem_bytes(DP), pt_cuda()->stream>>>(
        (const bf16 *)q, (const bf16 *)k, (const bf16 *)v, (bf16 *)out, lse, (int)Sq, (int)Skv, (int)H, (int)D, sl, nqt);
    CUDA_LAUNCH_CHECK();
    return 1;
}

int g_tc_mode = -1;         // -1: read POSETUNE_ATTN_TC at the next pt_attention_tc_enabled()
int64_t g_tc_launches = 0;  // forward launches through this file (tests check the path was taken)
}  // namespace

extern "C" void pt_attention_tc_set(int on) { g_tc_mode = on < 0 ? -1 : (on != 0); }

extern "C" int pt_attention_tc_enabled(void) {
    if (g_tc_mode < 0) {
        const char *e = getenv("POSETUNE_ATTN_TC");
        g_tc_mode = e != NULL && strcmp(e, "1") == 0;
    }
    return g_tc_mode;
}

extern "C" int64_t pt_attention_tc_launches(void) { return g_tc_launches; }

extern "C" int pt_cuda_attention_fwd_tc(pt_dtype dt, const void *q, const void *k, const void *v, void *out, float *lse,
                                        int64_t B, int64_t Sq, int64_t Skv, int64_t H, int64_t D, int64_t Dv, float scale) {
    if (dt != PT_BF16 || D != Dv || D <= 0 || D % 8 != 0 || D > 160) return 0;
    if (B <= 0 || Sq <= 0 || Skv <= 0 || H <= 0 || !(scale > 0.0f) || !isfinite(scale)) return 0;
    if ((((uintptr_t)q | (uintptr_t)k | (uintptr_t)v | (uintptr_t)out) & 15) != 0) return 0;
    if (Sq >= (1LL << 30) || Skv >= (1LL << 30) || H * D >= (1LL << 30)) return 0;
    if (B * H * ((Sq + TC_BQ - 1) / TC_BQ) >= (1LL << 31)) return 0;   // 1-D grid
    int ran;
    switch ((D + 15) / 16 * 16) {
    case 16: ran = tc_launch<16>(q, k, v, out, lse, B, Sq, Skv, H, D, scale); break;
    case 32: ran = tc_launch<32>(q, k, v, out, lse, B, Sq, Skv, H, D, scale); break;
    case 48: ran = tc_launch<48>(q, k, v, out, lse, B, Sq, Skv, H, D, scale); break;
    case 64: ran = tc_launch<64>(q, k, v, out, lse, B, Sq, Skv, H, D, scale); break;
    case 80: ran = tc_launch<80>(q, k, v, out, lse, B, Sq, Skv, H, D, scale); break;
    case 96: ran = tc_launch<96>(q, k, v, out, lse, B, Sq, Skv, H, D, scale); break;
    case 128: ran = tc_launch<128>(q, k, v, out, lse, B, Sq, Skv, H, D, scale); break;
    case 160: ran = tc_launch<160>(q, k, v, out, lse, B, Sq, Skv, H, D, scale); break;
    default: ran = 0; break;   // 112, 144: not instantiated
    }
    g_tc_launches += ran;
    return ran;
}

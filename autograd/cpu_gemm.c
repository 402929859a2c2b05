// cpu_gemm.c — cache-blocked fp32 SGEMM (CPU reference path) and the device dispatch of pt_gemm.
//
// Blocking (the classic three-level scheme): C is computed in panels of NC columns; for each
// KC-slice of the K dimension a (KC, NC) panel of op(B) is packed into NR-wide column slivers,
// then for each MC-row block of op(A) a (MC, KC) block is packed into MR-tall row slivers, and the
// micro-kernel accumulates an (MR, NR) tile over the KC slice in registers (fp32). Packing applies
// the transposes and pads edges with zeros, so the micro-kernel never sees a partial tile.
#include "autograd/cpu_gemm.h"

#include <stdlib.h>
#include <string.h>

#include "tools/check.h"
#ifdef POSETUNE_HAVE_CUDA
#include "autograd/ops/matmul_cuda.h"
#endif

#define MR 6
#define NR 16
#define MC 120    // multiple of MR: the packed A block (MC, KC) stays in L2
#define KC 256
#define NC 2048   // multiple of NR: the packed B panel (KC, NC) in L3

// 8 floats; on x86-64 without AVX the compiler splits it into two SSE registers.
typedef float v8f __attribute__((vector_size(32)));

// Packing buffers, grown on demand and kept per thread (no allocation per call).
static _Thread_local float *g_apack, *g_bpack;
static _Thread_local size_t g_apack_n, g_bpack_n;

static float *grow(float **buf, size_t *cap, size_t n) {
    if (*cap < n) {
        free(*buf);
        size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
        *buf = aligned_alloc(64, bytes);
        PT_CHECKF(*buf != NULL, "cpu_gemm: out of memory packing %zu bytes", bytes);
        *cap = n;
    }
    return *buf;
}

// A block rows [i0, i0+mc), k [k0, k0+kc) -> slivers of MR rows: ap[s][k][r] (zero padded rows).
static void pack_a(float *ap, const float *A, int64_t lda, int trans, int64_t i0, int64_t mc, int64_t k0, int64_t kc) {
    for (int64_t s = 0; s < mc; s += MR) {
        float *dst = ap + s * kc;   // sliver s/MR starts at (s/MR) * MR * kc
        int64_t rows = mc - s < MR ? mc - s : MR;
        if (!trans) {
            for (int64_t r = 0; r < MR; r++) {
                if (r < rows) {
                    const float *src = A + (i0 + s + r) * lda + k0;
                    for (int64_t k = 0; k < kc; k++) dst[k * MR + r] = src[k];
                } else {
                    for (int64_t k = 0; k < kc; k++) dst[k * MR + r] = 0.0f;
                }
            }
        } else {
            for (int64_t k = 0; k < kc; k++) {
                const float *src = A + (k0 + k) * lda + i0 + s;
                for (int64_t r = 0; r < MR; r++) dst[k * MR + r] = r < rows ? src[r] : 0.0f;
            }
        }
    }
}

// B panel k [k0, k0+kc), columns [j0, j0+nc) -> slivers of NR columns: bp[s][k][c] (zero padded).
static void pack_b(float *bp, const float *B, int64_t ldb, int trans, int64_t k0, int64_t kc, int64_t j0, int64_t nc) {
    for (int64_t s = 0; s < nc; s += NR) {
        float *dst = bp + s * kc;
        int64_t cols = nc - s < NR ? nc - s : NR;
        if (!trans) {
            for (int64_t k = 0; k < kc; k++) {
                const float *src = B + (k0 + k) * ldb + j0 + s;
                float *d = dst + k * NR;
                if (cols == NR) memcpy(d, src, NR * sizeof(float));
                else for (int64_t c = 0; c < NR; c++) d[c] = c < cols ? src[c] : 0.0f;
            }
        } else {
            for (int64_t c = 0; c < NR; c++) {
                if (c < cols) {
                    const float *src = B + (j0 + s + c) * ldb + k0;
                    for (int64_t k = 0; k < kc; k++) dst[k * NR + c] = src[k];
                } else {
                    for (int64_t k = 0; k < kc; k++) dst[k * NR + c] = 0.0f;
                }
            }
        }
    }
}

// (MR, NR) tile = sum_k a[k][:] (x) b[k][:], written to tile (row-major, ld NR).
static inline __attribute__((always_inline)) void micro_kernel(int64_t kc, const float *a, const float *b, float *tile) {
    v8f c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
    v8f c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
    for (int64_t k = 0; k < kc; k++) {
        v8f b0 = *(const v8f *)(b), b1 = *(const v8f *)(b + 8);
        float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5];
        c00 += a0 * b0; c01 += a0 * b1;
        c10 += a1 * b0; c11 += a1 * b1;
        c20 += a2 * b0; c21 += a2 * b1;
        c30 += a3 * b0; c31 += a3 * b1;
        c40 += a4 * b0; c41 += a4 * b1;
        c50 += a5 * b0; c51 += a5 * b1;
        a += MR;
        b += NR;
    }
    v8f *t = (v8f *)tile;
    t[0] = c00; t[1] = c01; t[2] = c10; t[3] = c11; t[4] = c20; t[5] = c21;
    t[6] = c30; t[7] = c31; t[8] = c40; t[9] = c41; t[10] = c50; t[11] = c51;
}

// All tiles of one packed (mc, kc) A block against one packed (kc, nc) B panel, into C at (i0, j0).
// first: this is the first K slice, so C = alpha*acc + beta*C; later slices add alpha*acc.
static inline __attribute__((always_inline)) void macro_body(int64_t mc, int64_t nc, int64_t kc, const float *ap,
                                                              const float *bp, float *C, int64_t ldc, float alpha,
                                                              float beta, int first) {
    float tile[MR * NR] __attribute__((aligned(64)));
    for (int64_t j = 0; j < nc; j += NR) {
        int64_t cols = nc - j < NR ? nc - j : NR;
        for (int64_t i = 0; i < mc; i += MR) {
            int64_t rows = mc - i < MR ? mc - i : MR;
            micro_kernel(kc, ap + i * kc, bp + j * kc, tile);
            for (int64_t r = 0; r < rows; r++) {
                float *c = C + (i + r) * ldc + j;
                const float *t = tile + r * NR;
                if (!first) for (int64_t q = 0; q < cols; q++) c[q] += alpha * t[q];
                else if (beta == 0.0f) for (int64_t q = 0; q < cols; q++) c[q] = alpha * t[q];
                else for (int64_t q = 0; q < cols; q++) c[q] = alpha * t[q] + beta * c[q];
            }
        }
    }
}

typedef void (*macro_fn)(int64_t, int64_t, int64_t, const float *, const float *, float *, int64_t, float, float, int);

static void macro_generic(int64_t mc, int64_t nc, int64_t kc, const float *ap, const float *bp, float *C, int64_t ldc,
                          float alpha, float beta, int first) {
    macro_body(mc, nc, kc, ap, bp, C, ldc, alpha, beta, first);
}

// x86-64: the same code compiled for AVX2 + FMA (12 ymm accumulators), chosen at run time.
#if defined(__x86_64__) && defined(__GNUC__)
#define PT_GEMM_X86 1
__attribute__((target("avx2,fma"))) static void macro_avx2(int64_t mc, int64_t nc, int64_t kc, const float *ap,
                                                            const float *bp, float *C, int64_t ldc, float alpha,
                                                            float beta, int first) {
    macro_body(mc, nc, kc, ap, bp, C, ldc, alpha, beta, first);
}
#endif

static macro_fn pick_macro(void) {
#ifdef PT_GEMM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return macro_avx2;
#endif
    return macro_generic;
}

void pt_cpu_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                  const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    int64_t kc_max = K < KC ? K : KC;
    int64_t nc_max = N < NC ? (N + NR - 1) / NR * NR : NC;
    int64_t mc_max = M < MC ? (M + MR - 1) / MR * MR : MC;
    float *bp = grow(&g_bpack, &g_bpack_n, (size_t)(kc_max * nc_max));
    float *ap = grow(&g_apack, &g_apack_n, (size_t)(kc_max * mc_max));
    static macro_fn macro_kernel = NULL;   // benign race: every thread computes the same value
    if (!macro_kernel) macro_kernel = pick_macro();
    for (int64_t j0 = 0; j0 < N; j0 += NC) {
        int64_t nc = N - j0 < NC ? N - j0 : NC;
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            int64_t kc = K - k0 < KC ? K - k0 : KC;
            pack_b(bp, B, ldb, trans_b, k0, kc, j0, nc);
            for (int64_t i0 = 0; i0 < M; i0 += MC) {
                int64_t mc = M - i0 < MC ? M - i0 : MC;
                pack_a(ap, A, lda, trans_a, i0, mc, k0, kc);
                macro_kernel(mc, nc, kc, ap, bp, C + i0 * ldc + j0, ldc, alpha, beta, k0 == 0);
            }
        }
    }
}

void pt_gemm(pt_device dev, pt_dtype ab, pt_dtype c, const pt_gemm_args *g) {
    int64_t batch = g->batch > 0 ? g->batch : 1;
    PT_CHECKF(c == ab || c == PT_F32, "pt_gemm: output dtype %s with inputs %s", pt_dtype_name(c), pt_dtype_name(ab));
    if (dev == PT_CPU) {
        PT_CHECKF(ab == PT_F32, "CPU matrix products support f32 only (got %s)", pt_dtype_name(ab));
        for (int64_t i = 0; i < batch; i++)
            pt_cpu_sgemm(g->trans_a, g->trans_b, g->M, g->N, g->K, g->alpha, (const float *)g->A + i * g->sa, g->lda,
                         (const float *)g->B + i * g->sb, g->ldb, g->beta, (float *)g->C + i * g->sc, g->ldc);
        return;
    }
#ifdef POSETUNE_HAVE_CUDA
    pt_cuda_gemm(ab, c, g->trans_a, g->trans_b, g->M, g->N, g->K, g->alpha, g->A, g->lda, g->sa, g->B, g->ldb, g->sb,
                 g->beta, g->C, g->ldc, g->sc, batch);
#else
    PT_USAGE("this posetune was built without CUDA; use device cpu");
#endif
}

void pt_bias_fill(pt_device dev, pt_dtype dt, void *y, const void *b, int64_t outer, int64_t O, int64_t inner) {
    if (dev == PT_CPU) {
        PT_CHECKF(dt == PT_F32, "CPU bias supports f32 only (got %s)", pt_dtype_name(dt));
        float *yp = y;
        const float *bp = b;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t c = 0; c < O; c++, yp += inner)
                for (int64_t i = 0; i < inner; i++) yp[i] = bp[c];
        return;
    }
#ifdef POSETUNE_HAVE_CUDA
    pt_cuda_bias_fill(y, b, dt, outer, O, inner);
#endif
}

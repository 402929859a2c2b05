// test_ops_matmul.c — the blocked CPU SGEMM, pt_linear and pt_matmul: forward values against
// naive triple loops written here, gradients against central finite differences.
#include <time.h>

#include "autograd/cpu_gemm.h"
#include "autograd/ops.h"
#include "tests/gradcheck.h"

#define TOL 1e-2

static void fill_normal(float *p, int64_t n) { for (int64_t i = 0; i < n; i++) p[i] = (float)tu_normal(); }

// C = alpha op(A) op(B) + beta C in double, row-major with leading dims.
static void naive_gemm(int ta, int tb, int M, int N, int K, double alpha, const float *A, int lda, const float *B, int ldb,
                       double beta, double *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k];
                double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                acc += a * b;
            }
            C[i * ldc + j] = alpha * acc + (beta == 0 ? 0 : beta * C[i * ldc + j]);
        }
}

static double max_rel(const float *got, const double *ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) { double d = got[i] - ref[i]; num += d * d; den += ref[i] * ref[i]; }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

// Sizes straddle the block sizes (MR 6, NR 16, MC 120, KC 256, NC 2048) and padded leading dims.
TEST_CASE(sgemm_matches_naive) {
    const int sizes[][3] = {{1, 1, 1}, {5, 7, 3}, {6, 16, 9}, {13, 33, 300}, {121, 17, 257}, {7, 2100, 20}, {130, 70, 40}};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int M = sizes[si][0], N = sizes[si][1], K = sizes[si][2];
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
                int64_t na = (int64_t)(ta ? K : M) * lda, nb = (int64_t)(tb ? N : K) * ldb, nc = (int64_t)M * ldc;
                float *A = malloc(sizeof(float) * na), *B = malloc(sizeof(float) * nb), *C = malloc(sizeof(float) * nc);
                double *R = malloc(sizeof(double) * nc);
                fill_normal(A, na); fill_normal(B, nb); fill_normal(C, nc);
                for (int64_t i = 0; i < nc; i++) R[i] = C[i];
                float alpha = 0.75f, beta = (ta + tb) % 2 ? -0.5f : 0.0f;
                if (beta == 0.0f) for (int64_t i = 0; i < nc; i++) C[i] = NAN;   // beta 0 must not read C
                pt_cpu_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
                naive_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
                double worst = 0;
                for (int i = 0; i < M; i++) {   // compare the (M, N) part; the padding columns are untouched
                    double e = max_rel(C + i * ldc, R + i * ldc, N);
                    if (!(e <= worst)) worst = e;
                }
                EXPECT(worst < 1e-5, "sgemm %dx%dx%d ta %d tb %d: relative error %g", M, N, K, ta, tb, worst);
                if (beta == 0.0f) EXPECT(isnan(C[ldc - 1]) || ldc == N, "padding column was written");
                free(A); free(B); free(C); free(R);
            }
    }
}

TEST_CASE(sgemm_speed_report) {
    int n = 384;
    float *A = malloc(sizeof(float) * n * n), *B = malloc(sizeof(float) * n * n), *C = malloc(sizeof(float) * n * n);
    fill_normal(A, (int64_t)n * n); fill_normal(B, (int64_t)n * n);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int reps = 5;
    for (int r = 0; r < reps; r++) pt_cpu_sgemm(0, 1, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
    printf("  sgemm %d^3: %.2f GFLOP/s\n", n, 2.0 * n * n * n * reps / s * 1e-9);
    double ref = 0;   // spot check one entry
    for (int k = 0; k < n; k++) ref += (double)A[5 * n + k] * B[7 * n + k];
    EXPECT_CLOSE(C[5 * n + 7], ref, 1e-3, 1e-4);
    free(A); free(B); free(C);
}

// ---- linear ---------------------------------------------------------------------------------------
typedef struct lin_ctx { int bias, transpose_x, transpose_w; } lin_ctx;

// in[0] = x, in[1] = w (or w^T stored when transpose_w), in[2] = b
static pt_tensor *f_linear(pt_tensor **in, int n, void *vctx) {
    (void)n;
    lin_ctx *c = vctx;
    pt_tensor *x = c->transpose_x ? pt_transpose(in[0], -1, -2) : in[0];
    pt_tensor *w = c->transpose_w ? pt_transpose(in[1], 0, 1) : in[1];
    return pt_linear(x, w, c->bias ? in[2] : NULL);
}

TEST_CASE(linear_forward_matches_naive) {
    int mark = pt_scope_begin();
    int64_t B = 2, S = 3, I = 5, O = 4;
    pt_tensor *x = gc_input(PT_DIMS(B, S, I), 1.0), *w = gc_input(PT_DIMS(O, I), 1.0), *b = gc_input(PT_DIMS(O), 1.0);
    float *xp = pt_f32(x), *wp = pt_f32(w), *bp = pt_f32(b);
    for (int bias = 0; bias < 2; bias++) {
        float *y = pt_f32(pt_linear(x, w, bias ? b : NULL));
        for (int64_t r = 0; r < B * S; r++)
            for (int64_t o = 0; o < O; o++) {
                double acc = bias ? bp[o] : 0;
                for (int64_t i = 0; i < I; i++) acc += (double)xp[r * I + i] * wp[o * I + i];
                EXPECT_CLOSE(y[r * O + o], acc, 1e-5, 1e-5);
            }
    }
    // a transposed (non-contiguous) weight view gives the same result as its contiguous copy
    pt_tensor *wt = pt_contiguous(pt_transpose(w, 0, 1));                  // (I, O)
    float *y1 = pt_f32(pt_linear(x, pt_transpose(wt, 0, 1), b)), *y2 = pt_f32(pt_linear(x, w, b));
    for (int64_t i = 0; i < B * S * O; i++) EXPECT_CLOSE(y1[i], y2[i], 0, 0);
    pt_tape_clear();
    pt_scope_end(mark, NULL);
}

TEST_CASE(linear_gradients) {
    int mark = pt_scope_begin();
    struct { int64_t lead[3]; int nl; int64_t I, O; lin_ctx c; } cases[] = {
        {{3}, 1, 5, 4, {1, 0, 0}},
        {{2, 3}, 2, 7, 6, {1, 0, 0}},
        {{2, 3}, 2, 4, 5, {0, 1, 0}},    // x given as a transposed view
        {{1, 2, 3}, 3, 6, 2, {1, 0, 1}}, // w given as a transposed view
        {{9}, 1, 1, 3, {1, 1, 1}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int m2 = pt_scope_begin();
        int64_t xs[PT_MAX_DIMS];
        int nl = cases[k].nl;
        for (int d = 0; d < nl; d++) xs[d] = cases[k].lead[d];
        xs[nl] = cases[k].I;
        if (cases[k].c.transpose_x) { int64_t t = xs[nl]; xs[nl] = xs[nl - 1]; xs[nl - 1] = t; }
        pt_tensor *x = gc_input(nl + 1, xs, 1.0);
        pt_tensor *w = cases[k].c.transpose_w ? gc_input(PT_DIMS(cases[k].I, cases[k].O), 1.0)
                                              : gc_input(PT_DIMS(cases[k].O, cases[k].I), 1.0);
        pt_tensor *b = gc_input(PT_DIMS(cases[k].O), 1.0);
        pt_tensor *in[3] = {x, w, b};
        char label[64];
        snprintf(label, sizeof label, "linear case %zu", k);
        double e = gradcheck(label, f_linear, in, cases[k].c.bias ? 3 : 2, &cases[k].c, 1e-1, 0);
        EXPECT(e < TOL, "%s: relative error %g", label, e);
        pt_scope_end(m2, NULL);
    }
    pt_scope_end(mark, NULL);
}

// Only x requires a gradient (a frozen layer): x's gradient is still right; and only w.
TEST_CASE(linear_partial_gradients) {
    int mark = pt_scope_begin();
    lin_ctx c = {1, 0, 0};
    for (int which = 0; which < 2; which++) {
        pt_tensor *in[3] = {gc_input(PT_DIMS(4, 3), 1.0), gc_input(PT_DIMS(5, 3), 1.0), gc_input(PT_DIMS(5), 1.0)};
        for (int k = 0; k < 3; k++) in[k]->requires_grad = (k == which);
        double e = gradcheck("linear partial", f_linear, in, 3, &c, 1e-1, 0);
        EXPECT(e < TOL, "only input %d: relative error %g", which, e);
        EXPECT(in[which]->grad != NULL, "no gradient reached input %d", which);
    }
    pt_scope_end(mark, NULL);
}

// ---- matmul -----------------------------------------------------------------------------------------
typedef struct mm_ctx { int transpose_a, transpose_b; } mm_ctx;
static pt_tensor *f_matmul(pt_tensor **in, int n, void *vctx) {
    (void)n;
    mm_ctx *c = vctx;
    pt_tensor *a = c->transpose_a ? pt_transpose(in[0], -1, -2) : in[0];
    pt_tensor *b = c->transpose_b ? pt_transpose(in[1], -1, -2) : in[1];
    return pt_matmul(a, b);
}

TEST_CASE(matmul_forward_matches_naive) {
    int mark = pt_scope_begin();
    // batched (2, 3, M, K) @ (2, 3, K, N) and shared (2, 3, M, K) @ (K, N)
    int64_t M = 4, K = 5, N = 3, nb = 6;
    pt_tensor *a = gc_input(PT_DIMS(2, 3, M, K), 1.0), *b = gc_input(PT_DIMS(2, 3, K, N), 1.0), *b2 = gc_input(PT_DIMS(K, N), 1.0);
    float *ap = pt_f32(a), *bp = pt_f32(b), *b2p = pt_f32(b2);
    float *y = pt_f32(pt_matmul(a, b)), *y2 = pt_f32(pt_matmul(a, b2));
    for (int64_t t = 0; t < nb; t++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0, acc2 = 0;
                for (int64_t k = 0; k < K; k++) {
                    acc += (double)ap[(t * M + i) * K + k] * bp[(t * K + k) * N + j];
                    acc2 += (double)ap[(t * M + i) * K + k] * b2p[k * N + j];
                }
                EXPECT_CLOSE(y[(t * M + i) * N + j], acc, 1e-5, 1e-5);
                EXPECT_CLOSE(y2[(t * M + i) * N + j], acc2, 1e-5, 1e-5);
            }
    pt_tape_clear();
    pt_scope_end(mark, NULL);
}

TEST_CASE(matmul_gradients) {
    int mark = pt_scope_begin();
    struct { int64_t as[4], bs[4]; int na, nbd; mm_ctx c; } cases[] = {
        {{3, 4}, {4, 5}, 2, 2, {0, 0}},
        {{2, 3, 4}, {2, 4, 2}, 3, 3, {0, 0}},
        {{2, 2, 3, 5}, {2, 2, 5, 4}, 4, 4, {0, 0}},
        {{2, 3, 4}, {4, 6}, 3, 2, {0, 0}},          // b shared over the batch
        {{2, 4, 3}, {2, 5, 4}, 3, 3, {1, 1}},       // both as transposed views
        {{3, 2, 5}, {6, 2}, 3, 2, {1, 1}},          // a transposed, shared b transposed
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int m2 = pt_scope_begin();
        pt_tensor *in[2] = {gc_input(cases[k].na, cases[k].as, 1.0), gc_input(cases[k].nbd, cases[k].bs, 1.0)};
        char label[64];
        snprintf(label, sizeof label, "matmul case %zu", k);
        double e = gradcheck(label, f_matmul, in, 2, &cases[k].c, 1e-1, 0);
        EXPECT(e < TOL, "%s: relative error %g", label, e);
        pt_scope_end(m2, NULL);
    }
    pt_scope_end(mark, NULL);
}

TEST_CASE(matmul_rejects_bad_shapes) {
    int mark = pt_scope_begin();
    pt_tensor *a = pt_zeros(PT_CPU, PT_F32, PT_DIMS(2, 3, 4)), *b = pt_zeros(PT_CPU, PT_F32, PT_DIMS(3, 4, 5));
    EXPECT_FAILS(pt_matmul(a, b), PT_EXIT_RUNTIME, "do not multiply");
    pt_tensor *w = pt_zeros(PT_CPU, PT_F32, PT_DIMS(5, 3));
    EXPECT_FAILS(pt_linear(a, w, NULL), PT_EXIT_RUNTIME, "does not match weight");
    pt_scope_end(mark, NULL);
}

TEST_CASE(no_leaks) {
    int64_t before = pt_live_tensors();
    size_t bytes = pt_host_bytes_in_use();
    int mark = pt_scope_begin();
    pt_tensor *x = gc_input(PT_DIMS(3, 4), 1.0), *w = gc_input(PT_DIMS(2, 4), 1.0), *b = gc_input(PT_DIMS(2), 1.0);
    pt_tensor *y = pt_matmul(pt_linear(pt_transpose(pt_transpose(x, 0, 1), 0, 1), w, b), w);
    pt_backward(pt_sum(y), NULL);
    pt_scope_end(mark, NULL);
    EXPECT(pt_live_tensors() == before, "live tensors %lld, expected %lld", (long long)pt_live_tensors(), (long long)before);
    EXPECT(pt_host_bytes_in_use() == bytes, "host bytes %zu, expected %zu", pt_host_bytes_in_use(), bytes);
}

int main(void) {
    tu_seed(7);
    RUN(sgemm_matches_naive);
    RUN(sgemm_speed_report);
    RUN(linear_forward_matches_naive);
    RUN(linear_gradients);
    RUN(linear_partial_gradients);
    RUN(matmul_forward_matches_naive);
    RUN(matmul_gradients);
    RUN(matmul_rejects_bad_shapes);
    RUN(no_leaks);
    return test_summary();
}

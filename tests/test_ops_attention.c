// test_ops_attention.c — memory-efficient attention against a naive materialised reference
// written here (full score matrix, softmax, weighted sum), hand-derived special cases, and
// gradients against finite differences (Sq != Skv, odd head dims, several heads, Dv != D, scales).
#include "autograd/ops.h"
#include "tests/gradcheck.h"

#define TOL 1e-2

// Naive reference: q (B,Sq,H*D), k (B,Skv,H*D), v (B,Skv,H*Dv) -> out (B,Sq,H*Dv), in double.
static void naive_attention(const float *q, const float *k, const float *v, double *out, int B, int Sq, int Skv, int H,
                            int D, int Dv, double scale) {
    double *S = malloc(sizeof(double) * (size_t)Sq * Skv);   // (Sq, Skv) materialised, per (b, h)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            for (int i = 0; i < Sq; i++) {
                double m = -1e300;
                for (int j = 0; j < Skv; j++) {
                    double s = 0;
                    for (int d = 0; d < D; d++) s += (double)q[((b * Sq + i) * H + h) * D + d] * k[((b * Skv + j) * H + h) * D + d];
                    S[i * Skv + j] = s * scale;
                    if (S[i * Skv + j] > m) m = S[i * Skv + j];
                }
                double l = 0;
                for (int j = 0; j < Skv; j++) { S[i * Skv + j] = exp(S[i * Skv + j] - m); l += S[i * Skv + j]; }
                for (int j = 0; j < Skv; j++) S[i * Skv + j] /= l;
            }
            for (int i = 0; i < Sq; i++)
                for (int e = 0; e < Dv; e++) {
                    double acc = 0;
                    for (int j = 0; j < Skv; j++) acc += S[i * Skv + j] * v[((b * Skv + j) * H + h) * Dv + e];
                    out[((b * Sq + i) * H + h) * Dv + e] = acc;
                }
        }
    }
    free(S);
}

static void check_forward(int B, int Sq, int Skv, int H, int D, int Dv, float scale) {
    int mark = pt_scope_begin();
    pt_tensor *q = gc_input(PT_DIMS(B, Sq, H * D), 1.0), *k = gc_input(PT_DIMS(B, Skv, H * D), 1.0);
    pt_tensor *v = gc_input(PT_DIMS(B, Skv, H * Dv), 1.0);
    pt_tensor *o = pt_attention(q, k, v, H, scale);
    EXPECT(o->ndim == 3 && o->shape[0] == B && o->shape[1] == Sq && o->shape[2] == H * Dv, "output shape");
    int64_t n = pt_numel(o);
    double *ref = malloc(sizeof(double) * (size_t)n);
    naive_attention(pt_f32(q), pt_f32(k), pt_f32(v), ref, B, Sq, Skv, H, D, Dv, scale > 0 ? scale : 1.0 / sqrt(D));
    float *of = pt_f32(o);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs(of[i] - ref[i]));
    EXPECT(worst < 2e-5, "B=%d Sq=%d Skv=%d H=%d D=%d Dv=%d: max abs error %.3g vs naive", B, Sq, Skv, H, D, Dv, worst);
    free(ref);
    pt_tape_clear();
    pt_scope_end(mark, NULL);
}

TEST_CASE(forward_matches_naive) {
    check_forward(2, 7, 5, 2, 5, 3, 0.7f);
    check_forward(1, 16, 16, 4, 8, 8, 0.0f);
    check_forward(3, 4, 9, 1, 10, 6, 0.0f);
    check_forward(2, 33, 70, 2, 4, 4, 0.0f);   // Skv = 2*Sq+4, crosses 32-wide tiles
    check_forward(2, 5, 1, 3, 6, 2, 0.0f);     // one key
}

TEST_CASE(special_cases_by_hand) {
    int mark = pt_scope_begin();
    // One key: the output is v for every query.  q = 0: uniform weights, the output is the mean of v.
    pt_tensor *q = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(1, 2, 2), (float[]){0.3f, -2, 5, 1});
    pt_tensor *k1 = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(1, 1, 2), (float[]){1, 2});
    pt_tensor *v1 = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(1, 1, 3), (float[]){4, -1, 0.5f});
    float *o = pt_f32(pt_attention(q, k1, v1, 1, 0.0f));
    for (int i = 0; i < 2; i++) {
        EXPECT_CLOSE(o[i * 3 + 0], 4, 1e-6, 0);
        EXPECT_CLOSE(o[i * 3 + 1], -1, 1e-6, 0);
        EXPECT_CLOSE(o[i * 3 + 2], 0.5, 1e-6, 0);
    }
    pt_tensor *q0 = pt_zeros(PT_CPU, PT_F32, PT_DIMS(1, 1, 2));
    pt_tensor *k2 = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(1, 3, 2), (float[]){1, 2, 3, 4, 5, 6});
    pt_tensor *v2 = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(1, 3, 1), (float[]){1, 2, 6});
    EXPECT_CLOSE(pt_f32(pt_attention(q0, k2, v2, 1, 0.0f))[0], 3, 1e-6, 0);
    // Two keys, scale 1: q.k = (0, ln 3) -> weights (1/4, 3/4); v = (0, 4) -> 3.
    pt_tensor *q3 = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(1, 1, 1), (float[]){(float)log(3.0)});
    pt_tensor *k3 = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(1, 2, 1), (float[]){0, 1});
    pt_tensor *v3 = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(1, 2, 1), (float[]){0, 4});
    EXPECT_CLOSE(pt_f32(pt_attention(q3, k3, v3, 1, 1.0f))[0], 3, 1e-5, 0);
    pt_scope_end(mark, NULL);
}

typedef struct at_ctx { int H; float scale; int strided_q; } at_ctx;
static pt_tensor *f_attn(pt_tensor **in, int n, void *vctx) {
    (void)n;
    at_ctx *c = vctx;
    pt_tensor *q = c->strided_q ? pt_transpose(in[0], 1, 2) : in[0];   // in[0] stored as (B, H*D, Sq)
    return pt_attention(q, in[1], in[2], c->H, c->scale);
}

static void check_grad(const char *label, int B, int Sq, int Skv, int H, int D, int Dv, float scale, int strided_q) {
    int mark = pt_scope_begin();
    pt_tensor *q = strided_q ? gc_input(PT_DIMS(B, H * D, Sq), 1.0) : gc_input(PT_DIMS(B, Sq, H * D), 1.0);
    pt_tensor *in[3] = {q, gc_input(PT_DIMS(B, Skv, H * D), 1.0), gc_input(PT_DIMS(B, Skv, H * Dv), 1.0)};
    at_ctx c = {H, scale, strided_q};
    double e = gradcheck(label, f_attn, in, 3, &c, 1e-3, 150);
    EXPECT(e < TOL, "%s: gradient relative error %.3g", label, e);
    pt_scope_end(mark, NULL);
}

TEST_CASE(grad_attention) {
    check_grad("Sq!=Skv, D=5, Dv=3, 2 heads, scale", 2, 4, 6, 2, 5, 3, 0.6f, 0);
    check_grad("D=10, 1 head, default scale", 1, 5, 3, 1, 10, 10, 0.0f, 0);
    check_grad("3 heads, D=4, Dv=7", 2, 3, 8, 3, 4, 7, 0.0f, 0);
    check_grad("one key", 2, 3, 1, 2, 3, 2, 0.0f, 0);
    check_grad("strided q", 1, 6, 4, 2, 3, 3, 0.0f, 1);
}

// Same tensor as q, k and v (self-attention without projections): gradients add up.
static pt_tensor *f_self(pt_tensor **in, int n, void *vctx) {
    (void)n; (void)vctx;
    return pt_attention(in[0], in[0], in[0], 2, 0.0f);
}
TEST_CASE(grad_attention_shared_input) {
    int mark = pt_scope_begin();
    pt_tensor *in[1] = {gc_input(PT_DIMS(2, 5, 6), 1.0)};
    double e = gradcheck("q=k=v", f_self, in, 1, NULL, 1e-3, 0);
    EXPECT(e < TOL, "q=k=v gradient relative error %.3g", e);
    pt_scope_end(mark, NULL);
}

// The materialised path (used on CUDA for head dims > 256, e.g. the VAE's D = 512) equals the
// fused one: values and gradients.
void pt_attention_force_materialized(int on);
static pt_tensor *f_attn_mat(pt_tensor **in, int n, void *ctx) {
    (void)n; (void)ctx;
    return pt_attention(in[0], in[1], in[2], 2, 0.0f);
}
TEST_CASE(materialized_equals_fused) {
    int mark = pt_scope_begin();
    pt_tensor *in[3] = {gc_input(PT_DIMS(2, 5, 12), 1.0), gc_input(PT_DIMS(2, 7, 12), 1.0), gc_input(PT_DIMS(2, 7, 8), 1.0)};
    pt_tensor *a = f_attn_mat(in, 3, NULL);
    pt_attention_force_materialized(1);
    pt_tensor *b = f_attn_mat(in, 3, NULL);
    double e = gradcheck("attention-materialized", f_attn_mat, in, 3, NULL, 1e-3, 0);
    pt_attention_force_materialized(0);
    EXPECT(rel_err_f32(pt_f32(b), pt_f32(a), pt_numel(a)) < 1e-6, "materialized attention differs");
    EXPECT(e < 1e-2, "materialized attention gradient error %g", e);
    pt_scope_end(mark, NULL);
}

int main(void) {
    RUN(materialized_equals_fused);
    tu_seed(31);
    RUN(forward_matches_naive);
    RUN(special_cases_by_hand);
    RUN(grad_attention);
    RUN(grad_attention_shared_input);
    return test_summary();
}

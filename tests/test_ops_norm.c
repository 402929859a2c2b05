// test_ops_norm.c — group norm, fused group norm + SiLU, layer norm: hand-computed values and
// gradients against finite differences.
#include "autograd/ops.h"
#include "tests/gradcheck.h"

#define TOL 1e-2   // f32 finite differences: a correct gradient lands near 1e-4..1e-3

static float silu_ref(float z) { return z / (1.0f + expf(-z)); }

// x (1, 4, 2): channels [1,3] [5,7] | [0,0] [2,-2]; 2 groups.
// group 0 = {1,3,5,7}: mean 4, biased var (9+1+1+9)/4 = 5; group 1 = {0,0,2,-2}: mean 0, var 2.
TEST_CASE(group_norm_two_groups_by_hand) {
    int mark = pt_scope_begin();
    pt_tensor *x = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(1, 4, 2), (float[]){1, 3, 5, 7, 0, 0, 2, -2});
    pt_tensor *w = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(4), (float[]){1, 2, 0.5f, -1});
    pt_tensor *b = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(4), (float[]){0, 1, 0, 0.5f});
    float eps = 1e-5f;
    double r0 = 1.0 / sqrt(5.0 + eps), r1 = 1.0 / sqrt(2.0 + eps);
    double expect[8] = {(1 - 4) * r0 * 1 + 0, (3 - 4) * r0 * 1 + 0, (5 - 4) * r0 * 2 + 1, (7 - 4) * r0 * 2 + 1,
                        0 * r1 * 0.5,         0 * r1 * 0.5,         2 * r1 * -1 + 0.5,    -2 * r1 * -1 + 0.5};
    float *y = pt_f32(pt_group_norm(x, 2, w, b, eps));
    float *ys = pt_f32(pt_group_norm_silu(x, 2, w, b, eps));
    float *yn = pt_f32(pt_group_norm(x, 2, NULL, NULL, eps));
    double plain[8] = {-3 * r0, -1 * r0, 1 * r0, 3 * r0, 0, 0, 2 * r1, -2 * r1};
    for (int i = 0; i < 8; i++) {
        EXPECT_CLOSE(y[i], expect[i], 1e-5, 1e-5);
        EXPECT_CLOSE(ys[i], silu_ref((float)expect[i]), 1e-5, 1e-5);
        EXPECT_CLOSE(yn[i], plain[i], 1e-5, 1e-5);
    }
    pt_scope_end(mark, NULL);
}

TEST_CASE(layer_norm_by_hand) {
    int mark = pt_scope_begin();
    // rows [1,2,3,4] (mean 2.5, var 1.25) and [2,2,2,6] (mean 3, var 3)
    pt_tensor *x = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(2, 4), (float[]){1, 2, 3, 4, 2, 2, 2, 6});
    pt_tensor *w = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(4), (float[]){1, -1, 2, 0.5f});
    pt_tensor *b = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(4), (float[]){0, 0.25f, 0, 1});
    float eps = 1e-5f;
    double r0 = 1.0 / sqrt(1.25 + eps), r1 = 1.0 / sqrt(3.0 + eps);
    double xh[8] = {-1.5 * r0, -0.5 * r0, 0.5 * r0, 1.5 * r0, -1 * r1, -1 * r1, -1 * r1, 3 * r1};
    double wv[4] = {1, -1, 2, 0.5}, bv[4] = {0, 0.25, 0, 1};
    float *y = pt_f32(pt_layer_norm(x, w, b, eps));
    float *yn = pt_f32(pt_layer_norm(x, NULL, NULL, eps));
    for (int i = 0; i < 8; i++) {
        EXPECT_CLOSE(y[i], xh[i] * wv[i % 4] + bv[i % 4], 1e-5, 1e-5);
        EXPECT_CLOSE(yn[i], xh[i], 1e-5, 1e-5);
    }
    pt_scope_end(mark, NULL);
}

typedef struct gn_ctx { int groups, silu, affine; } gn_ctx;
static pt_tensor *f_group_norm(pt_tensor **in, int n, void *vctx) {
    gn_ctx *c = vctx;
    pt_tensor *w = c->affine ? in[1] : NULL, *b = c->affine ? in[2] : NULL;
    return c->silu ? pt_group_norm_silu(in[0], c->groups, w, b, 1e-5f) : pt_group_norm(in[0], c->groups, w, b, 1e-5f);
}

static void check_gn(const char *label, int ndim, const int64_t *shape, int groups, int silu, int affine) {
    int mark = pt_scope_begin();
    int64_t C = shape[1];
    pt_tensor *in[3] = {gc_input(ndim, shape, 1.0), gc_input(PT_DIMS(C), 1.0), gc_input(PT_DIMS(C), 0.5)};
    // offset the input so the mean is far from zero (checks the centred variance)
    float *xp = pt_f32(in[0]);
    for (int64_t i = 0; i < pt_numel(in[0]); i++) xp[i] += 3.0f;
    gn_ctx c = {groups, silu, affine};
    double e = gradcheck(label, f_group_norm, in, affine ? 3 : 1, &c, 1e-3, 200);
    EXPECT(e < TOL, "%s: gradient relative error %.3g", label, e);
    pt_scope_end(mark, NULL);
}

TEST_CASE(grad_group_norm) {
    check_gn("gn 4d groups=1", PT_DIMS(2, 6, 3, 4), 1, 0, 1);
    check_gn("gn 4d groups=3", PT_DIMS(2, 6, 3, 4), 3, 0, 1);
    check_gn("gn 4d groups=C", PT_DIMS(2, 6, 3, 4), 6, 0, 1);
    check_gn("gn 3d groups=4", PT_DIMS(3, 8, 5), 4, 0, 1);
    check_gn("gn 5d groups=2", PT_DIMS(1, 4, 3, 2, 3), 2, 0, 1);
    check_gn("gn no affine", PT_DIMS(2, 4, 5), 2, 0, 0);
}

TEST_CASE(grad_group_norm_silu) {
    check_gn("gn+silu 4d groups=4", PT_DIMS(2, 8, 3, 3), 4, 1, 1);
    check_gn("gn+silu groups=1", PT_DIMS(1, 3, 7), 1, 1, 1);
    check_gn("gn+silu groups=C", PT_DIMS(2, 4, 2, 3), 4, 1, 1);
    check_gn("gn+silu no affine", PT_DIMS(2, 4, 6), 2, 1, 0);
}

// group_norm_silu equals silu(group_norm) composed of the separate ops, values and gradients.
static pt_tensor *f_gn_then_silu(pt_tensor **in, int n, void *vctx) {
    (void)n; (void)vctx;
    return pt_silu(pt_group_norm(in[0], 2, in[1], in[2], 1e-6f));
}
static pt_tensor *f_gn_silu_fused(pt_tensor **in, int n, void *vctx) {
    (void)n; (void)vctx;
    return pt_group_norm_silu(in[0], 2, in[1], in[2], 1e-6f);
}
TEST_CASE(group_norm_silu_matches_composition) {
    int mark = pt_scope_begin();
    pt_tensor *in[3] = {gc_input(PT_DIMS(2, 4, 3, 3), 1.0), gc_input(PT_DIMS(4), 1.0), gc_input(PT_DIMS(4), 1.0)};
    pt_tensor *a = f_gn_then_silu(in, 3, NULL);
    pt_tensor *R = gc_input(a->ndim, a->shape, 1.0);
    R->requires_grad = 0;
    pt_backward(pt_sum(pt_mul(a, R)), NULL);
    float ga[3][72];
    for (int k = 0; k < 3; k++) { pt_copy_to_host_f32(in[k]->grad, ga[k]); pt_release(in[k]->grad); in[k]->grad = NULL; }
    pt_tensor *b = f_gn_silu_fused(in, 3, NULL);
    pt_backward(pt_sum(pt_mul(b, R)), NULL);
    EXPECT(rel_err_f32(pt_f32(b), pt_f32(a), pt_numel(a)) < 1e-6, "fused forward differs");
    for (int k = 0; k < 3; k++) {
        float gb[72];
        pt_copy_to_host_f32(in[k]->grad, gb);
        double e = rel_err_f32(gb, ga[k], pt_numel(in[k]));
        EXPECT(e < 1e-5, "input %d: fused gradient differs from composed (%.3g)", k, e);
    }
    pt_scope_end(mark, NULL);
}

typedef struct ln_ctx { int affine, transpose; } ln_ctx;
static pt_tensor *f_layer_norm(pt_tensor **in, int n, void *vctx) {
    ln_ctx *c = vctx;
    pt_tensor *x = c->transpose ? pt_transpose(in[0], 0, 1) : in[0];   // a strided view
    return pt_layer_norm(x, c->affine ? in[1] : NULL, c->affine ? in[2] : NULL, 1e-5f);
}
TEST_CASE(grad_layer_norm) {
    int mark = pt_scope_begin();
    pt_tensor *in[3] = {gc_input(PT_DIMS(3, 5, 7), 1.0), gc_input(PT_DIMS(7), 1.0), gc_input(PT_DIMS(7), 1.0)};
    ln_ctx c1 = {1, 0};
    double e = gradcheck("layer_norm", f_layer_norm, in, 3, &c1, 1e-3, 0);
    EXPECT(e < TOL, "layer_norm gradient error %.3g", e);
    ln_ctx c2 = {0, 1};
    e = gradcheck("layer_norm strided, no affine", f_layer_norm, in, 1, &c2, 1e-3, 0);
    EXPECT(e < TOL, "layer_norm (strided input) gradient error %.3g", e);
    pt_tensor *in1[3] = {gc_input(PT_DIMS(6, 1), 1.0), gc_input(PT_DIMS(1), 1.0), gc_input(PT_DIMS(1), 1.0)};
    e = gradcheck("layer_norm D=1", f_layer_norm, in1, 3, &c1, 1e-3, 0);   // xhat = 0: only db is nonzero
    EXPECT(e < TOL, "layer_norm D=1 gradient error %.3g", e);
    pt_scope_end(mark, NULL);
}

TEST_CASE(norm_no_leaks) {
    int64_t before = pt_live_tensors();
    int mark = pt_scope_begin();
    pt_tensor *x = gc_input(PT_DIMS(2, 4, 3), 1.0), *w = gc_input(PT_DIMS(4), 1.0), *b = gc_input(PT_DIMS(4), 1.0);
    pt_tensor *y = pt_group_norm_silu(x, 2, w, b, 1e-5f);
    pt_tensor *z = pt_layer_norm(y, NULL, NULL, 1e-5f);
    pt_backward(pt_sum(z), NULL);
    pt_scope_end(mark, NULL);
    EXPECT(pt_tape_size() == 0, "tape not empty: %lld nodes", (long long)pt_tape_size());
    EXPECT(pt_live_tensors() == before, "live tensors %lld, expected %lld", (long long)pt_live_tensors(), (long long)before);
}

int main(void) {
    tu_seed(11);
    RUN(group_norm_two_groups_by_hand);
    RUN(layer_norm_by_hand);
    RUN(grad_group_norm);
    RUN(grad_group_norm_silu);
    RUN(group_norm_silu_matches_composition);
    RUN(grad_layer_norm);
    RUN(norm_no_leaks);
    return test_summary();
}

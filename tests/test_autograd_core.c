// test_autograd_core.c — tensors, scopes, the tape, elementwise/shape/reduce ops, checkpointing.
#include "autograd/ops.h"
#include "tests/gradcheck.h"

#define TOL 1e-2   // f32 finite differences: a correct gradient lands near 1e-4..1e-3

TEST_CASE(scope_releases_everything) {
    int64_t before = pt_live_tensors();
    size_t bytes = pt_host_bytes_in_use();
    int mark = pt_scope_begin();
    pt_tensor *a = pt_full(PT_CPU, PT_F32, PT_DIMS(3, 4), 2.0f);
    pt_tensor *b = pt_add(a, a);
    pt_tensor *c = pt_mul(b, pt_slice(a, 0, 1, 2));   // (3,4) * (1,4)
    (void)c;
    pt_scope_end(mark, NULL);
    EXPECT(pt_live_tensors() == before, "live tensors %lld, expected %lld", (long long)pt_live_tensors(), (long long)before);
    EXPECT(pt_host_bytes_in_use() == bytes, "host bytes %zu, expected %zu", pt_host_bytes_in_use(), bytes);
}

TEST_CASE(broadcast_values) {
    int mark = pt_scope_begin();
    pt_tensor *a = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(2, 3), (float[]){1, 2, 3, 4, 5, 6});
    pt_tensor *b = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(3), (float[]){10, 20, 30});
    pt_tensor *c = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(2, 1), (float[]){-1, 2});
    float *s = pt_f32(pt_add(a, b)), *m = pt_f32(pt_mul(a, c)), *d = pt_f32(pt_sub(b, c));
    float es[] = {11, 22, 33, 14, 25, 36}, em[] = {-1, -2, -3, 8, 10, 12}, ed[] = {11, 21, 31, 8, 18, 28};
    for (int i = 0; i < 6; i++) {
        EXPECT_CLOSE(s[i], es[i], 0, 0);
        EXPECT_CLOSE(m[i], em[i], 0, 0);
        EXPECT_CLOSE(d[i], ed[i], 0, 0);
    }
    pt_tensor *t = pt_transpose(a, 0, 1);   // strided view (3, 2)
    float *tc = pt_f32(pt_contiguous(t));
    float et[] = {1, 4, 2, 5, 3, 6};
    for (int i = 0; i < 6; i++) EXPECT_CLOSE(tc[i], et[i], 0, 0);
    EXPECT_CLOSE(pt_f32(pt_sum(a))[0], 21, 0, 0);
    EXPECT_CLOSE(pt_f32(pt_mean(a))[0], 3.5, 1e-7, 0);
    float *st = pt_f32(pt_sum_to_shape(a, 2, PT_SHAPE(1, 3)));
    EXPECT_CLOSE(st[0], 5, 0, 0); EXPECT_CLOSE(st[1], 7, 0, 0); EXPECT_CLOSE(st[2], 9, 0, 0);
    float *rp = pt_f32(pt_repeat(c, 1, 3));
    float er[] = {-1, -1, -1, 2, 2, 2};
    for (int i = 0; i < 6; i++) EXPECT_CLOSE(rp[i], er[i], 0, 0);
    float *cc = pt_f32(pt_concat((pt_tensor *[]){a, c}, 2, 1));
    float ec[] = {1, 2, 3, -1, 4, 5, 6, 2};
    for (int i = 0; i < 8; i++) EXPECT_CLOSE(cc[i], ec[i], 0, 0);
    pt_scope_end(mark, NULL);
}

static pt_tensor *f_binary(pt_tensor **in, int n, void *ctx) {
    (void)n; (void)ctx;
    // exercises broadcast add/mul/sub, scale, add_scalar, axpby
    pt_tensor *x = pt_mul(pt_add(in[0], in[1]), in[2]);
    x = pt_sub(x, pt_scale(in[1], 0.5f));
    x = pt_axpby(x, 2.0f, pt_add_scalar(x, 1.0f), -0.25f);
    return pt_mul(x, x);
}
TEST_CASE(grad_elementwise_broadcast) {
    int mark = pt_scope_begin();
    pt_tensor *in[3] = {gc_input(PT_DIMS(2, 3, 4), 1.0), gc_input(PT_DIMS(3, 1), 1.0), gc_input(PT_DIMS(4), 1.0)};
    double e = gradcheck("elementwise", f_binary, in, 3, NULL, 1e-3, 0);
    EXPECT(e < TOL, "relative error %g", e);
    pt_scope_end(mark, NULL);
}

static pt_tensor *f_shape(pt_tensor **in, int n, void *ctx) {
    (void)n; (void)ctx;
    pt_tensor *x = in[0];                                      // (2, 3, 4)
    pt_tensor *p = pt_permute(x, (int[]){2, 0, 1});            // (4, 2, 3)
    pt_tensor *r = pt_reshape(p, 2, PT_SHAPE(8, -1));          // (8, 3), non-contiguous source -> copy
    pt_tensor *s = pt_slice(r, 0, 2, 7);                       // (5, 3)
    pt_tensor *c = pt_concat((pt_tensor *[]){s, in[1], s}, 3, 0);   // (5+2+5, 3)
    pt_tensor *t = pt_repeat(pt_transpose(c, 0, 1), 0, 2);     // (6, 12)
    pt_tensor *m = pt_mul(t, t);
    return pt_add(m, pt_scale(pt_sum(in[1]), 0.3f));
}
TEST_CASE(grad_shape_ops) {
    int mark = pt_scope_begin();
    pt_tensor *in[2] = {gc_input(PT_DIMS(2, 3, 4), 1.0), gc_input(PT_DIMS(2, 3), 1.0)};
    double e = gradcheck("shape", f_shape, in, 2, NULL, 1e-3, 0);
    EXPECT(e < TOL, "relative error %g", e);
    pt_scope_end(mark, NULL);
}

// A deliberately wrong backward (the gradient of x^2 written as x instead of 2x): the checker
// must flag it. This is the planted bug the autograd issue asks the tests to catch.
static void bad_square_backward(pt_node *n) {
    pt_tensor *g = pt_node_grad_out(n, 0);
    pt_grad_accum(n->in[0], pt_mul(g, n->saved[0]));
}
static pt_tensor *bad_square(pt_tensor *x) {
    pt_tensor *y;
    PT_NO_GRAD_BEGIN
    y = pt_mul(x, x);
    PT_NO_GRAD_END
    pt_node *n = pt_node_new("bad_square", bad_square_backward, 1, (pt_tensor *[]){x});
    if (n) { pt_node_save(n, x); pt_node_add_output(n, y); }
    return y;
}
static pt_tensor *f_bad(pt_tensor **in, int n, void *ctx) { (void)n; (void)ctx; return bad_square(in[0]); }
TEST_CASE(gradcheck_catches_planted_bug) {
    int mark = pt_scope_begin();
    pt_tensor *in[1] = {gc_input(PT_DIMS(5, 3), 1.0)};
    double e = gradcheck("planted-bug", f_bad, in, 1, NULL, 1e-3, 0);
    EXPECT(e > 0.3, "the wrong gradient was not detected (relative error %g)", e);
    pt_scope_end(mark, NULL);
}

TEST_CASE(param_grad_accumulates_and_frozen_records_nothing) {
    int mark = pt_scope_begin();
    pt_tensor *w = pt_param_new(PT_CPU, PT_F32, PT_DIMS(3), "w");
    pt_copy_from_host_f32(w, (float[]){1, 2, 3});
    pt_tensor *x = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(3), (float[]){4, 5, 6});
    for (int rep = 0; rep < 2; rep++) {
        int m2 = pt_scope_begin();
        pt_backward(pt_sum(pt_mul(w, x)), NULL);   // d/dw = x
        pt_scope_end(m2, NULL);
    }
    float *g = pt_f32(w->grad);
    EXPECT_CLOSE(g[0], 8, 0, 0); EXPECT_CLOSE(g[1], 10, 0, 0); EXPECT_CLOSE(g[2], 12, 0, 0);
    // frozen parameter: no node is recorded at all
    pt_param_set_requires_grad(w, 0);
    int64_t before = pt_tape_size();
    pt_tensor *y = pt_mul(w, x);
    EXPECT(pt_tape_size() == before && !y->requires_grad, "a frozen op was recorded");
    pt_scope_end(mark, NULL);
    pt_release(w);
}

// Checkpointed block: y = (x*w + x)^2, recomputed in backward.
static void block_fn(void *ctx, pt_tensor **in, int n_in, pt_tensor **out, int n_out) {
    (void)n_in; (void)n_out;
    pt_tensor *w = ctx;
    int mark = pt_scope_begin();
    pt_tensor *h = pt_add(pt_mul(in[0], w), in[0]);
    out[0] = pt_scope_end(mark, pt_mul(h, h));
}
TEST_CASE(checkpoint_matches_plain) {
    int mark = pt_scope_begin();
    pt_tensor *w = pt_param_new(PT_CPU, PT_F32, PT_DIMS(4), "w");
    pt_copy_from_host_f32(w, (float[]){0.5f, -1, 2, 0.25f});
    pt_tensor *x = gc_input(PT_DIMS(2, 4), 1.0);
    float g_plain[8], w_plain[4], g_ck[8], w_ck[4];
    for (int mode = 0; mode < 2; mode++) {
        int m2 = pt_scope_begin();
        if (x->grad) { pt_release(x->grad); x->grad = NULL; }
        if (w->grad) pt_zero_(w->grad);
        pt_checkpoint_set_enabled(mode);
        pt_tensor *y;
        pt_checkpoint(block_fn, w, &x, 1, &y, 1);
        pt_tensor *z = pt_mul(y, pt_add_scalar(x, 1.0f));
        int64_t nodes = pt_tape_size();
        if (mode == 1) EXPECT(nodes <= 3, "checkpointed block recorded %lld nodes", (long long)nodes);
        pt_backward(pt_sum(z), NULL);
        pt_copy_to_host_f32(x->grad, mode ? g_ck : g_plain);
        pt_copy_to_host_f32(w->grad, mode ? w_ck : w_plain);
        pt_scope_end(m2, NULL);
    }
    pt_checkpoint_set_enabled(1);
    for (int i = 0; i < 8; i++) EXPECT_CLOSE(g_ck[i], g_plain[i], 1e-6, 1e-6);
    for (int i = 0; i < 4; i++) EXPECT_CLOSE(w_ck[i], w_plain[i], 1e-6, 1e-6);
    // hand-derived: dz/dx for one element: z = ((w+1)x)^2 (x+1) -> (w+1)^2 (3x^2 + 2x)
    float xv[8];
    pt_copy_to_host_f32(x, xv);
    float wv[4] = {0.5f, -1, 2, 0.25f};
    for (int i = 0; i < 8; i++) {
        double a = wv[i % 4] + 1.0, xx = xv[i];
        EXPECT_CLOSE(g_plain[i], a * a * (3 * xx * xx + 2 * xx), 1e-5, 1e-5);
    }
    pt_scope_end(mark, NULL);
    pt_release(w);
}

TEST_CASE(rng_is_deterministic_and_normal) {
    int mark = pt_scope_begin();
    pt_rng r1, r2;
    pt_rng_init(&r1, 42); pt_rng_init(&r2, 42);
    pt_tensor *a = pt_randn(PT_CPU, PT_F32, PT_DIMS(100000), &r1);
    pt_tensor *b = pt_randn(PT_CPU, PT_F32, PT_DIMS(100000), &r2);
    float *pa = pt_f32(a), *pb = pt_f32(b);
    double mean = 0, var = 0;
    int same = 1;
    for (int i = 0; i < 100000; i++) { same &= pa[i] == pb[i]; mean += pa[i]; var += (double)pa[i] * pa[i]; }
    mean /= 100000; var = var / 100000 - mean * mean;
    EXPECT(same, "same seed gave different draws");
    EXPECT(fabs(mean) < 0.02 && fabs(var - 1) < 0.02, "mean %g var %g", mean, var);
    pt_scope_end(mark, NULL);
}

// The gradient-ready hook fires once per parameter, after its last use ran backward, with the
// final gradient already in place (data-parallel buckets rely on this).
static int ready_calls = 0;
static float ready_grad[2];
static void on_ready(pt_tensor *p, void *ctx) {
    (void)ctx;
    ready_calls++;
    pt_copy_to_host_f32(p->grad, ready_grad);
}
TEST_CASE(grad_ready_hook) {
    int mark = pt_scope_begin();
    pt_tensor *w = pt_param_new(PT_CPU, PT_F32, PT_DIMS(2), "w");
    pt_copy_from_host_f32(w, (float[]){2, 3});
    pt_tensor *x = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(2), (float[]){5, 7});
    pt_set_grad_ready_hook(on_ready, NULL);
    // loss = sum(w*x) + sum(w*w): dw = x + 2w = (9, 13); w is used by two nodes (three inputs)
    pt_tensor *l = pt_add(pt_sum(pt_mul(w, x)), pt_sum(pt_mul(w, w)));
    EXPECT(w->pending_uses == 3, "pending uses %d, expected 3", w->pending_uses);
    pt_backward(l, NULL);
    pt_set_grad_ready_hook(NULL, NULL);
    EXPECT(ready_calls == 1, "hook called %d times", ready_calls);
    EXPECT_CLOSE(ready_grad[0], 9, 0, 0);
    EXPECT_CLOSE(ready_grad[1], 13, 0, 0);
    EXPECT(w->pending_uses == 0, "pending uses left: %d", w->pending_uses);
    pt_scope_end(mark, NULL);
    pt_release(w);
}

int main(void) {
    tu_seed(1);
    RUN(scope_releases_everything);
    RUN(broadcast_values);
    RUN(grad_elementwise_broadcast);
    RUN(grad_shape_ops);
    RUN(gradcheck_catches_planted_bug);
    RUN(param_grad_accumulates_and_frozen_records_nothing);
    RUN(checkpoint_matches_plain);
    RUN(rng_is_deterministic_and_normal);
    RUN(grad_ready_hook);
    return test_summary();
}

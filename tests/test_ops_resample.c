// test_ops_resample.c — pt_pad2d, pt_upsample_nearest2x, pt_max_pool2d, pt_avg_pool2d: hand-derived
// values, naive references written here, and gradients against finite differences (including
// strided views and overlapping pooling windows).
#include "autograd/ops.h"
#include "tests/gradcheck.h"

#define TOL 1e-2

static pt_tensor *ramp(int ndim, const int64_t *shape) {
    pt_tensor *t = pt_empty(PT_CPU, PT_F32, ndim, shape);
    float *p = pt_f32(t);
    for (int64_t i = 0; i < pt_numel(t); i++) p[i] = (float)(i + 1);
    return t;
}

// A leaf whose values are a shuffled grid spaced 0.05 apart: no near-ties, so a finite
// difference of 1e-3 never changes a max-pool argmax.
static pt_tensor *distinct_input(int ndim, const int64_t *shape) {
    pt_tensor *t = gc_input(ndim, shape, 1.0);
    int64_t n = pt_numel(t);
    float *p = pt_f32(t);
    for (int64_t i = 0; i < n; i++) p[i] = 0.05f * (float)(i - n / 2);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(tu_uniform() * (double)(i + 1));
        float tmp = p[i]; p[i] = p[j]; p[j] = tmp;
    }
    return t;
}

// ---- pad2d ------------------------------------------------------------------------------------------
TEST_CASE(pad2d_values) {
    int mark = pt_scope_begin();
    pt_tensor *x = ramp(PT_DIMS(1, 1, 2, 2));
    pt_tensor *y = pt_pad2d(x, 0, 1, 0, 1);   // the VAE downsampler's (0, 1, 0, 1)
    EXPECT(y->shape[2] == 3 && y->shape[3] == 3, "padded shape");
    float e1[] = {1, 2, 0, 3, 4, 0, 0, 0, 0};
    for (int i = 0; i < 9; i++) EXPECT_CLOSE(pt_f32(y)[i], e1[i], 0, 0);
    pt_tensor *z = pt_pad2d(x, 2, 0, 1, 0);   // left 2, top 1 -> (3, 4)
    EXPECT(z->shape[2] == 3 && z->shape[3] == 4, "padded shape");
    float e2[] = {0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4};
    for (int i = 0; i < 12; i++) EXPECT_CLOSE(pt_f32(z)[i], e2[i], 0, 0);
    pt_scope_end(mark, NULL);
}

typedef struct pad_ctx { int l, r, t, b, transpose; } pad_ctx;
static pt_tensor *f_pad(pt_tensor **in, int n, void *vctx) {
    (void)n;
    pad_ctx *c = vctx;
    pt_tensor *x = c->transpose ? pt_transpose(in[0], -1, -2) : in[0];
    return pt_pad2d(x, c->l, c->r, c->t, c->b);
}
TEST_CASE(pad2d_gradients) {
    int mark = pt_scope_begin();
    pad_ctx cs[] = {{0, 1, 0, 1, 0}, {1, 2, 0, 3, 0}, {2, 0, 1, 1, 1}, {0, 0, 0, 0, 0}};
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        pt_tensor *in[1] = {gc_input(PT_DIMS(2, 3, 4, 5), 1.0)};
        double e = gradcheck("pad2d", f_pad, in, 1, &cs[k], 1e-1, 0);
        EXPECT(e < TOL, "pad case %zu: relative error %g", k, e);
    }
    pt_scope_end(mark, NULL);
}

// ---- upsample ---------------------------------------------------------------------------------------
TEST_CASE(upsample_values) {
    int mark = pt_scope_begin();
    pt_tensor *x = ramp(PT_DIMS(1, 2, 2, 3));
    float *y = pt_f32(pt_upsample_nearest2x(x));   // (1, 2, 4, 6)
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 6; j++) EXPECT_CLOSE(y[(c * 4 + i) * 6 + j], c * 6 + (i / 2) * 3 + j / 2 + 1, 0, 0);
    pt_scope_end(mark, NULL);
}

static pt_tensor *f_up(pt_tensor **in, int n, void *ctx) {
    (void)n;
    return pt_upsample_nearest2x(ctx ? pt_transpose(in[0], 2, 3) : in[0]);
}
TEST_CASE(upsample_gradients) {
    int mark = pt_scope_begin();
    pt_tensor *in[1] = {gc_input(PT_DIMS(2, 3, 3, 4), 1.0)};
    double e = gradcheck("upsample", f_up, in, 1, NULL, 1e-1, 0);
    EXPECT(e < TOL, "relative error %g", e);
    e = gradcheck("upsample transposed", f_up, in, 1, (void *)1, 1e-1, 0);
    EXPECT(e < TOL, "transposed view: relative error %g", e);
    // hand-derived: d sum(up(x)) / dx = 4 everywhere
    pt_tensor *x = gc_input(PT_DIMS(1, 1, 2, 2), 1.0);
    pt_backward(pt_sum(pt_upsample_nearest2x(x)), NULL);
    for (int i = 0; i < 4; i++) EXPECT_CLOSE(pt_f32(x->grad)[i], 4, 0, 0);
    pt_scope_end(mark, NULL);
}

// ---- pooling ------------------------------------------------------------------------------------------
typedef struct pool_ctx { int k, s, is_max, transpose; } pool_ctx;
static pt_tensor *f_pool(pt_tensor **in, int n, void *vctx) {
    (void)n;
    pool_ctx *c = vctx;
    pt_tensor *x = c->transpose ? pt_transpose(in[0], -1, -2) : in[0];
    return c->is_max ? pt_max_pool2d(x, c->k, c->s) : pt_avg_pool2d(x, c->k, c->s);
}

TEST_CASE(pool_forward_matches_naive) {
    pool_ctx cs[] = {{2, 2, 1, 0}, {3, 1, 1, 0}, {3, 2, 1, 0}, {2, 2, 0, 0}, {3, 2, 0, 0}, {2, 1, 0, 0}};
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        int mark = pt_scope_begin();
        int64_t P = 6, H = 7, W = 6;
        pt_tensor *x = gc_input(PT_DIMS(2, 3, H, W), 1.0);
        pt_tensor *y = f_pool(&x, 1, &cs[k]);
        int64_t K = cs[k].k, S = cs[k].s, Ho = (H - K) / S + 1, Wo = (W - K) / S + 1;
        EXPECT(y->shape[2] == Ho && y->shape[3] == Wo, "pool case %zu: output (%lld, %lld)", k, (long long)y->shape[2],
               (long long)y->shape[3]);
        const float *xp = pt_f32(x), *yp = pt_f32(y);
        for (int64_t p = 0; p < P; p++)
            for (int64_t i = 0; i < Ho; i++)
                for (int64_t j = 0; j < Wo; j++) {
                    double m = -INFINITY, sum = 0;
                    for (int64_t a = 0; a < K; a++)
                        for (int64_t b = 0; b < K; b++) {
                            double v = xp[(p * H + i * S + a) * W + j * S + b];
                            if (v > m) m = v;
                            sum += v;
                        }
                    EXPECT_CLOSE(yp[(p * Ho + i) * Wo + j], cs[k].is_max ? m : sum / (double)(K * K), 1e-6, 1e-6);
                }
        pt_tape_clear();
        pt_scope_end(mark, NULL);
    }
}

TEST_CASE(pool_gradients) {
    pool_ctx cs[] = {{2, 2, 1, 0}, {3, 1, 1, 0}, {3, 2, 1, 1}, {2, 2, 0, 0}, {3, 2, 0, 1}, {2, 1, 0, 0}, {4, 3, 1, 0}};
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        int mark = pt_scope_begin();
        pt_tensor *in[1] = {distinct_input(PT_DIMS(2, 2, 7, 8))};
        double e = gradcheck(cs[k].is_max ? "max_pool2d" : "avg_pool2d", f_pool, in, 1, &cs[k], 1e-3, 0);
        EXPECT(e < TOL, "pool case %zu (k %d s %d %s): relative error %g", k, cs[k].k, cs[k].s, cs[k].is_max ? "max" : "avg", e);
        pt_scope_end(mark, NULL);
    }
}

// Hand-derived: MaxPool2d(2) on a 4x4 ramp keeps the bottom-right of each block; the gradient of
// the sum is 1 there and 0 elsewhere. A 3-D (C, H, W) input works too.
TEST_CASE(max_pool_hand_values) {
    int mark = pt_scope_begin();
    pt_tensor *x = ramp(PT_DIMS(1, 4, 4));
    x->requires_grad = 1;
    pt_tensor *y = pt_max_pool2d(x, 2, 2);
    float e[] = {6, 8, 14, 16};
    for (int i = 0; i < 4; i++) EXPECT_CLOSE(pt_f32(y)[i], e[i], 0, 0);
    pt_backward(pt_sum(y), NULL);
    for (int i = 0; i < 16; i++) EXPECT_CLOSE(pt_f32(x->grad)[i], (i == 5 || i == 7 || i == 13 || i == 15) ? 1 : 0, 0, 0);
    float *a = pt_f32(pt_avg_pool2d(x, 2, 2));
    float ea[] = {3.5f, 5.5f, 11.5f, 13.5f};
    for (int i = 0; i < 4; i++) EXPECT_CLOSE(a[i], ea[i], 0, 0);
    pt_tape_clear();
    pt_scope_end(mark, NULL);
}

TEST_CASE(resample_no_leaks) {
    int64_t before = pt_live_tensors();
    size_t bytes = pt_host_bytes_in_use();
    int mark = pt_scope_begin();
    pt_tensor *x = gc_input(PT_DIMS(1, 2, 4, 4), 1.0);
    pt_tensor *y = pt_avg_pool2d(pt_max_pool2d(pt_upsample_nearest2x(pt_pad2d(x, 0, 1, 0, 1)), 2, 2), 2, 1);
    pt_backward(pt_sum(y), NULL);
    pt_scope_end(mark, NULL);
    EXPECT(pt_live_tensors() == before, "live tensors %lld, expected %lld", (long long)pt_live_tensors(), (long long)before);
    EXPECT(pt_host_bytes_in_use() == bytes, "host bytes %zu, expected %zu", pt_host_bytes_in_use(), bytes);
}

int main(void) {
    tu_seed(3);
    RUN(pad2d_values);
    RUN(pad2d_gradients);
    RUN(upsample_values);
    RUN(upsample_gradients);
    RUN(pool_forward_matches_naive);
    RUN(pool_gradients);
    RUN(max_pool_hand_values);
    RUN(resample_no_leaks);
    return test_summary();
}

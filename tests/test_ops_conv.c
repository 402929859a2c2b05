// test_ops_conv.c — pt_conv2d: forward values against a direct 7-loop convolution written here
// (independent of im2col and the SGEMM), gradients of x, w and b against finite differences, on
// 3x3 / 1x1 / stride-2 / 8x8-stride-8 / non-square / strided-view configurations.
#include "autograd/ops.h"
#include "tests/gradcheck.h"

#define TOL 1e-2

typedef struct conv_case {
    int64_t B, C, H, W, O, kh, kw;
    int stride, pad, bias, transpose_x;   // transpose_x: x is passed as a (B, C, H, W) view of a (B, C, W, H) tensor
    const char *name;
} conv_case;

static const conv_case CASES[] = {
    {1, 2, 5, 5, 3, 3, 3, 1, 1, 1, 0, "3x3 pad 1"},
    {2, 3, 6, 9, 4, 3, 3, 2, 1, 1, 0, "3x3 stride 2 non-square, batch 2"},
    {2, 4, 5, 7, 3, 1, 1, 1, 0, 1, 0, "1x1 (direct path)"},
    {1, 3, 5, 5, 2, 1, 1, 2, 0, 0, 0, "1x1 stride 2"},
    {1, 3, 16, 24, 5, 8, 8, 8, 0, 0, 0, "8x8 stride 8 patch embedding"},
    {2, 3, 7, 6, 2, 3, 3, 1, 0, 1, 1, "3x3 on a transposed view"},
    {1, 2, 6, 6, 2, 3, 3, 3, 2, 1, 0, "3x3 stride 3 pad 2"},
    {1, 2, 4, 5, 3, 1, 3, 1, 1, 1, 0, "1x3 kernel pad 1"},
    {3, 2, 4, 4, 2, 4, 4, 1, 0, 1, 0, "kernel covers the input"},
};
#define N_CASES (int)(sizeof CASES / sizeof CASES[0])

static pt_tensor *f_conv(pt_tensor **in, int n, void *vctx) {
    (void)n;
    const conv_case *c = vctx;
    pt_tensor *x = c->transpose_x ? pt_transpose(in[0], 2, 3) : in[0];
    return pt_conv2d(x, in[1], c->bias ? in[2] : NULL, c->stride, c->pad);
}

static void make_inputs(const conv_case *c, pt_tensor **in) {
    in[0] = c->transpose_x ? gc_input(PT_DIMS(c->B, c->C, c->W, c->H), 1.0) : gc_input(PT_DIMS(c->B, c->C, c->H, c->W), 1.0);
    in[1] = gc_input(PT_DIMS(c->O, c->C, c->kh, c->kw), 0.5);
    in[2] = gc_input(PT_DIMS(c->O), 1.0);
}

// Direct convolution in double: y[b,o,i,j] = bias[o] + sum_{c,ki,kj} x[b,c,i*s-p+ki,j*s-p+kj] w[o,c,ki,kj].
// x_at reads the logical (b, c, h, w) element of x given either layout.
static double x_at(const float *x, const conv_case *c, int64_t b, int64_t ch, int64_t h, int64_t w) {
    if (c->transpose_x) return x[((b * c->C + ch) * c->W + w) * c->H + h];
    return x[((b * c->C + ch) * c->H + h) * c->W + w];
}

TEST_CASE(conv_forward_matches_direct) {
    for (int k = 0; k < N_CASES; k++) {
        int mark = pt_scope_begin();
        const conv_case *c = &CASES[k];
        pt_tensor *in[3];
        make_inputs(c, in);
        pt_tensor *y = f_conv(in, 3, (void *)c);
        int64_t Ho = (c->H + 2 * c->pad - c->kh) / c->stride + 1, Wo = (c->W + 2 * c->pad - c->kw) / c->stride + 1;
        EXPECT(y->ndim == 4 && y->shape[0] == c->B && y->shape[1] == c->O && y->shape[2] == Ho && y->shape[3] == Wo,
               "%s: output shape (%lld, %lld, %lld, %lld)", c->name, (long long)y->shape[0], (long long)y->shape[1],
               (long long)y->shape[2], (long long)y->shape[3]);
        const float *x = pt_f32(in[0]), *w = pt_f32(in[1]), *bb = pt_f32(in[2]), *yp = pt_f32(y);
        double num = 0, den = 0;
        for (int64_t b = 0; b < c->B; b++)
            for (int64_t o = 0; o < c->O; o++)
                for (int64_t i = 0; i < Ho; i++)
                    for (int64_t j = 0; j < Wo; j++) {
                        double acc = c->bias ? bb[o] : 0;
                        for (int64_t ch = 0; ch < c->C; ch++)
                            for (int64_t ki = 0; ki < c->kh; ki++)
                                for (int64_t kj = 0; kj < c->kw; kj++) {
                                    int64_t h = i * c->stride - c->pad + ki, ww = j * c->stride - c->pad + kj;
                                    if (h < 0 || h >= c->H || ww < 0 || ww >= c->W) continue;
                                    acc += x_at(x, c, b, ch, h, ww) * w[((o * c->C + ch) * c->kh + ki) * c->kw + kj];
                                }
                        double d = yp[((b * c->O + o) * Ho + i) * Wo + j] - acc;
                        num += d * d; den += acc * acc;
                    }
        double e = sqrt(num / den);
        EXPECT(e < 1e-6, "%s: forward relative error %g", c->name, e);
        pt_tape_clear();
        pt_scope_end(mark, NULL);
    }
}

TEST_CASE(conv_gradients) {
    for (int k = 0; k < N_CASES; k++) {
        int mark = pt_scope_begin();
        const conv_case *c = &CASES[k];
        pt_tensor *in[3];
        make_inputs(c, in);
        double e = gradcheck(c->name, f_conv, in, c->bias ? 3 : 2, (void *)c, 1e-1, 0);
        EXPECT(e < TOL, "%s: gradient relative error %g", c->name, e);
        pt_scope_end(mark, NULL);
    }
}

// Frozen weight (only x needs a gradient) and frozen input (only w and b).
TEST_CASE(conv_partial_gradients) {
    const conv_case *c = &CASES[1];
    for (int which = 0; which < 2; which++) {
        int mark = pt_scope_begin();
        pt_tensor *in[3];
        make_inputs(c, in);
        in[0]->requires_grad = which == 0;
        in[1]->requires_grad = in[2]->requires_grad = which == 1;
        double e = gradcheck("conv partial", f_conv, in, 3, (void *)c, 1e-1, 0);
        EXPECT(e < TOL, "only %s: relative error %g", which ? "w, b" : "x", e);
        EXPECT(in[which]->grad != NULL && (which == 1) == (in[2]->grad != NULL), "gradients reached the wrong inputs");
        pt_scope_end(mark, NULL);
    }
}

// Hand-derived: a 2x2 all-ones kernel over a 3x3 ramp, stride 1, no padding, bias 0.5.
TEST_CASE(conv_hand_values) {
    int mark = pt_scope_begin();
    pt_tensor *x = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(1, 1, 3, 3), (float[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
    pt_tensor *w = pt_full(PT_CPU, PT_F32, PT_DIMS(1, 1, 2, 2), 1.0f);
    pt_tensor *b = pt_full(PT_CPU, PT_F32, PT_DIMS(1), 0.5f);
    float *y = pt_f32(pt_conv2d(x, w, b, 1, 0));
    float expect[] = {12.5f, 16.5f, 24.5f, 28.5f};
    for (int i = 0; i < 4; i++) EXPECT_CLOSE(y[i], expect[i], 0, 0);
    // same kernel, pad 1, stride 2: windows at (-1,-1), (-1,1), (1,-1), (1,1)
    float *y2 = pt_f32(pt_conv2d(x, w, NULL, 2, 1));
    float expect2[] = {1, 5, 11, 28};
    for (int i = 0; i < 4; i++) EXPECT_CLOSE(y2[i], expect2[i], 0, 0);
    pt_scope_end(mark, NULL);
}

TEST_CASE(conv_rejects_bad_shapes) {
    int mark = pt_scope_begin();
    pt_tensor *x = pt_zeros(PT_CPU, PT_F32, PT_DIMS(1, 3, 4, 4)), *w = pt_zeros(PT_CPU, PT_F32, PT_DIMS(2, 4, 3, 3));
    EXPECT_FAILS(pt_conv2d(x, w, NULL, 1, 1), PT_EXIT_RUNTIME, "does not match weight");
    pt_tensor *w2 = pt_zeros(PT_CPU, PT_F32, PT_DIMS(2, 3, 7, 7));
    EXPECT_FAILS(pt_conv2d(x, w2, NULL, 1, 1), PT_EXIT_RUNTIME, "larger than the padded input");
    pt_scope_end(mark, NULL);
}

TEST_CASE(conv_no_leaks) {
    int64_t before = pt_live_tensors();
    size_t bytes = pt_host_bytes_in_use();
    int mark = pt_scope_begin();
    pt_tensor *in[3];
    make_inputs(&CASES[5], in);
    pt_backward(pt_sum(f_conv(in, 3, (void *)&CASES[5])), NULL);
    pt_scope_end(mark, NULL);
    EXPECT(pt_live_tensors() == before, "live tensors %lld, expected %lld", (long long)pt_live_tensors(), (long long)before);
    EXPECT(pt_host_bytes_in_use() == bytes, "host bytes %zu, expected %zu", pt_host_bytes_in_use(), bytes);
}

int main(void) {
    tu_seed(11);
    RUN(conv_forward_matches_direct);
    RUN(conv_gradients);
    RUN(conv_partial_gradients);
    RUN(conv_hand_values);
    RUN(conv_rejects_bad_shapes);
    RUN(conv_no_leaks);
    return test_summary();
}

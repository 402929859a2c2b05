// test_ops_activation.c — SiLU, GELU (erf/tanh), QuickGELU, GEGLU, softmax: values computed by
// hand (erf/tanh/exp of small numbers) and gradients against finite differences.
#include "autograd/ops.h"
#include "tests/gradcheck.h"

#define TOL 1e-2

TEST_CASE(activation_values) {
    int mark = pt_scope_begin();
    pt_tensor *x = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(3), (float[]){1, -1, 0});
    float *s = pt_f32(pt_silu(x)), *g = pt_f32(pt_gelu(x, 0)), *gt = pt_f32(pt_gelu(x, 1)), *q = pt_f32(pt_quick_gelu(x));
    // silu(1) = 1/(1+e^-1); silu(-1) = -1/(1+e)
    EXPECT_CLOSE(s[0], 0.7310585786, 1e-6, 0);
    EXPECT_CLOSE(s[1], -0.2689414214, 1e-6, 0);
    EXPECT_CLOSE(s[2], 0, 0, 0);
    // gelu(1) = 0.5 (1 + erf(1/sqrt 2)) = 0.8413447; gelu(-1) = -0.1586553
    EXPECT_CLOSE(g[0], 0.8413447461, 1e-6, 0);
    EXPECT_CLOSE(g[1], -0.1586552539, 1e-6, 0);
    EXPECT_CLOSE(g[2], 0, 0, 0);
    // tanh form: 0.5 (1 + tanh(sqrt(2/pi) * 1.044715)) = 0.8411920
    EXPECT_CLOSE(gt[0], 0.8411919906, 1e-6, 0);
    EXPECT_CLOSE(gt[1], -0.1588080094, 1e-6, 0);
    // quick_gelu(1) = 1/(1+e^-1.702) = 0.8457958; quick_gelu(-1) = -1/(1+e^1.702)
    EXPECT_CLOSE(q[0], 0.8457957659, 1e-6, 0);
    EXPECT_CLOSE(q[1], -0.1542042341, 1e-6, 0);
    pt_scope_end(mark, NULL);
}

TEST_CASE(geglu_and_softmax_values) {
    int mark = pt_scope_begin();
    // rows (hidden | gate): [2, -3 | 1, 0.5] -> [2 gelu(1), -3 gelu(0.5)]
    pt_tensor *x = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(1, 4), (float[]){2, -3, 1, 0.5f});
    float *y = pt_f32(pt_geglu(x));
    EXPECT_CLOSE(y[0], 1.6826894921, 1e-6, 0);
    EXPECT_CLOSE(y[1], -1.0371936919, 1e-6, 0);
    pt_tensor *s = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(2, 3), (float[]){1, 2, 3, 1001, 1002, 1003});
    float *p = pt_f32(pt_softmax(s));
    double e[3] = {0.09003057317, 0.24472847105, 0.66524095577};
    for (int i = 0; i < 3; i++) {
        EXPECT_CLOSE(p[i], e[i], 1e-6, 0);
        EXPECT_CLOSE(p[3 + i], e[i], 1e-6, 0);   // shift invariance, no overflow
    }
    pt_scope_end(mark, NULL);
}

typedef struct act_ctx { int kind, transpose; } act_ctx;
static pt_tensor *f_act(pt_tensor **in, int n, void *vctx) {
    (void)n;
    act_ctx *c = vctx;
    pt_tensor *x = c->transpose ? pt_transpose(in[0], 0, 1) : in[0];
    switch (c->kind) {
    case 0: return pt_silu(x);
    case 1: return pt_gelu(x, 0);
    case 2: return pt_gelu(x, 1);
    case 3: return pt_quick_gelu(x);
    case 4: return pt_geglu(x);
    default: return pt_softmax(x);
    }
}

TEST_CASE(grad_activations) {
    const char *names[] = {"silu", "gelu", "gelu_tanh", "quick_gelu", "geglu", "softmax"};
    for (int kind = 0; kind < 6; kind++) {
        for (int tr = 0; tr < 2; tr++) {
            int mark = pt_scope_begin();
            pt_tensor *in[1] = {gc_input(PT_DIMS(4, 6, 8), 1.5)};
            act_ctx c = {kind, tr};
            char label[64];
            snprintf(label, sizeof label, "%s%s", names[kind], tr ? " (strided)" : "");
            double e = gradcheck(label, f_act, in, 1, &c, 1e-3, 0);
            EXPECT(e < TOL, "%s: gradient relative error %.3g", label, e);
            pt_scope_end(mark, NULL);
        }
    }
}

int main(void) {
    tu_seed(21);
    RUN(activation_values);
    RUN(geglu_and_softmax_values);
    RUN(grad_activations);
    return test_summary();
}

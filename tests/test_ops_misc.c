// test_ops_misc.c — timestep embedding (values by hand) and MSE / L1 losses (values by hand,
// broadcast weights, gradients against finite differences).
#include "autograd/ops.h"
#include "tests/gradcheck.h"

#define TOL 1e-2

// dim 4, max_period 1e4, shift 0: half = 2, freqs = (exp(0), exp(-ln(1e4) / 2)) = (1, 0.01).
TEST_CASE(timestep_embedding_by_hand) {
    int mark = pt_scope_begin();
    pt_tensor *t = pt_from_i64(PT_CPU, PT_DIMS(2), (int64_t[]){0, 1});
    float *e = pt_f32(pt_timestep_embedding(t, 4, 1, 0.0f, 1.0f, 10000.0f));   // flip: [cos, sin]
    float exp_flip[8] = {1, 1, 0, 0, 0.5403023059f, 0.9999500004f, 0.8414709848f, 0.0099998333f};
    for (int i = 0; i < 8; i++) EXPECT_CLOSE(e[i], exp_flip[i], 1e-6, 0);
    float *s = pt_f32(pt_timestep_embedding(t, 4, 0, 0.0f, 1.0f, 10000.0f));   // [sin, cos]
    float exp_noflip[8] = {0, 0, 1, 1, 0.8414709848f, 0.0099998333f, 0.5403023059f, 0.9999500004f};
    for (int i = 0; i < 8; i++) EXPECT_CLOSE(s[i], exp_noflip[i], 1e-6, 0);
    // odd dim: a zero column at the end; shift 1: freqs (1, exp(-ln 1e4 / (2 - 1))) = (1, 1e-4); f32 timesteps; scale 3
    pt_tensor *tf = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(1), (float[]){1.0f});
    pt_tensor *o = pt_timestep_embedding(tf, 5, 0, 1.0f, 3.0f, 10000.0f);
    EXPECT(o->ndim == 2 && o->shape[0] == 1 && o->shape[1] == 5 && o->dtype == PT_F32, "odd-dim embedding shape");
    float *op = pt_f32(o);
    float exp_odd[5] = {(float)sin(3.0), (float)sin(3e-4), (float)cos(3.0), (float)cos(3e-4), 0};
    for (int i = 0; i < 5; i++) EXPECT_CLOSE(op[i], exp_odd[i], 1e-6, 0);
    EXPECT(!o->requires_grad, "embedding must not require grad");
    pt_scope_end(mark, NULL);
}

// SD's 320-dim embedding of t = 999: column j (< 160) is cos(999 * 10000^(-j/160)).
TEST_CASE(timestep_embedding_sd) {
    int mark = pt_scope_begin();
    pt_tensor *t = pt_from_i64(PT_CPU, PT_DIMS(1), (int64_t[]){999});
    float *e = pt_f32(pt_timestep_embedding(t, 320, 1, 0.0f, 1.0f, 10000.0f));
    int cols[4] = {0, 1, 80, 159};
    for (int k = 0; k < 4; k++) {
        int j = cols[k];
        double a = 999.0 * exp(-log(10000.0) * j / 160.0);
        EXPECT_CLOSE(e[j], cos(a), 2e-4, 0);         // f32 argument rounding at t ~ 1e3
        EXPECT_CLOSE(e[160 + j], sin(a), 2e-4, 0);
    }
    pt_scope_end(mark, NULL);
}

TEST_CASE(loss_values_by_hand) {
    int mark = pt_scope_begin();
    pt_tensor *p = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(2, 2), (float[]){1, 2, 3, 4});
    pt_tensor *t = pt_zeros(PT_CPU, PT_F32, PT_DIMS(2, 2));
    pt_tensor *w = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(2, 1), (float[]){1, 0.5f});
    pt_tensor *m = pt_mse_loss(p, t, NULL);
    EXPECT(m->ndim == 0 && m->dtype == PT_F32, "loss must be an f32 scalar");
    EXPECT_CLOSE(pt_f32(m)[0], 7.5, 1e-6, 0);                          // (1+4+9+16)/4
    EXPECT_CLOSE(pt_f32(pt_mse_loss(p, t, w))[0], 4.375, 1e-6, 0);     // (5 + 25*0.5)/4
    EXPECT_CLOSE(pt_f32(pt_l1_loss(p, t, NULL))[0], 2.5, 1e-6, 0);     // (1+2+3+4)/4
    EXPECT_CLOSE(pt_f32(pt_l1_loss(p, t, w))[0], 1.625, 1e-6, 0);      // (3 + 7*0.5)/4
    // gradients by hand: mse d/dp = 2 w (p - t) / N; l1 = w sign(p - t) / N, 0 where p == t
    pt_tensor *pg = pt_from_f32(PT_CPU, PT_F32, PT_DIMS(2, 2), (float[]){1, 2, 3, 0});
    pg->requires_grad = 1;
    pt_backward(pt_mse_loss(pg, t, w), NULL);
    float *g = pt_f32(pg->grad);
    float eg[4] = {0.5f, 1.0f, 0.75f, 0.0f};
    for (int i = 0; i < 4; i++) EXPECT_CLOSE(g[i], eg[i], 1e-7, 0);
    pt_release(pg->grad); pg->grad = NULL;
    pt_backward(pt_l1_loss(pg, t, w), NULL);
    g = pt_f32(pg->grad);
    float el[4] = {0.25f, 0.25f, 0.125f, 0.0f};
    for (int i = 0; i < 4; i++) EXPECT_CLOSE(g[i], el[i], 1e-7, 0);
    pt_scope_end(mark, NULL);
}

typedef struct loss_ctx { int l1, weighted; } loss_ctx;
static pt_tensor *f_loss(pt_tensor **in, int n, void *vctx) {
    (void)n;
    loss_ctx *c = vctx;
    pt_tensor *w = c->weighted ? in[2] : NULL;
    return c->l1 ? pt_l1_loss(in[0], in[1], w) : pt_mse_loss(in[0], in[1], w);
}

TEST_CASE(grad_losses) {
    for (int l1 = 0; l1 < 2; l1++) {
        for (int wk = 0; wk < 3; wk++) {
            int mark = pt_scope_begin();
            pt_tensor *in[3] = {gc_input(PT_DIMS(2, 3, 4, 5), 1.0), gc_input(PT_DIMS(2, 3, 4, 5), 1.0), NULL};
            // weights: none, per sample (B,1,1,1), regional (B,1,H,W); never differentiated
            if (wk == 1) in[2] = gc_input(PT_DIMS(2, 1, 1, 1), 1.0);
            if (wk == 2) in[2] = gc_input(PT_DIMS(2, 1, 4, 5), 1.0);
            if (in[2]) in[2]->requires_grad = 0;
            loss_ctx c = {l1, wk > 0};
            char label[64];
            snprintf(label, sizeof label, "%s weight %d", l1 ? "l1" : "mse", wk);
            double e = gradcheck(label, f_loss, in, wk > 0 ? 3 : 2, &c, 1e-3, 0);
            EXPECT(e < TOL, "%s: gradient relative error %.3g", label, e);
            pt_scope_end(mark, NULL);
        }
    }
}

int main(void) {
    tu_seed(41);
    RUN(timestep_embedding_by_hand);
    RUN(timestep_embedding_sd);
    RUN(loss_values_by_hand);
    RUN(grad_losses);
    return test_summary();
}

// test_optim.c — AdamW, gradient clipping and LR schedules against hand-written double arithmetic.
#include "trainer/optim.h"

#include "tests/test_util.h"
#include "trainer/lr_schedule.h"

// torch.optim.AdamW written out in double; p, m, v rounded to fp32 after every step (they are
// stored in fp32). Independent of trainer/optim.c.
static void ref_adamw(double *p, double *m, double *v, const double *g, int n, const int *decay, int t,
                      double lr, double b1, double b2, double eps, double wd) {
    for (int i = 0; i < n; i++) {
        double pi = p[i];
        if (decay[i]) pi = pi - lr * wd * pi;
        double mi = (float)(b1 * m[i] + (1 - b1) * g[i]);
        double vi = (float)(b2 * v[i] + (1 - b2) * g[i] * g[i]);
        double mhat = mi / (1 - pow(b1, t)), vhat = vi / (1 - pow(b2, t));
        pi = pi - lr * mhat / (sqrt(vhat) + eps);
        p[i] = (float)pi; m[i] = mi; v[i] = vi;
    }
}

TEST_CASE(adamw_matches_hand_arithmetic) {
    enum { N = 6, STEPS = 4 };
    const float p0[N] = {0.5f, -1.25f, 2.0f, 0.1f, -0.3f, 3.0f};
    const double grads[STEPS][N] = {
        {0.1, -0.2, 0.3, 1.5, -0.01, 0.0},
        {-0.05, 0.4, 0.3, -2.0, 0.02, 0.5},
        {0.2, 0.0, -0.7, 0.25, 0.03, -0.5},
        {1e-3, -1e-3, 0.3, 0.0, -0.04, 4.0},
    };
    // segments: [0,3) decay, [3,5) no decay, [5,6) decay
    pt_param_segment segs[3] = {{0, 3, 1}, {3, 2, 0}, {5, 1, 1}};
    const int decay[N] = {1, 1, 1, 0, 0, 1};
    pt_adamw_config cfg = {0.9, 0.999, 1e-8, 0.1};
    double lr = 1e-2;
    pt_adamw o; pt_adamw_init(&o, &cfg, N, segs, 3);
    EXPECT(o.nruns == 3, "runs %d", o.nruns);
    float p[N], g[N];
    double rp[N], rm[N] = {0}, rv[N] = {0};
    for (int i = 0; i < N; i++) { p[i] = p0[i]; rp[i] = p0[i]; }
    for (int t = 1; t <= STEPS; t++) {
        for (int i = 0; i < N; i++) g[i] = (float)grads[t - 1][i];
        double gd[N]; for (int i = 0; i < N; i++) gd[i] = g[i];
        pt_adamw_step(&o, p, g, lr);
        ref_adamw(rp, rm, rv, gd, N, decay, t, lr, 0.9, 0.999, 1e-8, 0.1);
        for (int i = 0; i < N; i++) {
            EXPECT_CLOSE(p[i], rp[i], 1e-12, 1e-7);
            EXPECT_CLOSE(o.m[i], rm[i], 1e-12, 1e-7);
            EXPECT_CLOSE(o.v[i], rv[i], 1e-15, 1e-7);
        }
    }
    EXPECT(o.step == STEPS, "step %lld", (long long)o.step);
    // spot value written out by hand: element 3 (no decay), step 1, g = 1.5:
    // m = 0.15, v = 0.00225, mhat = 1.5, vhat = 2.25 -> p = 0.1 - 0.01 * 1.5 / (1.5 + 1e-8)
    pt_adamw o1; pt_adamw_init(&o1, &cfg, N, segs, 3);
    float q[N]; memcpy(q, p0, sizeof q);
    for (int i = 0; i < N; i++) g[i] = (float)grads[0][i];
    pt_adamw_step(&o1, q, g, lr);
    EXPECT_CLOSE(q[3], 0.1 - 0.01 * 1.5 / (1.5 + 1e-8), 0, 1e-7);
    // element 0 (decay): p = 0.5*(1 - 0.001) - 0.01 * 0.1/(0.1 + 1e-8)
    EXPECT_CLOSE(q[0], 0.5 * (1 - 0.001) - 0.01 * 0.1 / (0.1 + 1e-8), 0, 1e-7);
    pt_adamw_free(&o1);
    pt_adamw_free(&o);
}

// Constant gradient: the bias-corrected m-hat equals g and v-hat equals g^2 at every step, so each
// update has magnitude lr * |g| / (|g| + eps) ~ lr (step 1 included: no warm-up bias).
TEST_CASE(bias_correction_constant_grad) {
    pt_adamw_config cfg = {0.9, 0.999, 1e-8, 0.0};
    pt_adamw o; pt_adamw_init(&o, &cfg, 2, NULL, 0);
    float p[2] = {0.01f, -0.02f}, g[2] = {0.5f, -3.0f};  // small |p|: the fp32 difference keeps ~1e-6
    double lr = 1e-3;
    for (int t = 1; t <= 5; t++) {
        float before[2] = {p[0], p[1]};
        pt_adamw_step(&o, p, g, lr);
        EXPECT_CLOSE(before[0] - p[0], lr, 0, 1e-5);
        EXPECT_CLOSE(p[1] - before[1], lr, 0, 1e-5);
    }
    pt_adamw_free(&o);
}

// Zero gradients: m = v = 0, the Adam term is 0 / (0 + eps) = 0; only decoupled decay acts.
TEST_CASE(weight_decay_per_segment) {
    pt_adamw_config cfg = pt_adamw_config_default();  // wd 1e-2
    pt_param_segment segs[2] = {{0, 2, 1}, {2, 2, 0}};
    pt_adamw o; pt_adamw_init(&o, &cfg, 4, segs, 2);
    float p[4] = {1.0f, -4.0f, 1.0f, -4.0f}, g[4] = {0};
    double lr = 0.5;  // factor 1 - 0.005
    pt_adamw_step(&o, p, g, lr);
    EXPECT(p[0] == (float)(1.0 * 0.995) && p[1] == (float)(-4.0 * 0.995), "decayed %g %g", p[0], p[1]);
    EXPECT(p[2] == 1.0f && p[3] == -4.0f, "not decayed %g %g", p[2], p[3]);
    pt_adamw_free(&o);
    // default (NULL segments): decay everywhere
    pt_adamw_init(&o, &cfg, 4, NULL, 0);
    float q[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    pt_adamw_step(&o, q, g, lr);
    for (int i = 0; i < 4; i++) EXPECT(q[i] == (float)0.995, "q[%d] = %g", i, q[i]);
    pt_adamw_free(&o);
}

TEST_CASE(state_roundtrip) {
    enum { N = 5 };
    pt_adamw_config cfg = pt_adamw_config_default();
    pt_adamw a; pt_adamw_init(&a, &cfg, N, NULL, 0);
    float p[N] = {1, 2, 3, 4, 5}, g1[N] = {0.1f, -0.2f, 0.3f, -0.4f, 0.5f}, g2[N] = {1, 1, -1, -1, 0};
    pt_adamw_step(&a, p, g1, 1e-3);
    pt_adamw_step(&a, p, g2, 1e-3);
    int64_t step; float m[N], v[N];
    pt_adamw_get_state(&a, &step, m, v);
    float p_saved[N]; memcpy(p_saved, p, sizeof p);
    pt_adamw_step(&a, p, g1, 1e-3);
    pt_adamw b; pt_adamw_init(&b, &cfg, N, NULL, 0);
    pt_adamw_set_state(&b, step, m, v);
    pt_adamw_step(&b, p_saved, g1, 1e-3);
    EXPECT(step == 2, "step %lld", (long long)step);
    EXPECT(memcmp(p, p_saved, sizeof p) == 0, "resumed run differs");
    EXPECT(memcmp(a.m, b.m, sizeof m) == 0 && memcmp(a.v, b.v, sizeof v) == 0, "m/v differ");
    pt_adamw_free(&a); pt_adamw_free(&b);
}

TEST_CASE(bad_segments) {
    pt_adamw_config cfg = pt_adamw_config_default();
    pt_adamw o;
    pt_param_segment gap[2] = {{0, 2, 1}, {3, 1, 0}};
    EXPECT_FAILS(pt_adamw_init(&o, &cfg, 4, gap, 2), PT_EXIT_USAGE, "segment 1");
    pt_param_segment short_[1] = {{0, 3, 1}};
    EXPECT_FAILS(pt_adamw_init(&o, &cfg, 4, short_, 1), PT_EXIT_USAGE, "cover 3");
}

TEST_CASE(clip_grad_norm) {
    float g[2] = {3.0f, 4.0f};
    double norm = pt_clip_grad_norm(g, 2, 1.0);
    EXPECT_CLOSE(norm, 5.0, 0, 1e-12);
    EXPECT_CLOSE(g[0], 0.6, 0, 1e-6);
    EXPECT_CLOSE(g[1], 0.8, 0, 1e-6);
    float h[2] = {3.0f, 4.0f};
    norm = pt_clip_grad_norm(h, 2, 10.0);  // below the limit: untouched
    EXPECT(norm == 5.0 && h[0] == 3.0f && h[1] == 4.0f, "unclipped changed");
    enum { N = 1000 };
    static float big[N];
    for (int i = 0; i < N; i++) big[i] = (i & 1) ? -0.5f : 0.5f;
    norm = pt_clip_grad_norm(big, N, 2.0);  // norm = 0.5*sqrt(1000) = 15.811388...
    EXPECT_CLOSE(norm, 15.811388300841896, 0, 1e-12);
    EXPECT_CLOSE(pt_grad_norm(big, N), 2.0, 0, 1e-6);
    float bad[2] = {NAN, 1.0f};
    norm = pt_clip_grad_norm(bad, 2, 1.0);
    EXPECT(!isfinite(norm) && bad[1] == 1.0f, "non-finite norm leaves grads");
    pt_grad_zero(big, N);
    EXPECT(pt_grad_norm(big, N) == 0.0, "zeroed");
}

TEST_CASE(lr_schedules) {
    pt_lr_schedule c = {PT_LR_CONSTANT, 5e-6, 0, 0, 0};
    EXPECT(pt_lr_at(&c, 0) == 5e-6 && pt_lr_at(&c, 123456) == 5e-6, "constant");
    pt_lr_schedule w = {PT_LR_WARMUP_CONSTANT, 1e-4, 100, 0, 0};
    EXPECT_CLOSE(pt_lr_at(&w, 0), 0.0, 0, 0);
    EXPECT_CLOSE(pt_lr_at(&w, 50), 5e-5, 0, 1e-15);
    EXPECT_CLOSE(pt_lr_at(&w, 99), 9.9e-5, 0, 1e-15);
    EXPECT_CLOSE(pt_lr_at(&w, 100), 1e-4, 0, 0);
    EXPECT_CLOSE(pt_lr_at(&w, 5000), 1e-4, 0, 0);
    pt_lr_schedule k = {PT_LR_WARMUP_COSINE, 1.0, 10, 110, 0.1};
    EXPECT_CLOSE(pt_lr_at(&k, 5), 0.5, 0, 1e-15);
    EXPECT_CLOSE(pt_lr_at(&k, 10), 1.0, 0, 1e-15);
    EXPECT_CLOSE(pt_lr_at(&k, 35), 0.8681980515339464, 0, 1e-14);  // 0.1 + 0.45*(1+cos(pi/4))
    EXPECT_CLOSE(pt_lr_at(&k, 60), 0.55, 0, 1e-14);                // 0.1 + 0.45
    EXPECT_CLOSE(pt_lr_at(&k, 85), 0.2318019484660537, 0, 1e-13);  // 0.1 + 0.45*(1-cos(pi/4))
    EXPECT_CLOSE(pt_lr_at(&k, 110), 0.1, 0, 1e-14);
    EXPECT_CLOSE(pt_lr_at(&k, 1000), 0.1, 0, 1e-14);
    EXPECT(pt_lr_kind_from_name("cosine") == PT_LR_WARMUP_COSINE && pt_lr_kind_from_name("x") == -1, "names");
}

#ifdef POSETUNE_HAVE_CUDA
#include "autograd/cuda_common.h"
#include "autograd/dtype.h"

static void *to_dev(const void *h, size_t bytes) {
    void *d = pt_cuda_alloc(bytes);
    CUDA_CHECK(cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, pt_cuda()->stream));
    return d;
}
static void to_host(void *h, const void *d, size_t bytes) {
    CUDA_CHECK(cudaMemcpyAsync(h, d, bytes, cudaMemcpyDeviceToHost, pt_cuda()->stream));
    pt_cuda_sync();
}

// The CUDA kernels against the CPU reference: AdamW over many segments (fp32 vs double: a few
// ulp), the bf16 copy (exactly the rounding of the fp32 result), the norm and clipping.
TEST_CASE(cuda_matches_cpu) {
    if (!pt_cuda_available()) { test_skip("no CUDA device"); return; }
    const int64_t n = (1 << 20) + 12345;
    enum { NSEG = 7 };
    pt_param_segment segs[NSEG];
    int64_t counts[NSEG] = {1, 300000, 17, 5000, 400000, 3, 0};
    int64_t off = 0;
    for (int k = 0; k < NSEG - 1; k++) { segs[k] = (pt_param_segment){off, counts[k], k % 2 == 0}; off += counts[k]; }
    segs[NSEG - 1] = (pt_param_segment){off, n - off, 1};
    float *p = pt_malloc(sizeof(float) * n), *g = pt_malloc(sizeof(float) * n), *pg = pt_malloc(sizeof(float) * n);
    uint16_t *bf = pt_malloc(sizeof(uint16_t) * n);
    tu_seed(11);
    for (int64_t i = 0; i < n; i++) { p[i] = (float)tu_normal(); g[i] = (float)(0.01 * tu_normal()); }
    pt_adamw_config cfg = {0.9, 0.999, 1e-8, 0.05};
    pt_adamw hc, dc;
    pt_adamw_init(&hc, &cfg, n, segs, NSEG);
    pt_adamw_init_cuda(&dc, &cfg, n, segs, NSEG);
    float *dp = to_dev(p, sizeof(float) * n), *dg = to_dev(g, sizeof(float) * n);
    uint16_t *dbf = pt_cuda_alloc(sizeof(uint16_t) * n);
    for (int t = 0; t < 3; t++) {
        pt_adamw_step(&hc, p, g, 1e-2);
        pt_adamw_step_cuda(&dc, dp, dg, 1e-2, t == 2 ? dbf : NULL);
    }
    to_host(pg, dp, sizeof(float) * n);
    to_host(bf, dbf, sizeof(uint16_t) * n);
    double worst = 0; int64_t bf_bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)pg[i] - p[i]) / (fabs(p[i]) + 1e-3);
        if (e > worst) worst = e;
        if (bf[i] != pt_f32_to_bf16(pg[i])) bf_bad++;
    }
    EXPECT(worst < 1e-5, "adamw cuda vs cpu worst rel %g", worst);
    EXPECT(bf_bad == 0, "%lld bf16 copies differ", (long long)bf_bad);
    float *m = pt_malloc(sizeof(float) * n), *v = pt_malloc(sizeof(float) * n);
    int64_t step;
    pt_adamw_get_state(&dc, &step, m, v);
    EXPECT(step == 3, "step %lld", (long long)step);
    EXPECT(rel_err_f32(m, hc.m, n) < 1e-6 && rel_err_f32(v, hc.v, n) < 1e-6, "m/v %g %g",
           rel_err_f32(m, hc.m, n), rel_err_f32(v, hc.v, n));
    // norm and clip
    double hn = pt_grad_norm(g, n), dn = pt_grad_norm_cuda(dg, n);
    EXPECT_CLOSE(dn, hn, 0, 1e-5);
    double dn2 = pt_clip_grad_norm_cuda(dg, n, 0.5);
    double hn2 = pt_clip_grad_norm(g, n, 0.5);
    EXPECT_CLOSE(dn2, hn2, 0, 1e-5);
    to_host(pg, dg, sizeof(float) * n);
    EXPECT(rel_err_f32(pg, g, n) < 1e-6, "clipped grads %g", rel_err_f32(pg, g, n));
    EXPECT_CLOSE(pt_grad_norm(pg, n), 0.5, 0, 1e-5);
    pt_grad_zero_cuda(dg, n);
    EXPECT(pt_grad_norm_cuda(dg, n) == 0.0, "zeroed");
    pt_cuda_free(dp, sizeof(float) * n); pt_cuda_free(dg, sizeof(float) * n);
    pt_cuda_free(dbf, sizeof(uint16_t) * n);
    pt_adamw_free(&hc); pt_adamw_free(&dc);
    free(p); free(g); free(pg); free(bf); free(m); free(v);
}
#endif

int main(void) {
    RUN(adamw_matches_hand_arithmetic);
    RUN(bias_correction_constant_grad);
    RUN(weight_decay_per_segment);
    RUN(state_roundtrip);
    RUN(bad_segments);
    RUN(clip_grad_norm);
    RUN(lr_schedules);
#ifdef POSETUNE_HAVE_CUDA
    RUN(cuda_matches_cpu);
#endif
    return test_summary();
}

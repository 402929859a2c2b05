// test_scheduler.c — schedules and samplers against diffusers' outputs (peer fixture
// schedulers.io.safetensors) and hand-derived facts.
#include "models/scheduler.h"

#include "checkpoints/weights.h"
#include "tests/test_util.h"
#include "tools/json.h"

static pt_weights *g_w;        // fixture tensors (NULL when absent)
static pt_sched_config g_cfg;  // fixture config

static float *fx_f32(const char *name, int64_t *n_out) {
    const pt_wtensor *t = pt_weights_get(g_w, name);
    int64_t n = pt_wtensor_numel(t);
    float *d = pt_malloc(sizeof(float) * n);
    pt_weights_read_f32(t, d);
    if (n_out) *n_out = n;
    return d;
}

static int64_t *fx_i64(const char *name, int64_t *n_out) {
    const pt_wtensor *t = pt_weights_get(g_w, name);
    PT_CHECKF(t->dtype == PT_I64, "fixture %s: expected I64", name);
    int64_t n = pt_wtensor_numel(t);
    int64_t *d = pt_malloc(sizeof(int64_t) * n);
    memcpy(d, t->data, sizeof(int64_t) * n);
    *n_out = n;
    return d;
}

TEST_CASE(alphas_cumprod_fixture) {
    pt_sched s; pt_sched_init(&s, &g_cfg);
    int64_t n; float *ref = fx_f32("alphas_cumprod", &n);
    EXPECT(n == 1000, "alphas_cumprod has %lld entries", (long long)n);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double r = fabs(s.alphas_cumprod[i] - ref[i]) / ref[i];
        if (r > worst) worst = r;
    }
    EXPECT(worst < 1e-5, "max relative error %g", worst);
    free(ref); pt_sched_free(&s);
}

TEST_CASE(add_noise_fixture) {
    pt_sched s; pt_sched_init(&s, &g_cfg);
    int64_t n, nt;
    float *x0 = fx_f32("ddpm.x0", &n), *noise = fx_f32("ddpm.noise", NULL), *ref = fx_f32("ddpm.noisy", NULL);
    int64_t *t = fx_i64("ddpm.t", &nt);
    float *out = pt_malloc(sizeof(float) * n);
    pt_sched_add_noise(&s, x0, noise, t, nt, n / nt, out);
    double e = rel_err_f32(out, ref, n);
    EXPECT(e < 1e-5, "add_noise rel err %g", e);
    // per element too (a per-sample mixup would hide in the global norm only if tiny)
    for (int64_t j = 0; j < n; j++) EXPECT_CLOSE(out[j], ref[j], 1e-6, 1e-5);
    free(x0); free(noise); free(ref); free(t); free(out); pt_sched_free(&s);
}

// Runs a whole fixture trajectory ("ddim" or "pndm") through the step function (mode 0) or the
// scalar coefficients applied by hand (mode 1).
static void run_trajectory(const char *prefix, pt_sched_kind kind, int mode) {
    pt_sched_config cfg = g_cfg; cfg.kind = kind;
    pt_sched s; pt_sched_init(&s, &cfg);
    char name[64];
    int64_t nts; snprintf(name, sizeof name, "%s.timesteps", prefix);
    int64_t *ts = fx_i64(name, &nts);
    int steps = kind == PT_SCHED_PNDM ? (int)nts - 1 : (int)nts;
    pt_sched_set_timesteps(&s, steps);
    EXPECT(s.num_timesteps == nts, "%s: %d timesteps, fixture %lld", prefix, s.num_timesteps, (long long)nts);
    for (int i = 0; i < nts && i < s.num_timesteps; i++)
        EXPECT(s.timesteps[i] == ts[i], "%s timesteps[%d] = %lld, fixture %lld", prefix, i,
               (long long)s.timesteps[i], (long long)ts[i]);
    int64_t n; snprintf(name, sizeof name, "%s.x_T", prefix);
    float *x = fx_f32(name, &n);
    float *h[3]; for (int k = 0; k < 3; k++) h[k] = pt_calloc(n, sizeof(float));
    float *saved = pt_calloc(n, sizeof(float));
    double worst = 0;
    for (int i = 0; i < s.num_timesteps; i++) {
        snprintf(name, sizeof name, "%s.eps.%d", prefix, i);
        float *eps = fx_f32(name, NULL);
        snprintf(name, sizeof name, "%s.x.%d", prefix, i);
        float *ref = fx_f32(name, NULL);
        if (mode == 0) {
            if (kind == PT_SCHED_PNDM) pt_pndm_step(&s, i, eps, x, n);
            else pt_ddim_step(&s, i, eps, x, n, NULL);
        } else if (kind == PT_SCHED_DDIM) {
            double a, b, c; pt_ddim_coeffs(&s, i, &a, &b, &c);
            EXPECT(c == 0.0, "eta 0 gives c = %g", c);
            for (int64_t j = 0; j < n; j++) x[j] = (float)(a * x[j] + b * eps[j]);
        } else {
            pt_pndm_coef c; pt_pndm_coeffs(&s, i, &c);
            for (int64_t j = 0; j < n; j++) {
                double e = c.w[0] * eps[j] + c.w[1] * h[0][j] + c.w[2] * h[1][j] + c.w[3] * h[2][j];
                double src = c.use_saved_sample ? saved[j] : x[j];
                if (c.save_sample) saved[j] = x[j];
                x[j] = (float)(c.a * src + c.b * e);
            }
            if (c.push_output) {
                float *o = h[2]; h[2] = h[1]; h[1] = h[0]; h[0] = o;
                memcpy(o, eps, sizeof(float) * n);
            }
            s.pndm_counter++;  // the coefficient API reads the scheduler's position
            if (c.push_output && s.pndm_n_hist < 3) s.pndm_n_hist++;
        }
        double e = rel_err_f32(x, ref, n);
        if (e > worst) worst = e;
        EXPECT(e < 1e-5, "%s mode %d step %d (t=%lld): rel err %g", prefix, mode, i, (long long)ts[i], e);
        free(eps); free(ref);
    }
    printf("  %s mode %d: worst step rel err %.3g\n", prefix, mode, worst);
    for (int k = 0; k < 3; k++) free(h[k]);
    free(saved); free(x); free(ts); pt_sched_free(&s);
}

TEST_CASE(ddim_trajectory_fixture) { run_trajectory("ddim", PT_SCHED_DDIM, 0); }
TEST_CASE(ddim_coeffs_trajectory_fixture) { run_trajectory("ddim", PT_SCHED_DDIM, 1); }
TEST_CASE(pndm_trajectory_fixture) { run_trajectory("pndm", PT_SCHED_PNDM, 0); }
TEST_CASE(pndm_coeffs_trajectory_fixture) { run_trajectory("pndm", PT_SCHED_PNDM, 1); }

TEST_CASE(config_json_fixture) {
    char path[4200]; snprintf(path, sizeof path, "%s/schedulers.json", fixtures_dir());
    pt_json *j = pt_json_parse_file(path);
    pt_sched_config c = pt_sched_config_default();
    c.beta_start = 0.5; c.steps_offset = 7; c.set_alpha_to_one = 1;  // must be overwritten
    pt_sched_config_from_json_obj(pt_json_get(j, "config"), &c);
    EXPECT(c.num_train_timesteps == 1000 && c.beta_start == 0.00085 && c.beta_end == 0.012, "numbers");
    EXPECT(c.beta_schedule == PT_BETA_SCALED_LINEAR && c.steps_offset == 1 && !c.set_alpha_to_one
           && !c.clip_sample, "fields");
    pt_json_free(j);
}

// ---- hand-derived facts (no fixture) -------------------------------------------------------------

TEST_CASE(trailing_and_leading_spacing) {
    pt_sched_config c = pt_sched_config_default();
    c.kind = PT_SCHED_DDIM; c.timestep_spacing = PT_SPACING_TRAILING;
    pt_sched s; pt_sched_init(&s, &c);
    pt_sched_set_timesteps(&s, 20);
    EXPECT(s.num_timesteps == 20, "%d", s.num_timesteps);
    for (int i = 0; i < 20; i++) EXPECT(s.timesteps[i] == 999 - 50 * i, "trailing[%d] = %lld", i, (long long)s.timesteps[i]);
    pt_sched_free(&s);
    c.timestep_spacing = PT_SPACING_LEADING; c.steps_offset = 1;
    pt_sched_init(&s, &c);
    pt_sched_set_timesteps(&s, 10);
    for (int i = 0; i < 10; i++) EXPECT(s.timesteps[i] == 901 - 100 * i, "leading[%d] = %lld", i, (long long)s.timesteps[i]);
    pt_sched_free(&s);
    c.timestep_spacing = PT_SPACING_LINSPACE;
    pt_sched_init(&s, &c);
    pt_sched_set_timesteps(&s, 4);  // linspace(0, 999, 4) = 0, 333, 666, 999
    int64_t want[4] = {999, 666, 333, 0};
    for (int i = 0; i < 4; i++) EXPECT(s.timesteps[i] == want[i], "linspace[%d] = %lld", i, (long long)s.timesteps[i]);
    pt_sched_free(&s);
}

TEST_CASE(zero_terminal_snr) {
    pt_sched_config c = pt_sched_config_default();
    pt_sched plain; pt_sched_init(&plain, &c);
    c.rescale_betas_zero_snr = 1; c.prediction_type = PT_PRED_V;
    pt_sched s; pt_sched_init(&s, &c);
    EXPECT(s.alphas_cumprod[999] == 0.0, "abar_T = %g", s.alphas_cumprod[999]);
    EXPECT_CLOSE(s.alphas_cumprod[0], plain.alphas_cumprod[0], 0, 1e-14);
    // monotone decreasing and sqrt(abar) affine in the old sqrt(abar)
    double s0 = sqrt(plain.alphas_cumprod[0]), sT = sqrt(plain.alphas_cumprod[999]);
    for (int t = 1; t < 1000; t += 111) {
        double want = (sqrt(plain.alphas_cumprod[t]) - sT) * s0 / (s0 - sT);
        EXPECT_CLOSE(sqrt(s.alphas_cumprod[t]), want, 1e-12, 1e-10);
    }
    EXPECT(pt_sched_snr(&s, 999) == 0.0, "snr at T");
    EXPECT(pt_sched_min_snr_weight(&s, 999, 5.0) == 0.0, "v weight at snr 0 is 0");
    pt_sched_free(&s); pt_sched_free(&plain);
}

TEST_CASE(squaredcos_betas) {
    pt_sched_config c = pt_sched_config_default();
    c.beta_schedule = PT_BETA_SQUAREDCOS_CAP_V2;
    pt_sched s; pt_sched_init(&s, &c);
    // abar_t = f((t+1)/T)/f(0) (the product telescopes), f(u) = cos((u+0.008)/1.008*pi/2)^2, while no cap hits
    double f0 = pow(cos(0.008 / 1.008 * M_PI / 2), 2);
    for (int t = 0; t < 990; t += 97) {
        double f = pow(cos(((t + 1) / 1000.0 + 0.008) / 1.008 * M_PI / 2), 2);
        EXPECT_CLOSE(s.alphas_cumprod[t], f / f0, 1e-12, 1e-9);
    }
    EXPECT(s.betas[999] == 0.999, "last beta capped: %g", s.betas[999]);
    pt_sched_free(&s);
}

TEST_CASE(velocity_snr_weights) {
    pt_sched_config c = pt_sched_config_default();
    pt_sched s; pt_sched_init(&s, &c);
    int64_t t[2] = {10, 700};
    float x0[4] = {1.0f, -2.0f, 0.5f, 3.0f}, eps[4] = {0.25f, 1.0f, -1.5f, 2.0f}, v[4];
    pt_sched_velocity(&s, x0, eps, t, 2, 2, v);
    for (int j = 0; j < 4; j++) {
        double ab = s.alphas_cumprod[t[j / 2]];
        EXPECT_CLOSE(v[j], sqrt(ab) * eps[j] - sqrt(1 - ab) * x0[j], 1e-7, 1e-6);
    }
    // snr(t) = abar/(1-abar); epsilon: min(snr,5)/snr; v: min(snr,5)/(snr+1)
    double ab10 = s.alphas_cumprod[10], ab700 = s.alphas_cumprod[700];
    double snr10 = ab10 / (1 - ab10), snr700 = ab700 / (1 - ab700);
    EXPECT(snr10 > 5 && snr700 < 5, "test premise: snr10 %g snr700 %g", snr10, snr700);
    EXPECT_CLOSE(pt_sched_snr(&s, 10), snr10, 0, 1e-12);
    EXPECT_CLOSE(pt_sched_min_snr_weight(&s, 10, 5.0), 5.0 / snr10, 0, 1e-12);
    EXPECT_CLOSE(pt_sched_min_snr_weight(&s, 700, 5.0), 1.0, 0, 1e-12);
    s.cfg.prediction_type = PT_PRED_V;
    EXPECT_CLOSE(pt_sched_min_snr_weight(&s, 10, 5.0), 5.0 / (snr10 + 1), 0, 1e-12);
    EXPECT_CLOSE(pt_sched_min_snr_weight(&s, 700, 5.0), snr700 / (snr700 + 1), 0, 1e-12);
    float w[2]; pt_sched_min_snr_weights(&s, t, 2, 5.0, w);
    EXPECT_CLOSE(w[1], snr700 / (snr700 + 1), 0, 1e-6);
    pt_sched_free(&s);
}

// DDIM consistency: with v-prediction, feeding the true v of (x0, eps) at every step lands on x0
// exactly when eta = 0 (each step maps x_t(x0, eps) to x_{t'}(x0, eps)).
TEST_CASE(ddim_v_prediction_exact_path) {
    pt_sched_config c = pt_sched_config_default();
    c.kind = PT_SCHED_DDIM; c.prediction_type = PT_PRED_V; c.timestep_spacing = PT_SPACING_TRAILING;
    c.rescale_betas_zero_snr = 1; c.set_alpha_to_one = 1;
    pt_sched s; pt_sched_init(&s, &c);
    pt_sched_set_timesteps(&s, 25);
    enum { N = 16 };
    float x0[N], eps[N], x[N], v[N];
    tu_seed(3);
    for (int j = 0; j < N; j++) { x0[j] = (float)tu_normal(); eps[j] = (float)tu_normal(); }
    int64_t t0 = s.timesteps[0];
    pt_sched_add_noise(&s, x0, eps, &t0, 1, N, x);
    for (int i = 0; i < s.num_timesteps; i++) {
        int64_t t = s.timesteps[i];
        pt_sched_velocity(&s, x0, eps, &t, 1, N, v);
        pt_ddim_step(&s, i, v, x, N, NULL);
        int64_t tp = pt_sched_prev_timestep(&s, t);
        if (tp >= 0) {  // x must equal add_noise(x0, eps, tp)
            float want[N]; pt_sched_add_noise(&s, x0, eps, &tp, 1, N, want);
            EXPECT(rel_err_f32(x, want, N) < 1e-5, "step %d off the path: %g", i, rel_err_f32(x, want, N));
        }
    }
    EXPECT(rel_err_f32(x, x0, N) < 1e-5, "final %g", rel_err_f32(x, x0, N));
    pt_sched_free(&s);
}

// DDIM with eta: c = eta*sigma, sigma^2 = (1-a_p)/(1-a_t)*(1-a_t/a_p); a + b reproduce the formula.
TEST_CASE(ddim_eta_noise_term) {
    pt_sched_config c = pt_sched_config_default();
    c.kind = PT_SCHED_DDIM;
    pt_sched s; pt_sched_init(&s, &c);
    pt_sched_set_timesteps(&s, 50);
    s.eta = 1.0;
    int i = 10;
    int64_t t = s.timesteps[i], tp = t - 20;
    double at = s.alphas_cumprod[t], ap = s.alphas_cumprod[tp];
    double sig = sqrt((1 - ap) / (1 - at) * (1 - at / ap));
    double a, b, cc; pt_ddim_coeffs(&s, i, &a, &b, &cc);
    EXPECT_CLOSE(cc, sig, 0, 1e-12);
    EXPECT_CLOSE(a, sqrt(ap / at), 0, 1e-12);
    EXPECT_CLOSE(b, sqrt(1 - ap - sig * sig) - sqrt(ap) * sqrt(1 - at) / sqrt(at), 0, 1e-12);
    float x[2] = {0.3f, -1.0f}, e[2] = {0.5f, 0.25f}, z[2] = {1.0f, -2.0f};
    float want[2];
    for (int j = 0; j < 2; j++) want[j] = (float)(a * x[j] + b * e[j] + sig * z[j]);
    pt_ddim_step(&s, i, e, x, 2, z);
    EXPECT_CLOSE(x[0], want[0], 1e-7, 1e-6);
    EXPECT_CLOSE(x[1], want[1], 1e-7, 1e-6);
    EXPECT_FAILS(pt_ddim_step(&s, i, e, x, 2, NULL), PT_EXIT_USAGE, "noise");
    pt_sched_free(&s);
}

// DDPM ancestral step against the textbook form over the full chain (n = T):
// mean = (x_t - beta_t/sqrt(1-a_t) * eps) / sqrt(alpha_t), sigma^2 = beta_t (1-a_{t-1})/(1-a_t).
TEST_CASE(ddpm_step_textbook) {
    pt_sched_config c = pt_sched_config_default();
    c.steps_offset = 0;  // leading with offset 1 over all 1000 steps would reach t = 1000
    pt_sched s; pt_sched_init(&s, &c);
    pt_sched_set_timesteps(&s, 1000);
    int i = 400; int64_t t = s.timesteps[i];
    EXPECT(t == 599, "t = %lld", (long long)t);
    double beta = s.betas[t], at = s.alphas_cumprod[t], ap = s.alphas_cumprod[t - 1];
    double a, b, cc; pt_ddpm_coeffs(&s, i, &a, &b, &cc);
    EXPECT_CLOSE(a, 1 / sqrt(1 - beta), 0, 1e-9);
    EXPECT_CLOSE(b, -beta / sqrt(1 - at) / sqrt(1 - beta), 0, 1e-9);
    EXPECT_CLOSE(cc, sqrt(beta * (1 - ap) / (1 - at)), 0, 1e-9);
    float x[1] = {0.7f}, e[1] = {-0.2f}, z[1] = {0.9f};
    float want = (float)(a * 0.7 + b * -0.2 + cc * 0.9);
    pt_ddpm_step(&s, i, e, x, 1, z);
    EXPECT_CLOSE(x[0], want, 1e-7, 1e-6);
    pt_sched_free(&s);
}

TEST_CASE(bad_inputs) {
    pt_sched_config c = pt_sched_config_default();
    c.kind = PT_SCHED_PNDM;
    pt_sched s; pt_sched_init(&s, &c);
    EXPECT_FAILS(pt_sched_set_timesteps(&s, 0), PT_EXIT_USAGE, "inference steps");
    pt_sched_set_timesteps(&s, 10);
    float x[2] = {0}, e[2] = {0};
    EXPECT_FAILS(pt_pndm_step(&s, 3, e, x, 2), PT_EXIT_USAGE, "in order");
    pt_sched_free(&s);
    const char *bad = "{\"beta_schedule\": \"cosine\"}";
    pt_json *j = pt_json_parse(bad, strlen(bad), "sched.json");
    pt_sched_config c2 = pt_sched_config_default();
    EXPECT_FAILS(pt_sched_config_from_json_obj(j, &c2), PT_EXIT_USAGE, "beta_schedule");
    pt_json_free(j);
}

int main(void) {
    const char *dir = fixtures_dir();
    char path[4200];
    struct stat st;
    if (dir) snprintf(path, sizeof path, "%s/schedulers.io.safetensors", dir);
    if (dir && stat(path, &st) == 0) {
        g_w = pt_weights_load(path);
        g_cfg = pt_sched_config_default();
        char jp[4200]; snprintf(jp, sizeof jp, "%s/schedulers.json", dir);
        pt_json *j = pt_json_parse_file(jp);
        pt_sched_config_from_json_obj(pt_json_get(j, "config"), &g_cfg);
        pt_json_free(j);
        RUN(alphas_cumprod_fixture);
        RUN(add_noise_fixture);
        RUN(ddim_trajectory_fixture);
        RUN(ddim_coeffs_trajectory_fixture);
        RUN(pndm_trajectory_fixture);
        RUN(pndm_coeffs_trajectory_fixture);
        RUN(config_json_fixture);
        pt_weights_free(g_w);
    } else {
        test_skip("peer fixture schedulers.io.safetensors not found");
    }
    RUN(trailing_and_leading_spacing);
    RUN(zero_terminal_snr);
    RUN(squaredcos_betas);
    RUN(velocity_snr_weights);
    RUN(ddim_v_prediction_exact_path);
    RUN(ddim_eta_noise_term);
    RUN(ddpm_step_textbook);
    RUN(bad_inputs);
    return test_summary();
}

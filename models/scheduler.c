// scheduler.c — noise schedules, timestep spacing, training helpers and the DDPM/DDIM/PNDM steps.
// See scheduler.h for the formulas and the diffusers behaviour they reproduce.
#include "models/scheduler.h"

#include <math.h>
#include <string.h>

#include "tools/check.h"

// ---------------------------------------------------------------- config

pt_sched_config pt_sched_config_default(void) {
    pt_sched_config c;
    memset(&c, 0, sizeof c);
    c.kind = PT_SCHED_DDPM;
    c.num_train_timesteps = 1000;
    c.beta_start = 0.00085;
    c.beta_end = 0.012;
    c.beta_schedule = PT_BETA_SCALED_LINEAR;
    c.prediction_type = PT_PRED_EPSILON;
    c.steps_offset = 1;
    c.set_alpha_to_one = 0;
    c.timestep_spacing = PT_SPACING_LEADING;
    c.rescale_betas_zero_snr = 0;
    c.clip_sample = 0;
    c.clip_sample_range = 1.0;
    return c;
}

const char *pt_sched_kind_name(pt_sched_kind k) {
    switch (k) {
    case PT_SCHED_DDPM: return "DDPMScheduler";
    case PT_SCHED_DDIM: return "DDIMScheduler";
    case PT_SCHED_PNDM: return "PNDMScheduler";
    }
    return "?";
}

const char *pt_prediction_type_name(pt_prediction_type p) {
    switch (p) {
    case PT_PRED_EPSILON: return "epsilon";
    case PT_PRED_V: return "v_prediction";
    case PT_PRED_SAMPLE: return "sample";
    }
    return "?";
}

// Looks `key` up as a string and maps it through names[]; absent -> *dst unchanged.
static void json_enum(const pt_json *obj, const char *key, const char *const *names, int count, int *dst) {
    const char *v = pt_json_str(obj, key, NULL);
    if (!v) return;
    for (int i = 0; i < count; i++)
        if (strcmp(v, names[i]) == 0) { *dst = i; return; }
    char allowed[256] = "";
    for (int i = 0; i < count; i++) {
        strncat(allowed, names[i], sizeof allowed - strlen(allowed) - 1);
        if (i + 1 < count) strncat(allowed, ", ", sizeof allowed - strlen(allowed) - 1);
    }
    PT_USAGE("%s: scheduler config key '%s' is '%s'; supported: %s", pt_json_source(obj), key, v, allowed);
}

void pt_sched_config_from_json_obj(const pt_json *obj, pt_sched_config *c) {
    if (!obj || obj->type != PT_JSON_OBJ) PT_USAGE("scheduler config: expected a JSON object");
    const char *src = pt_json_source(obj);
    static const char *const kinds[] = {"DDPMScheduler", "DDIMScheduler", "PNDMScheduler"};
    static const char *const betas[] = {"linear", "scaled_linear", "squaredcos_cap_v2"};
    static const char *const preds[] = {"epsilon", "v_prediction", "sample"};
    static const char *const spacings[] = {"leading", "trailing", "linspace"};
    int k = (int)c->kind, b = (int)c->beta_schedule, p = (int)c->prediction_type, sp = (int)c->timestep_spacing;
    json_enum(obj, "_class_name", kinds, 3, &k);
    json_enum(obj, "beta_schedule", betas, 3, &b);
    json_enum(obj, "prediction_type", preds, 3, &p);
    json_enum(obj, "timestep_spacing", spacings, 3, &sp);
    c->kind = (pt_sched_kind)k; c->beta_schedule = (pt_beta_schedule)b;
    c->prediction_type = (pt_prediction_type)p; c->timestep_spacing = (pt_timestep_spacing)sp;
    c->num_train_timesteps = pt_json_int(obj, "num_train_timesteps", c->num_train_timesteps);
    c->beta_start = pt_json_num(obj, "beta_start", c->beta_start);
    c->beta_end = pt_json_num(obj, "beta_end", c->beta_end);
    c->steps_offset = pt_json_int(obj, "steps_offset", c->steps_offset);
    c->set_alpha_to_one = pt_json_bool(obj, "set_alpha_to_one", c->set_alpha_to_one);
    c->rescale_betas_zero_snr = pt_json_bool(obj, "rescale_betas_zero_snr", c->rescale_betas_zero_snr);
    c->clip_sample = pt_json_bool(obj, "clip_sample", c->clip_sample);
    c->clip_sample_range = pt_json_num(obj, "clip_sample_range", c->clip_sample_range);
    const pt_json *tb = pt_json_get(obj, "trained_betas");
    if (tb && tb->type != PT_JSON_NULL)
        PT_USAGE("%s: scheduler config key 'trained_betas' is set; only beta_schedule is supported", src);
    if (pt_json_bool(obj, "thresholding", 0))
        PT_USAGE("%s: scheduler config key 'thresholding' is true; dynamic thresholding is not supported", src);
    const char *vt = pt_json_str(obj, "variance_type", NULL);
    if (vt && strcmp(vt, "fixed_small") != 0)
        PT_USAGE("%s: scheduler config key 'variance_type' is '%s'; only fixed_small is supported", src, vt);
    if (c->kind == PT_SCHED_PNDM && !pt_json_bool(obj, "skip_prk_steps", 1))
        PT_WARN("%s: skip_prk_steps is false; posetune's PNDM runs PLMS steps only (as skip_prk_steps=true)", src);
    if (c->num_train_timesteps < 2)
        PT_USAGE("%s: num_train_timesteps must be >= 2, got %d", src, c->num_train_timesteps);
}

pt_sched_config pt_sched_config_from_json(const char *path) {
    pt_sched_config c = pt_sched_config_default();
    pt_json *j = pt_json_parse_file(path);
    pt_sched_config_from_json_obj(j, &c);
    pt_json_free(j);
    return c;
}

// ---------------------------------------------------------------- betas

static double cos_alpha_bar(double t) {
    double c = cos((t + 0.008) / 1.008 * M_PI / 2);
    return c * c;
}

void pt_sched_init(pt_sched *s, const pt_sched_config *cfg) {
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    int T = cfg->num_train_timesteps;
    if (T < 2) PT_USAGE("scheduler: num_train_timesteps must be >= 2, got %d", T);
    s->betas = pt_malloc(sizeof(double) * T);          // (T,)
    s->alphas_cumprod = pt_malloc(sizeof(double) * T); // (T,)
    double *b = s->betas;
    for (int i = 0; i < T; i++) {
        double f = (double)i / (T - 1);
        switch (cfg->beta_schedule) {
        case PT_BETA_LINEAR: b[i] = cfg->beta_start + (cfg->beta_end - cfg->beta_start) * f; break;
        case PT_BETA_SCALED_LINEAR: {
            double r0 = sqrt(cfg->beta_start), r1 = sqrt(cfg->beta_end);
            double r = r0 + (r1 - r0) * f;
            b[i] = r * r;
        } break;
        case PT_BETA_SQUAREDCOS_CAP_V2: {
            double v = 1.0 - cos_alpha_bar((double)(i + 1) / T) / cos_alpha_bar((double)i / T);
            b[i] = v < 0.999 ? v : 0.999;
        } break;
        default: PT_USAGE("scheduler: unknown beta_schedule %d", (int)cfg->beta_schedule);
        }
    }
    if (cfg->rescale_betas_zero_snr) {
        // sqrt(alphas_cumprod) shifted so the last is 0 and scaled so the first is kept.
        double *sq = s->alphas_cumprod;  // scratch
        double p = 1.0;
        for (int i = 0; i < T; i++) { p *= 1.0 - b[i]; sq[i] = sqrt(p); }
        double s0 = sq[0], sT = sq[T - 1];
        for (int i = 0; i < T; i++) { sq[i] -= sT; sq[i] *= s0 / (s0 - sT); sq[i] *= sq[i]; }  // now alphas_bar
        // alphas = [abar_0, abar_1/abar_0, ...]; betas = 1 - alphas (backwards so sq[i-1] is intact)
        for (int i = T - 1; i >= 1; i--) b[i] = 1.0 - sq[i] / sq[i - 1];
        b[0] = 1.0 - sq[0];
    }
    double p = 1.0;
    for (int i = 0; i < T; i++) { p *= 1.0 - b[i]; s->alphas_cumprod[i] = p; }
    s->final_alpha_cumprod = cfg->set_alpha_to_one ? 1.0 : s->alphas_cumprod[0];
    s->eta = 0.0;
}

void pt_sched_free(pt_sched *s) {
    free(s->betas); free(s->alphas_cumprod); free(s->timesteps);
    for (int k = 0; k < 3; k++) free(s->pndm_hist[k]);
    free(s->pndm_saved);
    memset(s, 0, sizeof *s);
}

// ---------------------------------------------------------------- timesteps

// Ascending base timesteps for n inference steps (diffusers' spacing rules), written to dst[n].
static void base_timesteps(const pt_sched_config *c, int n, int64_t *dst) {
    int T = c->num_train_timesteps;
    switch (c->timestep_spacing) {
    case PT_SPACING_LEADING: {
        int64_t ratio = T / n;
        for (int i = 0; i < n; i++) dst[i] = (int64_t)i * ratio + c->steps_offset;
    } break;
    case PT_SPACING_TRAILING: {
        double ratio = (double)T / n;
        // numpy: round(arange(T, 0, -ratio)) - 1, then ascending
        for (int i = 0; i < n; i++) dst[n - 1 - i] = (int64_t)nearbyint((double)T - i * ratio) - 1;
    } break;
    case PT_SPACING_LINSPACE: {
        double step = n > 1 ? (double)(T - 1) / (n - 1) : 0.0;
        for (int i = 0; i < n; i++) dst[i] = (int64_t)nearbyint(i * step);
        if (n > 1) dst[n - 1] = T - 1;
    } break;
    }
}

void pt_sched_set_timesteps(pt_sched *s, int n) {
    int T = s->cfg.num_train_timesteps;
    if (n < 1 || n > T) PT_USAGE("scheduler: number of inference steps must be in [1, %d], got %d", T, n);
    int64_t *base = pt_malloc(sizeof(int64_t) * n);  // (n,) ascending
    base_timesteps(&s->cfg, n, base);
    free(s->timesteps);
    s->timesteps = pt_malloc(sizeof(int64_t) * (n + 1));
    if (s->cfg.kind == PT_SCHED_PNDM && n >= 2) {
        // reverse(base[:-1] ++ base[-2] ++ base[-1])
        int m = 0;
        s->timesteps[m++] = base[n - 1];
        s->timesteps[m++] = base[n - 2];
        for (int i = n - 2; i >= 0; i--) s->timesteps[m++] = base[i];
        s->num_timesteps = m;  // n + 1
    } else {
        for (int i = 0; i < n; i++) s->timesteps[i] = base[n - 1 - i];
        s->num_timesteps = n;
    }
    free(base);
    for (int i = 0; i < s->num_timesteps; i++)
        if (s->timesteps[i] < 0 || s->timesteps[i] >= T)
            PT_USAGE("scheduler: %d inference steps with this spacing/steps_offset give timestep %lld "
                     "outside [0, %d)", n, (long long)s->timesteps[i], T);
    s->num_inference_steps = n;
    s->pndm_counter = 0;
    s->pndm_n_hist = 0;
}

int64_t pt_sched_prev_timestep(const pt_sched *s, int64_t t) {
    PT_CHECKF(s->num_inference_steps > 0, "scheduler: set_timesteps must be called before stepping");
    return t - s->cfg.num_train_timesteps / s->num_inference_steps;
}

static int64_t step_timestep(const pt_sched *s, int i) {
    PT_CHECKF(s->num_inference_steps > 0, "scheduler: set_timesteps must be called before stepping");
    if (i < 0 || i >= s->num_timesteps)
        PT_USAGE("scheduler: step index %d outside [0, %d)", i, s->num_timesteps);
    return s->timesteps[i];
}

// ---------------------------------------------------------------- training helpers

double pt_sched_alpha_cumprod(const pt_sched *s, int64_t t) {
    if (t < 0 || t >= s->cfg.num_train_timesteps)
        PT_USAGE("scheduler: timestep %lld outside [0, %d)", (long long)t, s->cfg.num_train_timesteps);
    return s->alphas_cumprod[t];
}

void pt_sched_add_noise(const pt_sched *s, const float *x0, const float *noise, const int64_t *t,
                        int64_t batch, int64_t per, float *out) {
    for (int64_t b = 0; b < batch; b++) {
        double ab = pt_sched_alpha_cumprod(s, t[b]);
        double ca = sqrt(ab), cn = sqrt(1.0 - ab);
        for (int64_t j = b * per; j < (b + 1) * per; j++) out[j] = (float)(ca * x0[j] + cn * noise[j]);
    }
}

void pt_sched_velocity(const pt_sched *s, const float *x0, const float *noise, const int64_t *t,
                       int64_t batch, int64_t per, float *out) {
    for (int64_t b = 0; b < batch; b++) {
        double ab = pt_sched_alpha_cumprod(s, t[b]);
        double ca = sqrt(ab), cn = sqrt(1.0 - ab);
        for (int64_t j = b * per; j < (b + 1) * per; j++) out[j] = (float)(ca * noise[j] - cn * x0[j]);
    }
}

double pt_sched_snr(const pt_sched *s, int64_t t) {
    double ab = pt_sched_alpha_cumprod(s, t);
    return ab / (1.0 - ab);
}

double pt_sched_min_snr_weight(const pt_sched *s, int64_t t, double gamma) {
    double snr = pt_sched_snr(s, t);
    double m = snr < gamma ? snr : gamma;
    switch (s->cfg.prediction_type) {
    case PT_PRED_EPSILON: return snr > 0 ? m / snr : 1.0;
    case PT_PRED_V: return m / (snr + 1.0);
    case PT_PRED_SAMPLE: return m;
    }
    return 1.0;
}

void pt_sched_min_snr_weights(const pt_sched *s, const int64_t *t, int64_t batch, double gamma, float *w) {
    for (int64_t b = 0; b < batch; b++) w[b] = (float)pt_sched_min_snr_weight(s, t[b], gamma);
}

// ---------------------------------------------------------------- shared step pieces

// x_prev = a*x + b*out + c*noise given x0 = px*x + po*out and eps = ex*x + eo*out and
// x_prev = cx0*x0 + ceps*eps + c*noise.
static void x0_eps_coeffs(pt_prediction_type p, double at, double *px, double *po, double *ex, double *eo) {
    double sa = sqrt(at), sb = sqrt(1.0 - at);
    switch (p) {
    case PT_PRED_EPSILON: *px = 1.0 / sa; *po = -sb / sa; *ex = 0.0; *eo = 1.0; break;
    case PT_PRED_V: *px = sa; *po = -sb; *ex = sb; *eo = sa; break;
    case PT_PRED_SAMPLE: *px = 0.0; *po = 1.0; *ex = 1.0 / sb; *eo = -sa / sb; break;
    }
}

// Generic elementwise update: x0 (optionally clipped), eps from (x, out), then
// x_prev = cx0*x0 + ceps*eps + c*noise. In double per element.
static void apply_x0_eps(const pt_sched *s, double at, double cx0, double ceps, double c,
                         const float *out, float *x, int64_t n, const float *noise) {
    double px, po, ex, eo;
    x0_eps_coeffs(s->cfg.prediction_type, at, &px, &po, &ex, &eo);
    if (!s->cfg.clip_sample) {
        double a = cx0 * px + ceps * ex, b = cx0 * po + ceps * eo;
        for (int64_t j = 0; j < n; j++) {
            double v = a * x[j] + b * out[j];
            if (c != 0.0) v += c * noise[j];
            x[j] = (float)v;
        }
        return;
    }
    double r = s->cfg.clip_sample_range;
    for (int64_t j = 0; j < n; j++) {
        double x0 = px * x[j] + po * out[j], eps = ex * x[j] + eo * out[j];
        x0 = x0 < -r ? -r : (x0 > r ? r : x0);
        double v = cx0 * x0 + ceps * eps;
        if (c != 0.0) v += c * noise[j];
        x[j] = (float)v;
    }
}

// ---------------------------------------------------------------- DDIM

static void ddim_parts(const pt_sched *s, int i, double *at, double *cx0, double *ceps, double *c) {
    int64_t t = step_timestep(s, i), tp = pt_sched_prev_timestep(s, t);
    double a_t = s->alphas_cumprod[t];
    double a_p = tp >= 0 ? s->alphas_cumprod[tp] : s->final_alpha_cumprod;
    double var = (1.0 - a_p) / (1.0 - a_t) * (1.0 - a_t / a_p);
    double std = s->eta * sqrt(var);
    *at = a_t;
    *cx0 = sqrt(a_p);
    double d = 1.0 - a_p - std * std;
    *ceps = sqrt(d > 0 ? d : 0.0);
    *c = std;
}

void pt_ddim_coeffs(const pt_sched *s, int i, double *a, double *b, double *c) {
    if (s->cfg.clip_sample) PT_USAGE("scheduler: DDIM coefficients are not linear with clip_sample on");
    double at, cx0, ceps, px, po, ex, eo;
    ddim_parts(s, i, &at, &cx0, &ceps, c);
    x0_eps_coeffs(s->cfg.prediction_type, at, &px, &po, &ex, &eo);
    *a = cx0 * px + ceps * ex;
    *b = cx0 * po + ceps * eo;
}

void pt_ddim_step(pt_sched *s, int i, const float *model_out, float *x, int64_t n, const float *noise) {
    double at, cx0, ceps, c;
    ddim_parts(s, i, &at, &cx0, &ceps, &c);
    if (c != 0.0 && !noise) PT_USAGE("scheduler: DDIM with eta %g needs a noise buffer", s->eta);
    apply_x0_eps(s, at, cx0, ceps, c, model_out, x, n, noise);
}

// ---------------------------------------------------------------- DDPM

// Posterior mean = cx0*x0 + cx*x, plus c*noise (c = sqrt(fixed_small variance), 0 at t = 0).
static void ddpm_parts(const pt_sched *s, int i, double *at, double *cx0, double *cx, double *c) {
    int64_t t = step_timestep(s, i), tp = pt_sched_prev_timestep(s, t);
    double a_t = s->alphas_cumprod[t];
    double a_p = tp >= 0 ? s->alphas_cumprod[tp] : 1.0;
    double cur_alpha = a_t / a_p, cur_beta = 1.0 - cur_alpha;
    *at = a_t;
    *cx0 = sqrt(a_p) * cur_beta / (1.0 - a_t);
    *cx = sqrt(cur_alpha) * (1.0 - a_p) / (1.0 - a_t);
    double var = (1.0 - a_p) / (1.0 - a_t) * cur_beta;
    if (var < 1e-20) var = 1e-20;
    *c = t > 0 ? sqrt(var) : 0.0;
}

void pt_ddpm_coeffs(const pt_sched *s, int i, double *a, double *b, double *c) {
    if (s->cfg.clip_sample) PT_USAGE("scheduler: DDPM coefficients are not linear with clip_sample on");
    double at, cx0, cx, px, po, ex, eo;
    ddpm_parts(s, i, &at, &cx0, &cx, c);
    x0_eps_coeffs(s->cfg.prediction_type, at, &px, &po, &ex, &eo);
    *a = cx0 * px + cx;
    *b = cx0 * po;
}

void pt_ddpm_step(pt_sched *s, int i, const float *model_out, float *x, int64_t n, const float *noise) {
    double at, cx0, cx, c, px, po, ex, eo;
    ddpm_parts(s, i, &at, &cx0, &cx, &c);
    if (c != 0.0 && !noise) PT_USAGE("scheduler: DDPM step at timestep %lld needs a noise buffer",
                                     (long long)s->timesteps[i]);
    x0_eps_coeffs(s->cfg.prediction_type, at, &px, &po, &ex, &eo);
    double r = s->cfg.clip_sample_range;
    for (int64_t j = 0; j < n; j++) {
        double x0 = px * x[j] + po * model_out[j];
        if (s->cfg.clip_sample) x0 = x0 < -r ? -r : (x0 > r ? r : x0);
        double v = cx0 * x0 + cx * x[j];
        if (c != 0.0) v += c * noise[j];
        x[j] = (float)v;
    }
}

// ---------------------------------------------------------------- PNDM (PLMS)

void pt_pndm_coeffs(const pt_sched *s, int i, pt_pndm_coef *c) {
    int64_t t = step_timestep(s, i);
    if (s->cfg.kind != PT_SCHED_PNDM) PT_USAGE("scheduler: PNDM step on a %s", pt_sched_kind_name(s->cfg.kind));
    if (s->cfg.prediction_type == PT_PRED_SAMPLE)
        PT_USAGE("scheduler: PNDM supports prediction_type epsilon or v_prediction, not sample");
    if (i != s->pndm_counter)
        PT_USAGE("scheduler: PNDM steps must run in order: step %d called after %d steps", i, s->pndm_counter);
    memset(c, 0, sizeof *c);
    int ratio = s->cfg.num_train_timesteps / s->num_inference_steps;
    int64_t tp = t - ratio;
    int L = s->pndm_n_hist + 1;  // history length once model_out is pushed
    if (s->pndm_counter == 1) {
        // second call: re-evaluate the first step from the saved sample with the averaged output
        tp = t; t = t + ratio;
        c->use_saved_sample = 1;
        c->w[0] = 0.5; c->w[1] = 0.5;
    } else {
        c->push_output = 1;
        if (s->pndm_counter == 0) { c->w[0] = 1.0; c->save_sample = 1; }
        else if (L == 2) { c->w[0] = 1.5; c->w[1] = -0.5; }
        else if (L == 3) { c->w[0] = 23.0 / 12; c->w[1] = -16.0 / 12; c->w[2] = 5.0 / 12; }
        else { c->w[0] = 55.0 / 24; c->w[1] = -59.0 / 24; c->w[2] = 37.0 / 24; c->w[3] = -9.0 / 24; }
    }
    PT_CHECKF(t < s->cfg.num_train_timesteps, "scheduler: PNDM timestep %lld out of range", (long long)t);
    double at = s->alphas_cumprod[t];
    double ap = tp >= 0 ? s->alphas_cumprod[tp] : s->final_alpha_cumprod;
    double sample_coeff = sqrt(ap / at);
    double denom = at * sqrt(1.0 - ap) + sqrt(at * (1.0 - at) * ap);
    double k = (ap - at) / denom;  // x_prev = sample_coeff*x - k*eps
    c->t = t; c->t_prev = tp;
    if (s->cfg.prediction_type == PT_PRED_V) {
        // eps = sqrt(at)*v + sqrt(1-at)*src
        c->a = sample_coeff - k * sqrt(1.0 - at);
        c->b = -k * sqrt(at);
    } else {
        c->a = sample_coeff;
        c->b = -k;
    }
}

void pt_pndm_step(pt_sched *s, int i, const float *model_out, float *x, int64_t n) {
    pt_pndm_coef c;
    pt_pndm_coeffs(s, i, &c);
    if (s->pndm_n != n) {
        if (s->pndm_counter != 0)
            PT_USAGE("scheduler: PNDM step %d has %lld elements, earlier steps had %lld", i, (long long)n,
                     (long long)s->pndm_n);
        for (int k = 0; k < 3; k++) { free(s->pndm_hist[k]); s->pndm_hist[k] = pt_malloc(sizeof(float) * n); }
        free(s->pndm_saved);
        s->pndm_saved = pt_malloc(sizeof(float) * n);
        s->pndm_n = n;
    }
    const float *h1 = s->pndm_hist[0], *h2 = s->pndm_hist[1], *h3 = s->pndm_hist[2];
    float *saved = s->pndm_saved;
    for (int64_t j = 0; j < n; j++) {
        double e = c.w[0] * model_out[j];
        if (c.w[1] != 0.0) e += c.w[1] * h1[j];
        if (c.w[2] != 0.0) e += c.w[2] * h2[j];
        if (c.w[3] != 0.0) e += c.w[3] * h3[j];
        double src = c.use_saved_sample ? saved[j] : x[j];
        if (c.save_sample) saved[j] = x[j];
        x[j] = (float)(c.a * src + c.b * e);
    }
    if (c.push_output) {
        float *oldest = s->pndm_hist[2];
        s->pndm_hist[2] = s->pndm_hist[1];
        s->pndm_hist[1] = s->pndm_hist[0];
        s->pndm_hist[0] = oldest;
        memcpy(oldest, model_out, sizeof(float) * n);
        if (s->pndm_n_hist < 3) s->pndm_n_hist++;
    }
    s->pndm_counter++;
}

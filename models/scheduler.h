// scheduler.h — diffusion noise schedules and samplers (DDPM, DDIM, PNDM/PLMS) on flat float arrays.
//
// Semantics follow diffusers' DDPMScheduler / DDIMScheduler / PNDMScheduler (skip_prk_steps=True):
//   betas        linear:            linspace(beta_start, beta_end, T)
//                scaled_linear:     linspace(sqrt(beta_start), sqrt(beta_end), T)^2   (SD 1.x)
//                squaredcos_cap_v2: betas_i = min(1 - abar((i+1)/T)/abar(i/T), 0.999),
//                                   abar(t) = cos((t+0.008)/1.008 * pi/2)^2
//   rescale_betas_zero_snr: shift/scale sqrt(alphas_cumprod) so the last one is exactly 0 and the
//                first is unchanged, then turn it back into betas (Lin et al. 2023, Algorithm 1).
//   alphas_cumprod[t] = prod_{s<=t} (1 - betas[s]).  Everything is computed in double.
//   final_alpha_cumprod = 1 if set_alpha_to_one else alphas_cumprod[0] (DDIM/PNDM "prev < 0").
//
// Inference timesteps (pt_sched_set_timesteps(s, n)), T = num_train_timesteps:
//   leading:  (arange(n) * (T / n)) [integer ratio] + steps_offset, descending
//   trailing: round(arange(T, 0, -T/n)) - 1   (float ratio, numpy round = half to even)
//   linspace: round(linspace(0, T-1, n)), descending
//   PNDM (PLMS) builds from the ascending list a = [a0 .. a_{n-1}] the n+1 entries
//   reverse(a[:-1] ++ a[-2] ++ a[-1]), i.e. the second-highest timestep appears twice
//   (10 steps, offset 1: 901, 801, 801, 701, ..., 1).
//   The previous timestep of a step is always t - T/n (integer ratio), as in diffusers.
//
// Training helpers (per sample timestep t[b], each sample has `per` elements):
//   add_noise:  x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
//   velocity:   v   = sqrt(abar_t) eps - sqrt(1 - abar_t) x0      (v-prediction target)
//   snr(t)      = abar_t / (1 - abar_t)
//   min-SNR-gamma loss weights: w = min(snr, gamma)/snr     for epsilon prediction,
//                               w = min(snr, gamma)/(snr+1) for v prediction,
//                               w = min(snr, gamma)         for sample prediction.
//     At snr = 0 (zero-terminal-SNR, t = T-1) the epsilon weight is its limit 1 instead of
//     diffusers' 0/0 = NaN.
//   Noise offset (Animate Anyone: eps += 0.05 * randn(B, C, 1, 1, 1)) is applied by the CALLER to
//   the noise buffer before add_noise and before it is used as the target; nothing here knows it.
//
// Samplers. Every step updates x IN PLACE from x_t to x_{t_prev}. Step i uses timesteps[i].
//   DDIM:  pt_ddim_step(s, i, model_out, x, n, noise): eta = s->eta (default 0); eta > 0 needs a
//          caller-provided standard-normal `noise` buffer of n elements (NULL allowed when eta = 0).
//   PNDM:  pt_pndm_step(s, i, model_out, x, n): PLMS with diffusers' warm-up (first step plain, second
//          step re-evaluates from the first sample with the averaged output, then 2nd/3rd/4th-order
//          Adams-Bashforth). Steps must be called in order i = 0, 1, ... after set_timesteps; the
//          history (3 buffers of n floats + the saved first sample) lives in the pt_sched.
//   DDPM:  pt_ddpm_step(s, i, model_out, x, n, noise): ancestral step, variance "fixed_small";
//          noise (n elements) is required for every step whose timestep is > 0.
// Scalar-coefficient form (for an elementwise CUDA kernel; valid only with clip_sample off):
//   DDIM:  x_prev = a*x + b*model_out + c*noise                     (pt_ddim_coeffs)
//   DDPM:  x_prev = a*x + b*model_out + c*noise                     (pt_ddpm_coeffs; c = 0 at t = 0)
//   PNDM:  e = w[0]*model_out + w[1]*h1 + w[2]*h2 + w[3]*h3 (h1 = newest stored output),
//          x_prev = a*src + b*e, src = x, or the saved first sample when use_saved_sample;
//          then: if save_sample, saved := x (before the update); if push_output, the history
//          shifts (h3 <- h2 <- h1 <- model_out).                    (pt_pndm_coeffs)
//   The CPU steps are implemented through these same functions (the fixture test covers them).
#pragma once
#include <stdint.h>

#include "tools/json.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { PT_SCHED_DDPM = 0, PT_SCHED_DDIM, PT_SCHED_PNDM } pt_sched_kind;
typedef enum { PT_BETA_LINEAR = 0, PT_BETA_SCALED_LINEAR, PT_BETA_SQUAREDCOS_CAP_V2 } pt_beta_schedule;
typedef enum { PT_PRED_EPSILON = 0, PT_PRED_V, PT_PRED_SAMPLE } pt_prediction_type;
typedef enum { PT_SPACING_LEADING = 0, PT_SPACING_TRAILING, PT_SPACING_LINSPACE } pt_timestep_spacing;

typedef struct pt_sched_config {
    pt_sched_kind kind;              // which sampler set_timesteps / step follow
    int num_train_timesteps;         // T (1000)
    double beta_start, beta_end;
    pt_beta_schedule beta_schedule;
    pt_prediction_type prediction_type;
    int steps_offset;                // added to "leading" timesteps
    int set_alpha_to_one;            // final_alpha_cumprod = 1 (else alphas_cumprod[0])
    pt_timestep_spacing timestep_spacing;
    int rescale_betas_zero_snr;
    int clip_sample;                 // clamp predicted x0 to [-clip_sample_range, clip_sample_range]
    double clip_sample_range;
} pt_sched_config;

typedef struct pt_sched {
    pt_sched_config cfg;
    double *betas;                   // (T,)
    double *alphas_cumprod;          // (T,)
    double final_alpha_cumprod;
    double eta;                      // DDIM eta (0 = deterministic)
    int num_inference_steps;         // n of the last set_timesteps (0 before)
    int num_timesteps;               // entries of timesteps (n; n+1 for PNDM)
    int64_t *timesteps;              // (num_timesteps,) in the order the steps run
    // PNDM (PLMS) running state
    int pndm_counter;                // steps taken since set_timesteps
    int pndm_n_hist;                 // stored outputs (0..3)
    int64_t pndm_n;                  // element count of the history buffers (0 = not allocated)
    float *pndm_hist[3];             // (n,) each: newest first
    float *pndm_saved;               // (n,) the sample of the first step
} pt_sched;

// SD 1.x defaults: DDPM kind, T 1000, scaled_linear 0.00085 -> 0.012, epsilon, steps_offset 1,
// set_alpha_to_one 0, leading, no rescale, clip_sample 0 (range 1).
pt_sched_config pt_sched_config_default(void);
// Overwrite fields of *cfg with the keys present in a diffusers scheduler_config.json object:
// _class_name (DDPMScheduler/DDIMScheduler/PNDMScheduler -> kind), num_train_timesteps, beta_start,
// beta_end, beta_schedule, prediction_type, steps_offset, set_alpha_to_one, timestep_spacing,
// rescale_betas_zero_snr, clip_sample, clip_sample_range. Unsupported settings (trained_betas,
// thresholding, variance_type other than fixed_small, unknown names) fail with PT_USAGE naming the key.
void pt_sched_config_from_json_obj(const pt_json *obj, pt_sched_config *cfg);
// Defaults, then the file's keys.
pt_sched_config pt_sched_config_from_json(const char *path);

void pt_sched_init(pt_sched *s, const pt_sched_config *cfg);
void pt_sched_free(pt_sched *s);
// Computes timesteps for n inference steps and resets the PNDM history.
void pt_sched_set_timesteps(pt_sched *s, int n);
// The timestep the step after timesteps[i] lands on (t - T/n; may be negative = "final").
int64_t pt_sched_prev_timestep(const pt_sched *s, int64_t t);

// ---- training helpers --------------------------------------------------------------------------
double pt_sched_alpha_cumprod(const pt_sched *s, int64_t t);
void pt_sched_add_noise(const pt_sched *s, const float *x0, const float *noise, const int64_t *t,
                        int64_t batch, int64_t per, float *out);   // all (batch, per)
void pt_sched_velocity(const pt_sched *s, const float *x0, const float *noise, const int64_t *t,
                       int64_t batch, int64_t per, float *out);    // all (batch, per)
double pt_sched_snr(const pt_sched *s, int64_t t);
double pt_sched_min_snr_weight(const pt_sched *s, int64_t t, double gamma);
void pt_sched_min_snr_weights(const pt_sched *s, const int64_t *t, int64_t batch, double gamma, float *w);

// ---- samplers ----------------------------------------------------------------------------------
void pt_ddim_coeffs(const pt_sched *s, int i, double *a, double *b, double *c);
void pt_ddim_step(pt_sched *s, int i, const float *model_out, float *x, int64_t n, const float *noise);

void pt_ddpm_coeffs(const pt_sched *s, int i, double *a, double *b, double *c);
void pt_ddpm_step(pt_sched *s, int i, const float *model_out, float *x, int64_t n, const float *noise);

typedef struct pt_pndm_coef {
    int64_t t, t_prev;          // the (possibly shifted) timestep pair the formula uses
    double a, b;                // x_prev = a*src + b*e
    double w[4];                // e = w0*model_out + w1*h1 + w2*h2 + w3*h3
    int use_saved_sample;       // src = saved first sample instead of x
    int save_sample;            // save x as the first sample (before the update)
    int push_output;            // push model_out into the history afterwards
} pt_pndm_coef;
// Coefficients of the step the scheduler is at (i must equal s->pndm_counter).
void pt_pndm_coeffs(const pt_sched *s, int i, pt_pndm_coef *c);
void pt_pndm_step(pt_sched *s, int i, const float *model_out, float *x, int64_t n);

const char *pt_sched_kind_name(pt_sched_kind k);
const char *pt_prediction_type_name(pt_prediction_type p);

#ifdef __cplusplus
}
#endif

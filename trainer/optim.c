// optim.c — AdamW on one flat fp32 buffer (CPU reference), gradient norm / clipping / zeroing.
// The CUDA versions are in optim_cuda.cu; see optim.h for the formulas.
#include "trainer/optim.h"

#include <math.h>
#include <string.h>

#include "tools/check.h"

pt_adamw_config pt_adamw_config_default(void) {
    pt_adamw_config c = {0.9, 0.999, 1e-8, 1e-2};
    return c;
}

// Validates the segments and merges them into runs of equal decay flag.
static void build_runs(pt_adamw *o, int64_t n, const pt_param_segment *segs, int nsegs) {
    pt_param_segment all = {0, n, 1};
    if (!segs) { segs = &all; nsegs = 1; }
    if (nsegs < 1) PT_USAGE("optimizer: %d parameter segments; need at least one", nsegs);
    o->run_end = pt_malloc(sizeof(int64_t) * nsegs);
    o->run_decay = pt_malloc(sizeof(int) * nsegs);
    o->nruns = 0;
    int64_t at = 0;
    for (int i = 0; i < nsegs; i++) {
        if (segs[i].offset != at || segs[i].count < 0) {
            free(o->run_end); free(o->run_decay); o->run_end = NULL; o->run_decay = NULL;
            PT_USAGE("optimizer: parameter segment %d is {offset %lld, count %lld}; segments must be in order, "
                     "contiguous, non-negative, starting at 0 (expected offset %lld)",
                     i, (long long)segs[i].offset, (long long)segs[i].count, (long long)at);
        }
        at += segs[i].count;
        if (segs[i].count == 0) continue;
        int d = segs[i].weight_decay ? 1 : 0;
        if (o->nruns > 0 && o->run_decay[o->nruns - 1] == d) {
            o->run_end[o->nruns - 1] = at;
        } else {
            o->run_end[o->nruns] = at;
            o->run_decay[o->nruns] = d;
            o->nruns++;
        }
    }
    if (at != n) {
        free(o->run_end); free(o->run_decay); o->run_end = NULL; o->run_decay = NULL;
        PT_USAGE("optimizer: parameter segments cover %lld elements, the buffer has %lld", (long long)at, (long long)n);
    }
}

static void init_common(pt_adamw *o, const pt_adamw_config *cfg, int64_t n, const pt_param_segment *segs, int nsegs) {
    memset(o, 0, sizeof *o);
    if (n < 0) PT_USAGE("optimizer: negative parameter count %lld", (long long)n);
    if (!(cfg->beta1 >= 0 && cfg->beta1 < 1 && cfg->beta2 >= 0 && cfg->beta2 < 1 && cfg->eps >= 0 &&
          cfg->weight_decay >= 0))
        PT_USAGE("optimizer: invalid AdamW settings betas (%g, %g), eps %g, weight_decay %g "
                 "(need 0 <= beta < 1, eps >= 0, weight_decay >= 0)",
                 cfg->beta1, cfg->beta2, cfg->eps, cfg->weight_decay);
    o->cfg = *cfg;
    o->n = n;
    build_runs(o, n, segs, nsegs);
}

void pt_adamw_init(pt_adamw *o, const pt_adamw_config *cfg, int64_t n, const pt_param_segment *segs, int nsegs) {
    init_common(o, cfg, n, segs, nsegs);
    o->m = pt_calloc(n > 0 ? n : 1, sizeof(float));  // (n,)
    o->v = pt_calloc(n > 0 ? n : 1, sizeof(float));  // (n,)
}

#ifdef POSETUNE_HAVE_CUDA
void pt_adamw_init_cuda(pt_adamw *o, const pt_adamw_config *cfg, int64_t n, const pt_param_segment *segs, int nsegs) {
    init_common(o, cfg, n, segs, nsegs);
    pt_adamw_cuda_alloc_state(o);  // device m, v (zeroed) and run tables; sets on_device
}
#endif

void pt_adamw_free(pt_adamw *o) {
#ifdef POSETUNE_HAVE_CUDA
    if (o->on_device) pt_adamw_cuda_free_state(o);
#endif
    if (!o->on_device) { free(o->m); free(o->v); }
    free(o->run_end); free(o->run_decay);
    memset(o, 0, sizeof *o);
}

void pt_adamw_step(pt_adamw *o, float *params, const float *grads, double lr) {
    PT_CHECKF(!o->on_device, "optimizer: pt_adamw_step on a device-state optimizer (use pt_adamw_step_cuda)");
    o->step++;
    const double b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps;
    const double bc1 = 1.0 - pow(b1, (double)o->step), bc2 = 1.0 - pow(b2, (double)o->step);
    const double step_size = lr / bc1, sqrt_bc2 = sqrt(bc2);
    float *m = o->m, *v = o->v;
    int64_t i = 0;
    for (int r = 0; r < o->nruns; r++) {
        const double decay = 1.0 - lr * (o->run_decay[r] ? o->cfg.weight_decay : 0.0);
        for (; i < o->run_end[r]; i++) {
            double g = grads[i];
            double p = (double)params[i] * decay;
            float mf = (float)(b1 * m[i] + (1.0 - b1) * g);
            float vf = (float)(b2 * v[i] + (1.0 - b2) * g * g);
            m[i] = mf; v[i] = vf;
            p -= step_size * (double)mf / (sqrt((double)vf) / sqrt_bc2 + eps);
            params[i] = (float)p;
        }
    }
}

void pt_adamw_get_state(const pt_adamw *o, int64_t *step, float *m, float *v) {
    *step = o->step;
#ifdef POSETUNE_HAVE_CUDA
    if (o->on_device) { pt_adamw_cuda_download_state(o, m, v); return; }
#endif
    memcpy(m, o->m, sizeof(float) * o->n);
    memcpy(v, o->v, sizeof(float) * o->n);
}

void pt_adamw_set_state(pt_adamw *o, int64_t step, const float *m, const float *v) {
    if (step < 0) PT_USAGE("optimizer state: negative step count %lld", (long long)step);
    o->step = step;
#ifdef POSETUNE_HAVE_CUDA
    if (o->on_device) { pt_adamw_cuda_upload_state(o, m, v); return; }
#endif
    memcpy(o->m, m, sizeof(float) * o->n);
    memcpy(o->v, v, sizeof(float) * o->n);
}

// ---------------------------------------------------------------- gradients

double pt_grad_norm(const float *g, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)g[i] * (double)g[i];
    return sqrt(s);
}

double pt_clip_grad_norm(float *g, int64_t n, double max_norm) {
    double norm = pt_grad_norm(g, n);
    if (max_norm <= 0 || !isfinite(norm)) return norm;
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
        float c = (float)coef;
        for (int64_t i = 0; i < n; i++) g[i] *= c;
    }
    return norm;
}

void pt_grad_zero(float *g, int64_t n) {
    if (n > 0) memset(g, 0, sizeof(float) * n);
}

// window_fusion.c — window schedule and per-step fusion (see window_fusion.h).
#include "trainer/window_fusion.h"

#include <stdlib.h>
#include <string.h>

#include "tools/check.h"

void pt_win_schedule_make(pt_win_schedule *s, int N, int T, int overlap, pt_win_edge edge) {
    memset(s, 0, sizeof *s);
    if (N < 1) PT_USAGE("window schedule: no frames");
    if (T < 1) PT_USAGE("config key 'render.window': must be at least 1, got %d", T);
    if (overlap < 0 || overlap >= T) PT_USAGE("config key 'render.overlap': %d must be in [0, render.window %d)", overlap, T);
    s->n_frames = N;
    if (N <= T) {
        s->window = N;
        s->n_windows = 1;
        s->frames = pt_malloc(sizeof(int) * N);
        for (int k = 0; k < N; k++) s->frames[k] = k;
        return;
    }
    const int stride = T - overlap;
    int n = 1;
    while ((n - 1) * stride + T < N) n++;   // windows until one reaches frame N-1
    s->window = T;
    s->n_windows = n;
    s->frames = pt_malloc(sizeof(int) * (size_t)n * T);
    for (int w = 0; w < n; w++) {
        int start = w * stride;
        if (edge == PT_WIN_CLAMP && start + T > N) start = N - T;
        for (int k = 0; k < T; k++) s->frames[w * T + k] = (start + k) % N;
    }
}

void pt_win_schedule_free(pt_win_schedule *s) {
    free(s->frames);
    memset(s, 0, sizeof *s);
}

double pt_win_weight(pt_fuse_kind kind, int k, int T) {
    if (kind == PT_FUSE_UNIFORM) return 1.0;
    double a = (k + 0.5) * 2.0 / T, b = 2.0 - (k + 0.5) * 2.0 / T;
    return a < b ? a : b;
}

void pt_win_accum_init(pt_win_accum *a, int n_frames, int64_t per) {
    a->n_frames = n_frames;
    a->per = per;
    a->sum = pt_calloc((size_t)n_frames * per, sizeof(double));
    a->wsum = pt_calloc((size_t)n_frames, sizeof(double));
}

void pt_win_accum_reset(pt_win_accum *a) {
    memset(a->sum, 0, sizeof(double) * (size_t)a->n_frames * a->per);
    memset(a->wsum, 0, sizeof(double) * (size_t)a->n_frames);
}

void pt_win_accum_add(pt_win_accum *a, const pt_win_schedule *s, int w, const float *pred, pt_fuse_kind kind) {
    const int T = s->window;
    for (int k = 0; k < T; k++) {
        int f = s->frames[w * T + k];
        double wt = pt_win_weight(kind, k, T);
        double *d = a->sum + (size_t)f * a->per;
        const float *p = pred + (size_t)k * a->per;
        for (int64_t i = 0; i < a->per; i++) d[i] += wt * p[i];
        a->wsum[f] += wt;
    }
}

void pt_win_accum_result(const pt_win_accum *a, float *out) {
    for (int f = 0; f < a->n_frames; f++) {
        PT_CHECKF(a->wsum[f] > 0, "window fusion: frame %d received no prediction", f);
        const double inv = 1.0 / a->wsum[f];
        for (int64_t i = 0; i < a->per; i++) out[(size_t)f * a->per + i] = (float)(a->sum[(size_t)f * a->per + i] * inv);
    }
}

void pt_win_accum_free(pt_win_accum *a) {
    free(a->sum);
    free(a->wsum);
    memset(a, 0, sizeof *a);
}

void pt_win_gather(const pt_win_schedule *s, int w, const float *x, int64_t per, float *dst) {
    for (int k = 0; k < s->window; k++)
        memcpy(dst + (size_t)k * per, x + (size_t)s->frames[w * s->window + k] * per, sizeof(float) * (size_t)per);
}

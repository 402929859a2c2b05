// regime_common.c — shared pieces of the training regimes (see regime_common.h).
#include "trainer/regime_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autograd/rng.h"
#include "datasets/synthetic.h"
#include "tools/check.h"
#include "trainer/dist.h"

void pt_regime_fill_normal_rows(pt_trainer *t, const pt_batch *b, const char *purpose, int64_t per, float *dst) {
    for (int k = 0; k < b->B; k++) {
        pt_rng r;
        pt_rng_init(&r, pt_trainer_sample_seed(t, &b->samples[k], purpose));
        pt_rng_fill_normal(&r, dst + k * per, per, 0.0f, 1.0f);
    }
}

void pt_regime_timesteps_and_offset(pt_trainer *t, const pt_batch *b, int T, double noise_offset, int F, int64_t per,
                                    float *eps, int64_t *ts) {
    const int64_t hw = per / 4, fper = F * per;
    for (int k = 0; k < b->B; k++) {
        pt_rng r;
        pt_rng_init(&r, pt_trainer_sample_seed(t, &b->samples[k], "timestep"));
        ts[k] = pt_rng_int(&r, 0, T);
        if (noise_offset > 0) {
            float off[4];
            pt_rng_init(&r, pt_trainer_sample_seed(t, &b->samples[k], "noise_offset"));
            pt_rng_fill_normal(&r, off, 4, 0.0f, 1.0f);
            for (int f = 0; f < F; f++)
                for (int ch = 0; ch < 4; ch++)
                    for (int64_t i = 0; i < hw; i++) eps[k * fper + f * per + ch * hw + i] += (float)noise_offset * off[ch];
        }
    }
}

pt_sched_config pt_regime_sched_config(const pt_config *cfg) {
    pt_sched_config sc = pt_sched_config_default();
    sc.num_train_timesteps = cfg->train.num_train_timesteps;
    sc.beta_start = cfg->train.beta_start;
    sc.beta_end = cfg->train.beta_end;
    sc.prediction_type = cfg->train.prediction == PT_CFG_PRED_V ? PT_PRED_V : PT_PRED_EPSILON;
    sc.rescale_betas_zero_snr = cfg->train.zero_terminal_snr;
    sc.timestep_spacing = cfg->train.timestep_spacing == PT_CFG_SPACING_TRAILING ? PT_SPACING_TRAILING
                        : cfg->train.timestep_spacing == PT_CFG_SPACING_LINSPACE ? PT_SPACING_LINSPACE : PT_SPACING_LEADING;
    return sc;
}

char *pt_regime_make_synthetic(const pt_config *c) {
    size_t n = strlen(c->train.out_dir) + 16;
    char *dir = pt_malloc(n);
    snprintf(dir, n, "%s/data", c->train.out_dir);
    char meta[4200];
    snprintf(meta, sizeof meta, "%s/video_%04d/meta.json", dir, c->data.synthetic_videos - 1);
    struct stat st;
    if (pt_dist_get()->rank == 0 && stat(meta, &st) != 0) {
        pt_synth_opts o;
        pt_synth_opts_default(&o);
        o.n_videos = c->data.synthetic_videos;
        o.n_frames = c->data.synthetic_frames;
        o.width = c->data.width;
        o.height = c->data.height;
        o.seed = (uint64_t)c->train.seed;
        pt_synth_generate(dir, &o);
    }
    pt_dist_barrier();
    return dir;
}

void pt_regime_loader_common(const pt_config *cfg, pt_loader_config *lc) {
    pt_dist *dd = pt_dist_get();
    lc->sampler.rank = dd->rank;
    lc->sampler.world_size = dd->world;
    lc->batch_size = cfg->train.batch_size;
    lc->height = cfg->data.height;
    lc->width = cfg->data.width;
    lc->n_threads = cfg->data.workers > 0 ? cfg->data.workers : 1;
    lc->n_prefetch = cfg->data.prefetch > 1 ? cfg->data.prefetch : 2;
    lc->crop_p = (float)cfg->data.crop_prob;
}

// train_util.h — helpers of the training tests (test_aa, test_dreampose, test_resume, ...): a demo
// config redirected into the test's folder, and the losses a run logged.
#pragma once
#include "datasets/synthetic.h"
#include "tests/test_util.h"
#include "trainer/config.h"

// Replace a heap string field of a config.
static inline void tu_set_str(char **f, const char *v) { free(*f); *f = pt_strdup(v); }

// configs/demo/<file> with train.out_dir = <root>/<run>, data.path = data and data.synthetic off.
static inline void tu_demo_config(pt_config *c, const char *file, const char *root, const char *run, const char *data) {
    char p[2048], out[2048];
    snprintf(p, sizeof p, "%s/configs/demo/%s", POSETUNE_SOURCE_DIR, file);
    pt_config_from_args(c, p, NULL, 0);
    snprintf(out, sizeof out, "%s/%s", root, run);
    tu_set_str(&c->train.out_dir, out);
    tu_set_str(&c->data.path, data);
    c->data.synthetic = 0;
}

// The "loss" values of <run_dir>/metrics.jsonl in order (at most cap); returns the count.
static inline int tu_read_losses(const char *run_dir, double *loss, int cap) {
    char p[2048];
    snprintf(p, sizeof p, "%s/metrics.jsonl", run_dir);
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    char line[1024];
    int n = 0;
    while (n < cap && fgets(line, sizeof line, f)) {
        const char *k = strstr(line, "\"loss\": ");
        if (k && sscanf(k + 8, "%lf", &loss[n]) == 1) n++;
    }
    fclose(f);
    return n;
}

// The synthetic dataset of a training test: n_videos videos of n_frames frames, size x size, under dir.
static inline void tu_synth_videos(const char *dir, int n_videos, int n_frames, int size, uint64_t seed) {
    pt_synth_opts o;
    pt_synth_opts_default(&o);
    o.n_videos = n_videos;
    o.n_frames = n_frames;
    o.width = o.height = size;
    o.seed = seed;
    pt_synth_generate(dir, &o);
}

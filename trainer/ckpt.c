// ckpt.c — atomic training checkpoints as safetensors files with metadata.
#include "trainer/ckpt.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/check.h"

static void add_param_tensor(pt_st_writer *w, const char *prefix, const pt_param_entry *e, const float *src) {
    char name[600];
    snprintf(name, sizeof name, "%s%s", prefix, e->name);
    pt_st_writer_add(w, name, PT_F32, e->t->ndim, e->t->shape, PT_F32, src);
}

void pt_ckpt_save(const char *path, const pt_params *P, const pt_ckpt_save_opts *o, const pt_ckpt_meta *meta) {
    pt_ckpt_save_opts none = {0};
    if (!o) o = &none;
    int64_t nt = P->numel_trainable;
    float *m = NULL, *v = NULL, *tmp = NULL;
    int64_t opt_step = 0;
    if (o->opt) {
        PT_CHECKF(o->opt->n == nt, "optimizer covers %lld elements, the model's trainable prefix %lld",
                  (long long)o->opt->n, (long long)nt);
        m = pt_malloc(sizeof(float) * (size_t)(nt ? nt : 1));
        v = pt_malloc(sizeof(float) * (size_t)(nt ? nt : 1));
        pt_adamw_get_state(o->opt, &opt_step, m, v);
    }
    pt_st_writer *w = pt_st_writer_new();
    for (int i = 0; i < P->n; i++) {
        const pt_param_entry *e = &P->e[i];
        if (!e->trainable && !o->save_frozen) continue;
        int64_t n = pt_numel(e->t);
        const float *src;
        if (e->trainable && o->master) src = o->master + e->offset;
        else {
            tmp = pt_realloc(tmp, sizeof(float) * (size_t)(n ? n : 1));
            pt_copy_to_host_f32(e->t, tmp);
            src = tmp;
        }
        add_param_tensor(w, "model.", e, src);
        if (e->trainable && m) { add_param_tensor(w, "optim.m.", e, m + e->offset); add_param_tensor(w, "optim.v.", e, v + e->offset); }
        if (e->trainable && o->ema) add_param_tensor(w, "ema.", e, o->ema + e->offset);
    }
    char buf[64];
    pt_st_writer_meta(w, "posetune.format", "1");
    pt_st_writer_meta(w, "posetune.regime", meta && meta->regime ? meta->regime : "");
    snprintf(buf, sizeof buf, "%lld", (long long)(meta ? meta->step : 0));
    pt_st_writer_meta(w, "posetune.step", buf);
    snprintf(buf, sizeof buf, "%lld", (long long)opt_step);
    pt_st_writer_meta(w, "posetune.optim_step", buf);
    pt_st_writer_meta(w, "posetune.state", meta && meta->state_json ? meta->state_json : "{}");
    pt_st_writer_meta(w, "posetune.config", meta && meta->config_yaml ? meta->config_yaml : "");
    pt_st_writer_write(w, path);   // atomic: temp file, fsync, rename
    pt_st_writer_free(w);
    free(m); free(v); free(tmp);
}

static void read_into(const pt_weights *w, const char *name, const pt_param_entry *e, float *dst) {
    const pt_wtensor *t = pt_weights_find(w, name);
    if (!t) PT_USAGE("%s: checkpoint has no tensor '%s'", w->source, name);
    if (pt_wtensor_numel(t) != pt_numel(e->t))
        PT_USAGE("%s: tensor '%s' has %lld elements, the model's '%s' has %lld", w->source, name,
                 (long long)pt_wtensor_numel(t), e->name, (long long)pt_numel(e->t));
    pt_weights_read_f32(t, dst);
}

pt_weights *pt_ckpt_load(const char *path, pt_params *P, pt_adamw *opt, float *ema) {
    pt_weights *w = pt_weights_load(path);
    const char *fmt = pt_weights_meta(w, "posetune.format");
    if (!fmt) PT_USAGE("%s: not a posetune training checkpoint (no posetune.format in its metadata)", path);
    int64_t nt = P->numel_trainable;
    float *m = NULL, *v = NULL, *tmp = NULL;
    if (opt) {
        PT_CHECKF(opt->n == nt, "optimizer size %lld != trainable size %lld", (long long)opt->n, (long long)nt);
        m = pt_calloc((size_t)(nt ? nt : 1), sizeof(float));
        v = pt_calloc((size_t)(nt ? nt : 1), sizeof(float));
    }
    char name[600];
    for (int i = 0; i < P->n; i++) {
        pt_param_entry *e = &P->e[i];
        int64_t n = pt_numel(e->t);
        snprintf(name, sizeof name, "model.%s", e->name);
        if (!e->trainable && !pt_weights_find(w, name)) continue;
        tmp = pt_realloc(tmp, sizeof(float) * (size_t)(n ? n : 1));
        read_into(w, name, e, tmp);
        pt_copy_from_host_f32(e->t, tmp);
        if (!e->trainable) continue;
        if (opt) {
            snprintf(name, sizeof name, "optim.m.%s", e->name);
            read_into(w, name, e, m + e->offset);
            snprintf(name, sizeof name, "optim.v.%s", e->name);
            read_into(w, name, e, v + e->offset);
        }
        if (ema) {
            snprintf(name, sizeof name, "ema.%s", e->name);
            if (pt_weights_find(w, name)) read_into(w, name, e, ema + e->offset);
            else memcpy(ema + e->offset, tmp, sizeof(float) * (size_t)n);
        }
    }
    if (opt) {
        const char *s = pt_weights_meta(w, "posetune.optim_step");
        pt_adamw_set_state(opt, s ? strtoll(s, NULL, 10) : 0, m, v);
    }
    free(m); free(v); free(tmp);
    return w;
}

const char *pt_ckpt_path(const char *dir, int64_t step) {
    static _Thread_local char buf[4096];
    snprintf(buf, sizeof buf, "%s/step-%08lld.safetensors", dir, (long long)step);
    return buf;
}

// Steps of the complete checkpoints in dir, sorted ascending.
static int list_steps(const char *dir, int64_t **steps_out) {
    DIR *d = opendir(dir);
    *steps_out = NULL;
    if (!d) return 0;
    int n = 0, cap = 0;
    int64_t *steps = NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        long long s;
        char tail[64];
        // exactly "step-<digits>.safetensors": temporaries ("....safetensors.tmp.<pid>") don't match
        if (sscanf(de->d_name, "step-%lld.%63s", &s, tail) == 2 && strcmp(tail, "safetensors") == 0) {
            if (n == cap) { cap = cap ? 2 * cap : 16; steps = pt_realloc(steps, sizeof(int64_t) * (size_t)cap); }
            steps[n++] = s;
        }
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && steps[j - 1] > steps[j]; j--) { int64_t t = steps[j]; steps[j] = steps[j - 1]; steps[j - 1] = t; }
    *steps_out = steps;
    return n;
}

char *pt_ckpt_latest(const char *dir) {
    int64_t *steps;
    int n = list_steps(dir, &steps);
    char *r = n ? pt_strdup(pt_ckpt_path(dir, steps[n - 1])) : NULL;
    free(steps);
    return r;
}

void pt_ckpt_prune(const char *dir, int keep) {
    if (keep <= 0) return;
    int64_t *steps;
    int n = list_steps(dir, &steps);
    for (int i = 0; i + keep < n; i++) {
        const char *p = pt_ckpt_path(dir, steps[i]);
        if (unlink(p) != 0) PT_WARN("could not remove old checkpoint '%s'", p);
    }
    free(steps);
}

int pt_ckpt_clean_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "step-", 5) != 0 || !strstr(de->d_name, ".safetensors.tmp.")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (unlink(path) == 0) n++;
        else PT_WARN("could not remove the leftover temporary '%s'", path);
    }
    closedir(d);
    return n;
}

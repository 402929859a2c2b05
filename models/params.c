// params.c — named parameters in one flat allocation; loading by name.
#include "models/params.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tensor_internal.h"
#include "tools/check.h"

typedef struct name_index { int *slots; int n_slots; } name_index;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ull; }
    return h;
}
static void index_rebuild(pt_params *p) {
    name_index *ix = p->index;
    if (!ix) { ix = pt_calloc(1, sizeof *ix); p->index = ix; }
    free(ix->slots);
    ix->n_slots = 16;
    while (ix->n_slots < 2 * p->cap) ix->n_slots *= 2;
    ix->slots = pt_malloc(sizeof(int) * (size_t)ix->n_slots);
    for (int i = 0; i < ix->n_slots; i++) ix->slots[i] = -1;
    for (int i = 0; i < p->n; i++) {
        uint64_t h = hash_str(p->e[i].name) & (uint64_t)(ix->n_slots - 1);
        while (ix->slots[h] >= 0) h = (h + 1) & (uint64_t)(ix->n_slots - 1);
        ix->slots[h] = i;
    }
}

void pt_params_init(pt_params *p, pt_device dev, pt_dtype dt) {
    memset(p, 0, sizeof *p);
    p->device = dev;
    p->dtype = dt;
}

pt_param_entry *pt_params_find(const pt_params *p, const char *name) {
    name_index *ix = p->index;
    if (!ix || !p->n) return NULL;
    uint64_t h = hash_str(name) & (uint64_t)(ix->n_slots - 1);
    while (ix->slots[h] >= 0) {
        if (strcmp(p->e[ix->slots[h]].name, name) == 0) return &p->e[ix->slots[h]];
        h = (h + 1) & (uint64_t)(ix->n_slots - 1);
    }
    return NULL;
}

pt_tensor *pt_params_add(pt_params *p, const char *name, int ndim, const int64_t *shape) {
    PT_CHECKF(!p->finalized, "pt_params_add('%s') after finalize", name);
    if (pt_params_find(p, name)) PT_RUNTIME("parameter '%s' defined twice (model construction bug)", name);
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 256;
        p->e = pt_realloc(p->e, sizeof(pt_param_entry) * (size_t)p->cap);
        p->n++;   // rebuild with room, then fill the new entry below
        p->n--;
    }
    pt_param_entry *e = &p->e[p->n++];
    memset(e, 0, sizeof *e);
    e->name = pt_strdup(name);
    // The struct exists now (shape known); storage is attached at finalize.
    e->t = pt_wrap(p->device, p->dtype, ndim, shape, NULL);
    pt_own(e->t);
    e->t->requires_grad = 1;
    e->t->is_param = 1;
    e->t->name = e->name;
    e->trainable = 1;
    e->no_decay = 0;
    e->offset = p->numel;
    p->numel += pt_numel(e->t);
    index_rebuild(p);
    return e->t;
}

void pt_params_finalize(pt_params *p) {
    PT_CHECKF(!p->finalized, "pt_params_finalize called twice");
    // trainable parameters first (the optimizer's contiguous prefix), then frozen ones
    int64_t off = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < p->n; i++)
            if (p->e[i].trainable == (pass == 0)) { p->e[i].offset = off; off += pt_numel(p->e[i].t); }
    p->numel_trainable = 0;
    for (int i = 0; i < p->n; i++) if (p->e[i].trainable) p->numel_trainable += pt_numel(p->e[i].t);
    int mark = pt_scope_begin();
    pt_tensor *flat = pt_own(pt_zeros(p->device, p->dtype, 1, (int64_t[]){p->numel > 0 ? p->numel : 1}));
    pt_scope_end(mark, NULL);
    p->data = flat->st->data;
    for (int i = 0; i < p->n; i++) {
        pt_tensor *t = p->e[i].t;
        free(t->st);              // placeholder from pt_wrap
        t->st = flat->st;
        flat->st->refs++;
        t->offset = p->e[i].offset;
    }
    pt_tensor_unref(flat);       // the parameters now hold the storage
    p->finalized = 1;
}

void pt_params_alloc_grad(pt_params *p) {
    PT_CHECKF(p->finalized, "pt_params_alloc_grad before finalize");
    if (p->grad) return;
    int mark = pt_scope_begin();
    pt_tensor *flat = pt_own(pt_zeros(p->device, PT_F32, 1, (int64_t[]){p->numel_trainable > 0 ? p->numel_trainable : 1}));
    pt_scope_end(mark, NULL);
    p->grad = flat->st->data;
    for (int i = 0; i < p->n; i++) {
        pt_tensor *t = p->e[i].t;
        if (!p->e[i].trainable) continue;
        pt_tensor *g = pt_own(pt_wrap(p->device, PT_F32, t->ndim, t->shape, NULL));
        free(g->st);
        g->st = flat->st;
        flat->st->refs++;
        g->offset = p->e[i].offset;
        if (t->grad) pt_tensor_unref(t->grad);
        t->grad = g;
    }
    pt_tensor_unref(flat);
}

void pt_params_zero_grad(pt_params *p) {
    if (!p->grad) return;
    int mark = pt_scope_begin();
    pt_tensor *flat = pt_wrap(p->device, PT_F32, 1, (int64_t[]){p->numel_trainable}, p->grad);
    pt_zero_(flat);
    pt_scope_end(mark, NULL);
}

void pt_params_free(pt_params *p) {
    for (int i = 0; i < p->n; i++) {
        pt_tensor_unref(p->e[i].t);
        free(p->e[i].name);
    }
    free(p->e);
    if (p->index) { free(((name_index *)p->index)->slots); free(p->index); }
    memset(p, 0, sizeof *p);
}

int64_t pt_params_count(const pt_params *p, int trainable_only) {
    int64_t n = 0;
    for (int i = 0; i < p->n; i++)
        if (!trainable_only || p->e[i].trainable) n += pt_numel(p->e[i].t);
    return n;
}

void pt_params_set_trainable(pt_params *p, const char *prefix, int on) {
    size_t n = strlen(prefix);
    for (int i = 0; i < p->n; i++)
        if (strncmp(p->e[i].name, prefix, n) == 0) {
            if (p->finalized && on && !p->e[i].trainable)
                PT_RUNTIME("parameter '%s' made trainable after the layout was fixed (set trainability before finalize)", p->e[i].name);
            p->e[i].trainable = on;
            p->e[i].t->requires_grad = on;
        }
}

void pt_params_mark_new(pt_params *p, const char *name) {
    pt_param_entry *e = pt_params_find(p, name);
    PT_CHECKF(e != NULL, "pt_params_mark_new: no parameter '%s'", name);
    e->is_new = 1;
}

// The caller's ignore callback may fail (PT_USAGE): free the bookkeeping before passing it on.
static int call_ignore(const pt_load_opts *o, const char *name, const pt_wtensor *t, const pt_weights *w, char *used) {
    volatile int ok = 0;
    PT_TRY { ok = o->ignore(name, t, w, o->ignore_ctx); }
    PT_CATCH { free(used); pt_weights_rethrow(); }
    PT_END_TRY;
    return ok;
}

void pt_params_load(pt_params *p, const pt_weights *w, const pt_load_opts *opts) {
    PT_CHECKF(p->finalized, "pt_params_load before finalize");
    pt_load_opts o = {0};
    if (opts) o = *opts;
    const char *pre = o.file_prefix ? o.file_prefix : "";
    char *used = pt_calloc((size_t)(w->n ? w->n : 1), 1);
    size_t only_n = o.only_prefix ? strlen(o.only_prefix) : 0;
    for (int i = 0; i < p->n; i++) {
        pt_param_entry *e = &p->e[i];
        if (o.only_prefix && strncmp(e->name, o.only_prefix, only_n) != 0) continue;
        char mapped[512], full[640];
        const char *nm = e->name;
        if (o.map) nm = o.map(e->name, mapped, sizeof mapped, o.map_ctx);
        if (!nm) continue;   // the map says: not stored in this file
        snprintf(full, sizeof full, "%s%s", pre, nm);
        const pt_wtensor *wt = pt_weights_find(w, full);
        if (!wt) {
            if (e->is_new || o.allow_missing) continue;
            free(used);
            PT_USAGE("%s: missing tensor '%s' (parameter '%s', shape %lld elements)", w->source, full, e->name,
                     (long long)pt_numel(e->t));
        }
        used[wt - w->t] = 1;
        // Shapes must match exactly, except [C, C, 1, 1] <-> [C, C] (1x1 conv vs linear).
        int64_t n1 = pt_numel(e->t), n2 = pt_wtensor_numel(wt);
        int ok = n1 == n2;
        if (ok && wt->ndim == e->t->ndim)
            for (int d = 0; d < wt->ndim; d++) ok &= wt->shape[d] == e->t->shape[d];
        else if (ok) {
            // tolerate only trailing singleton differences
            int a = 0, b = 0;
            while (ok && (a < wt->ndim || b < e->t->ndim)) {
                int64_t x = a < wt->ndim ? wt->shape[a] : 1, y = b < e->t->ndim ? e->t->shape[b] : 1;
                if (x == y) { a++; b++; }
                else if (x == 1 && a < wt->ndim) a++;
                else if (y == 1 && b < e->t->ndim) b++;
                else ok = 0;
            }
        }
        if (!ok) {
            char ws[96], ps[128];
            free(used);
            PT_USAGE("%s: tensor '%s' has shape %s, the model expects %s", w->source, full, pt_wtensor_shape_str(wt, ws, sizeof ws),
                     pt_shape_str(e->t, ps, sizeof ps));
        }
        float *tmp = pt_malloc(sizeof(float) * (size_t)(n1 ? n1 : 1));
        pt_weights_read_f32(wt, tmp);
        pt_copy_from_host_f32(e->t, tmp);
        free(tmp);
    }
    if (!o.allow_unexpected || o.ignore) {
        size_t pn = strlen(pre);
        for (int j = 0; j < w->n; j++) {
            if (used[j]) continue;
            if (pn && strncmp(w->t[j].name, pre, pn) != 0) continue;   // other models' tensors
            if (o.ignore) {
                if (call_ignore(&o, w->t[j].name + pn, &w->t[j], w, used) || o.allow_unexpected) continue;
            }
            free(used);
            PT_USAGE("%s: unexpected tensor '%s' (no parameter of the model takes it)", w->source, w->t[j].name);
        }
    }
    free(used);
}

void pt_params_init_random(pt_params *p, uint64_t seed) {
    PT_CHECKF(p->finalized, "pt_params_init_random before finalize");
    pt_rng rng;
    pt_rng_init(&rng, seed);
    for (int i = 0; i < p->n; i++) {
        pt_tensor *t = p->e[i].t;
        int64_t n = pt_numel(t);
        float *h = pt_malloc(sizeof(float) * (size_t)(n ? n : 1));
        const char *nm = p->e[i].name;
        size_t L = strlen(nm);
        int is_bias = L > 5 && strcmp(nm + L - 5, ".bias") == 0;
        if (t->ndim >= 2) {
            int64_t fan_in = n / t->shape[0];
            pt_rng_fill_normal(&rng, h, n, 0.0f, (float)(1.0 / sqrt((double)(fan_in > 0 ? fan_in : 1))));
        } else if (is_bias) {
            for (int64_t k = 0; k < n; k++) h[k] = 0.0f;
        } else {   // 1-D weights: norms (1), embeddings/class tokens (small normal)
            int is_norm = strstr(nm, "norm") != NULL;
            if (is_norm) for (int64_t k = 0; k < n; k++) h[k] = 1.0f;
            else pt_rng_fill_normal(&rng, h, n, 0.0f, 0.02f);
        }
        pt_copy_from_host_f32(t, h);
        free(h);
    }
}

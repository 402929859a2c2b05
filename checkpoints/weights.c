// weights.c — pt_weights container (hash index, owned maps/buffers) and format auto-detection.
#define _GNU_SOURCE
#include "checkpoints/weights.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "tools/check.h"
#include "tools/json.h"

// ---- container -----------------------------------------------------------------------------------
pt_weights *pt_weights_new(const char *source) {
    pt_weights *w = pt_calloc(1, sizeof *w);
    w->source = pt_strdup(source);
    return w;
}

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ull; }
    return h;
}

static void hash_insert(pt_weights *w, int i) {
    uint64_t m = (uint64_t)w->n_slots - 1;
    for (uint64_t h = hash_str(w->t[i].name) & m;; h = (h + 1) & m)
        if (w->slots[h] < 0) { w->slots[h] = i; return; }
}

static void hash_rebuild(pt_weights *w, int want) {
    int ns = 16;
    while (ns < 2 * want) ns *= 2;
    free(w->slots);
    w->slots = pt_malloc((size_t)ns * sizeof(int));
    for (int i = 0; i < ns; i++) w->slots[i] = -1;
    w->n_slots = ns;
    for (int i = 0; i < w->n; i++) hash_insert(w, i);
}

const pt_wtensor *pt_weights_find(const pt_weights *w, const char *name) {
    if (!w->n_slots) return NULL;
    uint64_t m = (uint64_t)w->n_slots - 1;
    for (uint64_t h = hash_str(name) & m;; h = (h + 1) & m) {
        int i = w->slots[h];
        if (i < 0) return NULL;
        if (strcmp(w->t[i].name, name) == 0) return &w->t[i];
    }
}

const pt_wtensor *pt_weights_get(const pt_weights *w, const char *name) {
    const pt_wtensor *t = pt_weights_find(w, name);
    if (!t) PT_USAGE("'%s' has no tensor named '%s' (%d tensors)", w->source, name, w->n);
    return t;
}

int64_t pt_wtensor_numel(const pt_wtensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

pt_wtensor *pt_weights_add(pt_weights *w, const char *name, pt_dtype dtype, int ndim, const int64_t *shape,
                           const void *data, size_t nbytes) {
    if (pt_weights_find(w, name)) PT_USAGE("'%s': tensor '%s' appears twice", w->source, name);
    if (ndim < 0 || ndim > PT_WEIGHTS_MAX_DIMS)
        PT_USAGE("'%s': tensor '%s' has %d dimensions (at most %d supported)", w->source, name, ndim,
                 PT_WEIGHTS_MAX_DIMS);
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->t = pt_realloc(w->t, (size_t)w->cap * sizeof(pt_wtensor));
    }
    pt_wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = pt_strdup(name);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->data = data;
    t->nbytes = nbytes;
    w->n++;
    if (2 * w->n > w->n_slots) hash_rebuild(w, w->n);
    else hash_insert(w, w->n - 1);
    return t;
}

void pt_weights_rename(pt_weights *w, int i, const char *new_name) {
    PT_CHECKF(i >= 0 && i < w->n, "pt_weights_rename: index %d out of range", i);
    if (strcmp(w->t[i].name, new_name) == 0) return;
    if (pt_weights_find(w, new_name))
        PT_USAGE("'%s': renaming '%s' to '%s' collides with an existing tensor", w->source, w->t[i].name, new_name);
    free(w->t[i].name);
    w->t[i].name = pt_strdup(new_name);
    hash_rebuild(w, w->n);
}

void pt_weights_own_map(pt_weights *w, void *map, size_t size) {
    w->maps = pt_realloc(w->maps, (size_t)(w->n_maps + 1) * sizeof(void *));
    w->map_sizes = pt_realloc(w->map_sizes, (size_t)(w->n_maps + 1) * sizeof(size_t));
    w->maps[w->n_maps] = map;
    w->map_sizes[w->n_maps] = size;
    w->n_maps++;
}

void *pt_weights_own_buf(pt_weights *w, void *buf) {
    if (w->n_bufs == w->cap_bufs) {
        w->cap_bufs = w->cap_bufs ? w->cap_bufs * 2 : 16;
        w->bufs = pt_realloc(w->bufs, (size_t)w->cap_bufs * sizeof(void *));
    }
    w->bufs[w->n_bufs++] = buf;
    return buf;
}

void pt_weights_add_meta(pt_weights *w, const char *key, const char *val) {
    w->meta_keys = pt_realloc(w->meta_keys, (size_t)(w->n_meta + 1) * sizeof(char *));
    w->meta_vals = pt_realloc(w->meta_vals, (size_t)(w->n_meta + 1) * sizeof(char *));
    w->meta_keys[w->n_meta] = pt_strdup(key);
    w->meta_vals[w->n_meta] = pt_strdup(val);
    w->n_meta++;
}

const char *pt_weights_meta(const pt_weights *w, const char *key) {
    for (int i = w->n_meta - 1; i >= 0; i--)
        if (strcmp(w->meta_keys[i], key) == 0) return w->meta_vals[i];
    return NULL;
}

void pt_weights_free(pt_weights *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->t[i].name);
    for (int i = 0; i < w->n_meta; i++) { free(w->meta_keys[i]); free(w->meta_vals[i]); }
    for (int i = 0; i < w->n_maps; i++) munmap(w->maps[i], w->map_sizes[i]);
    for (int i = 0; i < w->n_bufs; i++) free(w->bufs[i]);
    free(w->t); free(w->slots); free(w->maps); free(w->map_sizes); free(w->bufs);
    free(w->meta_keys); free(w->meta_vals); free(w->source);
    free(w);
}

void pt_weights_read_f32(const pt_wtensor *t, float *dst) {
    int64_t n = pt_wtensor_numel(t);
    if (t->dtype == PT_BOOL) {
        for (int64_t i = 0; i < n; i++) dst[i] = ((const uint8_t *)t->data)[i] ? 1.0f : 0.0f;
        return;
    }
    pt_convert_to_f32(t->dtype, t->data, dst, n);
}

const char *pt_wtensor_shape_str(const pt_wtensor *t, char *buf, size_t cap) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int d = 0; d < t->ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

void pt_weights_rethrow(void) {
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", pt_last_error());
    PT_FAIL(pt_last_error_code(), "%s", msg);
}

// ---- dtype strings -------------------------------------------------------------------------------
static const struct { const char *s; pt_dtype t; } ST_DTYPES[] = {
    {"F32", PT_F32}, {"F16", PT_F16}, {"BF16", PT_BF16}, {"F64", PT_F64},
    {"I64", PT_I64}, {"I32", PT_I32}, {"U8", PT_U8}, {"BOOL", PT_BOOL},
};

int pt_st_dtype_from_str(const char *s) {
    for (size_t i = 0; i < sizeof ST_DTYPES / sizeof ST_DTYPES[0]; i++)
        if (strcmp(ST_DTYPES[i].s, s) == 0) return (int)ST_DTYPES[i].t;
    return -1;
}

const char *pt_st_dtype_str(pt_dtype t) {
    for (size_t i = 0; i < sizeof ST_DTYPES / sizeof ST_DTYPES[0]; i++)
        if (ST_DTYPES[i].t == t) return ST_DTYPES[i].s;
    return "?";
}

// ---- auto-detection ------------------------------------------------------------------------------
static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static int is_file(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISREG(st.st_mode); }

static void load_file_into(pt_weights *w, const char *path);
static void load_path_into(pt_weights *w, const char *path, int is_dir);

// *.index.json: {"metadata": {...}, "weight_map": {tensor: shard file}}; shards relative to the index.
static void load_index_into(pt_weights *w, const char *path) {
    pt_json *j = pt_json_parse_file(path);
    PT_TRY {
        const pt_json *map = pt_json_get(j, "weight_map");
        if (!map || map->type != PT_JSON_OBJ)
            PT_USAGE("%s: sharded index has no \"weight_map\" object", path);
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) slash[1] = 0; else dir[0] = 0;
        for (int i = 0; i < map->n; i++) {
            const pt_json *v = &map->items[i];
            if (v->type != PT_JSON_STR)
                PT_USAGE("%s:%d: weight_map entry \"%s\" must be a file name string", path, v->line, map->keys[i]);
            if (strchr(v->str, '/') || strcmp(v->str, "..") == 0)
                PT_USAGE("%s:%d: shard name '%s' must be a plain file name in the index's folder", path, v->line, v->str);
            int seen = 0;
            for (int k = 0; k < i && !seen; k++) seen = strcmp(map->items[k].str, v->str) == 0;
            if (seen) continue;
            char shard[8192];
            snprintf(shard, sizeof shard, "%s%s", dir, v->str);
            if (!is_file(shard)) PT_USAGE("%s: shard '%s' (holding '%s') does not exist", path, shard, map->keys[i]);
            load_file_into(w, shard);
        }
        for (int i = 0; i < map->n; i++)
            if (!pt_weights_find(w, map->keys[i]))
                PT_USAGE("%s: tensor '%s' is listed in weight_map (shard '%s') but that shard does not hold it",
                         path, map->keys[i], map->items[i].str);
    } PT_CATCH {
        pt_json_free(j);
        pt_weights_rethrow();
    } PT_END_TRY;
    pt_json_free(j);
}

static void load_file_into(pt_weights *w, const char *path) {
    if (ends_with(path, ".index.json")) { load_index_into(w, path); return; }
    FILE *f = pt_fopen(path, "rb");
    unsigned char magic[8] = {0};
    size_t got = fread(magic, 1, 8, f);
    pt_fclose(f, path);
    if (got >= 4 && memcmp(magic, "PK\x03\x04", 4) == 0) { pt_weights_load_torch_into(w, path); return; }
    if (got >= 8 && memcmp(magic, "\x89HDF\r\n\x1a\n", 8) == 0)
        PT_USAGE("'%s' is an HDF5 file (a posetune training checkpoint?), not a weights file; "
                 "use 'posetune export' to turn it into safetensors", path);
    if (got >= 4 && memcmp(magic, "\x80\x02\x8a\x0a", 4) == 0)  // PROTO 2, LONG1 magic number
        PT_USAGE("'%s' is a legacy (pre-1.6, non-zip) torch.save file: not supported; re-save it with "
                 "torch.save(..., _use_new_zipfile_serialization=True) or convert it to safetensors", path);
    pt_weights_load_safetensors_into(w, path);
}

pt_weights *pt_weights_load(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) PT_USAGE("cannot open weights '%s': %s", path, strerror(errno));
    pt_weights *w = pt_weights_new(path);
    PT_TRY {
        load_path_into(w, path, S_ISDIR(st.st_mode));
    } PT_CATCH {
        pt_weights_free(w);   // unmaps and frees what was loaded before the failure
        pt_weights_rethrow();
    } PT_END_TRY;
    return w;
}

static void load_path_into(pt_weights *w, const char *path, int is_dir) {
    if (is_dir) {
        static const char *CANDIDATES[] = {
            "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json",
            "model.safetensors", "model.safetensors.index.json",
            "diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.fp16.safetensors.index.json",
            "model.fp16.safetensors",
            "diffusion_pytorch_model.bin", "diffusion_pytorch_model.bin.index.json",
            "pytorch_model.bin", "pytorch_model.bin.index.json",
        };
        int n = (int)(sizeof CANDIDATES / sizeof CANDIDATES[0]);
        for (int i = 0; i < n; i++) {
            char p[8192];
            snprintf(p, sizeof p, "%s/%s", path, CANDIDATES[i]);
            if (is_file(p)) { load_file_into(w, p); return; }
        }
        PT_USAGE("folder '%s' holds no weights file (looked for diffusion_pytorch_model.safetensors, "
                 "model.safetensors, their .index.json and fp16 variants, and the .bin files)", path);
    }
    load_file_into(w, path);
}

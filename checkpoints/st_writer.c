// st_writer.c — safetensors writer (byte-compatible with the python library) and sharded output.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/weights.h"
#include "tools/check.h"
#include "tools/json.h"

typedef struct st_entry {
    char *name;
    pt_dtype dtype;
    int ndim;
    int64_t shape[PT_WEIGHTS_MAX_DIMS];
    void *data; size_t nbytes;
    int order;   // insertion order
} st_entry;

struct pt_st_writer {
    st_entry *e; int n, cap;
    char **mkeys, **mvals; int n_meta;
};

pt_st_writer *pt_st_writer_new(void) { return pt_calloc(1, sizeof(pt_st_writer)); }

static int is_float(pt_dtype t) { return t == PT_F32 || t == PT_F16 || t == PT_BF16 || t == PT_F64; }

static int64_t int_at(pt_dtype t, const void *p, int64_t i) {
    switch (t) {
    case PT_I64: return ((const int64_t *)p)[i];
    case PT_I32: return ((const int32_t *)p)[i];
    case PT_U8: return ((const uint8_t *)p)[i];
    case PT_BOOL: return ((const uint8_t *)p)[i] != 0;
    default: return 0;
    }
}
static void int_put(pt_dtype t, void *p, int64_t i, int64_t v) {
    switch (t) {
    case PT_I64: ((int64_t *)p)[i] = v; break;
    case PT_I32: ((int32_t *)p)[i] = (int32_t)v; break;
    case PT_U8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case PT_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    default: break;
    }
}

// dst (n elements of dt) <- src (n elements of st)
static void convert(pt_dtype dt, void *dst, pt_dtype st, const void *src, int64_t n, const char *name) {
    if (dt == st) { memcpy(dst, src, (size_t)n * pt_dtype_size(dt)); return; }
    if (is_float(dt) && is_float(st)) {
        if (dt == PT_F64) {  // f16/bf16/f32 -> f64 is exact
            float *tmp = pt_malloc((size_t)n * 4);
            pt_convert_to_f32(st, src, tmp, n);
            for (int64_t i = 0; i < n; i++) ((double *)dst)[i] = tmp[i];
            free(tmp);
            return;
        }
        float *tmp = pt_malloc((size_t)n * 4);
        if (st == PT_F64) for (int64_t i = 0; i < n; i++) tmp[i] = (float)((const double *)src)[i];
        else pt_convert_to_f32(st, src, tmp, n);
        pt_convert_from_f32(dt, tmp, dst, n);
        free(tmp);
        return;
    }
    if (!is_float(dt) && !is_float(st)) {
        for (int64_t i = 0; i < n; i++) int_put(dt, dst, i, int_at(st, src, i));
        return;
    }
    PT_USAGE("safetensors writer: tensor '%s': cannot convert %s to %s", name, pt_dtype_name(st), pt_dtype_name(dt));
}

void pt_st_writer_add(pt_st_writer *wr, const char *name, pt_dtype file_dtype, int ndim, const int64_t *shape,
                      pt_dtype src_dtype, const void *src) {
    if (pt_st_dtype_str(file_dtype)[0] == '?')
        PT_USAGE("safetensors writer: tensor '%s': dtype %s cannot be stored", name, pt_dtype_name(file_dtype));
    if (ndim < 0 || ndim > PT_WEIGHTS_MAX_DIMS) PT_USAGE("safetensors writer: tensor '%s': %d dims", name, ndim);
    for (int i = 0; i < wr->n; i++)
        if (strcmp(wr->e[i].name, name) == 0) PT_USAGE("safetensors writer: tensor '%s' added twice", name);
    if (wr->n == wr->cap) {
        wr->cap = wr->cap ? wr->cap * 2 : 64;
        wr->e = pt_realloc(wr->e, (size_t)wr->cap * sizeof(st_entry));
    }
    st_entry *e = &wr->e[wr->n];
    memset(e, 0, sizeof *e);
    e->name = pt_strdup(name);
    e->dtype = file_dtype;
    e->ndim = ndim;
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) { e->shape[d] = shape[d]; numel *= shape[d]; }
    e->nbytes = (size_t)numel * pt_dtype_size(file_dtype);
    e->data = pt_malloc(e->nbytes);
    if (numel) convert(file_dtype, e->data, src_dtype, src, numel, name);
    e->order = wr->n;
    wr->n++;
}

void pt_st_writer_meta(pt_st_writer *wr, const char *key, const char *value) {
    for (int i = 0; i < wr->n_meta; i++)
        if (strcmp(wr->mkeys[i], key) == 0) { free(wr->mvals[i]); wr->mvals[i] = pt_strdup(value); return; }
    wr->mkeys = pt_realloc(wr->mkeys, (size_t)(wr->n_meta + 1) * sizeof(char *));
    wr->mvals = pt_realloc(wr->mvals, (size_t)(wr->n_meta + 1) * sizeof(char *));
    wr->mkeys[wr->n_meta] = pt_strdup(key);
    wr->mvals[wr->n_meta] = pt_strdup(value);
    wr->n_meta++;
}

// Position of a dtype in the safetensors Dtype enum (the library sorts by it, descending).
static int st_rank(pt_dtype t) {
    switch (t) {
    case PT_BOOL: return 0;  case PT_U8: return 4;   case PT_F16: return 11; case PT_BF16: return 12;
    case PT_I32: return 13;  case PT_F32: return 15; case PT_F64: return 16; case PT_I64: return 17;
    default: return -1;
    }
}

static int entry_cmp(const void *a, const void *b) {
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    int rx = st_rank(x->dtype), ry = st_rank(y->dtype);
    if (rx != ry) return ry - rx;
    return strcmp(x->name, y->name);
}
static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Writes the entries es[0..n) (any order; sorted here) to path atomically.
static void write_entries(pt_st_writer *wr, st_entry **es, int n, const char *path, int with_meta) {
    qsort(es, (size_t)n, sizeof *es, entry_cmp);
    pt_jbuf b = {0};
    pt_jbuf_obj_begin(&b);
    if (with_meta && wr->n_meta) {
        char **keys = pt_malloc((size_t)wr->n_meta * sizeof(char *));
        for (int i = 0; i < wr->n_meta; i++) keys[i] = wr->mkeys[i];
        qsort(keys, (size_t)wr->n_meta, sizeof *keys, str_cmp);
        pt_jbuf_key(&b, "__metadata__");
        pt_jbuf_obj_begin(&b);
        for (int i = 0; i < wr->n_meta; i++)
            for (int k = 0; k < wr->n_meta; k++)
                if (wr->mkeys[k] == keys[i]) { pt_jbuf_key(&b, keys[i]); pt_jbuf_str(&b, wr->mvals[k]); }
        pt_jbuf_obj_end(&b);
        free(keys);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        pt_jbuf_key(&b, es[i]->name);
        pt_jbuf_obj_begin(&b);
        pt_jbuf_key(&b, "dtype"); pt_jbuf_str(&b, pt_st_dtype_str(es[i]->dtype));
        pt_jbuf_key(&b, "shape"); pt_jbuf_arr_begin(&b);
        for (int d = 0; d < es[i]->ndim; d++) pt_jbuf_int(&b, es[i]->shape[d]);
        pt_jbuf_arr_end(&b);
        pt_jbuf_key(&b, "data_offsets"); pt_jbuf_arr_begin(&b);
        pt_jbuf_int(&b, (int64_t)off); pt_jbuf_int(&b, (int64_t)(off + es[i]->nbytes));
        pt_jbuf_arr_end(&b);
        pt_jbuf_obj_end(&b);
        off += es[i]->nbytes;
    }
    pt_jbuf_obj_end(&b);
    char *hdr = pt_jbuf_take(&b);
    size_t hlen = strlen(hdr), padded = (hlen + 7) / 8 * 8;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    pt_atomic_file af;
    pt_atomic_open(&af, path);
    pt_fwrite(len8, 1, 8, af.f, af.tmp_path);
    pt_fwrite(hdr, 1, hlen, af.f, af.tmp_path);
    for (size_t i = hlen; i < padded; i++) pt_fwrite(" ", 1, 1, af.f, af.tmp_path);
    for (int i = 0; i < n; i++) pt_fwrite(es[i]->data, 1, es[i]->nbytes, af.f, af.tmp_path);
    pt_atomic_commit(&af);
    free(hdr);
}

void pt_st_writer_write(pt_st_writer *wr, const char *path) {
    st_entry **es = pt_malloc((size_t)(wr->n + 1) * sizeof(st_entry *));
    for (int i = 0; i < wr->n; i++) es[i] = &wr->e[i];
    write_entries(wr, es, wr->n, path, 1);
    free(es);
}

int pt_st_writer_write_sharded(pt_st_writer *wr, const char *dir, const char *stem, size_t max_shard_bytes) {
    pt_mkdirs(dir);
    int *shard_of = pt_malloc((size_t)(wr->n + 1) * sizeof(int));
    int n_shards = 0;
    size_t cur = 0, total = 0;
    for (int i = 0; i < wr->n; i++) {  // greedy in insertion order (huggingface_hub's splitter)
        size_t sz = wr->e[i].nbytes;
        if (n_shards == 0 || (cur > 0 && cur + sz > max_shard_bytes)) { n_shards++; cur = 0; }
        shard_of[i] = n_shards - 1;
        cur += sz;
        total += sz;
    }
    char path[8192];
    if (n_shards <= 1) {
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, stem);
        pt_st_writer_write(wr, path);
        free(shard_of);
        return 1;
    }
    st_entry **es = pt_malloc((size_t)wr->n * sizeof(st_entry *));
    char (*fname)[512] = pt_malloc((size_t)n_shards * 512);
    for (int s = 0; s < n_shards; s++) {
        int n = 0;
        for (int i = 0; i < wr->n; i++) if (shard_of[i] == s) es[n++] = &wr->e[i];
        snprintf(fname[s], 512, "%s-%05d-of-%05d.safetensors", stem, s + 1, n_shards);
        snprintf(path, sizeof path, "%s/%s", dir, fname[s]);
        write_entries(wr, es, n, path, 1);
    }
    // index: weight_map sorted by tensor name
    pt_jbuf b = {0};
    b.indent = 2;
    pt_jbuf_obj_begin(&b);
    pt_jbuf_key(&b, "metadata"); pt_jbuf_obj_begin(&b);
    pt_jbuf_key(&b, "total_size"); pt_jbuf_int(&b, (int64_t)total);
    pt_jbuf_obj_end(&b);
    pt_jbuf_key(&b, "weight_map"); pt_jbuf_obj_begin(&b);
    char **names = pt_malloc((size_t)wr->n * sizeof(char *));
    for (int i = 0; i < wr->n; i++) names[i] = wr->e[i].name;
    qsort(names, (size_t)wr->n, sizeof *names, str_cmp);
    for (int i = 0; i < wr->n; i++) {
        int k = 0;
        while (wr->e[k].name != names[i]) k++;
        pt_jbuf_key(&b, names[i]);
        pt_jbuf_str(&b, fname[shard_of[k]]);
    }
    pt_jbuf_obj_end(&b);
    pt_jbuf_obj_end(&b);
    char *text = pt_jbuf_take(&b);
    snprintf(path, sizeof path, "%s/%s.safetensors.index.json", dir, stem);
    pt_atomic_file af;
    pt_atomic_open(&af, path);
    pt_fwrite(text, 1, strlen(text), af.f, af.tmp_path);
    pt_fwrite("\n", 1, 1, af.f, af.tmp_path);
    pt_atomic_commit(&af);
    free(text); free(names); free(fname); free(es); free(shard_of);
    return n_shards;
}

void pt_st_writer_free(pt_st_writer *wr) {
    if (!wr) return;
    for (int i = 0; i < wr->n; i++) { free(wr->e[i].name); free(wr->e[i].data); }
    for (int i = 0; i < wr->n_meta; i++) { free(wr->mkeys[i]); free(wr->mvals[i]); }
    free(wr->e); free(wr->mkeys); free(wr->mvals);
    free(wr);
}

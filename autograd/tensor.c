// tensor.c — tensor structs, storage, refcounts and scopes, host/device copies.
#include "autograd/tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "autograd/tensor_internal.h"
#include "autograd/tensor_cuda.h"
#include "tools/check.h"

// ------------------------------------------------------------------ host memory accounting
static size_t g_host_in_use = 0, g_host_peak = 0;
static int64_t g_live_tensors = 0;
size_t pt_host_bytes_in_use(void) { return g_host_in_use; }
size_t pt_host_peak_bytes(void) { return g_host_peak; }
int64_t pt_live_tensors(void) { return g_live_tensors; }

static void *host_alloc(size_t bytes) {
    void *p = NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0)
        PT_RUNTIME("out of host memory allocating %.1f MiB", bytes / 1048576.0);
    g_host_in_use += bytes;
    if (g_host_in_use > g_host_peak) g_host_peak = g_host_in_use;
    return p;
}
static void host_free(void *p, size_t bytes) { free(p); g_host_in_use -= bytes; }

static pt_storage *storage_new(pt_device dev, size_t bytes) {
    pt_storage *s = pt_calloc(1, sizeof *s);
    s->bytes = bytes;
    s->device = dev;
    s->refs = 1;
    if (dev == PT_CPU) s->data = host_alloc(bytes);
    else {
#ifdef POSETUNE_HAVE_CUDA
        s->data = pt_cuda_alloc(bytes);
#else
        PT_USAGE("this posetune was built without CUDA; use device cpu");
#endif
    }
    return s;
}
static void storage_unref(pt_storage *s) {
    if (!s || --s->refs > 0) return;
    if (!s->external) {
        if (s->device == PT_CPU) host_free(s->data, s->bytes);
#ifdef POSETUNE_HAVE_CUDA
        else pt_cuda_free(s->data, s->bytes);
#endif
    }
    free(s);
}

// ------------------------------------------------------------------ scopes
static _Thread_local pt_tensor **g_scope = NULL;
static _Thread_local int g_scope_n = 0, g_scope_cap = 0;

static void scope_push(pt_tensor *t) {
    if (g_scope_n == g_scope_cap) {
        g_scope_cap = g_scope_cap ? 2 * g_scope_cap : 1024;
        g_scope = pt_realloc(g_scope, sizeof(pt_tensor *) * (size_t)g_scope_cap);
    }
    g_scope[g_scope_n++] = t;
}
static int scope_remove(pt_tensor *t) {
    for (int i = g_scope_n - 1; i >= 0; i--)
        if (g_scope[i] == t) {
            memmove(&g_scope[i], &g_scope[i + 1], sizeof(pt_tensor *) * (size_t)(g_scope_n - i - 1));
            g_scope_n--;
            return 1;
        }
    return 0;
}

// ------------------------------------------------------------------ struct lifetime
static void unref_data(pt_tensor *t);
static void tensor_free_struct(pt_tensor *t) {
    if (t->grad) { pt_tensor *g = t->grad; t->grad = NULL; unref_data(g); }
    g_live_tensors--;
    free(t);
}
static void unref_data(pt_tensor *t) {
    PT_ASSERT(t->refs > 0);
    if (--t->refs > 0) return;
    storage_unref(t->st);
    t->st = NULL;
    if (t->meta_refs == 0) tensor_free_struct(t);
}
void pt_tensor_meta_retain(pt_tensor *t) { t->meta_refs++; }
void pt_tensor_meta_release(pt_tensor *t) {
    PT_ASSERT(t->meta_refs > 0);
    if (--t->meta_refs == 0 && t->refs == 0) tensor_free_struct(t);
}

void pt_tensor_unref(pt_tensor *t) { unref_data(t); }
void pt_retain(pt_tensor *t) { PT_ASSERT(t->refs > 0); t->refs++; }
void pt_release(pt_tensor *t) {
    if (!t) return;
    scope_remove(t);
    unref_data(t);
}
int pt_scope_begin(void) { return g_scope_n; }
void pt_scope_end_keep(int mark, pt_tensor **keep, int n_keep) {
    PT_ASSERT(mark <= g_scope_n);
    for (int k = 0; k < n_keep; k++) if (keep[k]) keep[k]->refs++;
    while (g_scope_n > mark) unref_data(g_scope[--g_scope_n]);
    for (int k = 0; k < n_keep; k++) if (keep[k]) scope_push(keep[k]);
}
pt_tensor *pt_scope_end(int mark, pt_tensor *keep) {
    pt_scope_end_keep(mark, &keep, 1);
    return keep;
}
pt_tensor *pt_own(pt_tensor *t) { scope_remove(t); return t; }

// ------------------------------------------------------------------ creation
static pt_tensor *tensor_struct(pt_device dev, pt_dtype dt, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > PT_MAX_DIMS) PT_RUNTIME("tensor with %d dims (max %d)", ndim, PT_MAX_DIMS);
    pt_tensor *t = pt_calloc(1, sizeof *t);
    g_live_tensors++;
    t->ndim = ndim;
    t->dtype = dt;
    t->device = dev;
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        if (shape[d] < 0) PT_RUNTIME("negative dimension %lld", (long long)shape[d]);
        t->shape[d] = shape[d];
        t->stride[d] = s;
        s *= shape[d];
    }
    t->refs = 1;
    return t;
}

pt_tensor *pt_empty(pt_device dev, pt_dtype dt, int ndim, const int64_t *shape) {
    pt_tensor *t = tensor_struct(dev, dt, ndim, shape);
    t->st = storage_new(dev, pt_nbytes(t));
    scope_push(t);
    return t;
}
pt_tensor *pt_wrap(pt_device dev, pt_dtype dt, int ndim, const int64_t *shape, void *data) {
    pt_tensor *t = tensor_struct(dev, dt, ndim, shape);
    t->st = pt_calloc(1, sizeof(pt_storage));
    t->st->data = data; t->st->bytes = pt_nbytes(t); t->st->device = dev; t->st->refs = 1; t->st->external = 1;
    scope_push(t);
    return t;
}
pt_tensor *pt_zeros(pt_device dev, pt_dtype dt, int ndim, const int64_t *shape) {
    pt_tensor *t = pt_empty(dev, dt, ndim, shape);
    pt_zero_(t);
    return t;
}
pt_tensor *pt_full(pt_device dev, pt_dtype dt, int ndim, const int64_t *shape, float v) {
    pt_tensor *t = pt_empty(dev, dt, ndim, shape);
    pt_fill_(t, v);
    return t;
}
pt_tensor *pt_empty_like(const pt_tensor *t) { return pt_empty(t->device, t->dtype, t->ndim, t->shape); }
pt_tensor *pt_zeros_like(const pt_tensor *t) { return pt_zeros(t->device, t->dtype, t->ndim, t->shape); }

pt_tensor *pt_from_f32(pt_device dev, pt_dtype dt, int ndim, const int64_t *shape, const float *src) {
    pt_tensor *t = pt_empty(dev, dt, ndim, shape);
    pt_copy_from_host_f32(t, src);
    return t;
}
pt_tensor *pt_from_i64(pt_device dev, int ndim, const int64_t *shape, const int64_t *src) {
    pt_tensor *t = pt_empty(dev, PT_I64, ndim, shape);
    if (dev == PT_CPU) memcpy(pt_data(t), src, pt_nbytes(t));
#ifdef POSETUNE_HAVE_CUDA
    else pt_cuda_memcpy_h2d(pt_data(t), src, pt_nbytes(t));
#endif
    return t;
}

static void fill_random(pt_tensor *t, pt_rng *rng, int normal, float a, float b) {
    int64_t n = pt_numel(t);
    if (normal && (rng->offset & 1)) rng->offset++;
    if (t->device == PT_CPU && t->dtype == PT_F32) {
        float *p = pt_f32(t);
        for (int64_t i = 0; i < n; i++)
            p[i] = normal ? a + b * pt_rng_normal_at(rng->seed, rng->offset + (uint64_t)i)
                          : a + (b - a) * pt_rng_uniform_at(rng->seed, rng->offset + (uint64_t)i);
    } else if (t->device == PT_CPU) {
        float *tmp = pt_malloc(sizeof(float) * (size_t)n);
        for (int64_t i = 0; i < n; i++)
            tmp[i] = normal ? a + b * pt_rng_normal_at(rng->seed, rng->offset + (uint64_t)i)
                            : a + (b - a) * pt_rng_uniform_at(rng->seed, rng->offset + (uint64_t)i);
        pt_convert_from_f32(t->dtype, tmp, pt_data(t), n);
        free(tmp);
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_cuda_fill_random(pt_data(t), t->dtype, n, rng->seed, rng->offset, normal, a, b);
#endif
    }
    rng->offset += (uint64_t)n + (normal ? ((uint64_t)n & 1) : 0);
}
pt_tensor *pt_randn(pt_device dev, pt_dtype dt, int ndim, const int64_t *shape, pt_rng *rng) {
    pt_tensor *t = pt_empty(dev, dt, ndim, shape);
    fill_random(t, rng, 1, 0.0f, 1.0f);
    return t;
}
pt_tensor *pt_rand_uniform(pt_device dev, pt_dtype dt, int ndim, const int64_t *shape, pt_rng *rng, float lo, float hi) {
    pt_tensor *t = pt_empty(dev, dt, ndim, shape);
    fill_random(t, rng, 0, lo, hi);
    return t;
}

// ------------------------------------------------------------------ queries
int64_t pt_numel(const pt_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}
size_t pt_nbytes(const pt_tensor *t) { return (size_t)pt_numel(t) * pt_dtype_size(t->dtype); }
int pt_is_contiguous(const pt_tensor *t) {
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != s) return 0;
        s *= t->shape[d];
    }
    return 1;
}
int pt_same_shape(const pt_tensor *a, const pt_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++) if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}
void *pt_data(const pt_tensor *t) {
    PT_CHECKF(t->st != NULL, "tensor %s: data was already released", t->name ? t->name : "");
    return (char *)t->st->data + (size_t)t->offset * pt_dtype_size(t->dtype);
}
float *pt_f32(const pt_tensor *t) {
    PT_CHECKF(t->device == PT_CPU && t->dtype == PT_F32, "pt_f32: tensor is %s on %s, expected f32 on cpu",
              pt_dtype_name(t->dtype), t->device == PT_CPU ? "cpu" : "cuda");
    return (float *)pt_data(t);
}
int64_t pt_size(const pt_tensor *t, int dim) {
    if (dim < 0) dim += t->ndim;
    PT_CHECKF(dim >= 0 && dim < t->ndim, "dimension %d out of range for a %d-dim tensor", dim, t->ndim);
    return t->shape[dim];
}
const char *pt_shape_str(const pt_tensor *t, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "(");
    for (int d = 0; d < t->ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (k < n) snprintf(buf + k, n - k, ") %s %s", pt_dtype_name(t->dtype), t->device == PT_CPU ? "cpu" : "cuda");
    return buf;
}

// ------------------------------------------------------------------ copies
// Strided CPU copy with dtype conversion: dst[idx] = src[idx] over `shape`.
static void cpu_copy_strided(void *dst, pt_dtype dd, const int64_t *dstride, const void *src, pt_dtype sd,
                             const int64_t *sstride, int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    int64_t idx[PT_MAX_DIMS] = {0};
    size_t ds = pt_dtype_size(dd), ss = pt_dtype_size(sd);
    for (int64_t i = 0; i < n; i++) {
        int64_t so = 0, doff = 0;
        for (int d = 0; d < ndim; d++) { so += idx[d] * sstride[d]; doff += idx[d] * dstride[d]; }
        const char *s = (const char *)src + so * (int64_t)ss;
        char *o = (char *)dst + doff * (int64_t)ds;
        if (dd == sd) memcpy(o, s, ds);
        else if (dd == PT_I64 || sd == PT_I64) {
            if (dd == PT_I64) { float f; pt_convert_to_f32(sd, s, &f, 1); *(int64_t *)o = (int64_t)f; }
            else { float f = (float)*(const int64_t *)s; pt_convert_from_f32(dd, &f, o, 1); }
        } else { float f; pt_convert_to_f32(sd, s, &f, 1); pt_convert_from_f32(dd, &f, o, 1); }
        for (int d = ndim - 1; d >= 0; d--) { if (++idx[d] < shape[d]) break; idx[d] = 0; }
    }
}

void pt_copy_(pt_tensor *dst, const pt_tensor *src) {
    if (!pt_same_shape(dst, src)) {
        char a[128], b[128];
        PT_RUNTIME("pt_copy_: shape mismatch %s <- %s", pt_shape_str(dst, a, sizeof a), pt_shape_str(src, b, sizeof b));
    }
    if (dst->device == PT_CPU && src->device == PT_CPU) {
        cpu_copy_strided(pt_data(dst), dst->dtype, dst->stride, pt_data(src), src->dtype, src->stride, src->ndim, src->shape);
        return;
    }
#ifdef POSETUNE_HAVE_CUDA
    if (dst->device == PT_CUDA && src->device == PT_CUDA) {
        pt_cuda_copy_strided(pt_data(dst), dst->dtype, dst->stride, pt_data(src), src->dtype, src->stride, src->ndim, src->shape);
        return;
    }
    // Cross-device: stage through a contiguous tensor of the source dtype on the source device.
    int mark = pt_scope_begin();
    pt_tensor *s = (pt_tensor *)src;
    if (!pt_is_contiguous(s)) { s = pt_empty(src->device, src->dtype, src->ndim, src->shape); pt_copy_(s, src); }
    pt_tensor *d = dst;
    if (!pt_is_contiguous(dst) || dst->dtype != src->dtype) d = pt_empty(dst->device, src->dtype, src->ndim, src->shape);
    if (src->device == PT_CPU) pt_cuda_memcpy_h2d(pt_data(d), pt_data(s), pt_nbytes(s));
    else pt_cuda_memcpy_d2h(pt_data(d), pt_data(s), pt_nbytes(s));
    if (d != dst) pt_copy_(dst, d);
    pt_scope_end(mark, NULL);
#else
    PT_USAGE("this posetune was built without CUDA; use device cpu");
#endif
}

void pt_copy_to_host_f32(const pt_tensor *t, float *dst) {
    int mark = pt_scope_begin();
    pt_tensor *h = pt_wrap(PT_CPU, PT_F32, t->ndim, t->shape, dst);
    pt_copy_(h, t);
    pt_scope_end(mark, NULL);
}
void pt_copy_from_host_f32(pt_tensor *t, const float *src) {
    int mark = pt_scope_begin();
    pt_tensor *h = pt_wrap(PT_CPU, PT_F32, t->ndim, t->shape, (void *)src);
    pt_copy_(t, h);
    pt_scope_end(mark, NULL);
}

void pt_fill_(pt_tensor *t, float v) {
    PT_CHECKF(pt_is_contiguous(t), "pt_fill_ needs a contiguous tensor");
    int64_t n = pt_numel(t);
    if (t->device == PT_CPU) {
        if (t->dtype == PT_F32) { float *p = pt_data(t); for (int64_t i = 0; i < n; i++) p[i] = v; }
        else if (t->dtype == PT_I64) { int64_t *p = pt_data(t); for (int64_t i = 0; i < n; i++) p[i] = (int64_t)v; }
        else if (v == 0.0f) memset(pt_data(t), 0, pt_nbytes(t));
        else { size_t es = pt_dtype_size(t->dtype); char one[8];
               pt_convert_from_f32(t->dtype, &v, one, 1);
               for (int64_t i = 0; i < n; i++) memcpy((char *)pt_data(t) + i * (int64_t)es, one, es); }
        return;
    }
#ifdef POSETUNE_HAVE_CUDA
    pt_cuda_fill(pt_data(t), t->dtype, n, v);
#endif
}
void pt_zero_(pt_tensor *t) { pt_fill_(t, 0.0f); }

pt_tensor *pt_clone_nograd(const pt_tensor *t, pt_device dev, pt_dtype dt) {
    pt_tensor *c = pt_empty(dev, dt, t->ndim, t->shape);
    pt_copy_(c, t);
    return c;
}

// ------------------------------------------------------------------ parameters
pt_tensor *pt_param_new(pt_device dev, pt_dtype dt, int ndim, const int64_t *shape, const char *name) {
    pt_tensor *t = tensor_struct(dev, dt, ndim, shape);
    t->st = storage_new(dev, pt_nbytes(t));
    t->requires_grad = 1;
    t->is_param = 1;
    t->name = name;
    return t;
}
void pt_param_set_requires_grad(pt_tensor *p, int on) { p->requires_grad = on; }

void pt_print(const pt_tensor *t, const char *label, int max_elems) {
    char buf[128];
    int64_t n = pt_numel(t);
    float *h = pt_malloc(sizeof(float) * (size_t)(n ? n : 1));
    pt_copy_to_host_f32(t, h);
    printf("%s %s:", label ? label : "", pt_shape_str(t, buf, sizeof buf));
    for (int64_t i = 0; i < n && i < max_elems; i++) printf(" %.6g", h[i]);
    printf(n > max_elems ? " ...\n" : "\n");
    free(h);
}

// pickle.c — restricted pickle VM for torch.save archives (see pickle.h): rebuilds dicts and
// tensors, executes nothing, refuses every GLOBAL outside a short allow-list.
#define _GNU_SOURCE
#include "checkpoints/pickle.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoints/weights.h"
#include "tools/check.h"

typedef enum { PV_NONE, PV_BOOL, PV_INT, PV_FLOAT, PV_STR, PV_TUPLE, PV_LIST, PV_DICT, PV_GLOBAL, PV_STORAGE,
               PV_TENSOR, PV_OPAQUE } pv_kind;
// GLOBAL codes
enum { G_ODICT = 1, G_REBUILD_V2, G_REBUILD, G_PARAM, G_STORAGE, G_INERT };

typedef struct pv {
    pv_kind kind;
    int64_t i;              // INT, BOOL; GLOBAL: G_* code; STORAGE: numel
    double f;
    char *s;                // STR; GLOBAL: "module.name"; STORAGE: key
    int n, cap;
    struct pv **a, **b;     // TUPLE/LIST items; DICT keys (a) and values (b)
    pt_dtype dtype;         // GLOBAL (storage class) and STORAGE
    struct pv *storage;     // TENSOR
    int64_t offset; int ndim; int64_t shape[PT_WEIGHTS_MAX_DIMS], stride[PT_WEIGHTS_MAX_DIMS];
} pv;

typedef struct vm {
    const char *path;       // archive path, for messages
    const uint8_t *p; size_t len, pos;
    pv **all; size_t n_all, cap_all;       // every value, freed at the end
    pv **stack; size_t sp, cap_stack;
    size_t *marks; size_t n_marks, cap_marks;
    pv **memo; size_t cap_memo, n_memo;   // n_memo: distinct indices stored (MEMOIZE's next)
} vm;

#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 2, 3)))
#endif
static void vfail(const vm *m, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    PT_USAGE("%s: data.pkl byte offset %zu: %s", m->path, m->pos, msg);
}

static pv *newv(vm *m, pv_kind k) {
    if (m->n_all == m->cap_all) {
        m->cap_all = m->cap_all ? m->cap_all * 2 : 256;
        m->all = pt_realloc(m->all, m->cap_all * sizeof(pv *));
    }
    pv *v = pt_calloc(1, sizeof *v);
    v->kind = k;
    m->all[m->n_all++] = v;
    return v;
}

static void push(vm *m, pv *v) {
    if (m->sp == m->cap_stack) {
        if (m->cap_stack >= (1u << 24)) vfail(m, "pickle stack deeper than %zu", m->cap_stack);
        m->cap_stack = m->cap_stack ? m->cap_stack * 2 : 64;
        m->stack = pt_realloc(m->stack, m->cap_stack * sizeof(pv *));
    }
    m->stack[m->sp++] = v;
}
static size_t floor_sp(const vm *m) { return m->n_marks ? m->marks[m->n_marks - 1] : 0; }
static pv *pop(vm *m) {
    if (m->sp <= floor_sp(m)) vfail(m, "pickle stack underflow");
    return m->stack[--m->sp];
}
static pv *top(vm *m) {
    if (m->sp <= floor_sp(m)) vfail(m, "pickle stack underflow");
    return m->stack[m->sp - 1];
}
static size_t pop_mark(vm *m) {
    if (!m->n_marks) vfail(m, "pickle opcode needs a MARK, none set");
    return m->marks[--m->n_marks];
}

static void append(pv *c, pv *x, pv *y) {
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->a = pt_realloc(c->a, (size_t)c->cap * sizeof(pv *));
        if (c->kind == PV_DICT) c->b = pt_realloc(c->b, (size_t)c->cap * sizeof(pv *));
    }
    c->a[c->n] = x;
    if (c->kind == PV_DICT) c->b[c->n] = y;
    c->n++;
}

static const uint8_t *take(vm *m, size_t n) {
    if (n > m->len - m->pos) vfail(m, "truncated pickle: wanted %zu bytes, %zu left", n, m->len - m->pos);
    const uint8_t *r = m->p + m->pos;
    m->pos += n;
    return r;
}
static uint64_t le(const uint8_t *b, int n) { uint64_t v = 0; for (int i = n - 1; i >= 0; i--) v = v << 8 | b[i]; return v; }

static pv *make_str(vm *m, const uint8_t *b, size_t n) {
    pv *v = newv(m, PV_STR);
    v->s = pt_malloc(n + 1);
    memcpy(v->s, b, n);
    v->s[n] = 0;
    return v;
}

static void memo_put(vm *m, uint64_t idx, pv *v) {
    if (idx >= (1u << 24)) vfail(m, "memo index %llu too large", (unsigned long long)idx);
    if (idx >= m->cap_memo) {
        size_t nc = m->cap_memo ? m->cap_memo : 64;
        while (nc <= idx) nc *= 2;
        m->memo = pt_realloc(m->memo, nc * sizeof(pv *));
        memset(m->memo + m->cap_memo, 0, (nc - m->cap_memo) * sizeof(pv *));
        m->cap_memo = nc;
    }
    if (!m->memo[idx]) m->n_memo++;
    m->memo[idx] = v;
}
static pv *memo_get(vm *m, uint64_t idx) {
    if (idx >= m->cap_memo || !m->memo[idx]) vfail(m, "memo index %llu was never stored", (unsigned long long)idx);
    return m->memo[idx];
}

// ---- globals ---------------------------------------------------------------------------------------
static const struct { const char *name; pt_dtype t; } STORAGES[] = {
    {"torch.FloatStorage", PT_F32}, {"torch.HalfStorage", PT_F16}, {"torch.BFloat16Storage", PT_BF16},
    {"torch.DoubleStorage", PT_F64}, {"torch.LongStorage", PT_I64}, {"torch.IntStorage", PT_I32},
    {"torch.ByteStorage", PT_U8}, {"torch.BoolStorage", PT_BOOL}, {"torch.UntypedStorage", PT_U8},
};
// Data-only classes seen in training checkpoints (Lightning callback state, numpy scalars):
// they become opaque values; nothing is executed and their contents are dropped.
static const char *INERT_PREFIXES[] = {
    "pytorch_lightning.callbacks.", "lightning.pytorch.callbacks.", "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar", "numpy.dtype", "copyreg._reconstructor", "builtins.object",
    "_codecs.encode", "torch.torch_version.TorchVersion", "collections.defaultdict", "builtins.set",
};

static pv *make_global(vm *m, const char *mod, const char *name) {
    char full[512];
    snprintf(full, sizeof full, "%s.%s", mod, name);
    pv *g = newv(m, PV_GLOBAL);
    g->s = pt_strdup(full);
    if (!strcmp(full, "collections.OrderedDict")) g->i = G_ODICT;
    else if (!strcmp(full, "torch._utils._rebuild_tensor_v2")) g->i = G_REBUILD_V2;
    else if (!strcmp(full, "torch._utils._rebuild_tensor")) g->i = G_REBUILD;
    else if (!strcmp(full, "torch._utils._rebuild_parameter") ||
             !strcmp(full, "torch._utils._rebuild_parameter_with_state")) g->i = G_PARAM;
    else {
        for (size_t k = 0; k < sizeof STORAGES / sizeof STORAGES[0]; k++)
            if (!strcmp(full, STORAGES[k].name)) { g->i = G_STORAGE; g->dtype = STORAGES[k].t; }
        for (size_t k = 0; !g->i && k < sizeof INERT_PREFIXES / sizeof INERT_PREFIXES[0]; k++)
            if (!strncmp(full, INERT_PREFIXES[k], strlen(INERT_PREFIXES[k]))) g->i = G_INERT;
    }
    if (!g->i) vfail(m, "refusing to execute pickle global '%s' (only tensors and dicts are rebuilt)", full);
    return g;
}

static int64_t as_int(vm *m, const pv *v, const char *what) {
    if (v->kind != PV_INT) vfail(m, "%s must be an int", what);
    return v->i;
}

static pv *rebuild_tensor(vm *m, const pv *args) {
    if (args->kind != PV_TUPLE || args->n < 4) vfail(m, "_rebuild_tensor: expected (storage, offset, size, stride, ...)");
    const pv *st = args->a[0], *size = args->a[2], *stride = args->a[3];
    if (st->kind != PV_STORAGE) vfail(m, "_rebuild_tensor: first argument is not a storage");
    if (size->kind != PV_TUPLE || stride->kind != PV_TUPLE || size->n != stride->n)
        vfail(m, "_rebuild_tensor: size and stride must be tuples of the same length");
    if (size->n > PT_WEIGHTS_MAX_DIMS) vfail(m, "tensor with %d dimensions (max %d)", size->n, PT_WEIGHTS_MAX_DIMS);
    pv *t = newv(m, PV_TENSOR);
    t->storage = (pv *)st;
    t->offset = as_int(m, args->a[1], "storage_offset");
    t->ndim = size->n;
    for (int d = 0; d < size->n; d++) {
        t->shape[d] = as_int(m, size->a[d], "size");
        t->stride[d] = as_int(m, stride->a[d], "stride");
        if (t->shape[d] < 0 || t->stride[d] < 0) vfail(m, "negative size or stride");
    }
    if (t->offset < 0) vfail(m, "negative storage_offset");
    return t;
}

static pv *call(vm *m, pv *fn, pv *args) {
    if (fn->kind == PV_OPAQUE) return newv(m, PV_OPAQUE);
    if (fn->kind != PV_GLOBAL) vfail(m, "REDUCE on a non-callable value");
    switch (fn->i) {
    case G_ODICT: return newv(m, PV_DICT);
    case G_REBUILD_V2: case G_REBUILD: return rebuild_tensor(m, args);
    case G_PARAM:
        if (args->kind != PV_TUPLE || args->n < 1 || args->a[0]->kind != PV_TENSOR)
            vfail(m, "_rebuild_parameter: expected a tensor argument");
        return args->a[0];
    case G_INERT: return newv(m, PV_OPAQUE);
    default: vfail(m, "refusing to call '%s'", fn->s);
    }
}

static pv *persistent_load(vm *m, pv *pid) {
    if (pid->kind != PV_TUPLE || pid->n < 5 || pid->a[0]->kind != PV_STR || strcmp(pid->a[0]->s, "storage") ||
        pid->a[1]->kind != PV_GLOBAL || pid->a[1]->i != G_STORAGE || pid->a[2]->kind != PV_STR)
        vfail(m, "unsupported persistent id (expected ('storage', torch.<T>Storage, key, location, numel))");
    pv *s = newv(m, PV_STORAGE);
    s->dtype = pid->a[1]->dtype;
    s->s = pt_strdup(pid->a[2]->s);
    s->i = as_int(m, pid->a[4], "storage numel");
    return s;
}

static pv *make_tuple(vm *m, size_t from) {
    pv *t = newv(m, PV_TUPLE);
    for (size_t k = from; k < m->sp; k++) append(t, m->stack[k], NULL);
    m->sp = from;
    return t;
}

// ---- the interpreter -------------------------------------------------------------------------------
static pv *run(vm *m) {
    for (;;) {
        size_t op_pos = m->pos;
        uint8_t op = *take(m, 1);
        switch (op) {
        case 0x80: take(m, 1); break;                                   // PROTO
        case 0x95: take(m, 8); break;                                   // FRAME
        case '}': push(m, newv(m, PV_DICT)); break;                     // EMPTY_DICT
        case ']': push(m, newv(m, PV_LIST)); break;                     // EMPTY_LIST
        case ')': push(m, newv(m, PV_TUPLE)); break;                    // EMPTY_TUPLE
        case 'N': push(m, newv(m, PV_NONE)); break;
        case 0x88: case 0x89: { pv *v = newv(m, PV_BOOL); v->i = op == 0x88; push(m, v); break; }
        case 'K': { pv *v = newv(m, PV_INT); v->i = *take(m, 1); push(m, v); break; }
        case 'M': { pv *v = newv(m, PV_INT); v->i = (int64_t)le(take(m, 2), 2); push(m, v); break; }
        case 'J': { pv *v = newv(m, PV_INT); v->i = (int32_t)(uint32_t)le(take(m, 4), 4); push(m, v); break; }
        case 0x8a: {                                                    // LONG1
            int n = *take(m, 1);
            if (n > 8) vfail(m, "integer of %d bytes is too large", n);
            const uint8_t *b = take(m, (size_t)n);
            uint64_t u = le(b, n);
            if (n > 0 && n < 8 && (b[n - 1] & 0x80)) u |= ~0ull << (8 * n);  // sign-extend
            pv *v = newv(m, PV_INT); v->i = (int64_t)u; push(m, v);
            break;
        }
        case 'G': {                                                     // BINFLOAT (big-endian)
            const uint8_t *b = take(m, 8);
            uint64_t u = 0;
            for (int i = 0; i < 8; i++) u = u << 8 | b[i];
            pv *v = newv(m, PV_FLOAT); memcpy(&v->f, &u, 8); push(m, v);
            break;
        }
        case 'X': { size_t n = (size_t)le(take(m, 4), 4); push(m, make_str(m, take(m, n), n)); break; }
        case 0x8c: case 'C': { size_t n = *take(m, 1); push(m, make_str(m, take(m, n), n)); break; }
        case 0x8d: case 'B': case 0x8e: {                                // BINUNICODE8 / BINBYTES(8)
            int w = op == 'B' ? 4 : 8;
            size_t n = (size_t)le(take(m, (size_t)w), w);
            push(m, make_str(m, take(m, n), n));
            break;
        }
        case 'q': memo_put(m, *take(m, 1), top(m)); break;              // BINPUT
        case 'r': memo_put(m, le(take(m, 4), 4), top(m)); break;        // LONG_BINPUT
        case 0x94: memo_put(m, m->n_memo, top(m)); break;               // MEMOIZE
        case 'h': push(m, memo_get(m, *take(m, 1))); break;             // BINGET
        case 'j': push(m, memo_get(m, le(take(m, 4), 4))); break;       // LONG_BINGET
        case '(':                                                       // MARK
            if (m->n_marks == m->cap_marks) {
                m->cap_marks = m->cap_marks ? m->cap_marks * 2 : 16;
                m->marks = pt_realloc(m->marks, m->cap_marks * sizeof(size_t));
            }
            m->marks[m->n_marks++] = m->sp;
            break;
        case 't': { size_t from = pop_mark(m); push(m, make_tuple(m, from)); break; }
        case 0x85: case 0x86: case 0x87: {                              // TUPLE1/2/3
            size_t k = (size_t)(op - 0x84);
            if (m->sp < floor_sp(m) + k) vfail(m, "pickle stack underflow");
            push(m, make_tuple(m, m->sp - k));
            break;
        }
        case 'l': { size_t from = pop_mark(m); pv *l = make_tuple(m, from); l->kind = PV_LIST; push(m, l); break; }
        case 'd': {                                                     // DICT from marked key/value pairs
            size_t from = pop_mark(m);
            pv *d = newv(m, PV_DICT);
            for (size_t k = from; k + 1 < m->sp; k += 2) append(d, m->stack[k], m->stack[k + 1]);
            m->sp = from;
            push(m, d);
            break;
        }
        case '0': pop(m); break;                                        // POP
        case '1': m->sp = pop_mark(m); break;                           // POP_MARK
        case '2': push(m, top(m)); break;                               // DUP
        case 'c': {                                                     // GLOBAL "module\nname\n"
            const char *s = (const char *)m->p + m->pos;
            const char *e1 = memchr(s, '\n', m->len - m->pos);
            if (!e1) vfail(m, "unterminated GLOBAL");
            const char *e2 = memchr(e1 + 1, '\n', m->len - m->pos - (size_t)(e1 + 1 - s));
            if (!e2) vfail(m, "unterminated GLOBAL");
            char mod[256], name[256];
            snprintf(mod, sizeof mod, "%.*s", (int)(e1 - s), s);
            snprintf(name, sizeof name, "%.*s", (int)(e2 - e1 - 1), e1 + 1);
            push(m, make_global(m, mod, name));
            m->pos += (size_t)(e2 + 1 - s);
            break;
        }
        case 0x93: {                                                    // STACK_GLOBAL
            pv *name = pop(m), *mod = pop(m);
            if (name->kind != PV_STR || mod->kind != PV_STR) vfail(m, "STACK_GLOBAL needs two strings");
            push(m, make_global(m, mod->s, name->s));
            break;
        }
        case 'Q': { pv *pid = pop(m); push(m, persistent_load(m, pid)); break; }   // BINPERSID
        case 'R': { pv *args = pop(m), *fn = pop(m); push(m, call(m, fn, args)); break; }  // REDUCE
        case 0x81: {                                                    // NEWOBJ cls.__new__(cls, *args)
            pv *args = pop(m), *cls = pop(m);
            (void)args;
            if (cls->kind == PV_GLOBAL && cls->i == G_ODICT) push(m, newv(m, PV_DICT));
            else if (cls->kind == PV_OPAQUE || (cls->kind == PV_GLOBAL && cls->i == G_INERT)) push(m, newv(m, PV_OPAQUE));
            else vfail(m, "refusing to construct '%s'", cls->kind == PV_GLOBAL ? cls->s : "a non-class value");
            break;
        }
        case 'b': pop(m); top(m); break;                                // BUILD: state is ignored
        case 's': {                                                     // SETITEM
            pv *v = pop(m), *k = pop(m), *d = top(m);
            if (d->kind == PV_DICT) append(d, k, v);
            else if (d->kind != PV_OPAQUE) vfail(m, "SETITEM on a non-dict");
            break;
        }
        case 'u': {                                                     // SETITEMS
            size_t from = pop_mark(m);
            if (from <= floor_sp(m)) vfail(m, "SETITEMS without a dict below its MARK");
            pv *d = m->stack[from - 1];
            if (d->kind != PV_DICT && d->kind != PV_OPAQUE) vfail(m, "SETITEMS on a non-dict");
            if ((m->sp - from) % 2) vfail(m, "SETITEMS with an odd number of items");
            if (d->kind == PV_DICT)
                for (size_t k = from; k + 1 < m->sp; k += 2) append(d, m->stack[k], m->stack[k + 1]);
            m->sp = from;
            break;
        }
        case 'a': {                                                     // APPEND
            pv *x = pop(m), *l = top(m);
            if (l->kind == PV_LIST) append(l, x, NULL);
            else if (l->kind != PV_OPAQUE) vfail(m, "APPEND on a non-list");
            break;
        }
        case 'e': {                                                     // APPENDS
            size_t from = pop_mark(m);
            if (from <= floor_sp(m)) vfail(m, "APPENDS without a list below its MARK");
            pv *l = m->stack[from - 1];
            if (l->kind == PV_LIST) for (size_t k = from; k < m->sp; k++) append(l, m->stack[k], NULL);
            else if (l->kind != PV_OPAQUE) vfail(m, "APPENDS on a non-list");
            m->sp = from;
            break;
        }
        case '.': return pop(m);                                        // STOP
        default:
            m->pos = op_pos;
            vfail(m, "unsupported pickle opcode 0x%02x", op);
        }
    }
}

static void vm_free(vm *m) {
    for (size_t i = 0; i < m->n_all; i++) { free(m->all[i]->s); free(m->all[i]->a); free(m->all[i]->b); free(m->all[i]); }
    free(m->all); free(m->stack); free(m->marks); free(m->memo);
}

// ---- torch archive -> pt_weights -------------------------------------------------------------------
typedef struct tctx { pt_weights *w; const pt_zip *z; const char *prefix; const char *path; } tctx;

static void add_tensor(tctx *c, const char *name, const pv *t) {
    const pv *st = t->storage;
    char entry[1024];
    snprintf(entry, sizeof entry, "%s/data/%s", c->prefix, st->s);
    const pt_zip_entry *e = pt_zip_find(c->z, entry);
    if (!e) PT_USAGE("%s: tensor '%s': storage entry '%s' is missing from the archive", c->path, name, entry);
    size_t esz = pt_dtype_size(st->dtype);
    if (e->size < (uint64_t)st->i * esz)
        PT_USAGE("%s: tensor '%s': storage '%s' has %llu bytes, %lld elements of %s need %llu", c->path, name, entry,
                 (unsigned long long)e->size, (long long)st->i, pt_dtype_name(st->dtype),
                 (unsigned long long)((uint64_t)st->i * esz));
    int64_t numel = 1, maxi = t->offset, want = 1;
    int contiguous = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        numel *= t->shape[d];
        if (t->shape[d] > 1 && t->stride[d] != want) contiguous = 0;
        want *= t->shape[d];
        if (t->shape[d] > 0) maxi += (t->shape[d] - 1) * t->stride[d];
    }
    if (numel > 0 && maxi >= st->i)
        PT_USAGE("%s: tensor '%s': offset %lld with size/stride reaches element %lld of a %lld-element storage",
                 c->path, name, (long long)t->offset, (long long)maxi, (long long)st->i);
    const uint8_t *base = e->data;
    const void *data = base + (size_t)t->offset * esz;
    if (!contiguous || ((uintptr_t)data % esz) != 0) {   // gather into a contiguous buffer
        uint8_t *buf = pt_weights_own_buf(c->w, pt_malloc((size_t)numel * esz));
        int64_t idx[PT_WEIGHTS_MAX_DIMS] = {0};
        for (int64_t k = 0; k < numel; k++) {
            int64_t src = t->offset;
            for (int d = 0; d < t->ndim; d++) src += idx[d] * t->stride[d];
            memcpy(buf + (size_t)k * esz, base + (size_t)src * esz, esz);
            for (int d = t->ndim - 1; d >= 0; d--) { if (++idx[d] < t->shape[d]) break; idx[d] = 0; }
        }
        data = buf;
    }
    pt_weights_add(c->w, name, st->dtype, t->ndim, t->shape, data, (size_t)numel * esz);
}

static void collect(tctx *c, const char *prefix, const pv *d, int depth) {
    if (depth > 16) PT_USAGE("%s: dicts nested deeper than 16 levels", c->path);
    for (int i = 0; i < d->n; i++) {
        char key[1024];
        const pv *k = d->a[i], *v = d->b[i];
        if (k->kind == PV_STR) snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", k->s);
        else if (k->kind == PV_INT) snprintf(key, sizeof key, "%s%s%lld", prefix, *prefix ? "." : "", (long long)k->i);
        else continue;
        if (v->kind == PV_TENSOR) add_tensor(c, key, v);
        else if (v->kind == PV_DICT) collect(c, key, v, depth + 1);
    }
}

// Reads <prefix>/data.pkl of an opened archive and adds its tensors to w.
static void load_archive(pt_weights *w, const pt_zip *z, vm *m, const char *path) {
    // the pickle is "<prefix>/data.pkl" (prefix "archive" or the file's stem)
    const pt_zip_entry *pkl = NULL;
    for (int i = 0; i < z->n && !pkl; i++) {
        size_t n = strlen(z->e[i].name);
        if (n >= 9 && strcmp(z->e[i].name + n - 9, "/data.pkl") == 0 && !memchr(z->e[i].name, '/', n - 9))
            pkl = &z->e[i];
    }
    if (!pkl) PT_USAGE("%s: zip archive has no '<name>/data.pkl': not a torch.save file", path);
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(pkl->name) - 9), pkl->name);
    pkl = pt_zip_find(z, pkl->name);  // checks it is stored
    char bo[600];
    snprintf(bo, sizeof bo, "%s/byteorder", prefix);
    const pt_zip_entry *bye = pt_zip_find(z, bo);
    if (bye && !(bye->size == 6 && memcmp(bye->data, "little", 6) == 0))
        PT_USAGE("%s: byteorder is '%.*s'; only little-endian archives are supported", path,
                 (int)(bye->size < 16 ? bye->size : 16), (const char *)bye->data);

    m->path = path;
    m->p = pkl->data;
    m->len = (size_t)pkl->size;
    pv *root = run(m);
    if (root->kind != PV_DICT) PT_USAGE("%s: the pickled object is not a dict (a whole nn.Module?); save a state_dict", path);
    for (int i = 0; i < root->n; i++)
        if (root->a[i]->kind == PV_STR && strcmp(root->a[i]->s, "state_dict") == 0 && root->b[i]->kind == PV_DICT) {
            root = root->b[i];
            break;
        }
    tctx c = {w, z, prefix, path};
    collect(&c, "", root, 0);
}

void pt_weights_load_torch_into(pt_weights *w, const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) PT_USAGE("cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) { close(fd); PT_RUNTIME("cannot stat '%s': %s", path, strerror(errno)); }
    size_t size = (size_t)st.st_size;
    if (size == 0) { close(fd); PT_USAGE("%s: empty file", path); }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) PT_RUNTIME("cannot mmap '%s': %s", path, strerror(errno));
    pt_weights_own_map(w, map, size);
    // heap state: read after a longjmp (PT_CATCH) to free everything on failure
    pt_zip *z = pt_calloc(1, sizeof *z);
    vm *m = pt_calloc(1, sizeof *m);
    PT_TRY {
        pt_zip_open(z, path, map, size);
        load_archive(w, z, m, path);
    } PT_CATCH {
        vm_free(m); free(m);
        pt_zip_close(z); free(z);
        pt_weights_rethrow();
    } PT_END_TRY;
    vm_free(m); free(m);
    pt_zip_close(z); free(z);
}

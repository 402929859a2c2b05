// safetensors.c — mmap'ed, fully bounds-checked safetensors reader.
//
// Layout: u64 little-endian N | N bytes of JSON header | data section. The header maps each tensor
// name to {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]} (offsets relative to the
// data section) plus an optional "__metadata__" object of strings.
#define _GNU_SOURCE
#include "checkpoints/weights.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/check.h"
#include "tools/json.h"

#define ST_MAX_HEADER (100u << 20)   // the python library's limit

typedef struct { int64_t begin, end; int idx; } st_span;

static int span_cmp(const void *a, const void *b) {
    const st_span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end < y->end ? -1 : x->end > y->end);
}

// A JSON number that must be a non-negative integer (exactly representable).
static int64_t json_index(const char *path, const char *tensor, const char *what, const pt_json *v) {
    if (v->type != PT_JSON_NUM || v->num < 0 || v->num != (double)(int64_t)v->num || v->num > 9.0e15)
        PT_USAGE("%s: tensor '%s': %s must be a non-negative integer (header line %d)", path, tensor, what, v->line);
    return (int64_t)v->num;
}

void pt_weights_load_safetensors_into(pt_weights *w, const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) PT_USAGE("cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) { close(fd); PT_RUNTIME("cannot stat '%s': %s", path, strerror(errno)); }
    size_t size = (size_t)st.st_size;
    if (size < 8) { close(fd); PT_USAGE("%s: %zu bytes is too short for a safetensors file (8-byte header length at offset 0)", path, size); }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) PT_RUNTIME("cannot mmap '%s' (%zu bytes): %s", path, size, strerror(errno));
    pt_weights_own_map(w, map, size);
    const unsigned char *base = map;

    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | base[i];
    if (hlen > size - 8)
        PT_USAGE("%s: header length %llu (u64 at byte offset 0) runs past the end of the file (%zu bytes): "
                 "truncated or not a safetensors file", path, (unsigned long long)hlen, size);
    if (hlen > ST_MAX_HEADER)
        PT_USAGE("%s: header length %llu at byte offset 0 exceeds the 100 MiB limit", path, (unsigned long long)hlen);
    if (hlen < 2 || base[8] != '{')
        PT_USAGE("%s: header at byte offset 8 does not start with '{': not a safetensors file", path);
    const unsigned char *data = base + 8 + hlen;
    int64_t data_size = (int64_t)(size - 8 - hlen);

    char src[4200];
    snprintf(src, sizeof src, "%s (safetensors header at byte offset 8)", path);
    pt_json *h = pt_json_parse((const char *)base + 8, (size_t)hlen, src);
    if (h->type != PT_JSON_OBJ) PT_USAGE("%s: header is a JSON %s, expected an object", path, pt_json_type_name(h->type));

    st_span *spans = pt_malloc((size_t)(h->n + 1) * sizeof(st_span));
    PT_TRY {
        int ns = 0;
        for (int i = 0; i < h->n; i++) {
            const char *name = h->keys[i];
            const pt_json *v = &h->items[i];
            if (strcmp(name, "__metadata__") == 0) {
                if (v->type != PT_JSON_OBJ) PT_USAGE("%s: \"__metadata__\" must be an object of strings", path);
                for (int k = 0; k < v->n; k++) {
                    if (v->items[k].type != PT_JSON_STR)
                        PT_USAGE("%s: __metadata__ value \"%s\" must be a string, got a %s", path, v->keys[k],
                                 pt_json_type_name(v->items[k].type));
                    pt_weights_add_meta(w, v->keys[k], v->items[k].str);
                }
                continue;
            }
            if (v->type != PT_JSON_OBJ) PT_USAGE("%s: tensor '%s': header entry must be an object", path, name);
            const pt_json *jd = pt_json_get(v, "dtype"), *js = pt_json_get(v, "shape"), *jo = pt_json_get(v, "data_offsets");
            if (!jd || jd->type != PT_JSON_STR) PT_USAGE("%s: tensor '%s': missing \"dtype\" string", path, name);
            if (!js || js->type != PT_JSON_ARR) PT_USAGE("%s: tensor '%s': missing \"shape\" array", path, name);
            if (!jo || jo->type != PT_JSON_ARR || jo->n != 2)
                PT_USAGE("%s: tensor '%s': \"data_offsets\" must be [begin, end]", path, name);
            int dt = pt_st_dtype_from_str(jd->str);
            if (dt < 0)
                PT_USAGE("%s: tensor '%s': unsupported dtype \"%s\" (supported: F32 F16 BF16 F64 I64 I32 U8 BOOL)",
                         path, name, jd->str);
            if (js->n > PT_WEIGHTS_MAX_DIMS)
                PT_USAGE("%s: tensor '%s': %d dimensions, at most %d supported", path, name, js->n, PT_WEIGHTS_MAX_DIMS);
            int64_t shape[PT_WEIGHTS_MAX_DIMS];
            int64_t numel = 1;
            for (int d = 0; d < js->n; d++) {
                shape[d] = json_index(path, name, "shape entry", &js->items[d]);
                if (shape[d] && numel > INT64_MAX / 16 / shape[d])
                    PT_USAGE("%s: tensor '%s': shape is too large", path, name);
                numel *= shape[d];
            }
            int64_t b = json_index(path, name, "data_offsets[0]", &jo->items[0]);
            int64_t e = json_index(path, name, "data_offsets[1]", &jo->items[1]);
            if (e < b) PT_USAGE("%s: tensor '%s': data_offsets [%lld, %lld] end before they begin", path, name,
                                (long long)b, (long long)e);
            if (e > data_size)
                PT_USAGE("%s: tensor '%s': data_offsets [%lld, %lld] run past the data section (%lld bytes; the "
                         "tensor would end at byte offset %llu of a %zu-byte file): file truncated?", path, name,
                         (long long)b, (long long)e, (long long)data_size, (unsigned long long)(8 + hlen + (uint64_t)e), size);
            int64_t want = numel * (int64_t)pt_dtype_size((pt_dtype)dt);
            if (e - b != want)
                PT_USAGE("%s: tensor '%s': data_offsets [%lld, %lld] hold %lld bytes but shape x %s needs %lld",
                         path, name, (long long)b, (long long)e, (long long)(e - b), jd->str, (long long)want);
            const void *ptr = data + b;
            size_t esz = pt_dtype_size((pt_dtype)dt);
            if (((uintptr_t)ptr % esz) != 0 && e > b) {  // unaligned (header not padded): copy out
                void *copy = pt_weights_own_buf(w, pt_malloc((size_t)(e - b)));
                memcpy(copy, ptr, (size_t)(e - b));
                ptr = copy;
            }
            pt_weights_add(w, name, (pt_dtype)dt, js->n, shape, ptr, (size_t)(e - b));
            spans[ns++] = (st_span){b, e, w->n - 1};
        }
        // no two tensors may share bytes
        qsort(spans, (size_t)ns, sizeof *spans, span_cmp);
        for (int i = 1; i < ns; i++)
            if (spans[i].begin < spans[i - 1].end && spans[i].end > spans[i].begin)
                PT_USAGE("%s: tensors '%s' [%lld, %lld] and '%s' [%lld, %lld] overlap in the data section", path,
                         w->t[spans[i - 1].idx].name, (long long)spans[i - 1].begin, (long long)spans[i - 1].end,
                         w->t[spans[i].idx].name, (long long)spans[i].begin, (long long)spans[i].end);
    } PT_CATCH {
        free(spans);
        pt_json_free(h);
        pt_weights_rethrow();
    } PT_END_TRY;
    free(spans);
    pt_json_free(h);
}

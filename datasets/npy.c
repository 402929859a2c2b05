// npy.c — .npy reader/writer (NumPy format 1.0/2.0/3.0, C order, little-endian).
#include "datasets/npy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/check.h"

static const struct { const char *descr; pt_dtype t; } DESCRS[] = {
    {"<f8", PT_F64}, {"<f4", PT_F32}, {"<f2", PT_F16}, {"|u1", PT_U8}, {"<u1", PT_U8},
    {"<i8", PT_I64}, {"<i4", PT_I32}, {"|b1", PT_BOOL},
};
static const int N_DESCRS = (int)(sizeof DESCRS / sizeof DESCRS[0]);

int64_t pt_npy_numel(const pt_npy *a) {
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
    return n;
}

// Finds `'key':` in the header dict and returns a pointer just after the colon (spaces skipped).
static const char *dict_value(const char *hdr, const char *key, const char *path) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(hdr, pat);
    if (!p) {
        snprintf(pat, sizeof pat, "\"%s\"", key);
        p = strstr(hdr, pat);
    }
    if (!p) PT_USAGE("'%s': .npy header has no '%s' entry (header: %s)", path, key, hdr);
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != ':') PT_USAGE("'%s': .npy header: expected ':' after '%s' (header: %s)", path, key, hdr);
    p++;
    while (*p == ' ') p++;
    return p;
}

static void parse_header(const char *hdr, const char *path, pt_npy *a) {
    const char *p = dict_value(hdr, "descr", path);
    char q = *p;
    if (q != '\'' && q != '"') PT_USAGE("'%s': .npy 'descr' must be a string such as '<f8' (header: %s)", path, hdr);
    const char *e = strchr(p + 1, q);
    if (!e || e - p - 1 > 15) PT_USAGE("'%s': .npy 'descr' is malformed (header: %s)", path, hdr);
    char descr[16];
    memcpy(descr, p + 1, (size_t)(e - p - 1));
    descr[e - p - 1] = 0;
    if (descr[0] == '=') descr[0] = '<';   // native order: this host is little-endian
    int found = 0;
    for (int i = 0; i < N_DESCRS; i++)
        if (strcmp(descr, DESCRS[i].descr) == 0) { a->dtype = DESCRS[i].t; found = 1; }
    if (!found) {
        if (descr[0] == '>')
            PT_USAGE("'%s': .npy data is big-endian ('%s'); expected little-endian: resave with arr.astype('<%s')",
                     path, descr, descr + 1);
        PT_USAGE("'%s': .npy dtype '%s' is not supported (expected one of <f8 <f4 <f2 |u1 <i8 <i4 |b1)", path, descr);
    }

    p = dict_value(hdr, "fortran_order", path);
    if (strncmp(p, "True", 4) == 0)
        PT_USAGE("'%s': .npy array is in Fortran order; expected C order: resave with np.ascontiguousarray", path);
    if (strncmp(p, "False", 5) != 0) PT_USAGE("'%s': .npy 'fortran_order' must be True or False (header: %s)", path, hdr);

    p = dict_value(hdr, "shape", path);
    if (*p != '(') PT_USAGE("'%s': .npy 'shape' must be a tuple (header: %s)", path, hdr);
    p++;
    a->ndim = 0;
    for (;;) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        if (!isdigit((unsigned char)*p)) PT_USAGE("'%s': .npy 'shape' is malformed (header: %s)", path, hdr);
        if (a->ndim == 8) PT_USAGE("'%s': .npy array has more than 8 dimensions", path);
        char *end;
        long long v = strtoll(p, &end, 10);
        if (*end == 'L') end++;   // Python 2 longs
        a->shape[a->ndim++] = v;
        p = end;
    }
}

pt_npy pt_npy_load(const char *path) {
    size_t len = 0;
    char *buf = pt_read_file(path, &len);
    pt_npy a = {0};
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
        free(buf);
        PT_USAGE("'%s' is not a .npy file: expected the magic bytes \\x93NUMPY at offset 0", path);
    }
    int major = (uint8_t)buf[6];
    size_t hlen, hoff;
    if (major == 1) { hlen = (uint8_t)buf[8] | ((size_t)(uint8_t)buf[9] << 8); hoff = 10; }
    else if (major == 2 || major == 3) {
        if (len < 12) { free(buf); PT_USAGE("'%s': .npy header is truncated at offset 8", path); }
        hlen = (uint8_t)buf[8] | ((size_t)(uint8_t)buf[9] << 8) | ((size_t)(uint8_t)buf[10] << 16) | ((size_t)(uint8_t)buf[11] << 24);
        hoff = 12;
    } else {
        int minor = (uint8_t)buf[7];
        free(buf);
        PT_USAGE("'%s': .npy format version %d.%d is not supported (expected 1.0, 2.0 or 3.0)", path, major, minor);
    }
    if (hoff + hlen > len) {
        free(buf);
        PT_USAGE("'%s': .npy header is truncated: it says %zu bytes at offset %zu but the file has %zu bytes", path, hlen, hoff, len);
    }
    char *hdr = pt_malloc(hlen + 1);
    memcpy(hdr, buf + hoff, hlen);
    hdr[hlen] = 0;
    PT_TRY { parse_header(hdr, path, &a); }
    PT_CATCH { free(hdr); free(buf); pt_fail_at(__FILE__, __LINE__, pt_last_error_code(), "%s", pt_last_error()); }
    PT_END_TRY;
    free(hdr);
    size_t nbytes = (size_t)pt_npy_numel(&a) * pt_dtype_size(a.dtype);
    size_t doff = hoff + hlen;
    if (len - doff != nbytes) {
        free(buf);
        PT_USAGE("'%s': .npy data is %s: shape and dtype need %zu bytes after the header (offset %zu), the file has %zu",
                 path, len - doff < nbytes ? "truncated" : "longer than its header says", nbytes, doff, len - doff);
    }
    a.data = pt_malloc(nbytes);
    memcpy(a.data, buf + doff, nbytes);
    free(buf);
    return a;
}

static const char *descr_of(pt_dtype t, const char *path) {
    for (int i = 0; i < N_DESCRS; i++)
        if (DESCRS[i].t == t) return DESCRS[i].descr;
    PT_USAGE("cannot write '%s': dtype %s has no .npy equivalent here", path, pt_dtype_name(t));
}

// Header text: "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 64, 64), }" padded with spaces
// and a final '\n' so that the data starts at a multiple of 64 bytes (format 1.0).
static void write_npy(FILE *f, const char *path, const pt_npy *a) {
    if (a->ndim < 0 || a->ndim > 8) PT_USAGE("cannot write '%s': ndim %d (expected 0..8)", path, a->ndim);
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr_of(a->dtype, path));
    for (int i = 0; i < a->ndim; i++)
        n += snprintf(dict + n, sizeof dict - n, a->ndim == 1 ? "%lld," : (i ? ", %lld" : "%lld"), (long long)a->shape[i]);
    n += snprintf(dict + n, sizeof dict - n, "), }");
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)n + pad + 1;
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(hlen & 0xff), (uint8_t)(hlen >> 8)};
    pt_fwrite(pre, 1, 10, f, path);
    pt_fwrite(dict, 1, (size_t)n, f, path);
    for (size_t i = 0; i < pad; i++) pt_fwrite(" ", 1, 1, f, path);
    pt_fwrite("\n", 1, 1, f, path);
    pt_fwrite(a->data, pt_dtype_size(a->dtype), (size_t)pt_npy_numel(a), f, path);
}

void pt_npy_save(const char *path, const pt_npy *a) {
    pt_atomic_file af;
    pt_atomic_open(&af, path);
    PT_TRY { write_npy(af.f, path, a); }
    PT_CATCH { pt_atomic_abort(&af); pt_fail_at(__FILE__, __LINE__, pt_last_error_code(), "%s", pt_last_error()); }
    PT_END_TRY;
    pt_atomic_commit(&af);
}

void pt_npy_save_direct(const char *path, const pt_npy *a) {
    FILE *f = pt_fopen(path, "wb");
    write_npy(f, path, a);
    pt_fclose(f, path);
}

void pt_npy_free(pt_npy *a) {
    if (!a) return;
    free(a->data);
    a->data = NULL;
    a->ndim = 0;
}

float *pt_npy_to_f32(const pt_npy *a) {
    int64_t n = pt_npy_numel(a);
    float *dst = pt_malloc((size_t)n * sizeof(float));
    if (a->dtype == PT_BOOL) {
        for (int64_t i = 0; i < n; i++) dst[i] = ((const uint8_t *)a->data)[i] ? 1.0f : 0.0f;
    } else {
        pt_convert_to_f32(a->dtype, a->data, dst, n);
    }
    return dst;
}

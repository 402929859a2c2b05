// yaml_config_out.c — printing, saving, copying, comparing schema-described structs, the markdown
// reference of a schema, schema self-checks and "did you mean" hints. (Loading: yaml_config.c.)
#include "tools/yaml_config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tools/check.h"

const char *pt_ycfg_type_name(pt_ycfg_type t) {
    switch (t) {
    case PT_YC_BOOL: return "bool";
    case PT_YC_INT: return "int";
    case PT_YC_INT64: return "int64";
    case PT_YC_FLOAT: return "float";
    case PT_YC_STRING: return "string";
    case PT_YC_ENUM: return "enum";
    case PT_YC_INT_LIST: return "list of int";
    case PT_YC_FLOAT_LIST: return "list of float";
    case PT_YC_STRING_LIST: return "list of string";
    }
    return "?";
}

// ---------------------------------------------------------------- schema checks and hints

void pt_ycfg_check_schema(const pt_ycfg_schema *s) {
    for (int i = 0; i < s->n_fields; i++) {
        const pt_ycfg_field *f = &s->fields[i];
        PT_CHECKF(f->path && f->path[0] && f->help, "%s: field %d has no path or help", s->name, i);
        PT_CHECKF(strcmp(f->path, "include") && strcmp(f->path, "base"), "%s: '%s' is reserved", s->name, f->path);
        PT_CHECKF(f->type != PT_YC_ENUM || (f->choices && f->choices[0]), "%s: enum '%s' has no choices", s->name, f->path);
        PT_CHECKF(!(f->min > f->max), "%s: '%s' has min > max", s->name, f->path);
        size_t li = strlen(f->path);
        for (int j = 0; j < i; j++) {
            const char *p = s->fields[j].path;
            size_t lj = strlen(p);
            PT_CHECKF(strcmp(p, f->path) != 0, "%s: duplicate field '%s'", s->name, p);
            PT_CHECKF(!(lj < li && strncmp(p, f->path, lj) == 0 && f->path[lj] == '.'), "%s: '%s' is both a field and a section", s->name, p);
            PT_CHECKF(!(li < lj && strncmp(p, f->path, li) == 0 && p[li] == '.'), "%s: '%s' is both a field and a section", s->name, f->path);
        }
        // Sections must be contiguous so that printing yields each mapping once.
        if (i == 0) continue;
        for (const char *dot = strchr(f->path, '.'); dot; dot = strchr(dot + 1, '.')) {
            size_t pl = (size_t)(dot - f->path) + 1;   // prefix including the dot
            if (strncmp(s->fields[i - 1].path, f->path, pl) == 0) continue;
            for (int j = 0; j < i - 1; j++)
                PT_CHECKF(strncmp(s->fields[j].path, f->path, pl) != 0,
                          "%s: section '%.*s' is split (fields %d and %d)", s->name, (int)pl - 1, f->path, j, i);
        }
    }
}

static int levenshtein(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 120 || lb > 120) return 1000;
    int prev[128], cur[128];
    for (int j = 0; j <= lb; j++) prev[j] = j;
    for (int i = 1; i <= la; i++) {
        cur[0] = i;
        for (int j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (size_t)(lb + 1));
    }
    return prev[lb];
}

// " (did you mean 'train.lr'?)" or "".
void pt_ycfg_did_you_mean(const pt_ycfg_schema *s, const char *path, char *out, size_t cap) {
    const char *leaf = strrchr(path, '.');
    leaf = leaf ? leaf + 1 : path;
    int best = 1000; const char *best_path = NULL;
    for (int i = 0; i < s->n_fields; i++) {
        const char *p = s->fields[i].path;
        const char *pl = strrchr(p, '.');
        pl = pl ? pl + 1 : p;
        int d = levenshtein(path, p);
        if (strcmp(pl, leaf) == 0 && d > 1) d = 1;     // right name, wrong section
        if (d < best) { best = d; best_path = p; }
    }
    int limit = (int)strlen(path) / 3;
    if (limit < 2) limit = 2;
    if (best_path && best <= limit) snprintf(out, cap, " (did you mean '%s'?)", best_path);
    else snprintf(out, cap, "; see docs/config.md for the keys");
}

// ---------------------------------------------------------------- memory

void pt_ycfg_free_field(const pt_ycfg_field *f, void *obj) {
    void *m = pt_ycfg_member(f, obj);
    switch (f->type) {
    case PT_YC_STRING: free(*(char **)m); *(char **)m = NULL; break;
    case PT_YC_INT_LIST: { pt_ycfg_ints *l = m; free(l->v); l->v = NULL; l->n = 0; break; }
    case PT_YC_FLOAT_LIST: { pt_ycfg_floats *l = m; free(l->v); l->v = NULL; l->n = 0; break; }
    case PT_YC_STRING_LIST: {
        pt_ycfg_strs *l = m;
        for (int i = 0; i < l->n; i++) free(l->v[i]);
        free(l->v); l->v = NULL; l->n = 0;
        break;
    }
    default: break;
    }
}

void pt_ycfg_free(const pt_ycfg_schema *s, void *obj) {
    for (int i = 0; i < s->n_fields; i++) pt_ycfg_free_field(&s->fields[i], obj);
}

void pt_ycfg_copy(const pt_ycfg_schema *s, void *dst, const void *src) {
    for (int i = 0; i < s->n_fields; i++) {
        const pt_ycfg_field *f = &s->fields[i];
        void *d = pt_ycfg_member(f, dst);
        const void *a = pt_ycfg_member(f, (void *)src);
        pt_ycfg_free_field(f, dst);
        switch (f->type) {
        case PT_YC_BOOL: case PT_YC_INT: case PT_YC_ENUM: *(int *)d = *(const int *)a; break;
        case PT_YC_INT64: *(int64_t *)d = *(const int64_t *)a; break;
        case PT_YC_FLOAT: *(double *)d = *(const double *)a; break;
        case PT_YC_STRING: *(char **)d = pt_strdup(*(char *const *)a ? *(char *const *)a : ""); break;
        case PT_YC_INT_LIST: {
            const pt_ycfg_ints *l = a; pt_ycfg_ints *o = d;
            o->n = l->n; o->v = pt_malloc(sizeof(int) * (size_t)(l->n ? l->n : 1));
            if (l->n) memcpy(o->v, l->v, sizeof(int) * (size_t)l->n);
            break;
        }
        case PT_YC_FLOAT_LIST: {
            const pt_ycfg_floats *l = a; pt_ycfg_floats *o = d;
            o->n = l->n; o->v = pt_malloc(sizeof(double) * (size_t)(l->n ? l->n : 1));
            if (l->n) memcpy(o->v, l->v, sizeof(double) * (size_t)l->n);
            break;
        }
        case PT_YC_STRING_LIST: {
            const pt_ycfg_strs *l = a; pt_ycfg_strs *o = d;
            o->n = l->n; o->v = pt_malloc(sizeof(char *) * (size_t)(l->n ? l->n : 1));
            for (int k = 0; k < l->n; k++) o->v[k] = pt_strdup(l->v[k]);
            break;
        }
        }
    }
}

static int same_double(double x, double y) { return memcmp(&x, &y, sizeof x) == 0 || (x == y && x != 0); }

int pt_ycfg_equal(const pt_ycfg_schema *s, const void *a_, const void *b_, const char **first_diff) {
    for (int i = 0; i < s->n_fields; i++) {
        const pt_ycfg_field *f = &s->fields[i];
        const void *a = pt_ycfg_member(f, (void *)a_), *b = pt_ycfg_member(f, (void *)b_);
        int eq = 1;
        switch (f->type) {
        case PT_YC_BOOL: case PT_YC_INT: case PT_YC_ENUM: eq = *(const int *)a == *(const int *)b; break;
        case PT_YC_INT64: eq = *(const int64_t *)a == *(const int64_t *)b; break;
        case PT_YC_FLOAT: eq = same_double(*(const double *)a, *(const double *)b); break;
        case PT_YC_STRING: {
            const char *x = *(char *const *)a, *y = *(char *const *)b;
            eq = strcmp(x ? x : "", y ? y : "") == 0;
            break;
        }
        case PT_YC_INT_LIST: {
            const pt_ycfg_ints *x = a, *y = b;
            eq = x->n == y->n && (x->n == 0 || memcmp(x->v, y->v, sizeof(int) * (size_t)x->n) == 0);
            break;
        }
        case PT_YC_FLOAT_LIST: {
            const pt_ycfg_floats *x = a, *y = b;
            eq = x->n == y->n;
            for (int k = 0; eq && k < x->n; k++) eq = same_double(x->v[k], y->v[k]);
            break;
        }
        case PT_YC_STRING_LIST: {
            const pt_ycfg_strs *x = a, *y = b;
            eq = x->n == y->n;
            for (int k = 0; eq && k < x->n; k++) eq = strcmp(x->v[k], y->v[k]) == 0;
            break;
        }
        }
        if (!eq) { if (first_diff) *first_diff = f->path; return 0; }
    }
    if (first_diff) *first_diff = NULL;
    return 1;
}

// ---------------------------------------------------------------- formatting values

typedef struct yc_buf { char *s; size_t len, cap; } yc_buf;

static void buf_put(yc_buf *b, const char *text, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = pt_realloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, text, n);
    b->len += n;
    b->s[b->len] = 0;
}
static void buf_str(yc_buf *b, const char *text) { buf_put(b, text, strlen(text)); }

// Shortest decimal text that parses back to exactly x, always recognisable as a float.
static void fmt_double(yc_buf *b, double x) {
    char t[64];
    if (isnan(x)) { buf_str(b, ".nan"); return; }
    if (isinf(x)) { buf_str(b, x < 0 ? "-.inf" : ".inf"); return; }
    for (int p = 1; p <= 17; p++) {
        snprintf(t, sizeof t, "%.*g", p, x);
        if (strtod(t, NULL) == x && (x != 0 || signbit(strtod(t, NULL)) == signbit(x))) break;
    }
    if (!strpbrk(t, ".e")) strcat(t, ".0");
    buf_str(b, t);
}

// Double-quoted YAML string with escapes.
static void fmt_string(yc_buf *b, const char *s) {
    buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        char t[8];
        if (*p == '"' || *p == '\\') { t[0] = '\\'; t[1] = (char)*p; buf_put(b, t, 2); }
        else if (*p == '\n') buf_str(b, "\\n");
        else if (*p == '\t') buf_str(b, "\\t");
        else if (*p == '\r') buf_str(b, "\\r");
        else if (*p < 0x20 || *p == 0x7f) { snprintf(t, sizeof t, "\\x%02x", *p); buf_str(b, t); }
        else buf_put(b, (const char *)p, 1);
    }
    buf_put(b, "\"", 1);
}

static void fmt_value(yc_buf *b, const pt_ycfg_field *f, const void *obj) {
    const void *m = pt_ycfg_member(f, (void *)obj);
    char t[64];
    switch (f->type) {
    case PT_YC_BOOL: buf_str(b, *(const int *)m ? "true" : "false"); break;
    case PT_YC_INT: snprintf(t, sizeof t, "%d", *(const int *)m); buf_str(b, t); break;
    case PT_YC_INT64: snprintf(t, sizeof t, "%lld", (long long)*(const int64_t *)m); buf_str(b, t); break;
    case PT_YC_FLOAT: fmt_double(b, *(const double *)m); break;
    case PT_YC_STRING: fmt_string(b, *(char *const *)m); break;
    case PT_YC_ENUM: {
        int v = *(const int *)m, n = 0;
        while (f->choices[n]) n++;
        PT_CHECKF(v >= 0 && v < n, "config field '%s' holds enum index %d outside [0, %d)", f->path, v, n);
        buf_str(b, f->choices[v]);
        break;
    }
    case PT_YC_INT_LIST: case PT_YC_FLOAT_LIST: case PT_YC_STRING_LIST: {
        int n = ((const pt_ycfg_ints *)m)->n;   // all three list structs start with n
        buf_put(b, "[", 1);
        for (int k = 0; k < n; k++) {
            if (k) buf_str(b, ", ");
            if (f->type == PT_YC_INT_LIST) { snprintf(t, sizeof t, "%d", ((const pt_ycfg_ints *)m)->v[k]); buf_str(b, t); }
            else if (f->type == PT_YC_FLOAT_LIST) fmt_double(b, ((const pt_ycfg_floats *)m)->v[k]);
            else fmt_string(b, ((const pt_ycfg_strs *)m)->v[k]);
        }
        buf_put(b, "]", 1);
        break;
    }
    }
}

void pt_ycfg_format_value(const pt_ycfg_field *f, const void *obj, char *out, size_t cap) {
    yc_buf b = {0};
    fmt_value(&b, f, obj);
    snprintf(out, cap, "%s", b.s ? b.s : "");
    free(b.s);
}

// ---------------------------------------------------------------- printing and saving

// Number of leading section components (all but the leaf) that paths a and b share.
static int shared_sections(const char *a, const char *b) {
    int n = 0;
    for (;;) {
        const char *da = strchr(a, '.'), *db = strchr(b, '.');
        if (!da || !db || da - a != db - b || strncmp(a, b, (size_t)(da - a)) != 0) return n;
        n++;
        a = da + 1; b = db + 1;
    }
}

static void print_to(const pt_ycfg_schema *s, const void *obj, yc_buf *b) {
    for (int i = 0; i < s->n_fields; i++) {
        const char *path = s->fields[i].path;
        int keep = i ? shared_sections(s->fields[i - 1].path, path) : 0;
        int level = 0;
        const char *p = path;
        for (const char *dot = strchr(p, '.'); dot; dot = strchr(p, '.'), level++) {
            if (level >= keep) {
                for (int k = 0; k < level; k++) buf_str(b, "  ");
                buf_put(b, p, (size_t)(dot - p));
                buf_str(b, ":\n");
            }
            p = dot + 1;
        }
        for (int k = 0; k < level; k++) buf_str(b, "  ");
        buf_str(b, p);
        buf_str(b, ": ");
        fmt_value(b, &s->fields[i], obj);
        buf_str(b, "\n");
    }
}

void pt_ycfg_print(const pt_ycfg_schema *s, const void *obj, FILE *out) {
    yc_buf b = {0};
    print_to(s, obj, &b);
    fputs(b.s ? b.s : "", out);
    free(b.s);
}

char *pt_ycfg_print_string(const pt_ycfg_schema *s, const void *obj) {
    yc_buf b = {0};
    print_to(s, obj, &b);
    if (!b.s) b.s = pt_strdup("");
    return b.s;
}

void pt_ycfg_save(const pt_ycfg_schema *s, const void *obj, const char *path, const char *header) {
    yc_buf b = {0};
    if (header) buf_str(&b, header);
    print_to(s, obj, &b);
    pt_atomic_file af;
    pt_atomic_open(&af, path);
    if (fwrite(b.s, 1, b.len, af.f) != b.len) {
        free(b.s);
        pt_atomic_abort(&af);
        PT_RUNTIME("write error saving config to '%s'", path);
    }
    free(b.s);
    pt_atomic_commit(&af);
}

// ---------------------------------------------------------------- markdown reference

static void md_cell(FILE *out, const char *text) {
    for (const char *p = text; *p; p++) {
        if (*p == '|') fputs("\\|", out);
        else if (*p == '\n') fputc(' ', out);
        else fputc(*p, out);
    }
}

static void md_range(char *t, size_t cap, const pt_ycfg_field *f) {
    int lo = !isinf(f->min), hi = !isinf(f->max);
    if (f->type == PT_YC_ENUM) {
        t[0] = 0;
        for (int i = 0; f->choices[i]; i++) {
            size_t k = strlen(t);
            snprintf(t + k, cap - k, "%s`%s`", i ? ", " : "", f->choices[i]);
        }
    } else if (f->type == PT_YC_BOOL || f->type == PT_YC_STRING || f->type == PT_YC_STRING_LIST) {
        snprintf(t, cap, "%s", "");
    } else if (lo && hi) snprintf(t, cap, "%.10g … %.10g", f->min, f->max);
    else if (lo) snprintf(t, cap, "≥ %.10g", f->min);
    else if (hi) snprintf(t, cap, "≤ %.10g", f->max);
    else snprintf(t, cap, "%s", "");
    if (f->list_len > 0) {
        size_t k = strlen(t);
        snprintf(t + k, cap - k, "%s%d values", t[0] ? "; " : "", f->list_len);
    }
}

void pt_ycfg_write_reference(const pt_ycfg_schema *s, FILE *out) {
    for (int i = 0; i < s->n_fields; i++) {
        const pt_ycfg_field *f = &s->fields[i];
        const char *dot = strchr(f->path, '.');
        size_t tl = dot ? (size_t)(dot - f->path) : 0;
        const char *prev = i ? s->fields[i - 1].path : NULL;
        const char *pdot = prev ? strchr(prev, '.') : NULL;
        size_t pl = pdot ? (size_t)(pdot - prev) : 0;
        int new_group = !prev || tl != pl || strncmp(prev, f->path, tl) != 0;
        if (new_group) {
            if (i) fputc('\n', out);
            if (tl) fprintf(out, "### `%.*s`\n\n", (int)tl, f->path);
            else fputs("### Top level\n\n", out);
            fputs("| key | type | default | allowed | meaning |\n|---|---|---|---|---|\n", out);
        }
        char range[512];
        md_range(range, sizeof range, f);
        const char *dflt = f->dflt;
        if (!dflt) dflt = f->type == PT_YC_STRING ? "\"\"" : f->type == PT_YC_BOOL ? "false"
                        : f->type >= PT_YC_INT_LIST ? "[]" : "0";
        fprintf(out, "| `%s` | %s | `", f->path, pt_ycfg_type_name(f->type));
        md_cell(out, dflt);
        fputs("` | ", out);
        md_cell(out, range);
        fputs(" | ", out);
        md_cell(out, f->help);
        fputs(" |\n", out);
    }
}

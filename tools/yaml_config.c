// yaml_config.c — loading YAML files and --set overrides into a schema-described struct.
// (Printing, saving, copying and the reference doc live in yaml_config_out.c.)
#define _GNU_SOURCE
#include "tools/yaml_config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "tools/check.h"

// yaml_config_out.c
void pt_ycfg_free_field(const pt_ycfg_field *f, void *obj);
void pt_ycfg_did_you_mean(const pt_ycfg_schema *s, const char *path, char *out, size_t cap);
void pt_ycfg_check_schema(const pt_ycfg_schema *s);

#define YC_MAX_DEPTH 16

typedef struct yc_seen { char *path; int line; } yc_seen;

typedef struct yc_file {            // one file being applied (the include stack)
    const char *name;               // as given / as resolved from the including file
    char *real;                     // realpath, for cycle detection (NULL for in-memory text)
    char *text;
    yaml_parser_t parser; int parser_live;
    yaml_document_t doc; int doc_live;
    yc_seen *seen; int n_seen, cap_seen;   // dotted paths set by this file (duplicate detection)
} yc_file;

typedef struct yc_ctx {
    const pt_ycfg_schema *s;
    void *obj;
    yc_file files[YC_MAX_DEPTH];
    int depth;                      // number of live entries in files[]
    const char *set_arg;            // non-NULL while applying a --set (or a schema default)
    yaml_parser_t set_parser; int set_parser_live;
    yaml_document_t set_doc; int set_doc_live;
    char *list_tmp; int list_tmp_n; int list_tmp_strings;   // a list being parsed (freed on failure)
} yc_ctx;

// ---------------------------------------------------------------- errors with location

static void yc_cleanup(yc_ctx *c) {
    for (int i = c->depth - 1; i >= 0; i--) {
        yc_file *f = &c->files[i];
        if (f->doc_live) yaml_document_delete(&f->doc);
        if (f->parser_live) yaml_parser_delete(&f->parser);
        for (int k = 0; k < f->n_seen; k++) free(f->seen[k].path);
        free(f->seen); free(f->text); free(f->real); free((char *)f->name);
        memset(f, 0, sizeof *f);
    }
    c->depth = 0;
    if (c->set_doc_live) yaml_document_delete(&c->set_doc);
    if (c->set_parser_live) yaml_parser_delete(&c->set_parser);
    c->set_doc_live = c->set_parser_live = 0;
    if (c->list_tmp && c->list_tmp_strings)
        for (int i = 0; i < c->list_tmp_n; i++) free(((char **)c->list_tmp)[i]);
    free(c->list_tmp);
    c->list_tmp = NULL;
}

#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 4, 5)))
#endif
static void yc_fail(yc_ctx *c, yaml_mark_t mark, const char *key, const char *fmt, ...) {
    char msg[1200], where[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->set_arg) snprintf(where, sizeof where, "--set '%s': ", c->set_arg);
    else if (c->depth > 0)
        snprintf(where, sizeof where, "%s:%d:%d: ", c->files[c->depth - 1].name, (int)mark.line + 1, (int)mark.column + 1);
    else where[0] = 0;
    if (key) PT_USAGE("%skey '%s': %s", where, key, msg);
    PT_USAGE("%s%s", where, msg);
}

// ---------------------------------------------------------------- schema lookups

const pt_ycfg_field *pt_ycfg_find(const pt_ycfg_schema *s, const char *path) {
    for (int i = 0; i < s->n_fields; i++)
        if (strcmp(s->fields[i].path, path) == 0) return &s->fields[i];
    return NULL;
}

// A section is a proper dotted prefix of some field path ("train" for "train.lr").
static const pt_ycfg_field *find_in_section(const pt_ycfg_schema *s, const char *path) {
    size_t n = strlen(path);
    for (int i = 0; i < s->n_fields; i++)
        if (strncmp(s->fields[i].path, path, n) == 0 && s->fields[i].path[n] == '.') return &s->fields[i];
    return NULL;
}

// ---------------------------------------------------------------- scalar parsing

static const char *node_kind(const yaml_node_t *n) {
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    return "a scalar";
}

static int is_null_scalar(const yaml_node_t *n) {
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *v = (const char *)n->data.scalar.value;
    return v[0] == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

// Copy without YAML 1.1 digit separators ("30_000" -> "30000").
static void strip_underscores(const char *v, char *out, size_t cap) {
    size_t k = 0;
    for (; *v && k + 1 < cap; v++) if (*v != '_') out[k++] = *v;
    out[k] = 0;
}

static int parse_double(const char *v, double *out) {
    char buf[128];
    if (strlen(v) >= sizeof buf) return 0;
    strip_underscores(v, buf, sizeof buf);
    const char *p = buf;
    int neg = 0;
    if (*p == '+' || *p == '-') { neg = *p == '-'; p++; }
    if (strcmp(p, ".inf") == 0 || strcmp(p, ".Inf") == 0 || strcmp(p, ".INF") == 0) {
        *out = neg ? -INFINITY : INFINITY; return 1;
    }
    if (p == buf && (strcmp(p, ".nan") == 0 || strcmp(p, ".NaN") == 0 || strcmp(p, ".NAN") == 0)) {
        *out = NAN; return 1;
    }
    if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1]))) return 0;
    char *end = NULL;
    errno = 0;
    double d = strtod(buf, &end);
    if (end == buf || *end != 0) return 0;
    if (errno == ERANGE && isinf(d)) return 0;
    *out = d;
    return 1;
}

static int parse_int64(const char *v, long long *out) {
    char buf[128];
    if (strlen(v) >= sizeof buf) return 0;
    strip_underscores(v, buf, sizeof buf);
    const char *p = buf;
    if (*p == '+' || *p == '-') p++;
    if (!isdigit((unsigned char)*p)) return 0;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(buf, &end, 10);
    if (errno || *end != 0) return 0;
    *out = x;
    return 1;
}

static int parse_bool(const char *v, int *out) {
    static const char *T[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const char *F[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    for (int i = 0; i < 9; i++) {
        if (strcmp(v, T[i]) == 0) { *out = 1; return 1; }
        if (strcmp(v, F[i]) == 0) { *out = 0; return 1; }
    }
    return 0;
}

static void check_range(yc_ctx *c, const pt_ycfg_field *f, const yaml_node_t *n, double x) {
    if (isnan(x) || x < f->min || x > f->max) {
        const char *v = (const char *)n->data.scalar.value;
        if (isinf(f->min)) yc_fail(c, n->start_mark, f->path, "value %s is out of range: must be <= %.10g", v, f->max);
        if (isinf(f->max)) yc_fail(c, n->start_mark, f->path, "value %s is out of range: must be >= %.10g", v, f->min);
        yc_fail(c, n->start_mark, f->path, "value %s is out of range [%.10g, %.10g]", v, f->min, f->max);
    }
}

// Parse one scalar node as the element type of field f and store it at dst.
static void parse_scalar(yc_ctx *c, const pt_ycfg_field *f, const yaml_node_t *n, void *dst) {
    if (n->type != YAML_SCALAR_NODE) {
        const char *want = "a value";
        switch (f->type) {
        case PT_YC_BOOL: want = "true or false"; break;
        case PT_YC_INT: case PT_YC_INT64: case PT_YC_INT_LIST: want = "an integer"; break;
        case PT_YC_FLOAT: case PT_YC_FLOAT_LIST: want = "a number"; break;
        case PT_YC_STRING: case PT_YC_STRING_LIST: want = "a string"; break;
        case PT_YC_ENUM: want = "one of its allowed values"; break;
        }
        yc_fail(c, n->start_mark, f->path, "expected %s, got %s", want, node_kind(n));
    }
    const char *v = (const char *)n->data.scalar.value;
    int quoted = n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    const char *qnote = quoted ? " (a quoted string: remove the quotes)" : "";
    switch (f->type) {
    case PT_YC_BOOL: {
        int b;
        if (quoted || !parse_bool(v, &b)) yc_fail(c, n->start_mark, f->path, "expected true or false, got '%s'%s", v, qnote);
        *(int *)dst = b;
        break;
    }
    case PT_YC_INT: case PT_YC_INT64: case PT_YC_INT_LIST: {
        long long x;
        if (quoted || !parse_int64(v, &x)) {
            double d;
            if (!quoted && parse_double(v, &d))
                yc_fail(c, n->start_mark, f->path, "expected an integer, got '%s'", v);
            yc_fail(c, n->start_mark, f->path, "expected an integer, got '%s'%s", v, qnote);
        }
        check_range(c, f, n, (double)x);
        if (f->type == PT_YC_INT64) *(int64_t *)dst = (int64_t)x;
        else {
            if (x < INT_MIN || x > INT_MAX) yc_fail(c, n->start_mark, f->path, "value %s does not fit in a 32-bit int", v);
            *(int *)dst = (int)x;
        }
        break;
    }
    case PT_YC_FLOAT: case PT_YC_FLOAT_LIST: {
        double x;
        if (quoted || !parse_double(v, &x)) yc_fail(c, n->start_mark, f->path, "expected a number, got '%s'%s", v, qnote);
        check_range(c, f, n, x);
        *(double *)dst = x;
        break;
    }
    case PT_YC_STRING: case PT_YC_STRING_LIST: {
        char **s = (char **)dst;
        free(*s);
        *s = pt_strdup(is_null_scalar(n) ? "" : v);
        break;
    }
    case PT_YC_ENUM: {
        for (int i = 0; f->choices[i]; i++)
            if (strcmp(v, f->choices[i]) == 0) { *(int *)dst = i; return; }
        char allowed[512] = "";
        for (int i = 0; f->choices[i]; i++) {
            size_t k = strlen(allowed);
            snprintf(allowed + k, sizeof allowed - k, "%s%s", i ? ", " : "", f->choices[i]);
        }
        yc_fail(c, n->start_mark, f->path, "bad value '%s'; allowed: %s", v, allowed);
    }
    }
}

static void set_field(yc_ctx *c, const pt_ycfg_field *f, yaml_document_t *doc, const yaml_node_t *n) {
    void *dst = pt_ycfg_member(f, c->obj);
    if (f->type != PT_YC_INT_LIST && f->type != PT_YC_FLOAT_LIST && f->type != PT_YC_STRING_LIST) {
        parse_scalar(c, f, n, dst);
        return;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        yc_fail(c, n->start_mark, f->path, "expected a list (e.g. [a, b]), got %s%s%s%s", node_kind(n),
                n->type == YAML_SCALAR_NODE ? " '" : "", n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : "",
                n->type == YAML_SCALAR_NODE ? "'" : "");
    int count = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (f->list_len > 0 && count != f->list_len)
        yc_fail(c, n->start_mark, f->path, "expected a list of exactly %d values, got %d", f->list_len, count);
    size_t elem = f->type == PT_YC_INT_LIST ? sizeof(int) : f->type == PT_YC_FLOAT_LIST ? sizeof(double) : sizeof(char *);
    // Parse into a temporary array so that a failure leaves the old value intact (yc_cleanup
    // frees the temporary then).
    char *vals = pt_calloc((size_t)(count ? count : 1), elem);
    c->list_tmp = vals; c->list_tmp_n = count; c->list_tmp_strings = f->type == PT_YC_STRING_LIST;
    for (int i = 0; i < count; i++) {
        const yaml_node_t *e = yaml_document_get_node(doc, n->data.sequence.items.start[i]);
        parse_scalar(c, f, e, vals + (size_t)i * elem);
    }
    c->list_tmp = NULL;
    pt_ycfg_free_field(f, c->obj);
    if (f->type == PT_YC_INT_LIST) { pt_ycfg_ints *l = dst; l->n = count; l->v = (int *)vals; }
    else if (f->type == PT_YC_FLOAT_LIST) { pt_ycfg_floats *l = dst; l->n = count; l->v = (double *)vals; }
    else { pt_ycfg_strs *l = dst; l->n = count; l->v = (char **)vals; }
}

// ---------------------------------------------------------------- mappings and paths

static void apply_node(yc_ctx *c, yaml_document_t *doc, const char *path, yaml_mark_t key_mark, const yaml_node_t *v);

static void apply_mapping(yc_ctx *c, yaml_document_t *doc, const yaml_node_t *m, const char *prefix, int top_file) {
    yaml_node_pair_t *pairs = m->data.mapping.pairs.start;
    int n = (int)(m->data.mapping.pairs.top - pairs);
    for (int i = 0; i < n; i++) {
        const yaml_node_t *k = yaml_document_get_node(doc, pairs[i].key);
        const yaml_node_t *v = yaml_document_get_node(doc, pairs[i].value);
        if (k->type != YAML_SCALAR_NODE)
            yc_fail(c, k->start_mark, NULL, "keys must be plain names, got %s as a key", node_kind(k));
        const char *key = (const char *)k->data.scalar.value;
        for (int j = 0; j < i; j++) {     // duplicate within this mapping
            const yaml_node_t *kj = yaml_document_get_node(doc, pairs[j].key);
            if (kj->type == YAML_SCALAR_NODE && strcmp((const char *)kj->data.scalar.value, key) == 0) {
                char full[512];
                snprintf(full, sizeof full, "%s%s%s", prefix, prefix[0] ? "." : "", key);
                yc_fail(c, k->start_mark, full, "duplicate key (first given at line %d)", (int)kj->start_mark.line + 1);
            }
        }
        if (top_file && (strcmp(key, "include") == 0 || strcmp(key, "base") == 0)) continue;  // applied first
        char full[512];
        if (snprintf(full, sizeof full, "%s%s%s", prefix, prefix[0] ? "." : "", key) >= (int)sizeof full)
            yc_fail(c, k->start_mark, NULL, "key path too long");
        apply_node(c, doc, full, k->start_mark, v);
    }
}

static void note_seen(yc_ctx *c, const char *path, yaml_mark_t mark) {
    if (c->set_arg || c->depth == 0) return;
    yc_file *f = &c->files[c->depth - 1];
    for (int i = 0; i < f->n_seen; i++)
        if (strcmp(f->seen[i].path, path) == 0)
            yc_fail(c, mark, path, "duplicate key (first given at line %d)", f->seen[i].line);
    if (f->n_seen == f->cap_seen) {
        f->cap_seen = f->cap_seen ? 2 * f->cap_seen : 32;
        f->seen = pt_realloc(f->seen, sizeof(yc_seen) * (size_t)f->cap_seen);
    }
    f->seen[f->n_seen].path = pt_strdup(path);
    f->seen[f->n_seen].line = (int)mark.line + 1;
    f->n_seen++;
}

static void apply_node(yc_ctx *c, yaml_document_t *doc, const char *path, yaml_mark_t key_mark, const yaml_node_t *v) {
    const pt_ycfg_field *f = pt_ycfg_find(c->s, path);
    if (f) {
        note_seen(c, path, key_mark);
        set_field(c, f, doc, v);
        return;
    }
    const pt_ycfg_field *member = find_in_section(c->s, path);
    if (member) {
        if (v->type != YAML_MAPPING_NODE)
            yc_fail(c, v->start_mark, path, "is a section (holding e.g. '%s'): expected a mapping of its keys, got %s",
                    member->path, node_kind(v));
        apply_mapping(c, doc, v, path, 0);
        return;
    }
    char hint[300];
    pt_ycfg_did_you_mean(c->s, path, hint, sizeof hint);
    yc_fail(c, key_mark, NULL, "unknown key '%s'%s", path, hint);
}

// ---------------------------------------------------------------- files and includes

static void load_file(yc_ctx *c, const char *path, const yaml_node_t *from);

// Parse text into files[depth-1].doc; fail with the YAML problem's location.
static const yaml_node_t *parse_doc(yc_ctx *c, yc_file *f, size_t len) {
    if (!yaml_parser_initialize(&f->parser)) PT_RUNTIME("libyaml: cannot initialise a parser");
    f->parser_live = 1;
    yaml_parser_set_input_string(&f->parser, (const unsigned char *)f->text, len);
    if (!yaml_parser_load(&f->parser, &f->doc)) {
        yaml_mark_t m = f->parser.problem_mark;
        yc_fail(c, m, NULL, "YAML syntax error: %s%s%s", f->parser.problem ? f->parser.problem : "unknown",
                f->parser.context ? " " : "", f->parser.context ? f->parser.context : "");
    }
    f->doc_live = 1;
    const yaml_node_t *root = yaml_document_get_root_node(&f->doc);
    if (root) {   // a second document is a mistake (a stray '---')
        yaml_document_t extra;
        if (!yaml_parser_load(&f->parser, &extra))
            yc_fail(c, f->parser.problem_mark, NULL, "YAML syntax error: %s", f->parser.problem ? f->parser.problem : "unknown");
        int more = yaml_document_get_root_node(&extra) != NULL;
        yaml_mark_t m = more ? yaml_document_get_root_node(&extra)->start_mark : root->start_mark;
        yaml_document_delete(&extra);
        if (more) yc_fail(c, m, NULL, "a config file holds one YAML document; found a second one");
    }
    return root;
}

static void apply_includes(yc_ctx *c, yaml_document_t *doc, const yaml_node_t *root) {
    yaml_node_pair_t *pairs = root->data.mapping.pairs.start;
    int n = (int)(root->data.mapping.pairs.top - pairs);
    for (int i = 0; i < n; i++) {
        const yaml_node_t *k = yaml_document_get_node(doc, pairs[i].key);
        const yaml_node_t *v = yaml_document_get_node(doc, pairs[i].value);
        if (k->type != YAML_SCALAR_NODE) continue;
        const char *key = (const char *)k->data.scalar.value;
        if (strcmp(key, "include") != 0 && strcmp(key, "base") != 0) continue;
        if (v->type == YAML_SCALAR_NODE) { load_file(c, (const char *)v->data.scalar.value, v); continue; }
        if (v->type != YAML_SEQUENCE_NODE) yc_fail(c, v->start_mark, key, "expected a file name or a list of file names, got %s", node_kind(v));
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            const yaml_node_t *e = yaml_document_get_node(doc, *it);
            if (e->type != YAML_SCALAR_NODE) yc_fail(c, e->start_mark, key, "expected a file name, got %s", node_kind(e));
            load_file(c, (const char *)e->data.scalar.value, e);
        }
    }
}

// Push a file (its text already read) and apply it: includes first, then its own keys.
static void apply_file(yc_ctx *c, yc_file *f, size_t len) {
    const yaml_node_t *root = parse_doc(c, f, len);
    if (!root) return;   // empty file
    if (root->type != YAML_MAPPING_NODE)
        yc_fail(c, root->start_mark, NULL, "the top level must be a mapping of keys, got %s", node_kind(root));
    apply_includes(c, &f->doc, root);
    apply_mapping(c, &f->doc, root, "", 1);
}

static void pop_file(yc_ctx *c) {
    yc_file *f = &c->files[--c->depth];
    yaml_document_delete(&f->doc);
    yaml_parser_delete(&f->parser);
    for (int k = 0; k < f->n_seen; k++) free(f->seen[k].path);
    free(f->seen); free(f->text); free(f->real); free((char *)f->name);
    memset(f, 0, sizeof *f);
}

// `from`: the include node naming this file (NULL for the top file).
static void load_file(yc_ctx *c, const char *path, const yaml_node_t *from) {
    char *resolved;
    if (from && path[0] != '/' && c->depth > 0) {   // relative to the including file's folder
        const char *parent = c->files[c->depth - 1].name;
        const char *slash = strrchr(parent, '/');
        size_t dl = slash ? (size_t)(slash - parent + 1) : 0;
        resolved = pt_malloc(dl + strlen(path) + 1);
        memcpy(resolved, parent, dl);
        strcpy(resolved + dl, path);
    } else {
        resolved = pt_strdup(path);
    }
    yaml_mark_t mark = from ? from->start_mark : (yaml_mark_t){0, 0, 0};
    char *real = realpath(resolved, NULL);
    FILE *fp = real ? fopen(real, "rb") : NULL;
    if (!fp) {
        char msg[700];
        snprintf(msg, sizeof msg, "cannot read config file '%s': %s", resolved, strerror(errno));
        free(resolved); free(real);
        if (from) yc_fail(c, mark, "include", "%s", msg);
        PT_USAGE("%s", msg);
    }
    fclose(fp);
    for (int i = 0; i < c->depth; i++) {
        if (c->files[i].real && strcmp(c->files[i].real, real) == 0) {
            char chain[1500] = "";
            for (int j = i; j < c->depth; j++) {
                size_t k = strlen(chain);
                snprintf(chain + k, sizeof chain - k, "%s -> ", c->files[j].name);
            }
            size_t k = strlen(chain);
            snprintf(chain + k, sizeof chain - k, "%s", resolved);
            free(resolved); free(real);
            yc_fail(c, mark, "include", "include cycle: %s", chain);
        }
    }
    if (c->depth == YC_MAX_DEPTH) {
        free(resolved); free(real);
        yc_fail(c, mark, "include", "includes nested more than %d deep", YC_MAX_DEPTH);
    }
    yc_file *f = &c->files[c->depth++];
    memset(f, 0, sizeof *f);
    f->name = resolved;
    f->real = real;
    size_t len = 0;
    f->text = pt_read_file(real, &len);
    apply_file(c, f, len);
    pop_file(c);
}

// ---------------------------------------------------------------- entry points (cleanup on failure)

typedef void (*yc_fn)(yc_ctx *c, const void *a, const void *b, size_t n);

static void run_guarded(const pt_ycfg_schema *s, void *obj, yc_fn fn, const void *a, const void *b, size_t n) {
    yc_ctx *c = pt_calloc(1, sizeof *c);   // on the heap: not an automatic object across setjmp
    c->s = s;
    c->obj = obj;
    PT_TRY {
        fn(c, a, b, n);
    } PT_CATCH {
        char msg[2048];
        int code = pt_last_error_code();
        snprintf(msg, sizeof msg, "%s", pt_last_error());
        yc_cleanup(c);
        free(c);
        PT_FAIL(code, "%s", msg);
    } PT_END_TRY;
    yc_cleanup(c);
    free(c);
}

static void do_load(yc_ctx *c, const void *path, const void *unused, size_t n) { load_file(c, path, NULL); }

void pt_ycfg_load(const pt_ycfg_schema *s, void *obj, const char *path) {
    run_guarded(s, obj, do_load, path, NULL, 0);
}

static void do_load_text(yc_ctx *c, const void *text, const void *source, size_t len) {
    yc_file *f = &c->files[c->depth++];
    f->name = pt_strdup(source);
    f->text = pt_malloc(len + 1);
    memcpy(f->text, text, len);
    f->text[len] = 0;
    apply_file(c, f, len);
    pop_file(c);
}

void pt_ycfg_load_text(const pt_ycfg_schema *s, void *obj, const char *text, size_t len, const char *source) {
    run_guarded(s, obj, do_load_text, text, source, len);
}

// Apply `value` (YAML text of one value) to `key`; c->set_arg names the argument in messages.
static void set_from_text(yc_ctx *c, const char *key, const char *value) {
    if (!yaml_parser_initialize(&c->set_parser)) PT_RUNTIME("libyaml: cannot initialise a parser");
    c->set_parser_live = 1;
    yaml_parser_set_input_string(&c->set_parser, (const unsigned char *)value, strlen(value));
    if (!yaml_parser_load(&c->set_parser, &c->set_doc))
        yc_fail(c, c->set_parser.problem_mark, key, "value is not valid YAML: %s",
                c->set_parser.problem ? c->set_parser.problem : "unknown");
    c->set_doc_live = 1;
    const yaml_node_t *root = yaml_document_get_root_node(&c->set_doc);
    yaml_node_t empty;
    if (!root) {   // "key=" : an empty plain scalar
        memset(&empty, 0, sizeof empty);
        empty.type = YAML_SCALAR_NODE;
        empty.data.scalar.value = (yaml_char_t *)"";
        empty.data.scalar.style = YAML_PLAIN_SCALAR_STYLE;
        root = &empty;
    }
    apply_node(c, &c->set_doc, key, root->start_mark, root);
    yaml_document_delete(&c->set_doc); c->set_doc_live = 0;
    yaml_parser_delete(&c->set_parser); c->set_parser_live = 0;
}

static void do_set(yc_ctx *c, const void *kv_, const void *unused, size_t n) {
    const char *kv = kv_;
    c->set_arg = kv;
    const char *eq = strchr(kv, '=');
    size_t kl = eq ? (size_t)(eq - kv) : 0;
    while (kl > 0 && isspace((unsigned char)kv[kl - 1])) kl--;
    if (!eq || kl == 0) PT_USAGE("--set '%s': expected KEY=VALUE (e.g. --set train.lr=1e-5)", kv);
    char key[512];
    if (kl >= sizeof key) PT_USAGE("--set '%s': key too long", kv);
    memcpy(key, kv, kl);
    key[kl] = 0;
    set_from_text(c, key, eq + 1);
}

void pt_ycfg_apply_set(const pt_ycfg_schema *s, void *obj, const char *kv) {
    run_guarded(s, obj, do_set, kv, NULL, 0);
}

// ---------------------------------------------------------------- defaults and schema checks

static void do_default(yc_ctx *c, const void *field, const void *unused, size_t n) {
    const pt_ycfg_field *f = field;
    c->set_arg = "schema default";
    set_from_text(c, f->path, f->dflt);
}

void pt_ycfg_defaults(const pt_ycfg_schema *s, void *obj) {
    pt_ycfg_check_schema(s);
    for (int i = 0; i < s->n_fields; i++) {
        const pt_ycfg_field *f = &s->fields[i];
        void *dst = pt_ycfg_member(f, obj);
        switch (f->type) {
        case PT_YC_BOOL: case PT_YC_INT: case PT_YC_ENUM: *(int *)dst = 0; break;
        case PT_YC_INT64: *(int64_t *)dst = 0; break;
        case PT_YC_FLOAT: *(double *)dst = 0; break;
        case PT_YC_STRING: *(char **)dst = NULL; break;
        case PT_YC_INT_LIST: memset(dst, 0, sizeof(pt_ycfg_ints)); break;
        case PT_YC_FLOAT_LIST: memset(dst, 0, sizeof(pt_ycfg_floats)); break;
        case PT_YC_STRING_LIST: memset(dst, 0, sizeof(pt_ycfg_strs)); break;
        }
        if (f->dflt) {
            volatile int failed = 0;
            PT_TRY { run_guarded(s, obj, do_default, f, NULL, 0); } PT_CATCH { failed = 1; } PT_END_TRY;
            if (failed) PT_RUNTIME("internal: %s: bad default for '%s': %s", s->name, f->path, pt_last_error());
        }
        if (f->type == PT_YC_STRING && *(char **)dst == NULL) *(char **)dst = pt_strdup("");
    }
}

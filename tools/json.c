// json.c — recursive-descent JSON reader with line:col errors, typed accessors, and a writer.
#include "tools/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/check.h"

#define PT_JSON_MAX_DEPTH 256

typedef struct sbuf { char *s; size_t len, cap; } sbuf;

typedef struct jparser {
    const char *s; size_t len, pos;
    int line; size_t line_start;
    const char *source;
    int depth;
    sbuf sb;   // string being parsed (freed by pt_json_parse if a failure interrupts it)
} jparser;

#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 2, 3)))
#endif
static void jfail(const jparser *p, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int col = (int)(p->pos - p->line_start) + 1;
    PT_USAGE("%s:%d:%d: %s", p->source, p->line, col, msg);
}

static void skip_ws(jparser *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == '\n') { p->pos++; p->line++; p->line_start = p->pos; }
        else if (c == ' ' || c == '\t' || c == '\r') p->pos++;
        else break;
    }
}

static const char *describe(const jparser *p) {
    static _Thread_local char buf[32];
    if (p->pos >= p->len) return "end of input";
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c >= 0x20 && c < 0x7f) snprintf(buf, sizeof buf, "'%c'", c);
    else snprintf(buf, sizeof buf, "byte 0x%02x", c);
    return buf;
}

// ---- strings -------------------------------------------------------------------------------------
static void sb_put(sbuf *b, const char *src, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2 + 16;
        b->s = pt_realloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, src, n);
    b->len += n;
    b->s[b->len] = 0;
}
static void sb_utf8(sbuf *b, uint32_t cp) {
    char o[4]; size_t n;
    if (cp < 0x80) { o[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { o[0] = (char)(0xc0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
    else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f)); n = 3;
    } else {
        o[0] = (char)(0xf0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f)); n = 4;
    }
    sb_put(b, o, n);
}

static uint32_t parse_hex4(jparser *p) {
    if (p->pos + 4 > p->len) jfail(p, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos];
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0) jfail(p, "bad hex digit %s in \\u escape", describe(p));
        v = v * 16 + (uint32_t)d;
        p->pos++;
    }
    return v;
}

// p->pos is at the opening quote. Returns a malloc'ed UTF-8 string.
static char *parse_string(jparser *p) {
    sbuf *b = &p->sb;
    b->len = 0;
    sb_put(b, "", 0);
    p->pos++;
    for (;;) {
        if (p->pos >= p->len) jfail(p, "unterminated string");
        size_t start = p->pos;
        while (p->pos < p->len && p->s[p->pos] != '"' && p->s[p->pos] != '\\' &&
               (unsigned char)p->s[p->pos] >= 0x20)
            p->pos++;
        sb_put(b, p->s + start, p->pos - start);
        if (p->pos >= p->len) { jfail(p, "unterminated string"); }
        char c = p->s[p->pos];
        if (c == '"') { p->pos++; char *r = b->s; memset(b, 0, sizeof *b); return r; }
        if ((unsigned char)c < 0x20) { jfail(p, "control character %s inside a string", describe(p)); }
        p->pos++;  // backslash
        if (p->pos >= p->len) { jfail(p, "unterminated escape"); }
        char e = p->s[p->pos++];
        switch (e) {
        case '"': sb_put(b, "\"", 1); break;
        case '\\': sb_put(b, "\\", 1); break;
        case '/': sb_put(b, "/", 1); break;
        case 'b': sb_put(b, "\b", 1); break;
        case 'f': sb_put(b, "\f", 1); break;
        case 'n': sb_put(b, "\n", 1); break;
        case 'r': sb_put(b, "\r", 1); break;
        case 't': sb_put(b, "\t", 1); break;
        case 'u': {
            uint32_t cp = parse_hex4(p);
            if (cp >= 0xd800 && cp < 0xdc00 && p->pos + 6 <= p->len && p->s[p->pos] == '\\' &&
                p->s[p->pos + 1] == 'u') {
                size_t save = p->pos;
                p->pos += 2;
                uint32_t lo = parse_hex4(p);
                if (lo >= 0xdc00 && lo < 0xe000) cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                else p->pos = save;  // lone high surrogate: keep as is (like Python)
            }
            sb_utf8(b, cp);
            break;
        }
        default:
            p->pos--;
            
            jfail(p, "invalid escape '\\%c' in string", e);
        }
    }
}

// ---- numbers -------------------------------------------------------------------------------------
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static double parse_number(jparser *p) {
    size_t start = p->pos;
    const char *s = p->s;
    if (p->pos < p->len && s[p->pos] == '-') p->pos++;
    if (p->len - p->pos >= 8 && memcmp(s + p->pos, "Infinity", 8) == 0) {
        p->pos += 8;
        return s[start] == '-' ? -INFINITY : INFINITY;
    }
    if (p->pos >= p->len || !is_digit(s[p->pos])) jfail(p, "expected a digit, got %s", describe(p));
    if (s[p->pos] == '0') p->pos++;
    else while (p->pos < p->len && is_digit(s[p->pos])) p->pos++;
    if (p->pos < p->len && s[p->pos] == '.') {
        p->pos++;
        if (p->pos >= p->len || !is_digit(s[p->pos])) jfail(p, "expected a digit after '.', got %s", describe(p));
        while (p->pos < p->len && is_digit(s[p->pos])) p->pos++;
    }
    if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (s[p->pos] == '+' || s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len || !is_digit(s[p->pos])) jfail(p, "expected an exponent digit, got %s", describe(p));
        while (p->pos < p->len && is_digit(s[p->pos])) p->pos++;
    }
    char tmp[64];
    size_t n = p->pos - start;
    if (n >= sizeof tmp) {
        char *big = pt_malloc(n + 1);
        memcpy(big, s + start, n); big[n] = 0;
        double v = strtod(big, NULL);
        free(big);
        return v;
    }
    memcpy(tmp, s + start, n); tmp[n] = 0;
    return strtod(tmp, NULL);
}

// ---- values --------------------------------------------------------------------------------------
static void free_node(pt_json *j);

static int match_word(jparser *p, const char *w) {
    size_t n = strlen(w);
    if (p->len - p->pos >= n && memcmp(p->s + p->pos, w, n) == 0) { p->pos += n; return 1; }
    return 0;
}

static void parse_value(jparser *p, pt_json *out);

static void push_item(pt_json *j, int *cap, const pt_json *v, char *key) {
    if (j->n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        j->items = pt_realloc(j->items, (size_t)*cap * sizeof(pt_json));
        if (j->type == PT_JSON_OBJ) j->keys = pt_realloc(j->keys, (size_t)*cap * sizeof(char *));
    }
    j->items[j->n] = *v;
    if (j->type == PT_JSON_OBJ) j->keys[j->n] = key;
    j->n++;
}

static void parse_container(jparser *p, pt_json *out, int is_obj) {
    if (++p->depth > PT_JSON_MAX_DEPTH) jfail(p, "nesting deeper than %d", PT_JSON_MAX_DEPTH);
    out->type = is_obj ? PT_JSON_OBJ : PT_JSON_ARR;
    char close = is_obj ? '}' : ']';
    int cap = 0;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) { p->pos++; p->depth--; return; }
    for (;;) {
        char *key = NULL;
        skip_ws(p);
        if (is_obj) {
            if (p->pos >= p->len || p->s[p->pos] != '"') jfail(p, "expected a string key, got %s", describe(p));
            key = parse_string(p);
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                char k[128];
                snprintf(k, sizeof k, "%s", key);
                free(key);
                jfail(p, "expected ':' after object key \"%s\", got %s", k, describe(p));
            }
            p->pos++;
        }
        // link the slot first, so a failure inside leaves a tree that pt_json_parse can free
        pt_json v;
        memset(&v, 0, sizeof v);
        push_item(out, &cap, &v, key);
        parse_value(p, &out->items[out->n - 1]);
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') { p->pos++; continue; }
        if (p->pos < p->len && p->s[p->pos] == close) { p->pos++; break; }
        jfail(p, "expected ',' or '%c' in %s, got %s", close, is_obj ? "object" : "array", describe(p));
    }
    p->depth--;
}

static void parse_value(jparser *p, pt_json *out) {
    memset(out, 0, sizeof *out);
    out->source = p->source;
    skip_ws(p);
    out->line = p->line;
    if (p->pos >= p->len) jfail(p, "expected a value, got end of input");
    char c = p->s[p->pos];
    if (c == '{') parse_container(p, out, 1);
    else if (c == '[') parse_container(p, out, 0);
    else if (c == '"') { out->type = PT_JSON_STR; out->str = parse_string(p); }
    else if (c == '-' || is_digit(c) || c == 'I') { out->type = PT_JSON_NUM; out->num = parse_number(p); }
    else if (match_word(p, "true")) { out->type = PT_JSON_BOOL; out->boolean = 1; }
    else if (match_word(p, "false")) { out->type = PT_JSON_BOOL; out->boolean = 0; }
    else if (match_word(p, "null")) out->type = PT_JSON_NULL;
    else if (match_word(p, "NaN")) { out->type = PT_JSON_NUM; out->num = NAN; }
    else jfail(p, "expected a value, got %s", describe(p));
}

pt_json *pt_json_parse(const char *text, size_t len, const char *source) {
    // parser state on the heap: it is read after a longjmp (PT_CATCH) to free partial results
    jparser *p = pt_calloc(1, sizeof *p);
    p->s = text; p->len = len; p->line = 1;
    p->source = pt_strdup(source ? source : "<json>");
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) { p->pos = 3; p->line_start = 3; }  // UTF-8 BOM
    pt_json *root = pt_calloc(1, sizeof *root);
    PT_TRY {
        parse_value(p, root);
        skip_ws(p);
        if (p->pos < p->len) jfail(p, "unexpected %s after the end of the value", describe(p));
    } PT_CATCH {
        // free the partial tree, keep the message, re-raise
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", pt_last_error());
        int code = pt_last_error_code();
        free_node(root); free(root); free((char *)p->source); free(p->sb.s); free(p);
        PT_FAIL(code, "%s", msg);
    } PT_END_TRY;
    root->owns_source = 1;
    free(p->sb.s);
    free(p);
    return root;
}

pt_json *pt_json_parse_file(const char *path) {
    size_t n;
    char *text = pt_read_file(path, &n);
    pt_json *j = NULL;
    PT_TRY { j = pt_json_parse(text, n, path); }
    PT_CATCH { char msg[2048]; snprintf(msg, sizeof msg, "%s", pt_last_error()); int code = pt_last_error_code();
               free(text); PT_FAIL(code, "%s", msg); } PT_END_TRY;
    free(text);
    return j;
}

static void free_node(pt_json *j) {
    for (int i = 0; i < j->n; i++) {
        free_node(&j->items[i]);
        if (j->keys) free(j->keys[i]);
    }
    free(j->items); free(j->keys); free(j->str);
    j->items = NULL; j->keys = NULL; j->str = NULL; j->n = 0;
}

void pt_json_free(pt_json *j) {
    if (!j) return;
    free_node(j);
    if (j->owns_source) free((char *)j->source);
    free(j);
}

// ---- accessors -----------------------------------------------------------------------------------
const char *pt_json_source(const pt_json *j) { return j && j->source ? j->source : ""; }

const char *pt_json_type_name(pt_json_type t) {
    static const char *n[] = {"null", "boolean", "number", "string", "array", "object"};
    return (unsigned)t <= PT_JSON_OBJ ? n[t] : "?";
}

const pt_json *pt_json_get(const pt_json *obj, const char *key) {
    if (!obj || obj->type != PT_JSON_OBJ) return NULL;
    for (int i = obj->n - 1; i >= 0; i--)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
}

static const pt_json *get_typed(const pt_json *obj, const char *key, pt_json_type want) {
    const pt_json *v = pt_json_get(obj, key);
    if (!v) return NULL;
    if (v->type != want)
        PT_USAGE("%s:%d: key \"%s\" must be a %s, got a %s", pt_json_source(obj), v->line, key,
                 pt_json_type_name(want), pt_json_type_name(v->type));
    return v;
}

double pt_json_num(const pt_json *obj, const char *key, double dflt) {
    const pt_json *v = get_typed(obj, key, PT_JSON_NUM);
    return v ? v->num : dflt;
}

int pt_json_int(const pt_json *obj, const char *key, int dflt) {
    const pt_json *v = get_typed(obj, key, PT_JSON_NUM);
    if (!v) return dflt;
    if (v->num != floor(v->num) || fabs(v->num) > 2147483647.0)
        PT_USAGE("%s:%d: key \"%s\" must be an integer, got %g", pt_json_source(obj), v->line, key, v->num);
    return (int)v->num;
}

int pt_json_bool(const pt_json *obj, const char *key, int dflt) {
    const pt_json *v = get_typed(obj, key, PT_JSON_BOOL);
    return v ? v->boolean : dflt;
}

const char *pt_json_str(const pt_json *obj, const char *key, const char *dflt) {
    const pt_json *v = get_typed(obj, key, PT_JSON_STR);
    return v ? v->str : dflt;
}

int pt_json_int_array(const pt_json *obj, const char *key, int *dst, int cap) {
    const pt_json *v = get_typed(obj, key, PT_JSON_ARR);
    if (!v) return -1;
    if (v->n > cap)
        PT_USAGE("%s:%d: key \"%s\" has %d elements, at most %d allowed", pt_json_source(obj), v->line, key, v->n, cap);
    for (int i = 0; i < v->n; i++) {
        const pt_json *e = &v->items[i];
        if (e->type != PT_JSON_NUM || e->num != floor(e->num) || fabs(e->num) > 2147483647.0)
            PT_USAGE("%s:%d: element %d of \"%s\" must be an integer", pt_json_source(obj), e->line, i, key);
        dst[i] = (int)e->num;
    }
    return v->n;
}

int pt_json_str_array(const pt_json *obj, const char *key, const char **dst, int cap) {
    const pt_json *v = get_typed(obj, key, PT_JSON_ARR);
    if (!v) return -1;
    if (v->n > cap)
        PT_USAGE("%s:%d: key \"%s\" has %d elements, at most %d allowed", pt_json_source(obj), v->line, key, v->n, cap);
    for (int i = 0; i < v->n; i++) {
        const pt_json *e = &v->items[i];
        if (e->type != PT_JSON_STR)
            PT_USAGE("%s:%d: element %d of \"%s\" must be a string, got a %s", pt_json_source(obj), e->line, i,
                     key, pt_json_type_name(e->type));
        dst[i] = e->str;
    }
    return v->n;
}

// ---- writer --------------------------------------------------------------------------------------
static void jb_put(pt_jbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2 + 64;
        b->s = pt_realloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}
static void jb_puts(pt_jbuf *b, const char *s) { jb_put(b, s, strlen(s)); }

static void jb_newline(pt_jbuf *b) {
    if (!b->indent) return;
    jb_put(b, "\n", 1);
    for (int i = 0; i < b->depth * b->indent; i++) jb_put(b, " ", 1);
}

// Before any value or key: comma + newline/indent unless it is the value after a key.
static void jb_pre(pt_jbuf *b) {
    if (b->after_key) { b->after_key = 0; return; }
    if (b->depth > 0) {
        if (b->count[b->depth] > 0) jb_put(b, ",", 1);
        jb_newline(b);
    }
    b->count[b->depth]++;
}

static void jb_open(pt_jbuf *b, char c) {
    jb_pre(b);
    jb_put(b, &c, 1);
    PT_CHECKF(b->depth < 63, "JSON writer: nesting deeper than 63");
    b->depth++;
    b->count[b->depth] = 0;
}
static void jb_close(pt_jbuf *b, char c) {
    PT_CHECKF(b->depth > 0 && !b->after_key, "JSON writer: unbalanced close '%c'", c);
    int had = b->count[b->depth];
    b->depth--;
    if (had) jb_newline(b);
    jb_put(b, &c, 1);
}

void pt_jbuf_obj_begin(pt_jbuf *b) { jb_open(b, '{'); }
void pt_jbuf_obj_end(pt_jbuf *b) { jb_close(b, '}'); }
void pt_jbuf_arr_begin(pt_jbuf *b) { jb_open(b, '['); }
void pt_jbuf_arr_end(pt_jbuf *b) { jb_close(b, ']'); }

static void jb_quoted(pt_jbuf *b, const char *s) {
    jb_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        switch (*c) {
        case '"': jb_puts(b, "\\\""); break;
        case '\\': jb_puts(b, "\\\\"); break;
        case '\n': jb_puts(b, "\\n"); break;
        case '\r': jb_puts(b, "\\r"); break;
        case '\t': jb_puts(b, "\\t"); break;
        case '\b': jb_puts(b, "\\b"); break;
        case '\f': jb_puts(b, "\\f"); break;
        default:
            if (*c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", *c); jb_puts(b, esc); }
            else jb_put(b, (const char *)c, 1);
        }
    }
    jb_put(b, "\"", 1);
}

void pt_jbuf_key(pt_jbuf *b, const char *key) {
    PT_CHECKF(b->depth > 0 && !b->after_key, "JSON writer: key \"%s\" outside an object", key);
    jb_pre(b);
    jb_quoted(b, key);
    jb_puts(b, b->indent ? ": " : ":");
    b->after_key = 1;
}

void pt_jbuf_str(pt_jbuf *b, const char *s) { jb_pre(b); jb_quoted(b, s); }

void pt_jbuf_num(pt_jbuf *b, double x) {
    char t[40];
    jb_pre(b);
    if (isnan(x)) { jb_puts(b, "NaN"); return; }
    if (isinf(x)) { jb_puts(b, x < 0 ? "-Infinity" : "Infinity"); return; }
    for (int prec = 1; prec <= 17; prec++) {  // shortest representation that reads back exactly
        snprintf(t, sizeof t, "%.*g", prec, x);
        if (strtod(t, NULL) == x) break;
    }
    // Python's repr switches to exponent form only outside [1e-4, 1e16)
    if (strpbrk(t, "eE") && fabs(x) >= 1.0 && fabs(x) < 1e16) snprintf(t, sizeof t, "%.0f", x);
    if (!strpbrk(t, ".eEn")) strcat(t, ".0");
    jb_puts(b, t);
}

void pt_jbuf_int(pt_jbuf *b, int64_t x) {
    char t[32];
    jb_pre(b);
    snprintf(t, sizeof t, "%lld", (long long)x);
    jb_puts(b, t);
}
void pt_jbuf_bool(pt_jbuf *b, int x) { jb_pre(b); jb_puts(b, x ? "true" : "false"); }
void pt_jbuf_null(pt_jbuf *b) { jb_pre(b); jb_puts(b, "null"); }
void pt_jbuf_raw(pt_jbuf *b, const char *text) { jb_pre(b); jb_puts(b, text); }

char *pt_jbuf_take(pt_jbuf *b) {
    PT_CHECKF(b->depth == 0, "JSON writer: %d containers left open", b->depth);
    char *s = b->s ? b->s : pt_strdup("");
    int indent = b->indent;
    memset(b, 0, sizeof *b);
    b->indent = indent;
    return s;
}

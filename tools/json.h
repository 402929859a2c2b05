// json.h — a small JSON reader (config.json, safetensors headers, *.index.json) and writer.
//
// Reader: pt_json_parse builds a tree; every node remembers the line it started on and the source
// name, so errors read "unet/config.json:12:5: expected ':' after object key" (exit 2, PT_USAGE).
// Objects keep their keys in file order (keys[i] names items[i]); duplicate keys: the last wins in
// pt_json_get (as Python's json does). Accepts NaN / Infinity / -Infinity like Python's json.
//
// Writer (pt_jbuf): append-only builder that handles commas; indent 2 gives the layout of
// Python's json.dumps(indent=2) used by diffusers' config.json files.
//     pt_jbuf b = {0}; b.indent = 2;
//     pt_jbuf_obj_begin(&b); pt_jbuf_key(&b, "in_channels"); pt_jbuf_int(&b, 4); pt_jbuf_obj_end(&b);
//     char *text = pt_jbuf_take(&b);   // caller frees
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { PT_JSON_NULL, PT_JSON_BOOL, PT_JSON_NUM, PT_JSON_STR, PT_JSON_ARR, PT_JSON_OBJ } pt_json_type;

typedef struct pt_json {
    pt_json_type type;
    double num;            // PT_JSON_NUM
    int boolean;           // PT_JSON_BOOL
    char *str;             // PT_JSON_STR (UTF-8, NUL-terminated; may contain \u0000 as a NUL)
    int n;                 // number of array elements / object members
    char **keys;           // PT_JSON_OBJ: keys[i] names items[i]
    struct pt_json *items; // array elements or object values
    int line;              // 1-based line where the value starts
    // private
    const char *source;    // shared source name (owned by the root)
    int owns_source;       // 1 on the root returned by pt_json_parse
} pt_json;

// Parse `len` bytes of `text`. `source` names the text in error messages ("unet/config.json").
// Syntax errors fail with PT_USAGE("source:line:col: ...").
pt_json *pt_json_parse(const char *text, size_t len, const char *source);
pt_json *pt_json_parse_file(const char *path);
void pt_json_free(pt_json *j);

// Accessors on an object. NULL / dflt when the key is absent (or obj is NULL or not an object);
// a present key of the wrong type fails with PT_USAGE naming the key, source and line.
const pt_json *pt_json_get(const pt_json *obj, const char *key);
double pt_json_num(const pt_json *obj, const char *key, double dflt);
int pt_json_int(const pt_json *obj, const char *key, int dflt);      // must be an integer value
int pt_json_bool(const pt_json *obj, const char *key, int dflt);
const char *pt_json_str(const pt_json *obj, const char *key, const char *dflt);
// Arrays: return the element count (more than cap elements -> PT_USAGE), -1 if absent.
int pt_json_int_array(const pt_json *obj, const char *key, int *dst, int cap);
int pt_json_str_array(const pt_json *obj, const char *key, const char **dst, int cap);
// Source name of a node ("" if unknown), for callers' own error messages.
const char *pt_json_source(const pt_json *j);
const char *pt_json_type_name(pt_json_type t);

// ---- writer ------------------------------------------------------------------------------------
typedef struct pt_jbuf {
    char *s; size_t len, cap;
    int indent;            // 0: compact ({"a":1,"b":[1,2]}); 2: json.dumps(indent=2) layout
    int depth;
    int count[64];         // values written at each depth (for commas)
    int after_key;         // a key was just written: next value follows ": "
} pt_jbuf;

void pt_jbuf_obj_begin(pt_jbuf *b);
void pt_jbuf_obj_end(pt_jbuf *b);
void pt_jbuf_arr_begin(pt_jbuf *b);
void pt_jbuf_arr_end(pt_jbuf *b);
void pt_jbuf_key(pt_jbuf *b, const char *key);
void pt_jbuf_str(pt_jbuf *b, const char *s);
void pt_jbuf_num(pt_jbuf *b, double x);      // shortest round-trip repr; integral values get ".0"
void pt_jbuf_int(pt_jbuf *b, int64_t x);
void pt_jbuf_bool(pt_jbuf *b, int x);
void pt_jbuf_null(pt_jbuf *b);
void pt_jbuf_raw(pt_jbuf *b, const char *text); // append pre-formatted JSON as one value
char *pt_jbuf_take(pt_jbuf *b);              // returns the text (caller frees); resets b (keeps indent)

#ifdef __cplusplus
}
#endif

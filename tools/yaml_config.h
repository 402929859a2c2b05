// yaml_config.h — a schema-driven YAML loader (libyaml) that fills a plain C struct.
//
// A schema is a table of fields, each naming a dotted path ("train.lr"), a type, the offset of
// its member in the struct, bounds, a default (as YAML text) and a help text:
//
//     static const pt_ycfg_field FIELDS[] = {
//         {"train.lr", PT_YC_FLOAT, offsetof(my_cfg, lr), 0, 1, "5e-6", NULL, 0, "learning rate"},
//     };
//     static const pt_ycfg_schema SCHEMA = {"posetune", FIELDS, sizeof FIELDS / sizeof FIELDS[0]};
//
// Member types by field type: BOOL int (0/1) · INT int · INT64 int64_t · FLOAT double ·
// STRING char* (heap, never NULL after defaults; "" = unset) · ENUM int (index into choices; a C enum
// with the same order) · INT_LIST pt_ycfg_ints · FLOAT_LIST pt_ycfg_floats · STRING_LIST pt_ycfg_strs.
//
// YAML files: nested mappings map to dotted paths (`train: {lr: 1e-5}` sets "train.lr"); a dotted
// key (`train.lr: 1e-5`) is accepted too. The top-level key `include:` (or `base:`) names one file or
// a list of files, relative to the including file; they are applied first, in order, and the
// including file's own keys then override them. Errors (PT_USAGE, exit 2) read
//     "configs/x.yaml:12:7: key 'train.lr': expected a number, got 'abc'"
// for: YAML syntax errors, unknown keys (with a "did you mean" hint), wrong types, out-of-range
// numbers, bad enum values (listing the allowed ones), wrong list lengths, duplicate keys within
// one file, include cycles and unreadable includes.
//
// --set overrides: "a.b=VALUE" where VALUE is parsed as one YAML value (scalar or flow list
// "[1, 2]") with the same checks; errors name the argument: "--set 'train.lr=abc': key ...".
//
// Printing writes every field, in schema order, as nested YAML that loads back to an identical
// struct (floats are printed with the shortest text that round-trips, strings double-quoted).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    PT_YC_BOOL, PT_YC_INT, PT_YC_INT64, PT_YC_FLOAT, PT_YC_STRING, PT_YC_ENUM,
    PT_YC_INT_LIST, PT_YC_FLOAT_LIST, PT_YC_STRING_LIST
} pt_ycfg_type;

typedef struct pt_ycfg_ints { int n; int *v; } pt_ycfg_ints;          // heap array of n ints
typedef struct pt_ycfg_floats { int n; double *v; } pt_ycfg_floats;   // heap array of n doubles
typedef struct pt_ycfg_strs { int n; char **v; } pt_ycfg_strs;        // heap array of n heap strings

typedef struct pt_ycfg_field {
    const char *path;             // dotted path, e.g. "train.lr"
    pt_ycfg_type type;
    size_t offset;                // offsetof(struct, member)
    double min, max;              // inclusive bounds of numbers and list elements (-INFINITY/INFINITY: none)
    const char *dflt;             // default as YAML text ("5e-6", "true", "[0.9, 1.0]", "\"\"", "dreampose")
    const char *const *choices;   // ENUM: NULL-terminated allowed strings; the stored value is the index
    int list_len;                 // lists: exact element count required (0: any)
    const char *help;             // one or two sentences; rendered into the reference doc
} pt_ycfg_field;

typedef struct pt_ycfg_schema {
    const char *name;             // shown in messages ("posetune config")
    const pt_ycfg_field *fields;
    int n_fields;
} pt_ycfg_schema;

// Zero `obj` (its strings/lists are NOT freed: call pt_ycfg_free first when reusing) and fill
// every field with its default. Also checks the schema itself (unique paths, contiguous sections,
// defaults that parse and lie in range); a bad schema is an internal error (exit 1).
void pt_ycfg_defaults(const pt_ycfg_schema *s, void *obj);
// Free the heap members (strings, lists) and zero them.
void pt_ycfg_free(const pt_ycfg_schema *s, void *obj);
// Deep copy src into dst (dst's previous heap members are freed; dst must be initialised or zeroed).
void pt_ycfg_copy(const pt_ycfg_schema *s, void *dst, const void *src);
// 1 when every field is equal (floats bit-exact); otherwise 0 and *first_diff names the path.
int pt_ycfg_equal(const pt_ycfg_schema *s, const void *a, const void *b, const char **first_diff);

// Apply a YAML file (and what it includes) on top of obj.
void pt_ycfg_load(const pt_ycfg_schema *s, void *obj, const char *path);
// Apply YAML text held in memory; `source` names it in messages (and is the base of relative includes).
void pt_ycfg_load_text(const pt_ycfg_schema *s, void *obj, const char *text, size_t len, const char *source);
// Apply one "a.b=VALUE" override.
void pt_ycfg_apply_set(const pt_ycfg_schema *s, void *obj, const char *kv);

// The field with this exact path, or NULL.
const pt_ycfg_field *pt_ycfg_find(const pt_ycfg_schema *s, const char *path);
// Pointer to a field's member inside obj.
static inline void *pt_ycfg_member(const pt_ycfg_field *f, void *obj) { return (char *)obj + f->offset; }

// Format one field's value as YAML text ("5e-06", "\"a b\"", "[1, 2]", "dreampose") into buf.
void pt_ycfg_format_value(const pt_ycfg_field *f, const void *obj, char *buf, size_t cap);
// Write every field as nested YAML, in schema order.
void pt_ycfg_print(const pt_ycfg_schema *s, const void *obj, FILE *out);
// The same text as pt_ycfg_print, in a heap string (caller frees).
char *pt_ycfg_print_string(const pt_ycfg_schema *s, const void *obj);
// Atomically write `header` (comment lines, may be NULL) + pt_ycfg_print to path.
void pt_ycfg_save(const pt_ycfg_schema *s, const void *obj, const char *path, const char *header);
// Markdown tables (one per top-level section) of every field: key, type, default, allowed, help.
void pt_ycfg_write_reference(const pt_ycfg_schema *s, FILE *out);
// "float", "int", "enum", "list of int" ...
const char *pt_ycfg_type_name(pt_ycfg_type t);

#ifdef __cplusplus
}
#endif

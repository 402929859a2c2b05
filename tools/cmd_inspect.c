// cmd_inspect.c — posetune inspect FILE: list what a weights file holds.
//
// Handles every weights format pt_weights_load reads (safetensors, sharded index, diffusers folder,
// torch.save .ckpt/.pt/.bin), including posetune's training checkpoints (safetensors with
// posetune.* metadata: regime and step are shown). HDF5 files are packed datasets, not weights:
// they are refused with a message saying so.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoints/weights.h"
#include "tools/check.h"
#include "tools/cli.h"
#include "tools/json.h"

static const char *format_of(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return "model folder";
    size_t n = strlen(path);
    if (n > 11 && strcmp(path + n - 11, ".index.json") == 0) return "sharded (index.json)";
    FILE *f = pt_fopen(path, "rb");
    unsigned char m[8] = {0};
    size_t got = fread(m, 1, 8, f);
    pt_fclose(f, path);
    if (got >= 4 && memcmp(m, "PK\x03\x04", 4) == 0) return "torch.save zip (pickle)";
    if (got >= 8 && memcmp(m, "\x89HDF\r\n\x1a\n", 8) == 0) return "HDF5";
    return "safetensors";
}

static void human_bytes(double b, char *out, size_t cap) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int k = 0;
    while (b >= 1024 && k < 4) { b /= 1024; k++; }
    snprintf(out, cap, k ? "%.2f %s" : "%.0f %s", b, u[k]);
}

// --diff: compare every tensor (matching --filter) of two files; relative error ||a-b||/||b||.
static int diff_files(const char *a_path, const char *b_path, const char *filter, const char *exclude, double tol, double atol,
                      int common) {
    pt_weights *a = pt_weights_load(a_path), *b = pt_weights_load(b_path);
    int bad = 0, n = 0;
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < b->n; i++) {
        const pt_wtensor *tb = &b->t[i];
        if (filter && !strstr(tb->name, filter)) continue;
        if (exclude && strstr(tb->name, exclude)) continue;
        const pt_wtensor *ta = pt_weights_find(a, tb->name);
        if (!ta) { if (!common) { printf("only in %s: %s\n", b_path, tb->name); bad++; } continue; }
        int64_t k = pt_wtensor_numel(tb);
        if (pt_wtensor_numel(ta) != k) { printf("size differs: %s\n", tb->name); bad++; continue; }
        float *x = pt_malloc(sizeof(float) * (size_t)(k ? k : 1)), *y = pt_malloc(sizeof(float) * (size_t)(k ? k : 1));
        pt_weights_read_f32(ta, x);
        pt_weights_read_f32(tb, y);
        double num = 0, den = 0;
        for (int64_t j = 0; j < k; j++) { double d = (double)x[j] - y[j]; num += d * d; den += (double)y[j] * y[j]; }
        double rel = den > 0 ? sqrt(num / den) : sqrt(num);
        if (rel > worst) { worst = rel; worst_name = tb->name; }
        // pass when ||a-b|| <= atol + tol * ||b|| (atol covers tensors that are ~0 in the reference)
        if (sqrt(num) > atol + tol * sqrt(den)) { printf("differs: %s relative error %.3g (abs %.3g)\n", tb->name, rel, sqrt(num)); bad++; }
        n++;
        free(x); free(y);
    }
    for (int i = 0; i < a->n && !common; i++)
        if ((!filter || strstr(a->t[i].name, filter)) && !pt_weights_find(b, a->t[i].name)) { printf("only in %s: %s\n", a_path, a->t[i].name); bad++; }
    printf("%d tensors compared, worst relative error %.3g (%s), %d over tolerance %g (atol %g)\n", n, worst, worst_name, bad, tol, atol);
    pt_weights_free(a); pt_weights_free(b);
    return bad ? PT_EXIT_RUNTIME : 0;
}

int pt_cmd_inspect(int argc, char **argv) {
    const char *filter = NULL, *diff = NULL, *exclude = NULL;
    int as_json = 0;
    double tol = 0;
    int common = 0;
    double atol = 0;
    const pt_flag flags[] = {
        {"filter", PT_FLAG_STR, &filter, "only list tensors whose name contains SUBSTRING", "SUBSTRING"},
        {"json", PT_FLAG_BOOL, &as_json, "print one JSON object instead of a table", NULL},
        {"diff", PT_FLAG_STR, &diff, "compare with OTHER: per-tensor relative error; exit 1 if any exceeds --tol", "OTHER"},
        {"tol", PT_FLAG_FLOAT, &tol, "tolerance for --diff (default 0: bit-identical values)", "X"},
        {"atol", PT_FLAG_FLOAT, &atol, "with --diff: absolute tolerance on ||a-b|| added to tol*||b|| (default 0)", "X"},
        {"exclude", PT_FLAG_STR, &exclude, "with --diff: skip tensors whose name contains SUBSTRING", "SUBSTRING"},
        {"common", PT_FLAG_BOOL, &common, "with --diff: compare only tensors present in both files", NULL},
    };
    const pt_cli_spec spec = {
        "inspect", "FILE|FOLDER [--filter SUBSTRING] [--json]",
        "List the tensors of a weights file (name, dtype, shape, bytes), their count and total parameters,\n"
        "and the safetensors __metadata__. Reads *.safetensors, *.index.json (sharded), diffusers model\n"
        "folders, and torch.save files (*.ckpt, *.pt, *.pth, *.bin) without executing their pickle.",
        flags, 7, 1, 1};
    const char *pos[1];
    int np = 0;
    if (pt_cli_parse(&spec, argc, argv, pos, &np)) return 0;
    const char *path = pos[0];
    if (diff) return diff_files(path, diff, filter, exclude, tol, atol, common);
    const char *fmt = format_of(path);
    if (strcmp(fmt, "HDF5") == 0)
        PT_USAGE("%s: is an HDF5 file (a dataset from posetune pack?), not weights: inspect reads safetensors, "
                 "torch.save files and model folders", path);
    pt_weights *w = pt_weights_load(path);
    int count = 0;
    int64_t params = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < w->n; i++) {
        if (filter && !strstr(w->t[i].name, filter)) continue;
        count++;
        params += pt_wtensor_numel(&w->t[i]);
        bytes += w->t[i].nbytes;
    }
    if (as_json) {
        pt_jbuf b = {0};
        b.indent = 2;
        pt_jbuf_obj_begin(&b);
        pt_jbuf_key(&b, "source"); pt_jbuf_str(&b, path);
        pt_jbuf_key(&b, "format"); pt_jbuf_str(&b, fmt);
        if (filter) { pt_jbuf_key(&b, "filter"); pt_jbuf_str(&b, filter); }
        pt_jbuf_key(&b, "metadata"); pt_jbuf_obj_begin(&b);
        for (int i = 0; i < w->n_meta; i++) { pt_jbuf_key(&b, w->meta_keys[i]); pt_jbuf_str(&b, w->meta_vals[i]); }
        pt_jbuf_obj_end(&b);
        pt_jbuf_key(&b, "count"); pt_jbuf_int(&b, count);
        pt_jbuf_key(&b, "parameters"); pt_jbuf_int(&b, params);
        pt_jbuf_key(&b, "bytes"); pt_jbuf_int(&b, (int64_t)bytes);
        pt_jbuf_key(&b, "tensors"); pt_jbuf_arr_begin(&b);
        for (int i = 0; i < w->n; i++) {
            const pt_wtensor *t = &w->t[i];
            if (filter && !strstr(t->name, filter)) continue;
            pt_jbuf_obj_begin(&b);
            pt_jbuf_key(&b, "name"); pt_jbuf_str(&b, t->name);
            pt_jbuf_key(&b, "dtype"); pt_jbuf_str(&b, pt_st_dtype_str(t->dtype));
            pt_jbuf_key(&b, "shape"); pt_jbuf_arr_begin(&b);
            for (int d = 0; d < t->ndim; d++) pt_jbuf_int(&b, t->shape[d]);
            pt_jbuf_arr_end(&b);
            pt_jbuf_key(&b, "bytes"); pt_jbuf_int(&b, (int64_t)t->nbytes);
            pt_jbuf_obj_end(&b);
        }
        pt_jbuf_arr_end(&b);
        pt_jbuf_obj_end(&b);
        char *s = pt_jbuf_take(&b);
        printf("%s\n", s);
        free(s);
    } else {
        printf("%s: %s\n", path, fmt);
        const char *regime = pt_weights_meta(w, "posetune.regime"), *step = pt_weights_meta(w, "posetune.step");
        if (pt_weights_meta(w, "posetune.format"))
            printf("posetune training checkpoint: regime %s, step %s\n", regime ? regime : "?", step ? step : "?");
        if (w->n_meta) {
            printf("metadata:\n");
            for (int i = 0; i < w->n_meta; i++) {   // long / multi-line values (config YAML) shortened
                const char *v = w->meta_vals[i];
                size_t len = strlen(v), cut = strcspn(v, "\n");
                if (cut > 100) cut = 100;
                if (cut < len) printf("  %s: %.*s ... (%zu bytes; --json shows all)\n", w->meta_keys[i], (int)cut, v, len);
                else printf("  %s: %s\n", w->meta_keys[i], v);
            }
        }
        int width = 4;
        for (int i = 0; i < w->n; i++) {
            int l = (int)strlen(w->t[i].name);
            if ((!filter || strstr(w->t[i].name, filter)) && l > width) width = l;
        }
        if (width > 100) width = 100;
        printf("%-*s  %-5s  %-22s  %s\n", width, "name", "dtype", "shape", "bytes");
        for (int i = 0; i < w->n; i++) {
            const pt_wtensor *t = &w->t[i];
            if (filter && !strstr(t->name, filter)) continue;
            char sh[160];
            printf("%-*s  %-5s  %-22s  %zu\n", width, t->name, pt_st_dtype_str(t->dtype),
                   pt_wtensor_shape_str(t, sh, sizeof sh), t->nbytes);
        }
        char hb[32];
        human_bytes((double)bytes, hb, sizeof hb);
        printf("%d tensors%s, %lld parameters, %llu bytes (%s)\n", count, filter ? " (filtered)" : "",
               (long long)params, (unsigned long long)bytes, hb);
    }
    pt_weights_free(w);
    return 0;
}

// h5util.c — checked HDF5 helpers (see h5util.h).
#include "datasets/h5util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t h5_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t h5_mutex = PTHREAD_MUTEX_INITIALIZER;
static int h5_threadsafe = 0;
static hid_t h5_f16 = -1;

static void h5_init_once(void) {
    if (H5open() < 0) PT_RUNTIME("HDF5: H5open failed");
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);   // we report errors ourselves, one line each
    hbool_t ts = 0;
    if (H5is_library_threadsafe(&ts) >= 0) h5_threadsafe = ts ? 1 : 0;
    // IEEE binary16: sign bit 15, exponent bits 10..14 (bias 15), mantissa bits 0..9.
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0 || H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 ||
        H5Tset_ebias(t, 15) < 0 || H5Tset_precision(t, 16) < 0 || H5Tset_offset(t, 0) < 0)
        PT_RUNTIME("HDF5: could not build the float16 datatype");
    h5_f16 = t;
}

void pt_h5_init(void) { pthread_once(&h5_once, h5_init_once); }
void pt_h5_lock(void) { pt_h5_init(); if (!h5_threadsafe) pthread_mutex_lock(&h5_mutex); }
void pt_h5_unlock(void) { if (!h5_threadsafe) pthread_mutex_unlock(&h5_mutex); }
hid_t pt_h5_f16_type(void) { pt_h5_init(); return h5_f16; }

// Keep the innermost (first) error description of HDF5's stack.
static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
    char *out = (char *)data;
    if (n == 0 && e && e->desc) snprintf(out, 256, "%s (in %s)", e->desc, e->func_name ? e->func_name : "?");
    return 0;
}

void pt_h5_fail(const char *file, int line, const char *call, const char *what) {
    char msg[256] = "no HDF5 error message";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, msg);
    H5Eclear2(H5E_DEFAULT);
    pt_fail_at(file, line, PT_EXIT_RUNTIME, "HDF5 call %s failed on %s: %s", call, what ? what : "?", msg);
}

static void attr_write(hid_t obj, const char *name, hid_t type, const void *v, const char *what) {
    if (H5_CHECK(H5Aexists(obj, name), what) > 0) H5_CHECK(H5Adelete(obj, name), what);
    hid_t sp = H5_CHECK(H5Screate(H5S_SCALAR), what);
    hid_t a = H5_CHECK(H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT), what);
    H5_CHECK(H5Awrite(a, type, v), what);
    H5_CHECK(H5Aclose(a), what);
    H5_CHECK(H5Sclose(sp), what);
}

void pt_h5_attr_write_i64(hid_t obj, const char *name, int64_t v, const char *what) {
    attr_write(obj, name, H5T_NATIVE_INT64, &v, what);
}
void pt_h5_attr_write_f64(hid_t obj, const char *name, double v, const char *what) {
    attr_write(obj, name, H5T_NATIVE_DOUBLE, &v, what);
}
void pt_h5_attr_write_str(hid_t obj, const char *name, const char *s, const char *what) {
    hid_t t = H5_CHECK(H5Tcopy(H5T_C_S1), what);
    H5_CHECK(H5Tset_size(t, strlen(s) + 1), what);
    H5_CHECK(H5Tset_strpad(t, H5T_STR_NULLTERM), what);
    attr_write(obj, name, t, s, what);
    H5_CHECK(H5Tclose(t), what);
}

int pt_h5_attr_exists(hid_t obj, const char *name, const char *what) {
    return H5_CHECK(H5Aexists(obj, name), what) > 0;
}

static hid_t attr_open(hid_t obj, const char *name, const char *what) {
    if (!pt_h5_attr_exists(obj, name, what))
        PT_USAGE("%s: attribute '%s' is missing (not a posetune pack file, or written by an older version?)", what, name);
    return H5_CHECK(H5Aopen(obj, name, H5P_DEFAULT), what);
}

int64_t pt_h5_attr_read_i64(hid_t obj, const char *name, const char *what) {
    hid_t a = attr_open(obj, name, what);
    int64_t v = 0;
    H5_CHECK(H5Aread(a, H5T_NATIVE_INT64, &v), what);
    H5_CHECK(H5Aclose(a), what);
    return v;
}

double pt_h5_attr_read_f64(hid_t obj, const char *name, const char *what) {
    hid_t a = attr_open(obj, name, what);
    double v = 0;
    H5_CHECK(H5Aread(a, H5T_NATIVE_DOUBLE, &v), what);
    H5_CHECK(H5Aclose(a), what);
    return v;
}

char *pt_h5_attr_read_str(hid_t obj, const char *name, const char *what) {
    hid_t a = attr_open(obj, name, what);
    hid_t ft = H5_CHECK(H5Aget_type(a), what);
    if (H5_CHECK(H5Tget_class(ft), what) != H5T_STRING)
        PT_USAGE("%s: attribute '%s' is not a string", what, name);
    char *s = NULL;
    if (H5_CHECK(H5Tis_variable_str(ft), what) > 0) {
        hid_t mt = H5_CHECK(H5Tcopy(H5T_C_S1), what);
        H5_CHECK(H5Tset_size(mt, H5T_VARIABLE), what);
        char *tmp = NULL;
        H5_CHECK(H5Aread(a, mt, &tmp), what);
        s = pt_strdup(tmp ? tmp : "");
        H5free_memory(tmp);
        H5_CHECK(H5Tclose(mt), what);
    } else {
        size_t n = H5Tget_size(ft);
        if (n == 0) pt_h5_fail(__FILE__, __LINE__, "H5Tget_size(ft)", what);
        hid_t mt = H5_CHECK(H5Tcopy(H5T_C_S1), what);
        H5_CHECK(H5Tset_size(mt, n + 1), what);
        H5_CHECK(H5Tset_strpad(mt, H5T_STR_NULLTERM), what);
        s = pt_calloc(n + 2, 1);
        H5_CHECK(H5Aread(a, mt, s), what);
        H5_CHECK(H5Tclose(mt), what);
    }
    H5_CHECK(H5Tclose(ft), what);
    H5_CHECK(H5Aclose(a), what);
    return s;
}

int pt_h5_link_exists(hid_t loc, const char *name, const char *what) {
    return H5_CHECK(H5Lexists(loc, name, H5P_DEFAULT), what) > 0;
}

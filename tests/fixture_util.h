// fixture_util.h — reading the peer fixtures (tests/test_util.h fixtures_dir) in the model tests.
#pragma once
#include "autograd/tensor.h"
#include "checkpoints/weights.h"
#include "tests/test_util.h"

// "<fixtures>/<file>" when that file exists, else NULL (4 rotating buffers: usable in one call).
static inline const char *tu_fixture(const char *file) {
    static char buf[4][4200];
    static int k = 0;
    const char *d = fixtures_dir();
    if (!d) return NULL;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", d, file);
    struct stat st;
    return stat(buf[k], &st) == 0 ? buf[k] : NULL;
}

// Fixture tensor `name` as a CPU tensor: i64 stays i64, any float dtype becomes f32. Fails naming
// the tensor when io lacks it.
static inline pt_tensor *tu_fixture_tensor(const pt_weights *io, const char *name) {
    const pt_wtensor *wt = pt_weights_get(io, name);
    int64_t shape[PT_MAX_DIMS];
    for (int d = 0; d < wt->ndim; d++) shape[d] = wt->shape[d];
    if (wt->dtype == PT_I64) return pt_from_i64(PT_CPU, wt->ndim, shape, wt->data);
    float *h = pt_malloc(sizeof(float) * (size_t)pt_wtensor_numel(wt));
    pt_weights_read_f32(wt, h);
    pt_tensor *t = pt_from_f32(PT_CPU, PT_F32, wt->ndim, shape, h);
    free(h);
    return t;
}

// t and fixture tensor `name` on the host: EXPECTs the fixture holds it with t's element count;
// then *got = t, *want = the fixture (caller frees both) and returns the count; else -1.
static inline int64_t tu_fixture_pair(const pt_weights *io, const char *name, pt_tensor *t, float **got, float **want) {
    const pt_wtensor *ref = pt_weights_find(io, name);
    EXPECT(ref != NULL, "fixture tensor %s present", name);
    if (!ref) return -1;
    int64_t n = pt_wtensor_numel(ref);
    EXPECT(t != NULL && pt_numel(t) == n, "%s: %lld elements", name, (long long)n);
    if (!t || pt_numel(t) != n) return -1;
    *got = pt_malloc(sizeof(float) * (size_t)n);
    *want = pt_malloc(sizeof(float) * (size_t)n);
    pt_copy_to_host_f32(t, *got);
    pt_weights_read_f32(ref, *want);
    return n;
}

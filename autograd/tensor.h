// tensor.h — n-dimensional tensors (up to 5 dims) on the CPU or a CUDA device.
//
// Memory model (see docs/autograd.md):
//  - A tensor is a view (shape, strides, offset in elements) of a refcounted storage.
//  - `refs` counts holders that need the data: the creator (user/scope), and tape nodes that
//    saved the tensor for backward. When it reaches 0 the storage reference is dropped.
//  - `meta_refs` counts tape nodes that only route gradients through the tensor (they need the
//    struct, not the data). The struct is freed when both counts are 0.
//  - Every tensor created by an op is registered in the current scope. pt_scope_end(mark, keep)
//    releases everything created since `mark` except `keep`, which moves to the enclosing scope.
//    Model code therefore never frees intermediates by hand:
//        int mark = pt_scope_begin();
//        ... h = pt_conv2d(...); h = pt_silu(h); ...
//        return pt_scope_end(mark, h);
#pragma once
#include <stdint.h>
#include <stdio.h>

#include "autograd/dtype.h"
#include "autograd/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PT_MAX_DIMS 5

typedef enum pt_device { PT_CPU = 0, PT_CUDA = 1 } pt_device;

typedef struct pt_storage {
    void *data;
    size_t bytes;
    pt_device device;
    int refs;
    int external;  // data not owned (e.g. an mmap): never freed by the storage
} pt_storage;

struct pt_node;

typedef struct pt_tensor {
    int ndim;
    int64_t shape[PT_MAX_DIMS];
    int64_t stride[PT_MAX_DIMS];  // in elements
    int64_t offset;               // in elements, into st->data
    pt_dtype dtype;
    pt_device device;
    pt_storage *st;               // NULL once the data was released
    int refs, meta_refs;
    int requires_grad;
    int is_param;                 // a leaf whose gradient persists in ->grad across backward calls
    int pending_uses;             // parameters: recorded nodes that take it and have not run backward yet
    struct pt_tensor *grad;       // leaves: accumulated gradient (f32); intermediates: engine-managed
    struct pt_node *node;         // producing tape node (NULL for leaves)
    const char *name;             // optional, for messages
} pt_tensor;

// ---- creation (the result belongs to the current scope) -----------------------------------
pt_tensor *pt_empty(pt_device dev, pt_dtype dt, int ndim, const int64_t *shape);
pt_tensor *pt_zeros(pt_device dev, pt_dtype dt, int ndim, const int64_t *shape);
pt_tensor *pt_full(pt_device dev, pt_dtype dt, int ndim, const int64_t *shape, float value);
pt_tensor *pt_empty_like(const pt_tensor *t);
pt_tensor *pt_zeros_like(const pt_tensor *t);
// Copy host f32 data into a new tensor of dtype dt on dev (converting).
pt_tensor *pt_from_f32(pt_device dev, pt_dtype dt, int ndim, const int64_t *shape, const float *src);
pt_tensor *pt_from_i64(pt_device dev, int ndim, const int64_t *shape, const int64_t *src);
// Random normal / uniform fill through the counter-based RNG (same values on CPU and CUDA).
pt_tensor *pt_randn(pt_device dev, pt_dtype dt, int ndim, const int64_t *shape, pt_rng *rng);
pt_tensor *pt_rand_uniform(pt_device dev, pt_dtype dt, int ndim, const int64_t *shape, pt_rng *rng, float lo, float hi);
// Wrap external memory (not freed by the tensor).
pt_tensor *pt_wrap(pt_device dev, pt_dtype dt, int ndim, const int64_t *shape, void *data);
// Shape literal helper: PT_SHAPE(2, 3, 4) -> (const int64_t[]){2,3,4}, ndim via PT_NDIM.
#define PT_SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define PT_NDIM(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define PT_DIMS(...) PT_NDIM(__VA_ARGS__), PT_SHAPE(__VA_ARGS__)

// ---- reference counting and scopes ---------------------------------------------------------
void pt_retain(pt_tensor *t);
void pt_release(pt_tensor *t);          // drop one data reference (removes it from its scope if there)
int pt_scope_begin(void);
pt_tensor *pt_scope_end(int mark, pt_tensor *keep);   // keep may be NULL
void pt_scope_end_keep(int mark, pt_tensor **keep, int n_keep);
// Detach a tensor from scope tracking: the caller now owns one reference (pt_release it).
pt_tensor *pt_own(pt_tensor *t);

// ---- queries ---------------------------------------------------------------------------------
int64_t pt_numel(const pt_tensor *t);
size_t pt_nbytes(const pt_tensor *t);   // numel * dtype size
int pt_is_contiguous(const pt_tensor *t);
int pt_same_shape(const pt_tensor *a, const pt_tensor *b);
void *pt_data(const pt_tensor *t);      // pointer to the first element (base + offset)
float *pt_f32(const pt_tensor *t);      // CPU f32 data, asserts
int64_t pt_size(const pt_tensor *t, int dim);  // negative dims count from the end
const char *pt_shape_str(const pt_tensor *t, char *buf, size_t n);   // "(2, 3, 4) f32 cpu"

// ---- copies and transfers (no autograd: see ops.h for differentiable versions) ---------------
void pt_copy_to_host_f32(const pt_tensor *t, float *dst);   // any device/dtype -> host f32 (contiguous)
void pt_copy_from_host_f32(pt_tensor *t, const float *src); // host f32 -> t (contiguous t)
void pt_copy_(pt_tensor *dst, const pt_tensor *src);        // same shape; converts dtype/device
void pt_accumulate_(pt_tensor *dst, const pt_tensor *src);  // dst += src in place (same shape, dtype, device; dst contiguous)
void pt_fill_(pt_tensor *t, float value);
void pt_zero_(pt_tensor *t);
pt_tensor *pt_clone_nograd(const pt_tensor *t, pt_device dev, pt_dtype dt);

// ---- parameters ---------------------------------------------------------------------------------
// A parameter is a leaf with requires_grad whose ->grad (f32, same device) accumulates across
// backward passes until pt_zero_grad. It is not registered in any scope.
pt_tensor *pt_param_new(pt_device dev, pt_dtype dt, int ndim, const int64_t *shape, const char *name);
void pt_param_set_requires_grad(pt_tensor *p, int on);

// ---- debugging -------------------------------------------------------------------------------
void pt_print(const pt_tensor *t, const char *label, int max_elems);
size_t pt_host_bytes_in_use(void);
size_t pt_host_peak_bytes(void);
int64_t pt_live_tensors(void);   // structs alive (leak checks in tests)

#ifdef __cplusplus
}
#endif

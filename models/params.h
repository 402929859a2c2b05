// params.h — the parameter table of a model: named tensors living in ONE flat allocation
// (llm.c style), addressed by a table whose names are exactly the checkpoint's tensor names,
// so loading is a lookup.
//
//   pt_params P; pt_params_init(&P, PT_CPU, PT_F32);
//   pt_tensor *w = pt_params_add(&P, "conv_in.weight", PT_DIMS(320, 4, 3, 3));   // during model build
//   ...
//   pt_params_finalize(&P);        // one allocation for all data (+ one f32 for all grads)
//   pt_params_load(&P, weights, NULL);   // fails naming any missing / mis-shaped / unexpected tensor
//
// Before finalize, the pt_tensor structs exist (shape known) but have no data; models keep the
// pointers. Set trainability (pt_params_set_trainable) BEFORE finalize: finalize lays out the
// trainable parameters first, in insertion order, so they form the prefix
// [0, numel_trainable) of P.data; P.grad (f32) covers exactly that prefix and each trainable
// tensor's ->grad is a view into it. The optimizer therefore sees one contiguous buffer of
// trainable weights and one of their gradients; frozen weights have no gradient memory at all.
#pragma once
#include <stdint.h>

#include "autograd/tensor.h"
#include "checkpoints/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_param_entry {
    char *name;
    pt_tensor *t;
    int64_t offset;     // element offset into the flat buffers
    int trainable;      // requires_grad
    int is_new;         // may be absent from a pretrained checkpoint (declared by a regime)
    int no_decay;       // optimizer: skip weight decay
} pt_param_entry;

typedef struct pt_params {
    int n, cap;
    pt_param_entry *e;
    pt_device device;
    pt_dtype dtype;      // compute dtype of the parameters
    int64_t numel;       // total elements
    int64_t numel_trainable;   // the trainable prefix (fixed at finalize)
    void *data;          // (numel) in dtype, on device
    float *grad;         // (numel) f32 on device, NULL until pt_params_alloc_grad
    int finalized;
    void *index;         // name -> entry hash (private)
} pt_params;

void pt_params_init(pt_params *p, pt_device dev, pt_dtype dt);
void pt_params_free(pt_params *p);
// Add a parameter (name copied). Fails if the name exists. The tensor is trainable by default.
pt_tensor *pt_params_add(pt_params *p, const char *name, int ndim, const int64_t *shape);
void pt_params_finalize(pt_params *p);   // allocate and zero the flat buffer
void pt_params_alloc_grad(pt_params *p); // allocate the f32 grad buffer of the trainable prefix (zeroed), point each trainable ->grad into it
void pt_params_zero_grad(pt_params *p);
pt_param_entry *pt_params_find(const pt_params *p, const char *name);
int64_t pt_params_count(const pt_params *p, int trainable_only);
// Mark every parameter whose name starts with prefix ("" = all) as trainable or frozen.
// Before finalize this decides the layout; after finalize only freezing is allowed.
void pt_params_set_trainable(pt_params *p, const char *prefix, int on);
void pt_params_mark_new(pt_params *p, const char *name);

// Load by name from a weights file. name_map (optional) maps a parameter name to the file's
// name (NULL: identity). Missing tensors (unless is_new), wrong shapes and (when
// allow_unexpected is 0) file tensors no parameter takes, are PT_USAGE errors naming the tensor.
// prefix_in_file: prepended to every parameter name when looking it up (e.g. "vision_model.").
typedef const char *(*pt_name_map_fn)(const char *param_name, char *buf, size_t n, void *ctx);
typedef struct pt_load_opts {
    const char *file_prefix;
    pt_name_map_fn map; void *map_ctx;
    int allow_unexpected;
    int allow_missing;        // for partial loads (e.g. a checkpoint holding only trainable weights)
    const char *only_prefix;  // load only parameters whose name starts with this
    // Called for every file tensor under file_prefix that no parameter took (name without the
    // prefix); return 1 to accept it silently (e.g. a CLIPModel's text tower, a fixed buffer the
    // caller checks itself), 0 to treat it as unexpected. May fail itself with PT_USAGE.
    int (*ignore)(const char *name, const pt_wtensor *t, const pt_weights *w, void *ctx);
    void *ignore_ctx;
} pt_load_opts;
void pt_params_load(pt_params *p, const pt_weights *w, const pt_load_opts *opts);
// Initialise every parameter with PyTorch-like defaults from an RNG (for the tiny random models):
// weights ~ N(0, std) with std = 1/sqrt(fan_in) for matrices/convs, biases 0, norm weights 1.
void pt_params_init_random(pt_params *p, uint64_t seed);

#ifdef __cplusplus
}
#endif

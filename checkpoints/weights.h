// weights.h — the in-memory view of any weights file, independent of the autograd tensors.
//
// pt_weights_load auto-detects the format:
//   *.safetensors                          (mmap'ed, every header field bounds-checked)
//   *.ckpt / *.pt / *.pth / *.bin          (PyTorch torch.save zip + restricted pickle, pickle.h)
//   *.safetensors.index.json / *.bin.index.json   (sharded: every shard the weight_map names)
//   a diffusers / transformers model folder: diffusion_pytorch_model.safetensors (or its
//   .index.json), model.safetensors (or its .index.json), then the .bin variants.
// Tensor data stays in the mmap where possible (data pointers are const and aligned to the
// element size); nothing is converted until pt_weights_read_f32.
// Every malformed input fails with PT_USAGE (exit 2) naming the file and the tensor or byte offset.
//
// Writer: pt_st_writer collects tensors (converting to the file dtype) and writes a safetensors
// file the way the python library does: compact JSON header ("__metadata__" first, then tensors
// ordered by dtype alignment (largest first) then name, which for one-dtype files is name order),
// padded with spaces to a multiple of 8 bytes, data in the same order. Writes are atomic.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "autograd/dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PT_WEIGHTS_MAX_DIMS 8

typedef struct pt_wtensor {
    char *name;
    pt_dtype dtype;
    int ndim;
    int64_t shape[PT_WEIGHTS_MAX_DIMS];
    const void *data;
    size_t nbytes;
} pt_wtensor;

typedef struct pt_weights {
    int n;
    pt_wtensor *t;
    char *source;              // the path given to pt_weights_load
    int n_meta;                // safetensors "__metadata__" (string -> string), in file order
    char **meta_keys, **meta_vals;
    // private
    int cap;
    int *slots; int n_slots;   // open-addressing hash: index into t, -1 empty
    void **maps; size_t *map_sizes; int n_maps;  // mmaps to unmap on free
    void **bufs; int n_bufs, cap_bufs;           // owned heap buffers
} pt_weights;

pt_weights *pt_weights_load(const char *path);
const pt_wtensor *pt_weights_find(const pt_weights *w, const char *name);   // O(1); NULL if absent
// Like find, but a missing tensor fails with PT_USAGE naming it and the source.
const pt_wtensor *pt_weights_get(const pt_weights *w, const char *name);
void pt_weights_read_f32(const pt_wtensor *t, float *dst);   // converts f16/bf16/f64/ints to f32
int64_t pt_wtensor_numel(const pt_wtensor *t);
const char *pt_weights_meta(const pt_weights *w, const char *key);         // NULL if absent
void pt_weights_free(pt_weights *w);
// Shape as "[320, 4, 3, 3]" into buf (for messages).
const char *pt_wtensor_shape_str(const pt_wtensor *t, char *buf, size_t cap);

// Safetensors dtype strings ("F32", "BF16", ...) <-> pt_dtype; -1 if unknown.
int pt_st_dtype_from_str(const char *s);
const char *pt_st_dtype_str(pt_dtype t);

// ---- for format readers (safetensors.c, pickle.c) -------------------------------------------------
pt_weights *pt_weights_new(const char *source);
// Appends a tensor (name copied; data not copied). A duplicate name fails naming both.
pt_wtensor *pt_weights_add(pt_weights *w, const char *name, pt_dtype dtype, int ndim, const int64_t *shape,
                           const void *data, size_t nbytes);
void pt_weights_own_map(pt_weights *w, void *map, size_t size);  // munmap'ed on free
void *pt_weights_own_buf(pt_weights *w, void *buf);              // free'd on free; returns buf
void pt_weights_add_meta(pt_weights *w, const char *key, const char *val);
// Appends the tensors of one file of a known format into w.
void pt_weights_load_safetensors_into(pt_weights *w, const char *path);
void pt_weights_load_torch_into(pt_weights *w, const char *path);   // pickle.c
// Renames tensor i (keeps the hash index consistent).
void pt_weights_rename(pt_weights *w, int i, const char *new_name);
// Re-raises the failure caught by the enclosing PT_CATCH (same code and message).
#if defined(__GNUC__)
__attribute__((noreturn))
#endif
void pt_weights_rethrow(void);

// ---- safetensors writer -------------------------------------------------------------------------
typedef struct pt_st_writer pt_st_writer;
pt_st_writer *pt_st_writer_new(void);
// Copies src (numel = prod(shape) elements of src_dtype), converted to file_dtype.
// Float <-> float goes through f32 (round-to-nearest-even); int <-> int exact.
void pt_st_writer_add(pt_st_writer *wr, const char *name, pt_dtype file_dtype, int ndim, const int64_t *shape,
                      pt_dtype src_dtype, const void *src);
void pt_st_writer_meta(pt_st_writer *wr, const char *key, const char *value);
void pt_st_writer_write(pt_st_writer *wr, const char *path);   // atomic
// Sharded write into folder `dir` as diffusers / huggingface_hub do: tensors in insertion order
// fill shards of at most max_shard_bytes (a bigger tensor gets its own shard):
//   <stem>-00001-of-0000M.safetensors ... and <stem>.safetensors.index.json
//   ({"metadata": {"total_size": N}, "weight_map": {name: shard}}, sorted keys, indent 2).
// With one shard the result is the plain <stem>.safetensors and no index. Returns the shard count.
int pt_st_writer_write_sharded(pt_st_writer *wr, const char *dir, const char *stem, size_t max_shard_bytes);
void pt_st_writer_free(pt_st_writer *wr);

#ifdef __cplusplus
}
#endif

// pickle.h — restricted reader of PyTorch's torch.save format (zip archive + pickle).
//
// torch.save (>= 1.6) writes a zip of STORED entries:
//   <name>/data.pkl        the pickled object (protocol 2)
//   <name>/data/<key>      raw little-endian bytes of each storage
//   <name>/version ("3"), <name>/byteorder ("little"), ...
// Tensors are pickled as REDUCE(torch._utils._rebuild_tensor_v2, (storage, offset, size, stride,
// requires_grad, hooks)) where storage is a persistent id ('storage', torch.FloatStorage, key,
// location, numel) resolved against <name>/data/<key>.
//
// The pickle VM here executes nothing: it only understands the opcodes torch emits and rebuilds
// dicts, lists, tuples, scalars and tensors. GLOBALs are allow-listed: collections.OrderedDict,
// torch._utils._rebuild_tensor(_v2), torch._utils._rebuild_parameter(_with_state), torch.*Storage
// and a few inert, data-only classes found in training checkpoints (pytorch_lightning callbacks'
// state, numpy scalars), which become opaque values that are dropped. Any other GLOBAL fails:
// "refusing to execute pickle global 'os.system'".
//
// pt_weights_load_torch_into (weights.h) flattens the result: if the top-level dict has a
// "state_dict" dict, that is used; nested dicts of tensors are joined with '.'; non-tensor
// values are skipped. Non-contiguous tensors are copied into contiguous buffers.
#pragma once
#include <stddef.h>
#include <stdint.h>

// ---- zip (stored entries only) -------------------------------------------------------------------
typedef struct pt_zip_entry {
    char *name;
    const uint8_t *data;   // into the mapped archive
    uint64_t size;
    int method;            // 0 = stored
} pt_zip_entry;

typedef struct pt_zip {
    const char *path;
    const uint8_t *base; size_t size;
    int n; pt_zip_entry *e;
} pt_zip;

// Parses the central directory of an archive mapped at base (zip64 supported). Fails with
// PT_USAGE naming the path and byte offset on anything malformed.
void pt_zip_open(pt_zip *z, const char *path, const uint8_t *base, size_t size);
// Entry by exact name; NULL if absent. A compressed entry fails naming it.
const pt_zip_entry *pt_zip_find(const pt_zip *z, const char *name);
void pt_zip_close(pt_zip *z);

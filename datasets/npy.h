// npy.h — NumPy .npy files (format versions 1.0, 2.0, 3.0), C order, little-endian.
//
// Dtypes: '<f8' (PT_F64), '<f4' (PT_F32), '<f2' (PT_F16), '|u1' (PT_U8), '<i8' (PT_I64),
// '<i4' (PT_I32), '|b1' (PT_BOOL). fortran_order True, big-endian data, other dtypes, a bad magic,
// a malformed header and truncated data fail with PT_USAGE naming the file and what was expected.
// DreamPose stores DensePose as float64 (2, H, W): U, V in [0, 1] (frame_N_densepose.npy).
#pragma once
#include <stdint.h>

#include "autograd/dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_npy {
    pt_dtype dtype;
    int ndim;            // 0..8
    int64_t shape[8];
    void *data;          // numel * pt_dtype_size(dtype) bytes, C order
} pt_npy;

pt_npy pt_npy_load(const char *path);
void pt_npy_save(const char *path, const pt_npy *a);   // atomic (temporary + rename)
void pt_npy_save_direct(const char *path, const pt_npy *a);   // checked, not atomic (bulk writers)
void pt_npy_free(pt_npy *a);
int64_t pt_npy_numel(const pt_npy *a);
// The data converted to a newly allocated float32 array (caller frees).
float *pt_npy_to_f32(const pt_npy *a);

#ifdef __cplusplus
}
#endif

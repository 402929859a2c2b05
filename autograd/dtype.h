// dtype.h — element types shared by tensors, weight files and datasets.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef enum pt_dtype {
    PT_F32 = 0,  // CPU reference and master weights
    PT_BF16,     // CUDA compute
    PT_F16,      // CUDA inference; also a storage type in weight files
    PT_I64,      // timesteps, indices
    PT_I32,
    PT_U8,       // images
    PT_F64,      // only in files (DensePose .npy, PyTorch buffers); converted on load
    PT_BOOL,     // only in files
    PT_DTYPE_COUNT
} pt_dtype;

static inline size_t pt_dtype_size(pt_dtype t) {
    switch (t) {
    case PT_F32: case PT_I32: return 4;
    case PT_BF16: case PT_F16: return 2;
    case PT_I64: case PT_F64: return 8;
    case PT_U8: case PT_BOOL: return 1;
    default: return 0;
    }
}
static inline const char *pt_dtype_name(pt_dtype t) {
    static const char *names[] = {"f32", "bf16", "f16", "i64", "i32", "u8", "f64", "bool"};
    return (unsigned)t < PT_DTYPE_COUNT ? names[t] : "?";
}

// Scalar conversions (round-to-nearest-even for bf16/f16).
static inline float pt_bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v; v.u = (uint32_t)h << 16; return v.f;
}
static inline uint16_t pt_f32_to_bf16(float f) {
    union { uint32_t u; float f; } v; v.f = f;
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40);  // NaN stays NaN
    uint32_t rounding = 0x7fffu + ((v.u >> 16) & 1u);
    return (uint16_t)((v.u + rounding) >> 16);
}
float pt_f16_to_f32(uint16_t h);
uint16_t pt_f32_to_f16(float f);
// Convert n elements of any float/int dtype to f32 (and back). Fails on bool/unknown.
void pt_convert_to_f32(pt_dtype src_t, const void *src, float *dst, int64_t n);
void pt_convert_from_f32(pt_dtype dst_t, const float *src, void *dst, int64_t n);

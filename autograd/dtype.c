// dtype.c — half-precision conversions.
#include "autograd/dtype.h"

#include <string.h>

#include "tools/check.h"

float pt_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, u;
    if (exp == 0) {
        if (man == 0) u = sign;
        else {  // subnormal: normalise
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) u = sign | 0x7f800000u | (man << 13);
    else u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    float f; memcpy(&f, &u, 4); return f;
}

uint16_t pt_f32_to_f16(float f) {
    uint32_t u; memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);          // NaN
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);         // overflow -> inf (>= 65520)
    if (a < 0x38800000u) {                                           // subnormal or zero
        if (a < 0x33000000u) return (uint16_t)sign;                  // < 2^-25 rounds to 0
        uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
        // value = m * 2^(e-150); f16 subnormal unit = 2^-24 -> mant = m * 2^(e-126)
        int s = 126 - (int)e;  // right shift amount for m to get units of 2^-24
        uint32_t r = m >> s, rem = m & ((1u << s) - 1), halfway = 1u << (s - 1);
        if (rem > halfway || (rem == halfway && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((a - 0x38000000u) >> 13);                          // rebias exponent
    uint32_t rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;
    return (uint16_t)(sign | r);
}

void pt_convert_to_f32(pt_dtype t, const void *src, float *dst, int64_t n) {
    switch (t) {
    case PT_F32: memmove(dst, src, (size_t)n * 4); break;
    case PT_BF16: for (int64_t i = 0; i < n; i++) dst[i] = pt_bf16_to_f32(((const uint16_t *)src)[i]); break;
    case PT_F16: for (int64_t i = 0; i < n; i++) dst[i] = pt_f16_to_f32(((const uint16_t *)src)[i]); break;
    case PT_F64: for (int64_t i = 0; i < n; i++) dst[i] = (float)((const double *)src)[i]; break;
    case PT_I64: for (int64_t i = 0; i < n; i++) dst[i] = (float)((const int64_t *)src)[i]; break;
    case PT_I32: for (int64_t i = 0; i < n; i++) dst[i] = (float)((const int32_t *)src)[i]; break;
    case PT_U8: for (int64_t i = 0; i < n; i++) dst[i] = (float)((const uint8_t *)src)[i]; break;
    default: PT_RUNTIME("cannot convert dtype %s to f32", pt_dtype_name(t));
    }
}

void pt_convert_from_f32(pt_dtype t, const float *src, void *dst, int64_t n) {
    switch (t) {
    case PT_F32: memmove(dst, src, (size_t)n * 4); break;
    case PT_BF16: for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = pt_f32_to_bf16(src[i]); break;
    case PT_F16: for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = pt_f32_to_f16(src[i]); break;
    case PT_F64: for (int64_t i = 0; i < n; i++) ((double *)dst)[i] = src[i]; break;
    default: PT_RUNTIME("cannot convert f32 to dtype %s", pt_dtype_name(t));
    }
}

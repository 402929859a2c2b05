// rng.h — counter-based random numbers (Philox4x32-10), identical on CPU and CUDA.
//
// A stream is (seed, offset): element i of a draw made at `offset` is a pure function of
// (seed, offset + i), so a draw can be generated in parallel anywhere and the stream state
// saved in a checkpoint is two integers. Streams for different purposes/ranks are derived
// with pt_rng_derive(seed, purpose, rank).
#pragma once
#include <stdint.h>
#ifndef __CUDACC__
#include <math.h>
#endif

#if defined(__CUDACC__)
#define PT_HD __host__ __device__ __forceinline__
#else
#define PT_HD static inline
#endif

typedef struct pt_rng { uint64_t seed; uint64_t offset; } pt_rng;

PT_HD void pt_philox4x32(uint32_t ctr[4], uint32_t key0, uint32_t key1, uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key0, k1 = key1;
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

// Four uniform 32-bit words for counter `idx` of stream `seed`.
PT_HD void pt_rng_bits(uint64_t seed, uint64_t idx, uint32_t out[4]) {
    uint32_t ctr[4] = {(uint32_t)idx, (uint32_t)(idx >> 32), 0x5eed5eedu, 0u};
    pt_philox4x32(ctr, (uint32_t)seed, (uint32_t)(seed >> 32), out);
}

// Uniform in (0, 1]: never 0, so log() is safe.
PT_HD float pt_u32_to_unit(uint32_t x) { return ((float)(x >> 8) + 1.0f) * (1.0f / 16777216.0f); }

// Element i of a standard-normal draw (Box–Muller on one Philox block per pair of elements).
PT_HD float pt_rng_normal_at(uint64_t seed, uint64_t i) {
    uint32_t b[4];
    pt_rng_bits(seed, i >> 1, b);
    float u1 = pt_u32_to_unit(b[0]), u2 = pt_u32_to_unit(b[1]);
    float r = sqrtf(-2.0f * logf(u1));
    float th = 6.283185307179586f * u2;
    return (i & 1) ? r * sinf(th) : r * cosf(th);
}
PT_HD float pt_rng_uniform_at(uint64_t seed, uint64_t i) {
    uint32_t b[4];
    pt_rng_bits(seed, i, b);
    return pt_u32_to_unit(b[0]) - (1.0f / 16777216.0f);  // [0, 1)
}

#ifndef __CUDACC__
#include <math.h>
// Host helpers that advance the stream.
void pt_rng_init(pt_rng *r, uint64_t seed);
// Derive an independent stream seed for (purpose, rank) from a base seed: e.g. purpose "noise".
uint64_t pt_rng_derive(uint64_t base_seed, const char *purpose, int rank);
float pt_rng_uniform(pt_rng *r);                 // [0, 1)
float pt_rng_normal(pt_rng *r);
int64_t pt_rng_int(pt_rng *r, int64_t lo, int64_t hi);   // uniform integer in [lo, hi)
void pt_rng_fill_normal(pt_rng *r, float *dst, int64_t n, float mean, float std);
void pt_rng_fill_uniform(pt_rng *r, float *dst, int64_t n, float lo, float hi);
void pt_rng_permutation(pt_rng *r, int64_t *perm, int64_t n);   // Fisher–Yates
#endif

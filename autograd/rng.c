// rng.c — host side of the counter-based RNG.
#include "autograd/rng.h"

#include <math.h>
#include <string.h>

void pt_rng_init(pt_rng *r, uint64_t seed) { r->seed = seed; r->offset = 0; }

static uint64_t splitmix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t pt_rng_derive(uint64_t base_seed, const char *purpose, int rank) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a over the purpose string
    for (const char *p = purpose; *p; p++) { h ^= (unsigned char)*p; h *= 1099511628211ull; }
    return splitmix64(splitmix64(base_seed ^ h) + (uint64_t)rank * 0x632BE59BD9B4E019ull);
}

float pt_rng_uniform(pt_rng *r) { return pt_rng_uniform_at(r->seed, r->offset++); }

float pt_rng_normal(pt_rng *r) {
    // Use an even-aligned pair index so that single draws match pt_rng_fill_normal element-wise.
    float v = pt_rng_normal_at(r->seed, r->offset);
    r->offset++;
    return v;
}

int64_t pt_rng_int(pt_rng *r, int64_t lo, int64_t hi) {
    if (hi <= lo) return lo;
    uint32_t b[4];
    pt_rng_bits(r->seed, r->offset++, b);
    uint64_t x = ((uint64_t)b[0] << 32) | b[1];
    return lo + (int64_t)(x % (uint64_t)(hi - lo));
}

void pt_rng_fill_normal(pt_rng *r, float *dst, int64_t n, float mean, float std) {
    // Round the offset up to even so Box–Muller pairs never straddle two draws.
    if (r->offset & 1) r->offset++;
    for (int64_t i = 0; i < n; i++) dst[i] = mean + std * pt_rng_normal_at(r->seed, r->offset + (uint64_t)i);
    r->offset += (uint64_t)n + ((uint64_t)n & 1);
}

void pt_rng_fill_uniform(pt_rng *r, float *dst, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) dst[i] = lo + (hi - lo) * pt_rng_uniform_at(r->seed, r->offset + (uint64_t)i);
    r->offset += (uint64_t)n;
}

void pt_rng_permutation(pt_rng *r, int64_t *perm, int64_t n) {
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = pt_rng_int(r, 0, i + 1);
        int64_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
}

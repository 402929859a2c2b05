// test_util.h — a tiny test harness. Each test executable is one ctest test.
//
//   TEST_CASE(name) { ... EXPECT(cond, "fmt", ...); EXPECT_CLOSE(a, b, atol, rtol); ... }
//   int main(void) { RUN(name); ...; return test_summary(); }
//
// test_summary() prints "N passed, N failed" and returns nonzero if anything failed.
// A test that cannot run (missing fixture) calls test_skip("why"): the executable then
// exits with 77, which CMake marks as SKIPPED (visible in the ctest summary, never "passed").
#pragma once
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/check.h"

static int tu_passed = 0, tu_failed = 0, tu_cur_failed = 0, tu_skipped = 0;
static const char *tu_cur = "";

#define TEST_CASE(name) static void test_##name(void)
#define RUN(name)                                                                   \
    do {                                                                            \
        tu_cur = #name; tu_cur_failed = 0;                                          \
        volatile int tu_crashed = 0;                                                        \
        PT_TRY { test_##name(); }                                                   \
        PT_CATCH { tu_crashed = 1;                                                  \
            fprintf(stderr, "  [%s] unexpected failure: %s\n", #name, pt_last_error()); } \
        PT_END_TRY;                                                                 \
        if (tu_cur_failed || tu_crashed) { tu_failed++; printf("FAIL %s\n", #name); } \
        else { tu_passed++; printf("ok   %s\n", #name); }                           \
        fflush(stdout);                                                             \
    } while (0)

#define EXPECT(cond, ...)                                                           \
    do { if (!(cond)) { tu_cur_failed = 1;                                          \
        fprintf(stderr, "  [%s] %s:%d: expected %s: ", tu_cur, __FILE__, __LINE__, #cond); \
        fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); } } while (0)

#define EXPECT_CLOSE(a, b, atol, rtol)                                              \
    do { double tu_a = (double)(a), tu_b = (double)(b);                             \
        if (!(fabs(tu_a - tu_b) <= (atol) + (rtol) * fabs(tu_b))) { tu_cur_failed = 1; \
        fprintf(stderr, "  [%s] %s:%d: %s = %.9g, expected %s = %.9g (atol %g rtol %g)\n", \
                tu_cur, __FILE__, __LINE__, #a, tu_a, #b, tu_b, (double)(atol), (double)(rtol)); } } while (0)

// Expect the statement to fail through PT_FAIL with `code` and a message containing `needle`.
#define EXPECT_FAILS(stmt, code, needle)                                            \
    do { volatile int tu_f = 0;                                                              \
        PT_TRY { stmt; } PT_CATCH { tu_f = 1;                                       \
            if (pt_last_error_code() != (code) || !strstr(pt_last_error(), (needle))) { \
                tu_cur_failed = 1;                                                  \
                fprintf(stderr, "  [%s] %s:%d: failure was code %d '%s', expected code %d containing '%s'\n", \
                        tu_cur, __FILE__, __LINE__, pt_last_error_code(), pt_last_error(), (code), (needle)); } \
        } PT_END_TRY;                                                               \
        if (!tu_f) { tu_cur_failed = 1;                                             \
            fprintf(stderr, "  [%s] %s:%d: expected failure of %s\n", tu_cur, __FILE__, __LINE__, #stmt); } \
    } while (0)

// Relative error ||a-b|| / ||b|| (b is the reference); 0 if both are zero.
static inline double rel_err_f32(const float *a, const float *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d; den += (double)b[i] * (double)b[i];
    }
    if (den == 0) return sqrt(num);
    return sqrt(num / den);
}

static inline void test_skip(const char *why) {
    printf("SKIP: %s\n", why);
    tu_skipped++;
}

static inline int test_summary(void) {
    printf("%d passed, %d failed%s\n", tu_passed, tu_failed, tu_skipped ? ", skipped parts present" : "");
    if (tu_failed) return 1;
    if (tu_skipped && tu_passed == 0) return 77;
    return 0;
}

// Path of the peer fixtures: $POSETUNE_FIXTURES, else ../shared/fixtures/peer relative to the
// source tree (POSETUNE_SOURCE_DIR is defined by CMake). Returns NULL when absent.
static inline const char *fixtures_dir(void) {
    static char buf[4096];
    const char *env = getenv("POSETUNE_FIXTURES");
    struct stat st;
    if (env && stat(env, &st) == 0) return env;
#ifdef POSETUNE_SOURCE_DIR
    snprintf(buf, sizeof buf, "%s/../shared/fixtures/peer", POSETUNE_SOURCE_DIR);
    if (stat(buf, &st) == 0) return buf;
#endif
    return NULL;
}

// Scratch folder of one test executable: $POSETUNE_TEST_TMP (else /tmp)/<name>.<pid>, created.
// Call tu_tmp_init once (from main); tu_tmp_path("x.png") is "<that folder>/x.png" (4 rotating
// buffers: usable twice in one call).
static char tu_tmpdir[1024];
static inline const char *tu_tmp_init(const char *name) {
    const char *base = getenv("POSETUNE_TEST_TMP");
    snprintf(tu_tmpdir, sizeof tu_tmpdir, "%s/%s.%d", base && base[0] ? base : "/tmp", name, (int)getpid());
    pt_mkdirs(tu_tmpdir);
    return tu_tmpdir;
}
static inline const char *tu_tmp_path(const char *name) {
    static char buf[4][2048];
    static int k = 0;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tu_tmpdir, name);
    return buf[k];
}

// Removes the scratch folder when every test passed (kept for inspection on a failure or with
// KEEP_TMP set).
static inline void tu_tmp_cleanup(void) {
    if (tu_failed || getenv("KEEP_TMP") || !tu_tmpdir[0]) return;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tu_tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tu_tmpdir);
}

// Deterministic uniform/normal numbers for test inputs (independent of the engine's RNG).
static uint64_t tu_rng_state = 0x9E3779B97F4A7C15ull;
static inline void tu_seed(uint64_t s) { tu_rng_state = s * 0x9E3779B97F4A7C15ull + 1; }
static inline double tu_uniform(void) {
    uint64_t z = (tu_rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}
static inline double tu_normal(void) {
    double u1 = tu_uniform(), u2 = tu_uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// check.h — error reporting for every external call, with file and line.
//
// Conventions (see docs/CONVENTIONS.md):
//   exit code 1: runtime failure (I/O error, CUDA error, NaN loss ...)
//   exit code 2: usage / config / bad-input error (names the flag, key, file, tensor or byte offset)
// Tests may intercept failures with PT_TRY / PT_CATCH (setjmp based) instead of exiting.
#pragma once
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { PT_EXIT_RUNTIME = 1, PT_EXIT_USAGE = 2 };

// Report and exit (or longjmp to an installed PT_TRY). Never returns.
#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 4, 5)))
#endif
void pt_fail_at(const char *file, int line, int code, const char *fmt, ...);

// Last failure message (valid inside PT_CATCH).
const char *pt_last_error(void);
int pt_last_error_code(void);

// Non-fatal warning with location.
void pt_warn_at(const char *file, int line, const char *fmt, ...);

// setjmp-based catch for tests and for code that must clean up (e.g. atomic writers).
typedef struct pt_try_frame { jmp_buf env; struct pt_try_frame *prev; } pt_try_frame;
void pt_try_push(pt_try_frame *f);
void pt_try_pop(pt_try_frame *f);
#define PT_TRY                                   \
    do {                                         \
        pt_try_frame pt__frame;                  \
        pt_try_push(&pt__frame);                 \
        if (setjmp(pt__frame.env) == 0) {
#define PT_CATCH                                 \
            pt_try_pop(&pt__frame);              \
        } else {                                 \
            pt_try_pop(&pt__frame);
#define PT_END_TRY                               \
        }                                        \
    } while (0)

#define PT_FAIL(code, ...) pt_fail_at(__FILE__, __LINE__, (code), __VA_ARGS__)
#define PT_USAGE(...) pt_fail_at(__FILE__, __LINE__, PT_EXIT_USAGE, __VA_ARGS__)
#define PT_RUNTIME(...) pt_fail_at(__FILE__, __LINE__, PT_EXIT_RUNTIME, __VA_ARGS__)
#define PT_WARN(...) pt_warn_at(__FILE__, __LINE__, __VA_ARGS__)

// Internal invariant (a bug in posetune, not in the user's input).
#define PT_ASSERT(cond, ...)                                                          \
    do { if (!(cond)) pt_fail_at(__FILE__, __LINE__, PT_EXIT_RUNTIME,                 \
                                 "internal check failed: %s", #cond); } while (0)
#define PT_CHECKF(cond, ...)                                                          \
    do { if (!(cond)) pt_fail_at(__FILE__, __LINE__, PT_EXIT_RUNTIME, __VA_ARGS__); } while (0)

// Checked file calls: every one names the path and the OS error.
FILE *pt_fopen_at(const char *file, int line, const char *path, const char *mode);
void pt_fread_at(const char *file, int line, void *dst, size_t size, size_t n, FILE *f, const char *path);
void pt_fwrite_at(const char *file, int line, const void *src, size_t size, size_t n, FILE *f, const char *path);
void pt_fclose_at(const char *file, int line, FILE *f, const char *path);
void *pt_malloc_at(const char *file, int line, size_t bytes);
void *pt_calloc_at(const char *file, int line, size_t n, size_t size);
void *pt_realloc_at(const char *file, int line, void *p, size_t bytes);
char *pt_strdup_at(const char *file, int line, const char *s);
#define pt_fopen(path, mode) pt_fopen_at(__FILE__, __LINE__, (path), (mode))
#define pt_fread(dst, sz, n, f, path) pt_fread_at(__FILE__, __LINE__, (dst), (sz), (n), (f), (path))
#define pt_fwrite(src, sz, n, f, path) pt_fwrite_at(__FILE__, __LINE__, (src), (sz), (n), (f), (path))
#define pt_fclose(f, path) pt_fclose_at(__FILE__, __LINE__, (f), (path))
#define pt_malloc(bytes) pt_malloc_at(__FILE__, __LINE__, (bytes))
#define pt_calloc(n, sz) pt_calloc_at(__FILE__, __LINE__, (n), (sz))
#define pt_realloc(p, bytes) pt_realloc_at(__FILE__, __LINE__, (p), (bytes))
#define pt_strdup(s) pt_strdup_at(__FILE__, __LINE__, (s))

// Read a whole file into memory (NUL-terminated); fails naming the path.
char *pt_read_file(const char *path, size_t *len_out);

// Atomic write: data goes to "<path>.tmp.<pid>", is fsync'ed, then renamed over <path>
// (and the directory fsync'ed). A crash at any point leaves either the old or the new file.
typedef struct pt_atomic_file { FILE *f; char *path; char *tmp_path; } pt_atomic_file;
void pt_atomic_open(pt_atomic_file *af, const char *path);
void pt_atomic_commit(pt_atomic_file *af);   // fflush + fsync + rename + dir fsync
void pt_atomic_abort(pt_atomic_file *af);    // remove the temporary
// Fault injection for tests: when the environment variable POSETUNE_FAULT equals `point`,
// the process is killed (SIGKILL) at that point. Points used: "before_rename" (every atomic
// write, between fsync and rename), "pack_mid_video". "before_rename:TEXT" kills only the atomic
// write whose file name contains TEXT (e.g. before_rename:step-00000004 for one checkpoint).
void pt_fault_point(const char *point);
void pt_fault_point_file(const char *point, const char *path);

// mkdir -p; fails naming the path.
void pt_mkdirs(const char *path);

#ifdef __cplusplus
}
#endif

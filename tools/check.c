// check.c — failure reporting, checked file calls, atomic files.
#define _GNU_SOURCE
#include "check.h"

#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static _Thread_local pt_try_frame *g_try_top = NULL;
static _Thread_local char g_last_error[2048];
static _Thread_local int g_last_code = 0;

const char *pt_last_error(void) { return g_last_error; }
int pt_last_error_code(void) { return g_last_code; }

void pt_try_push(pt_try_frame *f) { f->prev = g_try_top; g_try_top = f; }
void pt_try_pop(pt_try_frame *f) { if (g_try_top == f) g_try_top = f->prev; }

void pt_fail_at(const char *file, int line, int code, const char *fmt, ...) {
    char msg[1792];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(g_last_error, sizeof g_last_error, "%s", msg);
    g_last_code = code;
    if (g_try_top) {
        pt_try_frame *f = g_try_top;
        g_try_top = f->prev;
        longjmp(f->env, 1);
    }
    fflush(stdout);
    fprintf(stderr, "posetune: error: %s\n  (at %s:%d)\n", msg, file, line);
    fflush(stderr);
    exit(code);
}

void pt_warn_at(const char *file, int line, const char *fmt, ...) {
    char msg[1792];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "posetune: warning: %s (at %s:%d)\n", msg, file, line);
}

FILE *pt_fopen_at(const char *file, int line, const char *path, const char *mode) {
    FILE *f = fopen(path, mode);
    if (!f) {
        // A file the user named that cannot be read is bad input (2); an output that cannot be
        // written is a runtime failure (1).
        int reading = mode[0] == 'r' && !strchr(mode, '+');
        int code = (reading && (errno == ENOENT || errno == EACCES || errno == EISDIR || errno == ENOTDIR))
                       ? PT_EXIT_USAGE : PT_EXIT_RUNTIME;
        pt_fail_at(file, line, code, "cannot open '%s' (mode %s): %s", path, mode, strerror(errno));
    }
    return f;
}

void pt_fread_at(const char *file, int line, void *dst, size_t size, size_t n, FILE *f, const char *path) {
    size_t got = fread(dst, size, n, f);
    if (got != n) {
        if (ferror(f))
            pt_fail_at(file, line, PT_EXIT_RUNTIME, "read error in '%s': %s", path, strerror(errno));
        pt_fail_at(file, line, PT_EXIT_USAGE, "'%s' is truncated: wanted %zu bytes at offset %ld, got %zu",
                   path, size * n, ftell(f) - (long)(got * size), got * size);
    }
}

void pt_fwrite_at(const char *file, int line, const void *src, size_t size, size_t n, FILE *f, const char *path) {
    if (n == 0 || size == 0) return;
    if (fwrite(src, size, n, f) != n)
        pt_fail_at(file, line, PT_EXIT_RUNTIME, "write error in '%s': %s", path, strerror(errno));
}

void pt_fclose_at(const char *file, int line, FILE *f, const char *path) {
    if (fclose(f) != 0)
        pt_fail_at(file, line, PT_EXIT_RUNTIME, "close error on '%s': %s", path, strerror(errno));
}

void *pt_malloc_at(const char *file, int line, size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) pt_fail_at(file, line, PT_EXIT_RUNTIME, "out of host memory allocating %zu bytes", bytes);
    return p;
}
void *pt_calloc_at(const char *file, int line, size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) pt_fail_at(file, line, PT_EXIT_RUNTIME, "out of host memory allocating %zu x %zu bytes", n, size);
    return p;
}
void *pt_realloc_at(const char *file, int line, void *q, size_t bytes) {
    void *p = realloc(q, bytes ? bytes : 1);
    if (!p) pt_fail_at(file, line, PT_EXIT_RUNTIME, "out of host memory reallocating %zu bytes", bytes);
    return p;
}
char *pt_strdup_at(const char *file, int line, const char *s) {
    size_t n = strlen(s) + 1;
    char *p = pt_malloc_at(file, line, n);
    memcpy(p, s, n);
    return p;
}

char *pt_read_file(const char *path, size_t *len_out) {
    FILE *f = pt_fopen(path, "rb");
    if (fseek(f, 0, SEEK_END) != 0) PT_RUNTIME("cannot seek in '%s': %s", path, strerror(errno));
    long n = ftell(f);
    if (n < 0) PT_RUNTIME("cannot tell size of '%s': %s", path, strerror(errno));
    rewind(f);
    char *buf = pt_malloc((size_t)n + 1);
    pt_fread(buf, 1, (size_t)n, f, path);
    buf[n] = 0;
    pt_fclose(f, path);
    if (len_out) *len_out = (size_t)n;
    return buf;
}

void pt_fault_point(const char *point) { pt_fault_point_file(point, NULL); }

void pt_fault_point_file(const char *point, const char *path) {
    const char *f = getenv("POSETUNE_FAULT");
    if (!f) return;
    size_t n = strlen(point);
    int hit = strcmp(f, point) == 0;
    if (!hit && path && strncmp(f, point, n) == 0 && f[n] == ':') {
        const char *base = strrchr(path, '/');
        hit = strstr(base ? base + 1 : path, f + n + 1) != NULL;
    }
    if (hit) {
        fprintf(stderr, "posetune: fault injected at '%s'%s%s: killing self\n", point, path ? " writing " : "", path ? path : "");
        fflush(stderr);
        raise(SIGKILL);
    }
}

void pt_atomic_open(pt_atomic_file *af, const char *path) {
    // The rename would replace whatever is there: refuse anything but a regular file
    // (e.g. --output /dev/null or a folder).
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
        PT_USAGE("'%s' exists and is not a regular file; refusing to replace it (give a file path)", path);
    af->path = pt_strdup(path);
    size_t n = strlen(path) + 32;
    af->tmp_path = pt_malloc(n);
    snprintf(af->tmp_path, n, "%s.tmp.%d", path, (int)getpid());
    af->f = pt_fopen(af->tmp_path, "wb");
}

static void fsync_dir_of(const char *path) {
    char *copy = pt_strdup(path);
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) { (void)fsync(fd); close(fd); }
    free(copy);
}

void pt_atomic_commit(pt_atomic_file *af) {
    if (fflush(af->f) != 0) PT_RUNTIME("flush of '%s' failed: %s", af->tmp_path, strerror(errno));
    if (fsync(fileno(af->f)) != 0) PT_RUNTIME("fsync of '%s' failed: %s", af->tmp_path, strerror(errno));
    pt_fclose(af->f, af->tmp_path);
    af->f = NULL;
    pt_fault_point_file("before_rename", af->path);
    if (rename(af->tmp_path, af->path) != 0)
        PT_RUNTIME("rename '%s' -> '%s' failed: %s", af->tmp_path, af->path, strerror(errno));
    fsync_dir_of(af->path);
    free(af->path); free(af->tmp_path);
    af->path = af->tmp_path = NULL;
}

void pt_atomic_abort(pt_atomic_file *af) {
    if (af->f) fclose(af->f);
    if (af->tmp_path) remove(af->tmp_path);
    free(af->path); free(af->tmp_path);
    af->f = NULL; af->path = af->tmp_path = NULL;
}

static int is_dir(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISDIR(st.st_mode); }

void pt_mkdirs(const char *path) {
    char *p = pt_strdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0755) != 0 && (errno != EEXIST || !is_dir(p)))
                PT_RUNTIME("cannot create directory '%s': %s", p, errno == EEXIST ? "a file of that name exists" : strerror(errno));
            *s = '/';
        }
    }
    if (mkdir(p, 0755) != 0 && (errno != EEXIST || !is_dir(p)))
        PT_RUNTIME("cannot create directory '%s': %s", p, errno == EEXIST ? "a file of that name exists" : strerror(errno));
    free(p);
}

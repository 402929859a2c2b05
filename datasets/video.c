// video.c — mp4 <-> PNG frames through the ffmpeg CLI (fork/exec, exit status checked).
#define _GNU_SOURCE
#include "datasets/video.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/check.h"

#define FFMPEG_MISSING "ffmpeg is not installed; install the Debian package ffmpeg or give frames"

// Full path of `name` on PATH into buf; 0 when not found.
static int find_on_path(const char *name, char *buf, size_t cap) {
    if (strchr(name, '/')) {
        snprintf(buf, cap, "%s", name);
        return access(buf, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path) return 0;
    const char *p = path;
    while (*p) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0) snprintf(buf, cap, "./%s", name);
        else snprintf(buf, cap, "%.*s/%s", (int)n, p, name);
        struct stat st;
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

int pt_ffmpeg_available(void) {
    char buf[4096];
    return find_on_path("ffmpeg", buf, sizeof buf);
}

// Appends to a buffer that keeps the last cap-1 bytes.
static void keep_tail(char *dst, int cap, int *len, const char *src, int n) {
    if (!dst || cap <= 1) return;
    for (int i = 0; i < n; i++) {
        if (*len == cap - 1) { memmove(dst, dst + 1, (size_t)cap - 2); (*len)--; }
        dst[(*len)++] = src[i];
    }
    dst[*len] = 0;
}

int pt_run_tool(const char *const *argv, char *err, int err_cap, char *out, int out_cap) {
    char exe[4096];
    if (!find_on_path(argv[0], exe, sizeof exe))
        PT_USAGE("%s is not installed (not found on PATH)", argv[0]);
    int perr[2], pout[2];
    if (pipe(perr) != 0 || pipe(pout) != 0) PT_RUNTIME("pipe() for %s failed: %s", argv[0], strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) PT_RUNTIME("fork() for %s failed: %s", argv[0], strerror(errno));
    if (pid == 0) {
        dup2(pout[1], 1);
        dup2(perr[1], 2);
        close(perr[0]); close(perr[1]); close(pout[0]); close(pout[1]);
        execv(exe, (char *const *)argv);
        fprintf(stderr, "exec %s failed: %s\n", exe, strerror(errno));
        _exit(127);
    }
    close(perr[1]);
    close(pout[1]);
    int elen = 0, olen = 0;
    if (err && err_cap > 0) err[0] = 0;
    if (out && out_cap > 0) out[0] = 0;
    struct pollfd fds[2] = {{perr[0], POLLIN, 0}, {pout[0], POLLIN, 0}};
    int open_fds = 2;
    char buf[4096];
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int k = 0; k < 2; k++) {
            if (fds[k].fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = read(fds[k].fd, buf, sizeof buf);
            if (n <= 0) { close(fds[k].fd); fds[k].fd = -1; open_fds--; continue; }
            if (k == 0) keep_tail(err, err_cap, &elen, buf, (int)n);
            else keep_tail(out, out_cap, &olen, buf, (int)n);
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) PT_RUNTIME("waitpid for %s failed: %s", argv[0], strerror(errno));
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}

static void need_ffmpeg(void) {
    if (!pt_ffmpeg_available()) PT_USAGE(FFMPEG_MISSING);
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static double parse_rate(const char *s) {
    int a = 0, b = 0;
    if (sscanf(s, "%d/%d", &a, &b) == 2 && b > 0) return (double)a / b;
    return atof(s);
}

void pt_video_to_frames(const char *mp4, const char *out_dir, int *n_frames, double *fps) {
    need_ffmpeg();
    if (!file_exists(mp4)) PT_USAGE("video '%s' does not exist", mp4);
    pt_mkdirs(out_dir);
    struct stat st;
    if (stat(out_dir, &st) != 0 || !S_ISDIR(st.st_mode)) PT_USAGE("frame folder '%s' is not a directory", out_dir);
    char pattern[4200], err[4096];
    snprintf(pattern, sizeof pattern, "%s/frame_%%04d.png", out_dir);
    const char *argv[] = {"ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", mp4,
                          "-start_number", "0", "-vsync", "0", pattern, NULL};
    int rc = pt_run_tool(argv, err, sizeof err, NULL, 0);
    if (rc != 0) PT_USAGE("ffmpeg could not decode '%s' (exit status %d): %s", mp4, rc, err);
    int n = 0;
    char path[4300];
    for (;; n++) {
        snprintf(path, sizeof path, "%s/frame_%04d.png", out_dir, n);
        if (!file_exists(path)) break;
    }
    if (n == 0) PT_USAGE("ffmpeg decoded no frames from '%s'", mp4);
    if (n_frames) *n_frames = n;
    if (fps) {
        *fps = 0;
        char exe[4096], rate[256];
        if (find_on_path("ffprobe", exe, sizeof exe)) {
            const char *pargv[] = {"ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                   "stream=avg_frame_rate", "-of", "default=noprint_wrappers=1:nokey=1", mp4, NULL};
            if (pt_run_tool(pargv, err, sizeof err, rate, sizeof rate) == 0) *fps = parse_rate(rate);
        }
    }
}

void pt_frames_to_mp4(const char *pattern_dir, int n, double fps, const char *mp4) {
    need_ffmpeg();
    if (n <= 0) PT_USAGE("no frames to encode into '%s'", mp4);
    if (!(fps > 0)) PT_USAGE("encoding '%s': fps must be positive (got %g)", mp4, fps);
    char path[4300];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/frame_%04d.png", pattern_dir, i);
        if (!file_exists(path)) PT_USAGE("encoding '%s': frame '%s' is missing (expected %d frames)", mp4, path, n);
    }
    char pattern[4200], rate[32], count[32], tmp[4200], err[4096];
    snprintf(pattern, sizeof pattern, "%s/frame_%%04d.png", pattern_dir);
    snprintf(rate, sizeof rate, "%.6g", fps);
    snprintf(count, sizeof count, "%d", n);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", mp4, (int)getpid());
    const char *argv[] = {"ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                          "-framerate", rate, "-start_number", "0", "-i", pattern, "-frames:v", count,
                          "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                          "-f", "mp4", tmp, NULL};
    int rc = pt_run_tool(argv, err, sizeof err, NULL, 0);
    if (rc != 0) {
        remove(tmp);
        PT_RUNTIME("ffmpeg failed to encode '%s' (exit status %d): %s", mp4, rc, err);
    }
    if (rename(tmp, mp4) != 0) {
        int e = errno;
        remove(tmp);
        PT_RUNTIME("rename '%s' -> '%s' failed: %s", tmp, mp4, strerror(e));
    }
}

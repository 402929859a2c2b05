// rawdir.c — scan and validate raw video folders (see rawdir.h).
#include "datasets/rawdir.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoints/weights.h"   // pt_weights_rethrow
#include "datasets/video.h"
#include "tools/check.h"
#include "tools/json.h"

const char *pt_pose_kind_name(pt_pose_kind k) {
    return k == PT_POSE_DENSEPOSE ? "densepose" : k == PT_POSE_SKELETON ? "skeleton" : "auto";
}

pt_pose_kind pt_pose_kind_parse(const char *s, const char *what) {
    if (!strcmp(s, "auto")) return PT_POSE_AUTO;
    if (!strcmp(s, "densepose")) return PT_POSE_DENSEPOSE;
    if (!strcmp(s, "skeleton")) return PT_POSE_SKELETON;
    PT_USAGE("%s: pose kind '%s' is not one of densepose, skeleton, auto", what, s);
}

static int is_dir(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISDIR(st.st_mode); }
static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = pt_malloc(n);
    snprintf(s, n, "%s/%s", a, b);
    return s;
}
static const char *base_name(const char *p) {
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') n--;
    const char *s = p + n;
    while (s > p && s[-1] != '/') s--;
    return s;
}
static char *base_name_dup(const char *p) {
    const char *b = base_name(p);
    size_t n = strlen(b);
    while (n > 1 && b[n - 1] == '/') n--;
    char *s = pt_malloc(n + 1);
    memcpy(s, b, n); s[n] = 0;
    return s;
}

// ---- header peeks ---------------------------------------------------------------------------
static uint32_t be32(const unsigned char *p) { return ((uint32_t)p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }

void pt_png_peek_size(const char *path, int *h, int *w) {
    unsigned char b[24];
    FILE *f = pt_fopen(path, "rb");
    size_t got = fread(b, 1, sizeof b, f);
    pt_fclose(f, path);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (got < 24 || memcmp(b, sig, 8) != 0 || memcmp(b + 12, "IHDR", 4) != 0)
        PT_USAGE("%s: unreadable image: not a PNG file (bad signature or header, %zu bytes read)", path, got);
    *w = (int)be32(b + 16);
    *h = (int)be32(b + 20);
    if (*w <= 0 || *h <= 0 || *w > 65536 || *h > 65536)
        PT_USAGE("%s: unreadable image: PNG header gives size %dx%d", path, *w, *h);
}

void pt_npy_peek_dense(const char *path, int *h, int *w) {
    unsigned char pre[12];
    FILE *f = pt_fopen(path, "rb");
    size_t got = fread(pre, 1, sizeof pre, f);
    if (got < 10 || memcmp(pre, "\x93NUMPY", 6) != 0) { pt_fclose(f, path); PT_USAGE("%s: not a .npy file (bad magic)", path); }
    int major = pre[6];
    size_t hl, off;
    if (major == 1) { hl = pre[8] | (pre[9] << 8); off = 10; }
    else { hl = pre[8] | (pre[9] << 8) | ((size_t)pre[10] << 16) | ((size_t)pre[11] << 24); off = 12; }
    if (hl > 1 << 20) { pt_fclose(f, path); PT_USAGE("%s: .npy header length %zu is implausible", path, hl); }
    char *hdr = pt_calloc(hl + 1, 1);
    if (fseek(f, (long)off, SEEK_SET) != 0 || fread(hdr, 1, hl, f) != hl) {
        pt_fclose(f, path); free(hdr);
        PT_USAGE("%s: truncated .npy header (expected %zu header bytes at offset %zu)", path, hl, off);
    }
    pt_fclose(f, path);
    const char *d = strstr(hdr, "'descr'"), *s = strstr(hdr, "'shape'");
    if (!d || !s) {
        char head[96];
        snprintf(head, sizeof head, "%.80s", hdr);
        free(hdr);
        PT_USAGE("%s: .npy header has no descr/shape: %s", path, head);
    }
    const char *q = strchr(d + 7, '\'');
    int itemsize = 0;
    if (q) { const char *e = strchr(q + 1, '\''); if (e) itemsize = atoi(e - 1 - (e[-2] >= '0' && e[-2] <= '9')); }
    long long dims[8]; int nd = 0;
    const char *p = strchr(s, '(');
    while (p && *p && *p != ')' && nd < 8) {
        p++;
        while (*p == ' ') p++;
        if (*p == ')') break;
        dims[nd++] = strtoll(p, (char **)&p, 10);
        while (*p == ' ') p++;
        if (*p != ',') break;
    }
    free(hdr);
    if (nd != 3 || dims[0] != 2)
        PT_USAGE("%s: DensePose array must have shape (2, H, W), header has %d dims (first %lld)", path, nd, nd ? dims[0] : 0);
    struct stat st;
    if (stat(path, &st) != 0) PT_USAGE("%s: cannot stat", path);
    long long need = (long long)(off + hl) + dims[0] * dims[1] * dims[2] * (itemsize > 0 ? itemsize : 1);
    if ((long long)st.st_size < need)
        PT_USAGE("%s: truncated .npy: header declares (2, %lld, %lld) = %lld bytes of data, file has %lld bytes in all",
                 path, dims[1], dims[2], need - (long long)(off + hl), (long long)st.st_size);
    *h = (int)dims[1];
    *w = (int)dims[2];
}

// ---- folder listing -------------------------------------------------------------------------
typedef struct { int idx; char *path; } entry;
typedef struct { entry *e; int n, cap; } elist;
static void elist_push(elist *l, int idx, char *path) {
    if (l->n == l->cap) { l->cap = l->cap ? 2 * l->cap : 64; l->e = pt_realloc(l->e, sizeof(entry) * l->cap); }
    l->e[l->n].idx = idx; l->e[l->n].path = path; l->n++;
}
static int cmp_entry(const void *a, const void *b) { return ((const entry *)a)->idx - ((const entry *)b)->idx; }
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// "frame_<digits><suffix>" -> index, or -1.
static int match_name(const char *name, const char *suffix) {
    if (strncmp(name, "frame_", 6) != 0) return -1;
    const char *p = name + 6;
    if (*p < '0' || *p > '9') return -1;
    int idx = 0;
    while (*p >= '0' && *p <= '9') { idx = idx * 10 + (*p - '0'); p++; if (idx > 100000000) return -1; }
    return strcmp(p, suffix) == 0 ? idx : -1;
}

static void list_dir(const char *dir, elist *frames, elist *dense, elist *skel, char ***subdirs, int *n_sub) {
    DIR *d = opendir(dir);
    if (!d) PT_USAGE("%s: cannot open folder: %s", dir, strerror(errno));
    struct dirent *de;
    int cap = 0;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (nm[0] == '.') continue;
        int i;
        if ((i = match_name(nm, ".png")) >= 0 || (i = match_name(nm, ".jpg")) >= 0 || (i = match_name(nm, ".jpeg")) >= 0)
            elist_push(frames, i, join(dir, nm));
        else if ((i = match_name(nm, "_densepose.npy")) >= 0) elist_push(dense, i, join(dir, nm));
        else if ((i = match_name(nm, "_pose.png")) >= 0) elist_push(skel, i, join(dir, nm));
        else if (subdirs) {
            char *p = join(dir, nm);
            if (is_dir(p)) {
                if (*n_sub == cap) { cap = cap ? 2 * cap : 16; *subdirs = pt_realloc(*subdirs, sizeof(char *) * cap); }
                (*subdirs)[(*n_sub)++] = p;
            } else free(p);
        }
    }
    closedir(d);
    if (frames->n) qsort(frames->e, frames->n, sizeof(entry), cmp_entry);
    if (dense->n) qsort(dense->e, dense->n, sizeof(entry), cmp_entry);
    if (skel->n) qsort(skel->e, skel->n, sizeof(entry), cmp_entry);
    if (subdirs && *n_sub) qsort(*subdirs, *n_sub, sizeof(char *), cmp_str);
}

// Match pose files to frames one to one; NULL when the video has no file of this kind.
// Not strict (a kind other than the one asked for): a mismatch just means "not available".
static char **match_poses(const char *pose_dir, elist *frames, elist *poses, const char *suffix, const char *kind, int strict) {
    if (poses->n == 0) return NULL;
    if (!strict) {
        if (poses->n != frames->n) return NULL;
        for (int i = 0; i < frames->n; i++) if (poses->e[i].idx != frames->e[i].idx) return NULL;
    }
    int j = 0;
    for (int i = 0; i < frames->n; i++) {
        while (j < poses->n && poses->e[j].idx < frames->e[i].idx) {
            PT_USAGE("%s: %s file has no frame (frame/pose count mismatch: %d frames, %d %s files in %s)",
                     poses->e[j].path, kind, frames->n, poses->n, kind, pose_dir);
        }
        if (j >= poses->n || poses->e[j].idx != frames->e[i].idx) {
            char want[4096];
            snprintf(want, sizeof want, "%s/frame_%04d%s", pose_dir, frames->e[i].idx, suffix);
            PT_USAGE("%s: missing %s file for frame %s (frame/pose count mismatch: %d frames, %d %s files)",
                     want, kind, frames->e[i].path, frames->n, poses->n, kind);
        }
        j++;
    }
    if (j < poses->n)
        PT_USAGE("%s: %s file has no frame (frame/pose count mismatch: %d frames, %d %s files in %s)",
                 poses->e[j].path, kind, frames->n, poses->n, kind, pose_dir);
    // one to one now: pose i belongs to frame i
    char **out = pt_calloc(frames->n, sizeof(char *));
    for (int i = 0; i < frames->n; i++) out[i] = poses->e[i].path;
    return out;
}

static double read_fps(const char *dir) {
    char mp[4200];
    snprintf(mp, sizeof mp, "%s/meta.json", dir);
    struct stat st;
    double fps = 0;
    if (stat(mp, &st) == 0) {
        pt_json *j = pt_json_parse_file(mp);
        fps = pt_json_num(j, "fps", 0);
        pt_json_free(j);
    }
    return fps;
}

static void elist_free(elist *l) {
    for (int i = 0; i < l->n; i++) free(l->e[i].path);
    free(l->e);
    memset(l, 0, sizeof *l);
}

// Build one video from a frames folder and a poses folder (the same folder for raw layouts).
// l: frames, DensePose, skeleton and the pose folder's frames. The lists own every path until all
// checks pass (v->n stays 0, so pt_raw_free releases only v's arrays); then v takes them.
static void scan_video_lists(pt_raw_video *v, elist *l, const char *name, const char *frame_dir, const char *pose_dir,
                             pt_pose_kind kind) {
    elist *fr = &l[0], *dn = &l[1], *sk = &l[2];
    list_dir(frame_dir, fr, dn, sk, NULL, NULL);
    if (pose_dir != frame_dir) {
        elist_free(dn);
        elist_free(sk);
        list_dir(pose_dir, &l[3], dn, sk, NULL, NULL);
        elist_free(&l[3]);
    }
    if (fr->n == 0) PT_USAGE("%s: empty video folder: no frame_N.png files", frame_dir);
    v->name = pt_strdup(name);
    v->dir = pt_strdup(frame_dir);
    v->frames = pt_malloc(sizeof(char *) * fr->n);
    for (int i = 0; i < fr->n; i++) v->frames[i] = fr->e[i].path;
    v->densepose = match_poses(pose_dir, fr, dn, "_densepose.npy", "DensePose", kind != PT_POSE_SKELETON);
    v->skeleton = match_poses(pose_dir, fr, sk, "_pose.png", "skeleton", kind == PT_POSE_SKELETON || (kind == PT_POSE_AUTO && dn->n == 0));
    if (!v->densepose && !v->skeleton)
        PT_USAGE("%s: no pose files (frame_N_densepose.npy or frame_N_pose.png) for %d frames", pose_dir, fr->n);
    v->n = fr->n;   // v owns the matched paths from here on
    fr->n = 0;
    if (v->densepose) dn->n = 0;
    if (v->skeleton) sk->n = 0;
    v->fps = read_fps(frame_dir);
}

static void scan_video(pt_raw_video *v, const char *name, const char *frame_dir, const char *pose_dir, pt_pose_kind kind) {
    elist *l = pt_calloc(4, sizeof(elist));
    PT_TRY {
        scan_video_lists(v, l, name, frame_dir, pose_dir, kind);
    } PT_CATCH {
        for (int i = 0; i < 4; i++) elist_free(&l[i]);
        free(l);
        pt_weights_rethrow();
    } PT_END_TRY;
    for (int i = 0; i < 4; i++) elist_free(&l[i]);
    free(l);
}

// Header checks: every frame the same size, every pose the size of its frame.
static void validate_video(pt_raw_video *v, pt_pose_kind kind) {
    v->h = v->w = 0;
    for (int i = 0; i < v->n; i++) {
        const char *fp = v->frames[i];
        size_t L = strlen(fp);
        int h = 0, w = 0;
        if (L > 4 && !strcmp(fp + L - 4, ".png")) pt_png_peek_size(fp, &h, &w);
        else continue;  // JPEG: checked when decoded
        if (v->h == 0) { v->h = h; v->w = w; }
        else if (h != v->h || w != v->w)
            PT_USAGE("%s: frame size %dx%d differs from the video's first frame %s (%dx%d)", fp, h, w, v->frames[0], v->h, v->w);
        int ph = 0, pw = 0;
        const char *pp = kind == PT_POSE_DENSEPOSE ? v->densepose[i] : v->skeleton[i];
        if (kind == PT_POSE_DENSEPOSE) pt_npy_peek_dense(pp, &ph, &pw);
        else pt_png_peek_size(pp, &ph, &pw);
        if (ph != h || pw != w)
            PT_USAGE("%s: pose size %dx%d differs from its frame %s (%dx%d)", pp, ph, pw, fp, h, w);
    }
}

static void push_video(pt_raw_set *s, int *cap) {
    if (s->n == *cap) { *cap = *cap ? 2 * *cap : 16; s->videos = pt_realloc(s->videos, sizeof(pt_raw_video) * *cap); }
    memset(&s->videos[s->n++], 0, sizeof(pt_raw_video));
}

// What pt_raw_scan holds while it scans (on the heap: released by its PT_CATCH on a failure).
typedef struct scan_state {
    pt_raw_set s;
    int cap;
    char *name, *pose_dir, *fdir;   // the current .mp4 source
    char **subs;                    // sub-folders of the current source
    int n_sub;
    const char *const *srcs;        // the arguments of pt_raw_scan
    int n_src;
    pt_pose_kind kind;
    const char *scratch;
} scan_state;

static void scan_state_tmp_free(scan_state *st) {
    free(st->name); free(st->pose_dir); free(st->fdir);
    for (int i = 0; i < st->n_sub; i++) free(st->subs[i]);
    free(st->subs);
    st->name = st->pose_dir = st->fdir = NULL;
    st->subs = NULL;
    st->n_sub = 0;
}

static void scan_source(scan_state *st, const char *src, pt_pose_kind kind, const char *scratch) {
    pt_raw_set *s = &st->s;
    size_t L = strlen(src);
    if (L > 4 && !strcmp(src + L - 4, ".mp4")) {
        struct stat sb;
        if (stat(src, &sb) != 0) PT_USAGE("%s: video file not found", src);
        if (!scratch) PT_USAGE("%s: .mp4 sources are not accepted here (pack them first)", src);
        st->name = base_name_dup(src);
        st->name[strlen(st->name) - 4] = 0;
        st->pose_dir = pt_malloc(L + 1);
        memcpy(st->pose_dir, src, L - 4); st->pose_dir[L - 4] = 0;
        if (!is_dir(st->pose_dir)) PT_USAGE("%s: pose folder %s for this video is missing", src, st->pose_dir);
        st->fdir = join(scratch, st->name);
        int nf = 0; double fps = 0;
        pt_video_to_frames(src, st->fdir, &nf, &fps);
        push_video(s, &st->cap);
        scan_video(&s->videos[s->n - 1], st->name, st->fdir, st->pose_dir, kind);
        if (s->videos[s->n - 1].fps == 0) s->videos[s->n - 1].fps = fps;
        return;
    }
    if (!is_dir(src)) PT_USAGE("%s: source folder not found (or not a folder)", src);
    elist fr = {0}, dn = {0}, sk = {0};
    list_dir(src, &fr, &dn, &sk, &st->subs, &st->n_sub);
    int direct = fr.n > 0 || dn.n > 0 || sk.n > 0;
    elist_free(&fr); elist_free(&dn); elist_free(&sk);
    if (direct) {
        st->name = base_name_dup(src);
        push_video(s, &st->cap);
        scan_video(&s->videos[s->n - 1], st->name, src, src, kind);
    } else {
        if (st->n_sub == 0) PT_USAGE("%s: empty video folder: no frame_N.png files and no video sub-folders", src);
        for (int i = 0; i < st->n_sub; i++) {
            push_video(s, &st->cap);
            scan_video(&s->videos[s->n - 1], base_name(st->subs[i]), st->subs[i], st->subs[i], kind);
        }
    }
}

static void scan_all(scan_state *st) {
    pt_raw_set *s = &st->s;
    pt_pose_kind kind = st->kind;
    for (int k = 0; k < st->n_src; k++) {
        scan_source(st, st->srcs[k], kind, st->scratch);
        scan_state_tmp_free(st);
    }
    // Unique names (they become HDF5 group names).
    for (int i = 0; i < s->n; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(s->videos[i].name, s->videos[j].name))
                PT_USAGE("%s: video name '%s' also used by %s; rename one folder", s->videos[i].dir, s->videos[i].name, s->videos[j].dir);
    // Resolve the pose kind: every video must have it.
    if (kind == PT_POSE_AUTO) kind = s->videos[0].densepose ? PT_POSE_DENSEPOSE : PT_POSE_SKELETON;
    for (int i = 0; i < s->n; i++) {
        pt_raw_video *v = &s->videos[i];
        if ((kind == PT_POSE_DENSEPOSE && !v->densepose) || (kind == PT_POSE_SKELETON && !v->skeleton))
            PT_USAGE("%s: no %s files (frame_N%s) but the pose kind is %s", v->dir, pt_pose_kind_name(kind),
                     kind == PT_POSE_DENSEPOSE ? "_densepose.npy" : "_pose.png", pt_pose_kind_name(kind));
        validate_video(v, kind);
    }
    s->kind = kind;
}

pt_raw_set pt_raw_scan(const char *const *srcs, int n_src, pt_pose_kind kind, const char *scratch) {
    if (n_src <= 0) PT_USAGE("no source folders given");
    scan_state *st = pt_calloc(1, sizeof *st);
    st->srcs = srcs; st->n_src = n_src; st->kind = kind; st->scratch = scratch;
    PT_TRY {
        scan_all(st);
    } PT_CATCH {   // a validation error: release what was scanned so far, then fail as raised
        scan_state_tmp_free(st);
        pt_raw_free(&st->s);
        free(st);
        pt_weights_rethrow();
    } PT_END_TRY;
    pt_raw_set s = st->s;
    free(st);
    return s;
}

void pt_raw_free(pt_raw_set *s) {
    for (int i = 0; i < s->n; i++) {
        pt_raw_video *v = &s->videos[i];
        for (int j = 0; j < v->n; j++) {
            free(v->frames[j]);
            if (v->densepose) free(v->densepose[j]);
            if (v->skeleton) free(v->skeleton[j]);
        }
        free(v->frames); free(v->densepose); free(v->skeleton); free(v->name); free(v->dir);
    }
    free(s->videos);
    memset(s, 0, sizeof *s);
}

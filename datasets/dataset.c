// dataset.c — frames and poses from a pack file, a raw folder, or a subject set (see dataset.h).
#include "datasets/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autograd/dtype.h"
#include "datasets/h5util.h"
#include "datasets/image_io.h"
#include "datasets/npy.h"
#include "tools/check.h"

typedef struct h5_video {
    char *name;
    int n, h, w;
    double fps;
    hid_t frames, poses, latents;   // latents -1 when absent
    int lc, lh, lw;
} h5_video;

struct pt_dataset {
    char *path;
    int is_h5;
    pt_pose_kind kind;
    int has_dense, has_skel;
    // HDF5
    hid_t file;
    h5_video *hv;
    int n_videos;
    // raw
    pt_raw_set raw;
    // scratch (one thread per handle)
    uint8_t *u8;      // (h, w, 3) or f16 (C, h, w) bytes
    float *tmp;       // (C, h, w) before resizing
    size_t u8_cap, tmp_cap;
};

static void *grow(void *p, size_t *cap, size_t need) {
    if (need <= *cap) return p;
    *cap = need;
    free(p);
    return pt_malloc(need);
}

// ---- open -----------------------------------------------------------------------------------
typedef struct { char **names; int n, cap; } name_list;
static herr_t collect_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    name_list *l = data;
    if (l->n == l->cap) { l->cap = l->cap ? 2 * l->cap : 16; l->names = pt_realloc(l->names, sizeof(char *) * l->cap); }
    l->names[l->n++] = pt_strdup(name);
    return 0;
}

static void dims4(hid_t d, hsize_t out[4], const char *what, const char *dname) {
    hid_t sp = H5_CHECK(H5Dget_space(d), what);
    int nd = H5_CHECK(H5Sget_simple_extent_ndims(sp), what);
    if (nd != 4) PT_USAGE("%s/%s: expected 4 dimensions, found %d", what, dname, nd);
    H5_CHECK(H5Sget_simple_extent_dims(sp, out, NULL), what);
    H5_CHECK(H5Sclose(sp), what);
}

static void open_h5(pt_dataset *ds) {
    const char *p = ds->path;
    pt_h5_lock();
    ds->file = H5_CHECK(H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT), p);
    char *fmt = pt_h5_attr_read_str(ds->file, "format", p);
    if (strcmp(fmt, "posetune-pack") != 0) PT_USAGE("%s: attribute format is '%s', expected 'posetune-pack'", p, fmt);
    free(fmt);
    char *pk = pt_h5_attr_read_str(ds->file, "pose_kind", p);
    ds->kind = pt_pose_kind_parse(pk, p);
    free(pk);
    ds->has_dense = ds->kind == PT_POSE_DENSEPOSE;
    ds->has_skel = ds->kind == PT_POSE_SKELETON;
    if (!pt_h5_link_exists(ds->file, "videos", p)) PT_USAGE("%s: no /videos group", p);
    hid_t root = H5_CHECK(H5Gopen2(ds->file, "videos", H5P_DEFAULT), p);
    name_list l = {0};
    hsize_t idx = 0;
    H5_CHECK(H5Literate(root, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_cb, &l), p);
    ds->hv = pt_calloc(l.n ? l.n : 1, sizeof(h5_video));
    for (int i = 0; i < l.n; i++) {
        char what[4200];
        snprintf(what, sizeof what, "%s:/videos/%s", p, l.names[i]);
        hid_t g = H5_CHECK(H5Gopen2(root, l.names[i], H5P_DEFAULT), what);
        if (!pt_h5_attr_exists(g, "complete", what)) {
            PT_WARN("%s: incomplete video group (interrupted pack; rerun posetune pack --resume), skipped", what);
            H5_CHECK(H5Gclose(g), what);
            free(l.names[i]);
            continue;
        }
        h5_video *v = &ds->hv[ds->n_videos++];
        v->name = l.names[i];
        v->fps = pt_h5_attr_read_f64(g, "fps", what);
        v->frames = H5_CHECK(H5Dopen2(g, "frames", H5P_DEFAULT), what);
        v->poses = H5_CHECK(H5Dopen2(g, "poses", H5P_DEFAULT), what);
        hsize_t d[4], pd[4];
        dims4(v->frames, d, what, "frames");
        dims4(v->poses, pd, what, "poses");
        v->n = (int)d[0]; v->h = (int)d[1]; v->w = (int)d[2];
        int ok = d[3] == 3 && pd[0] == d[0] &&
                 (ds->kind == PT_POSE_DENSEPOSE ? (pd[1] == 2 && pd[2] == d[1] && pd[3] == d[2])
                                                : (pd[1] == d[1] && pd[2] == d[2] && pd[3] == 3));
        if (!ok) PT_USAGE("%s: frames (%llu,%llu,%llu,%llu) and poses (%llu,%llu,%llu,%llu) shapes disagree", what,
                          (unsigned long long)d[0], (unsigned long long)d[1], (unsigned long long)d[2], (unsigned long long)d[3],
                          (unsigned long long)pd[0], (unsigned long long)pd[1], (unsigned long long)pd[2], (unsigned long long)pd[3]);
        v->latents = -1;
        if (pt_h5_link_exists(g, "latents", what)) {
            v->latents = H5_CHECK(H5Dopen2(g, "latents", H5P_DEFAULT), what);
            hsize_t ld[4];
            dims4(v->latents, ld, what, "latents");
            v->lc = (int)ld[1]; v->lh = (int)ld[2]; v->lw = (int)ld[3];
        }
        H5_CHECK(H5Gclose(g), what);
    }
    free(l.names);
    H5_CHECK(H5Gclose(root), p);
    pt_h5_unlock();
    if (ds->n_videos == 0) PT_USAGE("%s: no complete video groups", p);
}

pt_dataset *pt_dataset_open(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) PT_USAGE("%s: dataset not found", path);
    pt_dataset *ds = pt_calloc(1, sizeof *ds);
    ds->path = pt_strdup(path);
    if (S_ISDIR(st.st_mode)) {
        const char *srcs[1] = {path};
        ds->raw = pt_raw_scan(srcs, 1, PT_POSE_AUTO, NULL);
        ds->kind = ds->raw.kind;
        ds->n_videos = ds->raw.n;
        ds->has_dense = ds->has_skel = 1;
        for (int v = 0; v < ds->raw.n; v++) {
            if (!ds->raw.videos[v].densepose) ds->has_dense = 0;
            if (!ds->raw.videos[v].skeleton) ds->has_skel = 0;
        }
        return ds;
    }
    pt_h5_init();
    pt_h5_lock();
    htri_t is = H5Fis_hdf5(path);
    pt_h5_unlock();
    if (is <= 0) PT_USAGE("%s: not an HDF5 file and not a folder (give a file from 'posetune pack' or a raw folder)", path);
    ds->is_h5 = 1;
    open_h5(ds);
    return ds;
}

pt_dataset *pt_dataset_open_subject(const char *const *images, const char *const *poses, int n) {
    if (n <= 0) PT_USAGE("subject set: no images given");
    pt_dataset *ds = pt_calloc(1, sizeof *ds);
    ds->path = pt_strdup(images[0]);
    pt_raw_video *v = pt_calloc(1, sizeof *v);
    v->name = pt_strdup("subject");
    v->dir = pt_strdup(images[0]);
    v->n = n;
    v->frames = pt_calloc(n, sizeof(char *));
    size_t L = strlen(poses[0]);
    int dense = L > 4 && !strcmp(poses[0] + L - 4, ".npy");
    if (dense) v->densepose = pt_calloc(n, sizeof(char *));
    else v->skeleton = pt_calloc(n, sizeof(char *));
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(images[i], &st) != 0) PT_USAGE("%s: subject image not found", images[i]);
        if (stat(poses[i], &st) != 0) PT_USAGE("%s: subject pose file not found (for image %s)", poses[i], images[i]);
        size_t Li = strlen(poses[i]);
        if ((Li > 4 && !strcmp(poses[i] + Li - 4, ".npy")) != dense)
            PT_USAGE("%s: every subject pose must be of one kind (%s is %s)", poses[i], poses[0], dense ? ".npy" : "an image");
        v->frames[i] = pt_strdup(images[i]);
        if (dense) v->densepose[i] = pt_strdup(poses[i]);
        else v->skeleton[i] = pt_strdup(poses[i]);
    }
    pt_image im = pt_image_load(images[0]);   // size (photos may be JPEG: decode the first)
    v->h = im.h; v->w = im.w;
    pt_image_free(&im);
    ds->raw.videos = v;
    ds->raw.n = 1;
    ds->raw.kind = dense ? PT_POSE_DENSEPOSE : PT_POSE_SKELETON;
    ds->kind = ds->raw.kind;
    ds->has_dense = dense;
    ds->has_skel = !dense;
    ds->n_videos = 1;
    return ds;
}

void pt_dataset_close(pt_dataset *ds) {
    if (!ds) return;
    if (ds->is_h5) {
        pt_h5_lock();
        for (int v = 0; v < ds->n_videos; v++) {
            H5_CHECK(H5Dclose(ds->hv[v].frames), ds->path);
            H5_CHECK(H5Dclose(ds->hv[v].poses), ds->path);
            if (ds->hv[v].latents >= 0) H5_CHECK(H5Dclose(ds->hv[v].latents), ds->path);
            free(ds->hv[v].name);
        }
        H5_CHECK(H5Fclose(ds->file), ds->path);
        pt_h5_unlock();
        free(ds->hv);
    } else {
        pt_raw_free(&ds->raw);
    }
    free(ds->u8); free(ds->tmp); free(ds->path);
    free(ds);
}

// ---- queries --------------------------------------------------------------------------------
static void check_vi(const pt_dataset *ds, int v, int i) {
    if (v < 0 || v >= ds->n_videos) PT_USAGE("%s: video index %d out of range [0, %d)", ds->path, v, ds->n_videos);
    int n = pt_dataset_n_frames(ds, v);
    if (i < 0 || i >= n) PT_USAGE("%s: video %d: frame index %d out of range [0, %d)", ds->path, v, i, n);
}
int pt_dataset_n_videos(const pt_dataset *ds) { return ds->n_videos; }
int pt_dataset_n_frames(const pt_dataset *ds, int v) { return ds->is_h5 ? ds->hv[v].n : ds->raw.videos[v].n; }
const char *pt_dataset_video_name(const pt_dataset *ds, int v) { return ds->is_h5 ? ds->hv[v].name : ds->raw.videos[v].name; }
double pt_dataset_fps(const pt_dataset *ds, int v) { return ds->is_h5 ? ds->hv[v].fps : ds->raw.videos[v].fps; }
pt_pose_kind pt_dataset_pose_kind(const pt_dataset *ds) { return ds->kind; }
int pt_dataset_has_densepose(const pt_dataset *ds) { return ds->has_dense; }
int pt_dataset_has_pose_image(const pt_dataset *ds) { return ds->has_skel; }
const char *pt_dataset_path(const pt_dataset *ds) { return ds->path; }
void pt_dataset_frame_size(const pt_dataset *ds, int v, int *h, int *w) {
    if (ds->is_h5) { *h = ds->hv[v].h; *w = ds->hv[v].w; return; }
    const pt_raw_video *rv = &ds->raw.videos[v];
    if (rv->h == 0) {   // JPEG frames: decode the first once to learn the size
        pt_image im = pt_image_load(rv->frames[0]);
        ((pt_raw_video *)rv)->h = im.h; ((pt_raw_video *)rv)->w = im.w;
        pt_image_free(&im);
    }
    *h = rv->h; *w = rv->w;
}
int pt_dataset_has_latents(const pt_dataset *ds) {
    if (!ds->is_h5) return 0;
    for (int v = 0; v < ds->n_videos; v++) if (ds->hv[v].latents < 0) return 0;
    return 1;
}
void pt_dataset_latent_shape(const pt_dataset *ds, int v, int *c, int *h, int *w) {
    if (!ds->is_h5 || ds->hv[v].latents < 0) { *c = *h = *w = 0; return; }
    *c = ds->hv[v].lc; *h = ds->hv[v].lh; *w = ds->hv[v].lw;
}

// ---- reading --------------------------------------------------------------------------------
// Read chunk i of a rank-4 dataset into ds->u8 (bytes of memory type mt).
static void h5_read_frame(pt_dataset *ds, hid_t d, hid_t mt, int i, size_t bytes, const char *dname, int v) {
    char what[4200];
    snprintf(what, sizeof what, "%s:/videos/%s/%s[%d]", ds->path, ds->hv[v].name, dname, i);
    ds->u8 = grow(ds->u8, &ds->u8_cap, bytes);
    pt_h5_lock();
    hid_t fs = H5_CHECK(H5Dget_space(d), what);
    hsize_t dims[4];
    H5_CHECK(H5Sget_simple_extent_dims(fs, dims, NULL), what);
    hsize_t start[4] = {(hsize_t)i, 0, 0, 0}, count[4] = {1, dims[1], dims[2], dims[3]};
    H5_CHECK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL), what);
    hid_t ms = H5_CHECK(H5Screate_simple(4, count, NULL), what);
    H5_CHECK(H5Dread(d, mt, ms, fs, H5P_DEFAULT, ds->u8), what);
    H5_CHECK(H5Sclose(ms), what);
    H5_CHECK(H5Sclose(fs), what);
    pt_h5_unlock();
}

// (C, h, w) in ds->tmp -> dst (C, H, W).
static void emit(const float *src, int c, int h, int w, float *dst, int H, int W, int nearest) {
    if (H == 0) { H = h; W = w; }
    if (h == H && w == W) { if (src != dst) memcpy(dst, src, sizeof(float) * (size_t)c * h * w); return; }
    if (nearest) pt_resize_nearest_chw(src, c, h, w, dst, H, W);
    else pt_resize_bilinear_chw(src, c, h, w, dst, H, W);
}

// uint8 (h, w, 3) -> float (3, h, w) mapped to [lo, hi], into ds->tmp.
static float *u8_to_tmp(pt_dataset *ds, const uint8_t *px, int h, int w, float lo, float hi) {
    ds->tmp = grow(ds->tmp, &ds->tmp_cap, sizeof(float) * (size_t)3 * h * w);
    pt_image im = {w, h, 3, (uint8_t *)px};
    pt_image_to_chw(&im, ds->tmp, lo, hi);
    return ds->tmp;
}

static void read_image(pt_dataset *ds, int v, int i, int pose, float *dst, int H, int W, float lo, float hi) {
    check_vi(ds, v, i);
    if (ds->is_h5) {
        h5_video *hv = &ds->hv[v];
        h5_read_frame(ds, pose ? hv->poses : hv->frames, H5T_NATIVE_UINT8, i, (size_t)hv->h * hv->w * 3, pose ? "poses" : "frames", v);
        emit(u8_to_tmp(ds, ds->u8, hv->h, hv->w, lo, hi), 3, hv->h, hv->w, dst, H, W, 0);
        return;
    }
    pt_raw_video *rv = &ds->raw.videos[v];
    const char *p = pose ? rv->skeleton[i] : rv->frames[i];
    pt_image im = pt_image_load(p);
    int h, w;
    pt_dataset_frame_size(ds, v, &h, &w);
    if (im.h != h || im.w != w) PT_USAGE("%s: size %dx%d differs from the video's frame size %dx%d", p, im.h, im.w, h, w);
    emit(u8_to_tmp(ds, im.px, im.h, im.w, lo, hi), 3, im.h, im.w, dst, H, W, 0);
    pt_image_free(&im);
}

void pt_dataset_frame(pt_dataset *ds, int v, int i, float *dst, int H, int W) {
    read_image(ds, v, i, 0, dst, H, W, -1.f, 1.f);
}

void pt_dataset_pose_image(pt_dataset *ds, int v, int i, float *dst, int H, int W) {
    if (!ds->has_skel) PT_USAGE("%s: holds %s poses, not skeleton images (the model needs pose images: pack with --pose-kind skeleton)",
                                ds->path, pt_pose_kind_name(ds->kind));
    read_image(ds, v, i, 1, dst, H, W, 0.f, 1.f);
}

void pt_dataset_densepose(pt_dataset *ds, int v, int i, float *dst, int H, int W) {
    if (!ds->has_dense) PT_USAGE("%s: holds %s poses, not DensePose (DreamPose needs frame_N_densepose.npy: pack with --pose-kind densepose)",
                                 ds->path, pt_pose_kind_name(ds->kind));
    check_vi(ds, v, i);
    if (ds->is_h5) {
        h5_video *hv = &ds->hv[v];
        size_t n = (size_t)2 * hv->h * hv->w;
        h5_read_frame(ds, hv->poses, pt_h5_f16_type(), i, n * 2, "poses", v);
        ds->tmp = grow(ds->tmp, &ds->tmp_cap, sizeof(float) * n);
        const uint16_t *h16 = (const uint16_t *)ds->u8;
        for (size_t k = 0; k < n; k++) ds->tmp[k] = pt_f16_to_f32(h16[k]);
        emit(ds->tmp, 2, hv->h, hv->w, dst, H, W, 1);
        return;
    }
    pt_raw_video *rv = &ds->raw.videos[v];
    pt_npy a = pt_npy_load(rv->densepose[i]);
    int h, w;
    pt_dataset_frame_size(ds, v, &h, &w);
    if (a.ndim != 3 || a.shape[0] != 2 || a.shape[1] != h || a.shape[2] != w)
        PT_USAGE("%s: DensePose shape must be (2, %d, %d) to match frame %s", rv->densepose[i], h, w, rv->frames[i]);
    float *uv = pt_npy_to_f32(&a);
    pt_npy_free(&a);
    emit(uv, 2, h, w, dst, H, W, 1);
    free(uv);
}

void pt_dataset_latent(pt_dataset *ds, int v, int i, float *dst) {
    check_vi(ds, v, i);
    if (!ds->is_h5 || ds->hv[v].latents < 0) PT_USAGE("%s: video %d has no cached latents (pack with a latent hook)", ds->path, v);
    h5_video *hv = &ds->hv[v];
    size_t n = (size_t)hv->lc * hv->lh * hv->lw;
    h5_read_frame(ds, hv->latents, pt_h5_f16_type(), i, n * 2, "latents", v);
    const uint16_t *h16 = (const uint16_t *)ds->u8;
    for (size_t k = 0; k < n; k++) dst[k] = pt_f16_to_f32(h16[k]);
}

// pack.c — raw video folders -> one HDF5 file (see pack.h).
#include "datasets/pack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "autograd/dtype.h"
#include "checkpoints/weights.h"   // pt_weights_rethrow
#include "datasets/h5util.h"
#include "datasets/image_io.h"
#include "datasets/npy.h"
#include "tools/check.h"

void pt_pack_opts_default(pt_pack_opts *o) {
    memset(o, 0, sizeof *o);
    o->pose_kind = PT_POSE_AUTO;
    o->latent_channels = 4;
    o->latent_down = 8;
    o->latent_batch = 8;
}

// Frames waiting for the batched latent hook (one video at a time).
typedef struct latent_queue {
    float *imgs;      // (cap, 3, H, W)
    float *lat;       // (cap, C, h, w)
    uint16_t *f16;    // (C, h, w)
    int cap, n, first;   // capacity, queued frames, frame index of imgs[0]
} latent_queue;


static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// Create a chunked dataset of shape dims (rank 4), one chunk per frame.
static hid_t make_dset(hid_t g, const char *name, hid_t type, const hsize_t dims[4], const char *what) {
    hsize_t chunk[4] = {1, dims[1], dims[2], dims[3]};
    hid_t sp = H5_CHECK(H5Screate_simple(4, dims, NULL), what);
    hid_t pl = H5_CHECK(H5Pcreate(H5P_DATASET_CREATE), what);
    H5_CHECK(H5Pset_chunk(pl, 4, chunk), what);
    hid_t d = H5_CHECK(H5Dcreate2(g, name, type, sp, H5P_DEFAULT, pl, H5P_DEFAULT), what);
    H5_CHECK(H5Pclose(pl), what);
    H5_CHECK(H5Sclose(sp), what);
    return d;
}

// Write frame i (one chunk) of a rank-4 dataset from `buf` (memory type `mt`).
static void write_frame(hid_t d, hid_t mt, int i, const void *buf, const char *what) {
    hid_t fs = H5_CHECK(H5Dget_space(d), what);
    hsize_t dims[4];
    H5_CHECK(H5Sget_simple_extent_dims(fs, dims, NULL), what);
    hsize_t start[4] = {(hsize_t)i, 0, 0, 0}, count[4] = {1, dims[1], dims[2], dims[3]};
    H5_CHECK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL), what);
    hid_t ms = H5_CHECK(H5Screate_simple(4, count, NULL), what);
    H5_CHECK(H5Dwrite(d, mt, ms, fs, H5P_DEFAULT, buf), what);
    H5_CHECK(H5Sclose(ms), what);
    H5_CHECK(H5Sclose(fs), what);
}

// Latents of the queued frames -> frames first .. first + n - 1 of dataset d (f16).
static void latent_flush(latent_queue *q, hid_t d, const pt_pack_opts *o, int H, int W, int per, const char *what) {
    if (q->n == 0) return;
    o->latent_batch_fn(o->latent_ctx, q->imgs, q->n, H, W, q->lat);
    for (int b = 0; b < q->n; b++) {
        for (int k = 0; k < per; k++) q->f16[k] = pt_f32_to_f16(q->lat[(size_t)b * per + k]);
        write_frame(d, pt_h5_f16_type(), q->first + b, q->f16, what);
    }
    q->first += q->n;
    q->n = 0;
}

// uint8 (h, w, 3) image -> uint8 (H, W, 3) resized bilinearly (copy when the size matches).
static void image_to_size(const pt_image *im, uint8_t *dst, int H, int W, float *tmp_src, float *tmp_dst) {
    if (im->h == H && im->w == W) { memcpy(dst, im->px, (size_t)H * W * 3); return; }
    pt_image_to_chw(im, tmp_src, 0.f, 255.f);
    pt_resize_bilinear_chw(tmp_src, 3, im->h, im->w, tmp_dst, H, W);
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < H * W; p++) {
            float v = tmp_dst[(size_t)c * H * W + p] + 0.5f;
            dst[(size_t)p * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
}

// What pack_video holds while it writes one video (on the heap: released on success and by its
// PT_CATCH when a frame fails validation or decoding).
typedef struct video_job {
    hid_t g, dfr, dpo, dla;   // group and datasets (-1: not open)
    latent_queue q;
    float *tmp_a, *tmp_b;     // (3, max H, max W) + (3, H, W) resize scratch
    uint8_t *u8;              // (H, W, 3)
    uint16_t *f16;            // (2, H, W) + (C, h, w)
    float *lat;               // (C, h, w)
    pt_image im, pim;         // the current frame and skeleton image
    float *uv;                // the current DensePose (2, h, w)
} video_job;

static void video_job_release(video_job *j) {   // no H5_CHECK: also runs on the failure path
    free(j->tmp_a); free(j->tmp_b); free(j->u8); free(j->f16); free(j->lat); free(j->uv);
    free(j->q.imgs); free(j->q.lat); free(j->q.f16);
    if (j->im.px) pt_image_free(&j->im);
    if (j->pim.px) pt_image_free(&j->pim);
    if (j->dla >= 0) H5Dclose(j->dla);
    if (j->dpo >= 0) H5Dclose(j->dpo);
    if (j->dfr >= 0) H5Dclose(j->dfr);
    if (j->g >= 0) H5Gclose(j->g);
}

// Every frame of v into the job's datasets (frames, poses, latents).
static void pack_frames(video_job *j, const pt_raw_video *v, pt_pose_kind kind, int vi, int H, int W, int LC, int LH,
                        int LW, const pt_pack_opts *o, const char *what) {
    latent_queue *q = &j->q;
    int fh = 0, fw = 0;
    for (int i = 0; i < v->n; i++) {
        j->im = pt_image_load(v->frames[i]);
        const pt_image *im = &j->im;
        if (i == 0) { fh = im->h; fw = im->w; }
        else if (im->h != fh || im->w != fw)
            PT_USAGE("%s: frame size %dx%d differs from the video's first frame %s (%dx%d)", v->frames[i], im->h, im->w, v->frames[0], fh, fw);
        image_to_size(im, j->u8, H, W, j->tmp_a, j->tmp_b);
        write_frame(j->dfr, H5T_NATIVE_UINT8, i, j->u8, what);
        if (j->dla >= 0 && q->cap) {   // batched: queue the frame as stored, encode when the batch is full
            pt_image tmp = {W, H, 3, j->u8};
            pt_image_to_chw(&tmp, q->imgs + (size_t)q->n * 3 * H * W, -1.f, 1.f);
            if (++q->n == q->cap) latent_flush(q, j->dla, o, H, W, LC * LH * LW, what);
        } else if (j->dla >= 0) {
            pt_image tmp = {W, H, 3, j->u8};
            pt_image_to_chw(&tmp, j->tmp_a, -1.f, 1.f);
            o->latent_fn(o->latent_ctx, j->tmp_a, H, W, j->lat);
            for (int k = 0; k < LC * LH * LW; k++) j->f16[k] = pt_f32_to_f16(j->lat[k]);
            write_frame(j->dla, pt_h5_f16_type(), i, j->f16, what);
        }
        if (kind == PT_POSE_DENSEPOSE) {
            pt_npy a = pt_npy_load(v->densepose[i]);
            if (a.ndim != 3 || a.shape[0] != 2 || a.shape[1] != im->h || a.shape[2] != im->w) {
                pt_npy_free(&a);
                PT_USAGE("%s: DensePose shape must be (2, %d, %d) to match its frame %s", v->densepose[i], im->h, im->w, v->frames[i]);
            }
            j->uv = pt_npy_to_f32(&a);
            pt_npy_free(&a);
            const float *src = j->uv;
            if (im->h != H || im->w != W) { pt_resize_nearest_chw(j->uv, 2, im->h, im->w, j->tmp_a, H, W); src = j->tmp_a; }
            for (size_t k = 0; k < (size_t)2 * H * W; k++) j->f16[k] = pt_f32_to_f16(src[k]);
            free(j->uv);
            j->uv = NULL;
            write_frame(j->dpo, pt_h5_f16_type(), i, j->f16, what);
        } else {
            j->pim = pt_image_load(v->skeleton[i]);
            if (j->pim.h != im->h || j->pim.w != im->w)
                PT_USAGE("%s: pose size %dx%d differs from its frame %s (%dx%d)", v->skeleton[i], j->pim.h, j->pim.w, v->frames[i], im->h, im->w);
            image_to_size(&j->pim, j->u8, H, W, j->tmp_a, j->tmp_b);
            pt_image_free(&j->pim);
            write_frame(j->dpo, H5T_NATIVE_UINT8, i, j->u8, what);
        }
        pt_image_free(&j->im);
        if (vi == 1 && i == v->n / 2) { H5Fflush(j->g, H5F_SCOPE_GLOBAL); pt_fault_point("pack_mid_video"); }
    }
    if (q->cap) latent_flush(q, j->dla, o, H, W, LC * LH * LW, what);
}

static void pack_video(hid_t vg_root, const pt_raw_video *v, pt_pose_kind kind, int vi, int nv, const pt_pack_opts *o) {
    char what[4200];
    snprintf(what, sizeof what, "%s:/videos/%s", o->out, v->name);
    double t0 = now_s();
    int H = o->height ? o->height : v->h, W = o->width ? o->width : v->w;
    if (H == 0) {   // JPEG frames: size from the first decoded frame
        pt_image im = pt_image_load(v->frames[0]);
        H = im.h; W = im.w;
        pt_image_free(&im);
    }
    const int LC = o->latent_channels, LH = H / (o->latent_down ? o->latent_down : 8), LW = W / (o->latent_down ? o->latent_down : 8);
    video_job *j = pt_calloc(1, sizeof *j);
    j->g = j->dfr = j->dpo = j->dla = -1;
    PT_TRY {
        j->g = H5_CHECK(H5Gcreate2(vg_root, v->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), what);
        hsize_t fd[4] = {(hsize_t)v->n, (hsize_t)H, (hsize_t)W, 3};
        j->dfr = make_dset(j->g, "frames", H5T_STD_U8LE, fd, what);
        if (kind == PT_POSE_DENSEPOSE) {
            hsize_t pd[4] = {(hsize_t)v->n, 2, (hsize_t)H, (hsize_t)W};
            j->dpo = make_dset(j->g, "poses", pt_h5_f16_type(), pd, what);
        } else {
            j->dpo = make_dset(j->g, "poses", H5T_STD_U8LE, fd, what);
        }
        if (o->latent_batch_fn) {
            j->q.cap = o->latent_batch > 0 ? o->latent_batch : 8;
            j->q.imgs = pt_malloc(sizeof(float) * (size_t)j->q.cap * 3 * H * W);
            j->q.lat = pt_malloc(sizeof(float) * (size_t)j->q.cap * LC * LH * LW);
            j->q.f16 = pt_malloc(sizeof(uint16_t) * (size_t)LC * LH * LW);
        }
        if (o->latent_fn || o->latent_batch_fn) {
            hsize_t ld[4] = {(hsize_t)v->n, (hsize_t)LC, (hsize_t)LH, (hsize_t)LW};
            j->dla = make_dset(j->g, "latents", pt_h5_f16_type(), ld, what);
        }
        size_t big = (size_t)3 * (H > v->h ? H : v->h) * (W > v->w ? W : v->w) + (size_t)3 * H * W;
        j->tmp_a = pt_malloc(sizeof(float) * big);
        j->tmp_b = pt_malloc(sizeof(float) * big);
        j->u8 = pt_malloc((size_t)H * W * 3);
        j->f16 = pt_malloc(sizeof(uint16_t) * (size_t)2 * H * W + sizeof(uint16_t) * (size_t)LC * LH * LW);
        j->lat = o->latent_fn ? pt_malloc(sizeof(float) * (size_t)LC * LH * LW) : NULL;
        pack_frames(j, v, kind, vi, H, W, LC, LH, LW, o, what);
    } PT_CATCH {
        video_job_release(j);
        free(j);
        pt_weights_rethrow();
    } PT_END_TRY;
    hid_t g = j->g;
    H5_CHECK(H5Dclose(j->dfr), what);
    H5_CHECK(H5Dclose(j->dpo), what);
    if (j->dla >= 0) H5_CHECK(H5Dclose(j->dla), what);
    j->g = j->dfr = j->dpo = j->dla = -1;
    video_job_release(j);   // the buffers
    free(j);
    pt_h5_attr_write_f64(g, "fps", v->fps, what);
    pt_h5_attr_write_str(g, "source", v->dir, what);
    pt_h5_attr_write_str(g, "pose_kind", pt_pose_kind_name(kind), what);
    pt_h5_attr_write_i64(g, "n_frames", v->n, what);
    pt_h5_attr_write_i64(g, "height", H, what);
    pt_h5_attr_write_i64(g, "width", W, what);
    H5_CHECK(H5Fflush(g, H5F_SCOPE_GLOBAL), what);
    pt_h5_attr_write_i64(g, "complete", 1, what);   // last: marks the group complete
    H5_CHECK(H5Fflush(g, H5F_SCOPE_GLOBAL), what);
    H5_CHECK(H5Gclose(g), what);
    double dt = now_s() - t0;
    if (!o->quiet)
        fprintf(stderr, "pack: video %d/%d '%s': %d frames %dx%d in %.2f s (%.1f frames/s)\n",
                vi + 1, nv, v->name, v->n, H, W, dt, dt > 0 ? v->n / dt : 0.0);
}

// Does an existing group match what we would write? (resume)
static int group_complete(hid_t root, const pt_raw_video *v, pt_pose_kind kind, const pt_pack_opts *o, const char *what) {
    hid_t g = H5_CHECK(H5Gopen2(root, v->name, H5P_DEFAULT), what);
    int done = pt_h5_attr_exists(g, "complete", what);
    if (done) {
        int64_t n = pt_h5_attr_read_i64(g, "n_frames", what);
        int64_t h = pt_h5_attr_read_i64(g, "height", what), w = pt_h5_attr_read_i64(g, "width", what);
        int want_h = o->height ? o->height : v->h, want_w = o->width ? o->width : v->w;
        if (n != v->n || (want_h && (h != want_h || w != want_w)))
            PT_USAGE("%s: complete group has %lld frames %lldx%lld but the source %s has %d frames (packing at %dx%d); "
                     "pack into a new file instead of --resume", what, (long long)n, (long long)h, (long long)w, v->dir, v->n, want_h, want_w);
        if ((o->latent_fn || o->latent_batch_fn) && !pt_h5_link_exists(g, "latents", what))
            PT_USAGE("%s: complete group has no cached latents; --resume with --cache-latents needs a file packed with them "
                     "(pack into a new file)", what);
    }
    H5_CHECK(H5Gclose(g), what);
    return done;
}

// What pt_pack holds open (on the heap: released by its PT_CATCH when a video fails).
typedef struct pack_state {
    pt_raw_set set;
    hid_t f, root;     // -1: not open
    char *fmt, *pk;    // --resume: the file's attributes
} pack_state;

// Open (or create) the output file and pack every video not already complete; returns the count written.
static int pack_all(pack_state *ps, const pt_pack_opts *o) {
    const pt_raw_set *set = &ps->set;
    const char *out = o->out;
    struct stat st;
    int exists = stat(out, &st) == 0;
    if (o->resume && exists) {
        if (H5_CHECK(H5Fis_hdf5(out), out) <= 0) PT_USAGE("%s: --resume: the file exists but is not HDF5", out);
        ps->f = H5_CHECK(H5Fopen(out, H5F_ACC_RDWR, H5P_DEFAULT), out);
        ps->fmt = pt_h5_attr_read_str(ps->f, "format", out);
        ps->pk = pt_h5_attr_read_str(ps->f, "pose_kind", out);
        if (strcmp(ps->fmt, "posetune-pack") != 0) PT_USAGE("%s: --resume: attribute format is '%s', not posetune-pack", out, ps->fmt);
        if (strcmp(ps->pk, pt_pose_kind_name(set->kind)) != 0)
            PT_USAGE("%s: --resume: the file holds %s poses but the sources give %s", out, ps->pk, pt_pose_kind_name(set->kind));
    } else {
        ps->f = H5_CHECK(H5Fcreate(out, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), out);
        pt_h5_attr_write_str(ps->f, "format", "posetune-pack", out);
        pt_h5_attr_write_i64(ps->f, "version", 1, out);
        pt_h5_attr_write_str(ps->f, "pose_kind", pt_pose_kind_name(set->kind), out);
    }
    ps->root = pt_h5_link_exists(ps->f, "videos", out) ? H5_CHECK(H5Gopen2(ps->f, "videos", H5P_DEFAULT), out)
                                                       : H5_CHECK(H5Gcreate2(ps->f, "videos", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), out);
    int written = 0;
    double t0 = now_s();
    long frames = 0;
    for (int i = 0; i < set->n; i++) {
        const pt_raw_video *v = &set->videos[i];
        char what[4200];
        snprintf(what, sizeof what, "%s:/videos/%s", out, v->name);
        if (pt_h5_link_exists(ps->root, v->name, what)) {
            if (group_complete(ps->root, v, set->kind, o, what)) {
                if (!o->quiet) fprintf(stderr, "pack: video %d/%d '%s': complete, skipped (--resume)\n", i + 1, set->n, v->name);
                continue;
            }
            if (!o->quiet) fprintf(stderr, "pack: video %d/%d '%s': partial group from an interrupted run, packing again\n", i + 1, set->n, v->name);
            H5_CHECK(H5Ldelete(ps->root, v->name, H5P_DEFAULT), what);
        }
        pack_video(ps->root, v, set->kind, i, set->n, o);
        written++;
        frames += v->n;
    }
    H5_CHECK(H5Gclose(ps->root), out);
    ps->root = -1;
    H5_CHECK(H5Fclose(ps->f), out);
    ps->f = -1;
    double dt = now_s() - t0;
    if (!o->quiet)
        fprintf(stderr, "pack: %s: %d videos (%d written), %ld frames in %.2f s (%.1f frames/s)\n", out, set->n, written,
                frames, dt, dt > 0 ? frames / dt : 0.0);
    return written;
}

int pt_pack(const char *const *srcs, int n_src, const pt_pack_opts *o) {
    pt_h5_init();
    if (!o->out) PT_USAGE("pack: no output file (-o / --out)");
    if ((o->height > 0) != (o->width > 0) || o->height < 0 || o->width < 0)
        PT_USAGE("pack: --size must be HxW with both sides positive (got %dx%d)", o->height, o->width);
    char scratch[4200];
    snprintf(scratch, sizeof scratch, "%s.frames", o->out);
    pack_state *ps = pt_calloc(1, sizeof *ps);
    ps->f = ps->root = -1;
    volatile int written = 0;
    PT_TRY {
        ps->set = pt_raw_scan(srcs, n_src, o->pose_kind, scratch);   // validation before writing
        written = pack_all(ps, o);
    } PT_CATCH {   // close the file (unchecked: already failing) and release the scan
        if (ps->root >= 0) H5Gclose(ps->root);
        if (ps->f >= 0) H5Fclose(ps->f);
        free(ps->fmt); free(ps->pk);
        pt_raw_free(&ps->set);
        free(ps);
        pt_weights_rethrow();
    } PT_END_TRY;
    free(ps->fmt); free(ps->pk);
    pt_raw_free(&ps->set);
    free(ps);
    return written;
}

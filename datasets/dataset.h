// dataset.h — read frames and poses from a packed .h5 file (datasets/pack.h), a raw folder
// layout (datasets/rawdir.h), or a subject set (a few photos + their pose files).
//
// Outputs are float (C, H, W) at the size the caller asks for:
//   frame:      (3, H, W) in [-1, 1], bilinear resize (antialiased when shrinking)
//   densepose:  (2, H, W) U, V in [0, 1], nearest resize (as DreamPose does)
//   pose image: (3, H, W) in [0, 1], bilinear resize
// H, W = 0, 0 means the stored size (pt_dataset_frame_size).
//
// Thread safety: a pt_dataset handle is used by one thread at a time (it owns scratch buffers and
// open HDF5 objects). Each loader worker opens its own handle. HDF5 calls are wrapped in
// pt_h5_lock()/unlock(), a global mutex taken only when the HDF5 library is not thread-safe
// (Debian's is), so handles in different threads are always safe.
#pragma once
#include <stdint.h>

#include "datasets/rawdir.h"

typedef struct pt_dataset pt_dataset;

// `path`: an HDF5 file written by `posetune pack`, or a raw source (video folder / folder of video
// folders). Incomplete groups of a pack file (interrupted pack) are skipped with a warning.
pt_dataset *pt_dataset_open(const char *path);
// A subject set: n photos and their pose files (.npy DensePose or skeleton .png, matched by order),
// as one "video" named "subject" whose frames are the photos. All must share one size and kind.
pt_dataset *pt_dataset_open_subject(const char *const *images, const char *const *poses, int n);
void pt_dataset_close(pt_dataset *ds);

int pt_dataset_n_videos(const pt_dataset *ds);
int pt_dataset_n_frames(const pt_dataset *ds, int v);
const char *pt_dataset_video_name(const pt_dataset *ds, int v);
double pt_dataset_fps(const pt_dataset *ds, int v);               // 0 when unknown
void pt_dataset_frame_size(const pt_dataset *ds, int v, int *h, int *w);
pt_pose_kind pt_dataset_pose_kind(const pt_dataset *ds);        // primary kind
int pt_dataset_has_densepose(const pt_dataset *ds);
int pt_dataset_has_pose_image(const pt_dataset *ds);
const char *pt_dataset_path(const pt_dataset *ds);

void pt_dataset_frame(pt_dataset *ds, int v, int i, float *dst /* (3, H, W) in [-1, 1] */, int H, int W);
void pt_dataset_densepose(pt_dataset *ds, int v, int i, float *dst /* (2, H, W) */, int H, int W);
void pt_dataset_pose_image(pt_dataset *ds, int v, int i, float *dst /* (3, H, W) in [0, 1] */, int H, int W);

// Cached VAE latents (pack.h `latents` dataset; only in pack files packed with a latent hook).
// pt_dataset_latent_shape gives 0 channels when absent.
int pt_dataset_has_latents(const pt_dataset *ds);
void pt_dataset_latent_shape(const pt_dataset *ds, int v, int *c, int *h, int *w);
void pt_dataset_latent(pt_dataset *ds, int v, int i, float *dst /* (C, h, w) */);

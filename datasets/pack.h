// pack.h — pack raw video folders (datasets/rawdir.h) into one HDF5 file.
//
// File layout (format "posetune-pack", version 1):
//   /                       attrs: format = "posetune-pack", version = 1, pose_kind = "densepose"|"skeleton"
//   /videos/<name>/frames   uint8 (N, H, W, 3), chunks (1, H, W, 3)
//   /videos/<name>/poses    densepose: float16 (N, 2, H, W) U,V in [0, 1], chunks (1, 2, H, W)
//                           skeleton:  uint8 (N, H, W, 3), chunks (1, H, W, 3)
//   /videos/<name>/latents  optional float16 (N, C, H/f, W/f): VAE latents (already × scaling
//                           factor) of the frames, written by the latent hook below
//           attrs: fps (f64, 0 = unknown), source (str), pose_kind (str), n_frames (i64),
//                  height, width (i64), complete (i64 = 1, written last)
//
// Frames are resized bilinearly (antialiased when shrinking, datasets/image_io.h), DensePose with
// nearest (as DreamPose does), skeleton images bilinearly, when --size differs from the source.
//
// Resume: a group is complete once its `complete` attribute exists; it is written after every
// dataset and attribute of the group, and the file is flushed (H5Fflush) before and after it.
// With `resume`, complete groups whose size and pose kind match are skipped; a partial group
// (crash mid-video) is unlinked and packed again (HDF5 does not reclaim its space; h5repack does).
// Without `resume` an existing output file is replaced.
//
// Fault injection (tests): POSETUNE_FAULT=pack_mid_video kills the packer after half the frames of
// the second video (video index 1) are written, leaving video 0 complete and video 1 partial.
#pragma once
#include "datasets/rawdir.h"

// Latent hook (posetune pack --cache-latents): encode one frame (3, H, W) in [-1, 1] into
// `latent` (C, H/down, W/down). Called once per frame; must be deterministic.
typedef void (*pt_pack_latent_fn)(void *ctx, const float *img, int H, int W, float *latent);
// Batched form (used instead of latent_fn when set): n frames (n, 3, H, W) of one video, in frame
// order, into latents (n, C, H/down, W/down); n <= latent_batch (the last call of a video may be short).
typedef void (*pt_pack_latent_batch_fn)(void *ctx, const float *imgs, int n, int H, int W, float *latents);

typedef struct pt_pack_opts {
    const char *out;          // output .h5 path
    pt_pose_kind pose_kind;   // AUTO: densepose when the first video has it, else skeleton
    int height, width;        // 0, 0: keep each video's own size
    int resume;               // skip complete groups of an existing file
    int quiet;                // no progress lines
    pt_pack_latent_fn latent_fn;   // NULL: no latents (unless latent_batch_fn)
    pt_pack_latent_batch_fn latent_batch_fn;   // NULL: per-frame latent_fn
    int latent_batch;              // frames per latent_batch_fn call (default 8)
    void *latent_ctx;           // passed to either hook
    int latent_channels, latent_down;   // e.g. 4, 8
} pt_pack_opts;

void pt_pack_opts_default(pt_pack_opts *o);
// Validate every source (before the output is touched), then pack. Returns the number of videos
// written (skipped complete groups not counted).
int pt_pack(const char *const *srcs, int n_src, const pt_pack_opts *o);

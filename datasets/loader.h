// loader.h — prefetching batch loader: N worker threads fill a ring of K batches.
//
// Determinism: batch number s is made of the samples the sampler yields at positions
// s*B .. s*B+B-1 (workers claim batch numbers and draw their samples in order under one mutex),
// and every random choice inside a sample (crop box) is a pure function of the sample's key
// (sampler.h), so the batch sequence is a function of the sampler state only — not of thread
// timing, thread count or prefetch depth.
//
// Resume: pt_loader_get_state() is the sampler state right after the last batch returned by
// pt_loader_next(); a checkpoint stores it, and pt_loader_create(cfg, &state) continues with the
// batch that would have come next.
//
// Inputs per mode (pose tensors are NULL when not used):
//   DREAMPOSE  target, cond, densepose (B, 10, H, W) = [U,V of poses j-2 .. j+2]   (DensePose data)
//   SUBJECT    as DREAMPOSE (DensePose subject poses) or target, cond, pose_image (skeleton poses)
//   AA_STAGE1  target, cond (the reference), pose_image                           (skeleton data)
//   AA_STAGE2  clip_frames, clip_poses, cond (the reference); target = clip frame 0 (skeleton data)
// Augmentation (augment.h):
//   NONE           frames resized straight to (H, W)
//   DREAMPOSE_CROP resize to (H, W), then the random crop (p = crop_p) on the target and its poses
//                  (not on the conditioning image), resized back
//   VAE_CROP       resize to (H, W), then the VAE-decoder crop on the target (cond is not cropped)
//   RRC            RandomResizedCrop(scale 0.9-1, ratio 0.9-1) from the stored size, one draw for
//                  target, reference, poses and every clip frame
//   CENTER_CROP    resize + center crop from the stored size, every image
// Workers never exit the process: a failure in a worker (corrupt frame ...) is re-raised by
// pt_loader_next in the caller's thread with the same exit code and message.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "datasets/sampler.h"

typedef enum { PT_AUG_NONE = 0, PT_AUG_DREAMPOSE_CROP, PT_AUG_VAE_CROP, PT_AUG_RRC, PT_AUG_CENTER_CROP } pt_aug_kind;

typedef struct pt_loader_config {
    const char *path;                 // pack file or raw folder (or NULL with a subject set)
    const char *const *subject_images, *const *subject_poses;
    int n_subject;
    pt_sampler_config sampler;
    int batch_size, height, width;
    int n_threads;                    // default 2
    int n_prefetch;                   // ring size K, default 4 (>= 2)
    pt_aug_kind aug;
    float crop_p;                     // DREAMPOSE_CROP probability, default 0.7
    int use_latents;                  // fill target_latent / cond_latent from the pack (aug NONE)
    // Host buffer allocation (e.g. cudaHostAlloc for pinned memory); NULL: malloc/free.
    void *(*alloc)(size_t bytes, void *ctx);
    void (*release)(void *p, void *ctx);
    void *alloc_ctx;
} pt_loader_config;

typedef struct pt_batch {
    pt_sampler_mode mode;
    int B, H, W, F;            // F: clip frames (AA_STAGE2), else 0
    float *target;             // (B, 3, H, W) in [-1, 1]
    float *cond;               // (B, 3, H, W) in [-1, 1]: conditioning / reference image
    float *densepose;          // (B, 10, H, W) U,V in [0, 1] of the 5-pose window, or NULL
    float *pose_image;         // (B, 3, H, W) in [0, 1], or NULL
    float *clip_frames;        // (B, F, 3, H, W) in [-1, 1], or NULL
    float *clip_poses;         // (B, F, 3, H, W) in [0, 1], or NULL
    float *target_latent;      // (B, LC, LH, LW) cached latents, or NULL
    float *cond_latent;        // (B, LC, LH, LW), or NULL
    int LC, LH, LW;
    int32_t *drop_image;       // (B) 1: zero the conditioning image (the regime does it)
    int32_t *drop_pose;        // (B) 1: zero the poses
    pt_sample *samples;        // (B) the frames each row was made of
    int64_t seq;               // batch number in this loader's stream
} pt_batch;

typedef struct pt_loader pt_loader;

void pt_loader_config_default(pt_loader_config *c, pt_sampler_mode mode, uint64_t seed);
// Starts the workers. resume: NULL to start at (seed, epoch 0, cursor 0).
pt_loader *pt_loader_create(const pt_loader_config *c, const pt_sampler_state *resume);
// The next batch; valid until the next call or pt_loader_free.
const pt_batch *pt_loader_next(pt_loader *l);
pt_sampler_state pt_loader_get_state(const pt_loader *l);
void pt_loader_free(pt_loader *l);

// Time n_batches (after one warm-up batch); returns batches per second.
double pt_loader_bench(const pt_loader_config *c, int n_batches);

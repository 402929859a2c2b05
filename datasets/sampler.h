// sampler.h — which frames make each training sample; seeded, sharded over ranks, resumable.
//
// Epochs: every epoch is a permutation of the mode's items (identical on every rank: it depends
// only on (seed, epoch)); rank r of W takes positions r, r+W, r+2W, ... so the ranks' shards are
// disjoint and together cover the epoch exactly (no padding, no dropped items; when N % W != 0 the
// first N % W ranks get one more sample per epoch: training is step-based, each rank simply rolls
// into its next epoch independently). The state (seed, epoch, cursor) is all a checkpoint needs;
// every random choice of a sample is a pure function of (seed, epoch, global position), through
// counter-based Philox streams (autograd/rng.h), so restoring the state replays the same samples.
//
// Modes:
//   DREAMPOSE  item = (video, frame j) over all frames: target j, conditioning frame i != j
//              (uniform over the other frames; i = j only for 1-frame videos), DensePose window
//              poses = j-2 .. j+2 clamped to [0, n-1] (the paper's scheme; the official training
//              code repeated pose j five times, a bug).
//   AA_STAGE1  item = video: reference i and target j with |i - j| >= m, m = min(margin, n-1)
//              (margin 30 by default; a video shorter than margin+1 frames uses the farthest
//              possible distance n-1); the ordered pair is uniform over the valid pairs given i,
//              i uniform over frames that have a partner (rejection; at most 64 tries, then i = 0).
//   AA_STAGE2  item = video: a clip of num_frames at stride: start uniform in [0, n - span] with
//              span = (num_frames-1)*stride + 1; a video shorter than span starts at 0 and every
//              index past the end is clamped to the last frame (padding by repeating it; Moore's
//              code instead squeezes the stride with linspace). Reference frame uniform in [0, n).
//              target = first clip frame.
//   SUBJECT    item = photo j of a subject set (one "video"): target j, conditioning photo i != j
//              uniform, poses = j five times (still photos have no neighbours).
//
// Random choices are keyed by the sample's position in the GLOBAL epoch order (epoch, r + cursor*W),
// so a rank draws from its own sub-stream, and N ranks x batch B/N reproduce 1 rank x batch B.
// Conditioning dropout (per sample): u ~ U[0,1) from the stream "sampler.dropout" at that key:
// u < p_image -> drop image only; < p_image + p_pose -> pose only; < p_image + p_pose + p_both ->
// both. The flags go into the batch; the regime code zeros the inputs.
#pragma once
#include <stdint.h>

#define PT_POSE_WINDOW 5
#define PT_MAX_CLIP 128

typedef enum { PT_SAMPLER_DREAMPOSE = 0, PT_SAMPLER_AA_STAGE1, PT_SAMPLER_AA_STAGE2, PT_SAMPLER_SUBJECT } pt_sampler_mode;

typedef struct pt_sampler_state { uint64_t seed; int64_t epoch; int64_t cursor; } pt_sampler_state;

typedef struct pt_sampler_config {
    pt_sampler_mode mode;
    uint64_t seed;
    int rank, world_size;      // default 0, 1
    int margin;                // AA stage 1, default 30
    int num_frames, stride;    // AA stage 2, default 24, 4
    float p_drop_image, p_drop_pose, p_drop_both;   // default 0
} pt_sampler_config;

typedef struct pt_sample {
    int video;
    int target;                    // target frame j
    int cond;                      // conditioning / reference frame i
    int poses[PT_POSE_WINDOW];     // DreamPose pose window (DREAMPOSE, SUBJECT)
    int n_clip;                    // AA_STAGE2: num_frames; else 0
    int clip[PT_MAX_CLIP];         // AA_STAGE2 frame indices
    int drop_image, drop_pose;     // conditioning dropout flags
    int64_t item;                  // the epoch item (index into the mode's item list)
    int64_t epoch, cursor;         // where this sample sits in the rank's stream
    uint64_t key;                  // epoch * n_local + cursor: seeds this sample's augmentation
} pt_sample;

typedef struct pt_sampler pt_sampler;

void pt_sampler_config_default(pt_sampler_config *c, pt_sampler_mode mode, uint64_t seed);
// n_frames[v] for each of n_videos videos (pt_dataset_n_frames).
pt_sampler *pt_sampler_create(const pt_sampler_config *c, const int *n_frames, int n_videos);
void pt_sampler_free(pt_sampler *s);
void pt_sampler_next(pt_sampler *s, pt_sample *out);
pt_sampler_state pt_sampler_get_state(const pt_sampler *s);
void pt_sampler_set_state(pt_sampler *s, pt_sampler_state st);
int64_t pt_sampler_n_items(const pt_sampler *s);   // items per epoch (all ranks)
int64_t pt_sampler_n_local(const pt_sampler *s);   // samples per epoch on this rank
// The dropout draw on its own (used by pt_sampler_next; exposed for tests and per-batch use).
void pt_sampler_dropout(const pt_sampler_config *c, uint64_t key, int *drop_image, int *drop_pose);

// synthetic.h — the embedded default dataset: stick-figure "people" walking, with every pose
// format posetune reads, generated deterministically from a seed (demo and data tests).
//
// Folder layout (this is also the layout users prepare for `posetune pack`):
//
//   OUT_DIR/
//     video_0000/
//       meta.json                    {"fps": 8.0, "n_frames": N, "width": W, "height": H,
//                                     "source": "posetune synthetic", "seed": S}
//       frame_0000.png               RGB frame (W x H)
//       frame_0000_keypoints.json    OpenPose JSON, one person, 18 COCO keypoints in pixels with
//                                    confidences, canvas_width/canvas_height (datasets/keypoints.h)
//       frame_0000_pose.png          DWPose-style skeleton drawn from the keypoints (pose_draw.h)
//       frame_0000_densepose.npy     float64 (2, H, W): U, V in (0, 1] inside the figure, 0 outside
//                                    (DreamPose layout; U runs along the body part, V across it)
//       frame_0001.png ...
//     video_0001/ ...
//
// Frames are numbered from 0 with 4 digits. A folder is complete when its meta.json exists
// (written last). Users' folders need frame_N.png plus at least one of the three pose files.
//
// Look: pale background (every channel >= 170; plain or vertical gradient), figure parts in darker
// clothing / skin colours (every channel <= 160), no antialiasing, so "figure" = densepose != 0 =
// pixel with max channel <= 160. Motion: a walk cycle (legs and arms swing, knees/elbows bend,
// body bobs and drifts horizontally), one cycle per ~12 frames with per-video phase and speed.
#pragma once
#include <stdint.h>

#include "datasets/image_io.h"
#include "datasets/keypoints.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_synth_opts {
    int n_videos;     // default 2
    int n_frames;     // per video, default 16
    int width, height;   // default 64 x 64
    uint64_t seed;    // default 0
} pt_synth_opts;

void pt_synth_opts_default(pt_synth_opts *o);
// Writes OUT_DIR/video_%04d/... as documented above (OUT_DIR created).
void pt_synth_generate(const char *out_dir, const pt_synth_opts *o);

// In-memory rendering of one frame (what pt_synth_generate writes). Any output may be NULL.
//   rgb:       (H, W, 3) image, allocated here (free with pt_image_free)
//   densepose: (2, H, W) doubles, caller-allocated
//   kp:        one person, 18 pixel keypoints; free with pt_pose_frame_free
void pt_synth_render(const pt_synth_opts *o, int video, int frame, pt_image *rgb, double *densepose,
                     pt_pose_frame *kp);

#ifdef __cplusplus
}
#endif

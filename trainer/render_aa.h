// render_aa.h — Animate Anyone inference: animate a reference image with a skeleton sequence.
//
//   reference pass: once per video (reference UNet, t = 0, context = CLIP image_embeds, WRITE)
//   x_T ~ N(0, 1) per frame (seed render.seed, stream "render.init", frame index)
//   every DDIM step i (render.steps, eta render.eta; train.* schedule settings: v-prediction,
//   zero-terminal-SNR, trailing spacing):
//     for every window w of the schedule (trainer/window_fusion.h; render.window, render.overlap;
//     the last window is clamped to end at the last frame):
//       cond   = UNet(x[w], t, image_embeds | bank READ repeated over the window's frames, Pose Guider)
//       uncond = UNet(x[w], t, zeros        | empty bank, Pose Guider)          (skipped when cfg = 1)
//       pred_w = uncond + render.cfg_scale * (cond - uncond)
//     pred = fused pred_w (render.fusion: uniform average or MimicMotion triangular weights)
//     x = DDIM step(x, pred)   (eta > 0: noise per frame, stream "render.ddim", step * 1000003 + frame)
//   decode every frame with the VAE -> <render.output>/frame_%04d.png + clip.gif (+ clip.mp4 with
//   ffmpeg when render.format is mp4/png; gif only for gif).
// Stage 2 models (cfg->stage 2) run the motion modules over each window's frames; stage 1 models
// treat frames independently.
// Poses (render.poses): a folder of OpenPose/DWPose keypoint files (*_keypoints.json or *.json,
// drawn with the DWPose style at data.height x data.width) or of skeleton images (*_pose.png, else
// every *.png), sorted by name; or one .json / .png file. render.pose_rescale (keypoints only):
// MimicMotion retargeting onto the reference figure, whose keypoints are "<reference stem>_keypoints.json"
// beside the reference image (PT_USAGE when absent).
#pragma once
#include "trainer/aa_models.h"
#include "trainer/window_fusion.h"

// Pose images (N, 3, H, W) in [0, 1] for cfg (render.poses, render.max_frames, pose_rescale).
// Returns N; *out is malloc'ed.
int pt_aa_load_poses(const pt_config *cfg, int H, int W, float **out);

// The sampler on in-memory inputs: ref (3, H, W) in [-1, 1], poses (N, 3, H, W) in [0, 1] ->
// latents (N, 4, h, w) (scaled, not decoded).
void pt_aa_sample(pt_aa_models *m, const pt_config *cfg, const float *ref, const float *poses, int N, pt_win_edge edge,
                  float *latents);

int pt_render_aa_with(pt_aa_models *m, const pt_config *cfg);   // returns frames written
int pt_render_aa(const pt_config *cfg);                          // builds the models (stage from cfg)
int pt_animate_anyone_render(const pt_config *cfg);              // the name tools/cmd_render.c declares

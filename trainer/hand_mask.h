// hand_mask.h — MimicMotion's regional loss amplification: a mask of the hands on the latent grid.
//
// The loss weight is `factor` inside the mask and 1 outside (train.hand_loss_factor; MimicMotion does
// not publish its factor). Two sources:
//   keypoints: for every person and hand with at least 3 keypoints of confidence >= conf_th, the
//     box of those keypoints, grown by 25% of its size on each side (at least 1 latent cell), marks
//     every latent cell it touches.
//   pose image (when the batch has no keypoints, as posetune's loader batches): a skeleton drawn as
//     DWPose draws it has body limbs at 0.6 brightness and body joints in the 18 palette colours,
//     whose hues are multiples of 20 degrees; hand edges are full-brightness HSV hues e/20 x 360,
//     18 of whose 20 hues are not multiples of 20 degrees. A pixel is a hand pixel when its max
//     channel >= 0.75, its min channel <= 0.25 and its hue is more than 4 degrees from every
//     multiple of 20; a latent cell holding one is marked, then the marks are dilated by one cell.
//     (A heuristic: blends of two adjacent joint colours can add a stray cell; hands drawn with low
//     confidence, i.e. dark, are not found, which matches "confident hands".)
#pragma once
#include <stdint.h>

#include "datasets/keypoints.h"

// pose (3, H, W) in [0, 1] -> mask (h, w) of 0/1. Returns the number of marked cells.
int pt_hand_mask_from_pose_image(const float *pose, int H, int W, int h, int w, float *mask);
// f: one frame's keypoints (pixels of a W x H canvas, or normalised). mask (h, w) of 0/1.
int pt_hand_mask_from_keypoints(const pt_pose_frame *f, int W, int H, int h, int w, float conf_th, float *mask);
// weight[i] = mask[i] ? factor : 1, for n entries.
void pt_hand_mask_to_weight(const float *mask, int64_t n, float factor, float *weight);

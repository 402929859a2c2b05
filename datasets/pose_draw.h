// pose_draw.h — skeleton images from keypoints, as DWPose / OpenPose (controlnet_aux) draw them,
// plus MimicMotion's confidence-aware variant and pose retargeting.
//
// Body (COCO-18): the first 17 limbs of the OpenPose limb list, limb i filled as an ellipse
// (half-length |a-b|/2, half-width `stick`) in colour palette[i]; then the whole canvas is scaled by
// 0.6 (DWPose does this before joints; the result is truncated to uint8); then joint j is a filled
// circle (radius `joint_r`) in palette[j]. Hands: 20 edges, line width 2 coloured by HSV hue e/20,
// joints radius 4 blue (0, 0, 255). Face: radius 3 white points. A keypoint is drawn only when its
// confidence >= threshold (DWPose marks points under 0.3 missing). Sizes are DWPose's pixel sizes at
// a 512-pixel short side, scaled by min(W, H) / 512 (at least 1 pixel).
// Colours are RGB (DWPose / controlnet_aux order). MimicMotion runs its drawing through
// cv2 BGR2RGB at the end, which swaps R and B of this palette; `bgr_palette` reproduces that.
//
// Confidence-aware (MimicMotion): limb colour x (conf_a * conf_b), limbs with either conf below
// threshold skipped, joint colour x conf, hand edge colour x (conf_a * conf_b), hand joint blue
// x conf, face grey level = conf * 255.
#pragma once
#include "datasets/image_io.h"
#include "datasets/keypoints.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const unsigned char PT_POSE_PALETTE[18][3];   // OpenPose body colours (RGB)
extern const int PT_POSE_LIMBS[17][2];               // 0-based keypoint pairs, COCO-18 order
extern const int PT_HAND_EDGES[20][2];

typedef struct pt_pose_draw_opts {
    int confidence_aware;    // MimicMotion colours
    float threshold;         // keypoints below are not drawn (0 -> 0.3)
    int draw_body, draw_hands, draw_face;   // all 0 -> all drawn
    float size_scale;        // 0 -> min(W, H) / 512
    int bgr_palette;         // swap R and B of every colour (MimicMotion's output order)
    int no_clear;            // 1: draw over the canvas; 0: clear it to black first
} pt_pose_draw_opts;

void pt_pose_draw_opts_default(pt_pose_draw_opts *o);
// Draws f onto canvas (RGB, c = 3; its w x h is the drawing size). Normalised frames are scaled by
// the canvas size; pixel frames whose canvas size (width/height) differs are rescaled to it.
void pt_pose_draw(const pt_pose_frame *f, pt_image *canvas, const pt_pose_draw_opts *o);

// MimicMotion retargeting, in normalised coordinates. Fit from the driving frames (first person
// with a full body) to the reference pose using keypoints {0,1,2,5,8,11,14,15,16,17} visible in
// the reference: y' = ay*y + by by least squares over all frames, ax = ay * (drive_w/drive_h) /
// (ref_w/ref_h), bx = mean(ref_x - ax*x).
typedef struct pt_pose_retarget { float ax, bx, ay, by; } pt_pose_retarget;
pt_pose_retarget pt_pose_retarget_fit(const pt_pose_frame *driving, int n, const pt_pose_frame *ref,
                                      int drive_w, int drive_h, int ref_w, int ref_h);
// Applies x' = ax*x + bx, y' = ay*y + by to body, hands and face of every person (normalised
// coordinates; pixel frames are converted with their drive size first and left normalised).
void pt_pose_retarget_apply(pt_pose_frame *f, const pt_pose_retarget *r, int drive_w, int drive_h);

#ifdef __cplusplus
}
#endif

// augment.h — crops for the training regimes, on float (C, H, W) buffers, driven by pt_rng.
//
// Every augmentation is split in two: a *params* function draws a crop box from the rng (one
// draw per sample), and pt_aug_apply() crops any number of buffers with that same box, so the
// image, its poses, the reference and every clip frame get the identical geometric transform.
// The box is in source pixels; the output is resized to the requested size.
//
//   DreamPose subject finetune (pt_aug_dreampose_crop): with probability 0.7, at 640x512:
//     top, left uniform in [0, 24]; height uniform in [615, 640 - top); width = height * 512/640
//     (aspect kept), resized back to the full size. Numbers scale with the actual size (24 and 615
//     as fractions of the height; left's range as a fraction of the width). left is clamped so the
//     box stays inside the image (torchvision would pad the overhang with black instead).
//   DreamPose VAE decoder finetune (pt_aug_vae_crop): offset o uniform in [0, 50] (scaled by
//     H/640); the box runs from (o, o*W/H) to the bottom-right corner (aspect kept), resized back.
//   Animate Anyone RandomResizedCrop (pt_aug_rrc): torchvision's algorithm with scale (0.9, 1) and
//     ratio (0.9, 1): up to 10 tries of area ~ U(scale)*H*W, log-ratio ~ U(log ratio range),
//     w = round(sqrt(area*ratio)), h = round(sqrt(area/ratio)); the first that fits is placed
//     uniformly; else a center crop clamped to the ratio range. One draw for reference, target and
//     pose (Moore-AnimateAnyone reuses one RNG state for the three).
//   Resize + center crop (pt_aug_center_crop): the largest box of the output aspect, centred
//     (no randomness): the shorter side is resized to the output, the longer one cropped.
//
// Resampling in pt_aug_apply: bilinear with half-pixel centres (align_corners=False) for images,
// nearest (centre of the output pixel mapped into the box) for DensePose / label maps. For the
// identity box it is an exact copy.
#pragma once
#include "autograd/rng.h"

typedef struct pt_crop {
    float top, left, height, width;   // box in source pixels (may be fractional for scaled sizes)
    int applied;                      // 0: the identity (box = whole image)
} pt_crop;

typedef enum { PT_INTERP_BILINEAR = 0, PT_INTERP_NEAREST } pt_interp;

pt_crop pt_aug_identity(int H, int W);
pt_crop pt_aug_dreampose_crop(pt_rng *r, int H, int W, float p);   // p = 0.7 in DreamPose
pt_crop pt_aug_vae_crop(pt_rng *r, int H, int W);
pt_crop pt_aug_rrc(pt_rng *r, int H, int W, float scale_lo, float scale_hi, float ratio_lo, float ratio_hi);
pt_crop pt_aug_center_crop(int H, int W, int out_h, int out_w);

// dst (C, OH, OW) = resample(src (C, H, W) restricted to the box).
void pt_aug_apply(const pt_crop *box, const float *src, int C, int H, int W, float *dst, int OH, int OW, pt_interp interp);

// clip_preprocess.h — transformers' CLIPImageProcessor for the CLIP image tower.
//
//   1. resize so the shorter side is `shortest_edge` (224), the longer one int(224 * long / short),
//      bicubic (PIL's BICUBIC: Keys kernel a = -0.5, support scaled by the shrink factor, i.e.
//      antialiased; horizontal pass, then vertical);
//   2. center crop crop_h x crop_w (224): top = (H - crop_h) / 2, left = (W - crop_w) / 2 (floor);
//   3. rescale by 1/255 and normalise: (x - mean[c]) / std[c], OpenAI mean
//      [0.48145466, 0.4578275, 0.40821073], std [0.26862954, 0.26130258, 0.27577711].
// pt_clip_preprocess_u8 takes uint8 RGB like PIL and rounds to uint8 after each resize pass as PIL
// does; it matches transformers within one grey level on the resized pixels (PIL's fixed-point
// weights differ in the last bit). pt_clip_preprocess_chw takes float planes in [0, 1] and keeps
// full precision (for images the training pipeline already holds as floats; 512-768 px inputs).
#pragma once
#include <stdint.h>

#include "tools/json.h"

typedef struct pt_clip_preprocess_config {
    int shortest_edge;      // 224
    int crop_h, crop_w;     // 224, 224
    int do_center_crop;     // 1
    float rescale_factor;   // 1/255 (u8 input only)
    float mean[3], std[3];
} pt_clip_preprocess_config;

void pt_clip_preprocess_default(pt_clip_preprocess_config *c);
// preprocessor_config.json: "size" ({"shortest_edge": N} or N), "crop_size" ({"height","width"} or N),
// "do_center_crop", "rescale_factor", "image_mean", "image_std". Missing keys keep the defaults.
void pt_clip_preprocess_config_from_json(pt_clip_preprocess_config *c, const pt_json *root);

// Output size of the resize step for an h x w image.
void pt_clip_preprocess_resized_size(const pt_clip_preprocess_config *c, int h, int w, int *oh, int *ow);
// rgb (H, W, 3) uint8 -> dst (3, crop_h, crop_w) float (crop disabled: the resized size).
void pt_clip_preprocess_u8(const pt_clip_preprocess_config *c, const uint8_t *rgb, int h, int w, float *dst);
// src (3, H, W) float in [0, 1] -> dst (3, crop_h, crop_w).
void pt_clip_preprocess_chw(const pt_clip_preprocess_config *c, const float *src, int h, int w, float *dst);
// One separable bicubic resize of float planes (C, H, W) -> (C, OH, OW), PIL's filter and support.
// round_u8: round to [0, 255] integers after each pass (PIL on 8-bit images).
void pt_resize_bicubic_pil_chw(const float *src, int c, int h, int w, float *dst, int oh, int ow, int round_u8);

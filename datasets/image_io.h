// image_io.h — images on disk (PNG/JPG through stb_image) and the float (C, H, W) helpers the
// datasets and renderers use: scale to [lo, hi], resize (bilinear / nearest), crop, PNG grids.
//
// Layouts: pt_image is (H, W, C) interleaved uint8; the float helpers work on (C, H, W) planes.
// Resizing follows torch.nn.functional.interpolate:
//   bilinear: align_corners=False, source coordinate (dst + 0.5) * in/out - 0.5, clamped at 0 and
//     at the last pixel. When a side shrinks by more than 2x, that side is instead resized by area
//     averaging (each output pixel = mean of the input box [i*in/out, (i+1)*in/out), fractional
//     edges weighted) — an antialiased downscale like PIL / torch antialias=True, not plain
//     bilinear, which would alias.
//   nearest: source index floor(dst * in/out) (torch 'nearest', not 'nearest-exact').
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_image { int w, h, c; uint8_t *px; } pt_image;  // px: (H, W, C) interleaved

// Load a PNG/JPG/BMP/GIF(first frame) as RGB (c = 3). Unreadable or corrupt -> PT_USAGE naming the
// file and stb's reason.
pt_image pt_image_load(const char *path);
// A zeroed image of the given size.
pt_image pt_image_alloc(int w, int h, int c);
// Write a PNG (c = 1, 3 or 4) atomically (temporary file + rename). Failures name the path.
void pt_image_save_png(const char *path, const pt_image *im);
// Same, written directly (checked, not atomic, no fsync): for bulk writers such as the synthetic
// generator where a crash can only leave an incomplete scratch folder.
void pt_image_save_png_direct(const char *path, const pt_image *im);
void pt_image_free(pt_image *im);

// uint8 (H, W, C) -> float (C, H, W) with 0 -> lo and 255 -> hi (e.g. lo=-1, hi=1).
void pt_image_to_chw(const pt_image *im, float *dst, float lo, float hi);
// float (C, H, W) in [lo, hi] -> uint8 image (values clamped, rounded to nearest).
pt_image pt_image_from_chw(const float *src, int c, int h, int w, float lo, float hi);

// (C, H, W) -> (C, OH, OW). See the header comment for the exact rules.
void pt_resize_bilinear_chw(const float *src, int c, int h, int w, float *dst, int oh, int ow);
void pt_resize_nearest_chw(const float *src, int c, int h, int w, float *dst, int oh, int ow);
// dst (C, CH, CW) = src[:, top:top+CH, left:left+CW]; the box must lie inside the image.
void pt_crop_chw(const float *src, int c, int h, int w, int top, int left, int ch, int cw, float *dst);

// Save n (C, H, W) float images (values in [lo, hi]; c = 1 or 3) as one PNG grid with `cols`
// columns and a 2-pixel black gutter. chw_images[i] may be NULL (left black).
void pt_image_grid_save(const char *path, const float *const *chw_images, int n, int c, int h, int w,
                        int cols, float lo, float hi);

#ifdef __cplusplus
}
#endif

// gif.h — a small animated-GIF (GIF89a) encoder for rendered clips when ffmpeg is absent.
//
// Palette: a fixed 6x7x6 RGB colour cube (252 colours; index = r6*42 + g7*6 + b6 with levels
// round(k*255/5), round(k*255/6), round(k*255/5)), each channel quantised to its nearest level;
// optional 4x4 ordered (Bayer) dithering. Every frame is a full-size image with its delay
// round-half-up(100/fps) hundredths of a second; the file loops forever (NETSCAPE2.0 extension).
// Codes: variable-width LZW (min code size 8, clear at 4096 codes).
#pragma once
#include <stdint.h>

#include "tools/check.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_gif {
    pt_atomic_file af;                     // written to a temporary and renamed on pt_gif_end
    int w, h, delay_cs, dither;
    uint8_t *idx;                          // (H, W) palette indices scratch
} pt_gif;

void pt_gif_palette(uint8_t pal[256][3]);                 // entries >= 252 are black
// Palette index of one pixel (x, y used only when dithering).
int pt_gif_quantize(uint8_t r, uint8_t g, uint8_t b, int x, int y, int dither);

void pt_gif_begin(pt_gif *g, const char *path, int w, int h, double fps, int dither);
void pt_gif_add_frame(pt_gif *g, const uint8_t *rgb);     // (H, W, 3)
void pt_gif_end(pt_gif *g);
// All at once: frames[i] is (H, W, 3).
void pt_gif_save(const char *path, const uint8_t *const *frames, int n, int w, int h, double fps, int dither);

#ifdef __cplusplus
}
#endif

// render_common.h — what both renderers (trainer/render_dreampose.c, trainer/render_aa.c) share:
// the reference image, the DDIM / PNDM schedule of train.*, pose file listing and the output
// (<dir>/frame_%04d.png, clip.gif, clip.mp4).
#pragma once
#include "models/scheduler.h"
#include "trainer/config.h"

// render.reference -> (3, H, W) in [-1, 1], resized bilinearly when its size differs. Caller frees.
float *pt_render_load_reference(const char *path, int H, int W);

// The train.* noise schedule (trainer/regime_common.h) with this kind, initialised; eta = render.eta.
void pt_render_sched(const pt_config *cfg, pt_sched_kind kind, pt_sched *s);

// Files of folder `dir` whose names end with suf, sorted by name (render.poses); *out gets n heap
// strings. PT_USAGE naming render.poses when the folder cannot be opened.
int pt_render_list_files(const char *dir, const char *suf, char ***out);

// img (3, H, W) in [-1, 1] -> <dir>/frame_%04d.png.
void pt_render_save_frame(const char *dir, int i, const float *img, int H, int W);

// Frames 0..n-1 of dir -> clip.mp4 (ffmpeg on PATH, render.format png / mp4) and / or clip.gif
// (render.format gif or png, or mp4 without ffmpeg, with a warning), at render.fps (gif: 8 when unset).
void pt_render_write_clip(const pt_config *cfg, const char *dir, int n, int w, int h);

// window_fusion.h — long-video sampling in overlapping windows (Animate Anyone / MimicMotion).
//
// Schedule over N frames, window T, overlap o (stride s = T - o):
//   N <= T:  one window holding frames 0 .. N-1.
//   else     windows start at 0, s, 2s, ... until a window reaches the last frame, and
//     PT_WIN_CLAMP: the last window is shifted back to start at N - T (no frame past the end;
//                   posetune's default: a dance does not loop);
//     PT_WIN_WRAP:  the last window keeps its start and continues at frame 0 (indices mod N),
//                   as Moore-AnimateAnyone's long-video pipeline does (the clip is treated as a loop).
// Every frame is covered by at least one window.
//
// Fusion: at every denoising step each window predicts its frames; the per-frame prediction is
//   sum_w weight(k_w) * pred_w / sum_w weight(k_w), k_w = the frame's position in window w:
//   PT_FUSE_UNIFORM:    weight 1 (plain averaging, Moore-AnimateAnyone)
//   PT_FUSE_TRIANGULAR: w_k = min((k + 0.5) * 2 / T, 2 - (k + 0.5) * 2 / T)  (MimicMotion; T = the window's length)
#pragma once
#include <stdint.h>

typedef enum { PT_WIN_CLAMP = 0, PT_WIN_WRAP = 1 } pt_win_edge;
typedef enum { PT_FUSE_UNIFORM = 0, PT_FUSE_TRIANGULAR = 1 } pt_fuse_kind;

typedef struct pt_win_schedule {
    int n_frames, window, n_windows;
    int *frames;   // (n_windows, window): frame index of each window position (window = min(T, N))
} pt_win_schedule;

void pt_win_schedule_make(pt_win_schedule *s, int n_frames, int window, int overlap, pt_win_edge edge);
void pt_win_schedule_free(pt_win_schedule *s);
// Weight of position k in a window of T frames.
double pt_win_weight(pt_fuse_kind kind, int k, int T);

// Accumulator of fused predictions: n_frames x per floats.
typedef struct pt_win_accum { int n_frames; int64_t per; double *sum; double *wsum; } pt_win_accum;
void pt_win_accum_init(pt_win_accum *a, int n_frames, int64_t per);
void pt_win_accum_reset(pt_win_accum *a);
// pred (T, per): window w's prediction for its T frames (schedule s), added with the weights.
void pt_win_accum_add(pt_win_accum *a, const pt_win_schedule *s, int w, const float *pred, pt_fuse_kind kind);
// out (n_frames, per) = sum / wsum. Fails if a frame received no prediction.
void pt_win_accum_result(const pt_win_accum *a, float *out);
void pt_win_accum_free(pt_win_accum *a);
// Gather x (n_frames, per) into dst (T, per) for window w.
void pt_win_gather(const pt_win_schedule *s, int w, const float *x, int64_t per, float *dst);

// video.h — video <-> PNG frames through the ffmpeg command-line tool (optional dependency).
//
// ffmpeg is run with fork/exec (no shell), its exit status is checked, and its stderr is kept in
// the error message. Frames are named frame_%04d.png starting at frame_0000.png (the dataset layout
// of datasets/synthetic.h). When ffmpeg is not on PATH, every call fails with PT_USAGE:
// "ffmpeg is not installed; install the Debian package ffmpeg or give frames".
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

int pt_ffmpeg_available(void);   // 1 when an executable "ffmpeg" is on PATH
// Decode every frame of `mp4` to out_dir/frame_%04d.png (out_dir created). Writes the count and the
// stream's frame rate (from ffprobe when present, else 0 -> caller's default).
void pt_video_to_frames(const char *mp4, const char *out_dir, int *n_frames, double *fps);
// Encode pattern_dir/frame_0000.png .. frame_{n-1}.png as H.264 (yuv420p) at fps into mp4.
void pt_frames_to_mp4(const char *pattern_dir, int n, double fps, const char *mp4);

// Run argv[0] (looked up on PATH) with argv; returns its exit status (128+signal if killed);
// its stderr (last 4 KiB) is copied into err (may be NULL). Fails PT_USAGE when not found.
int pt_run_tool(const char *const *argv, char *err, int err_cap, char *out, int out_cap);

#ifdef __cplusplus
}
#endif

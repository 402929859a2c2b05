// render_dreampose.h — DreamPose inference: animate a subject image with a DensePose sequence.
//
// For output frame i the UNet sees the pose window p(i-k) .. p(i+k) (k = n_poses / 2, clamped at the
// sequence ends) on the latent grid. Every denoising step runs one UNet batch of 3 per frame:
//   [null image, null pose], [image, null pose], [image, pose]
//   eps = e00 + s_I (e_I0 - e00) + s_p (e_Ip - e_I0)          (s_I = render.image_guidance, s_p = pose_guidance)
// (null image: zeros through CLIP and the VAE; null pose: zeros), stepped with PNDM (PLMS) or DDIM.
// Every frame starts from the same initial noise (render.same_noise). Latents are decoded with the
// VAE (the finetuned decoder when model.vae_decoder_checkpoint is set) and written as
// <out>/frame_%04d.png, plus clip.mp4 (ffmpeg on PATH) and/or clip.gif (see pt_dreampose_render).
#pragma once
#include <stdint.h>

#include "models/model_set.h"
#include "models/scheduler.h"

// eps = e00 + sI (eI0 - e00) + sp (eIp - eI0), in double per element (exactly eIp when sI = sp = 1).
void pt_dp_guidance(const float *e00, const float *eI0, const float *eIp, double sI, double sp, int64_t n, float *out);

// The guided prediction for B frames at timestep t: x (B, 4, h, w) and poses_lat (B, 2n, h, w) host;
// ctx2 (2, T, D): row 0 the null-image context, row 1 the image context. out (B, 4, h, w) host.
void pt_dp_guided_eps(pt_model_set *m, const float *x, const float *poses_lat, int B, int64_t t, pt_tensor *ctx2,
                      double sI, double sp, float *out);

// Pose files of render.poses: a folder (every *_densepose.npy / *.npy inside, sorted by name) or one
// .npy file. Returns the count; *paths_out gets n heap strings.
int pt_dp_list_poses(const char *path, char ***paths_out);

// Loads the models for cfg (model.checkpoint, model.vae_decoder_checkpoint), reads render.reference
// and render.poses, writes frames to render.output. Returns the number of frames written.
//   render.format png: frames + clip.gif (+ clip.mp4 when ffmpeg is available)
//                 mp4: frames + clip.mp4 (clip.gif with a warning when ffmpeg is missing)
//                 gif: frames + clip.gif
int pt_dreampose_render(const pt_config *cfg);
// The same on a model set already built (tests).
int pt_dreampose_render_with(pt_model_set *m, const pt_config *cfg);

// A training sample (trainer/regime_dreampose.c, train.sample_every): K frames rendered from the
// reference ref (3, H, W) in [-1, 1] with the pose windows poses (K, 2n, H, W) (loader layout, U,V in
// [0, 1]): `steps` DDIM steps (render.eta), the dual guidance of render.image_guidance /
// pose_guidance, initial noise from `seed` (one noise for every frame with render.same_noise).
// Writes a grid of K rows x 3 columns to png: the reference, the centre pose as colour (U, V, 0.5),
// the sample. Records no autograd and leaves the parameters untouched.
void pt_dp_sample_grid(pt_model_set *m, const pt_config *cfg, const float *ref, const float *poses, int K, int steps,
                       uint64_t seed, const char *png);

// config.h — pt_config: the one typed configuration of every command (train, subject, render,
// demo), loaded from YAML through the schema in trainer/config.c (reference: docs/config.md).
//
// Typical use (a command with CONFIG.yaml and --set flags):
//     pt_config cfg;
//     pt_config_defaults(&cfg);
//     pt_config_load(&cfg, path);                  // applies the file (and its include/base) on top
//     for (...) pt_config_apply_set(&cfg, kv);     // "train.lr=1e-5"
//     pt_config_validate(&cfg);                    // cross-field checks, PT_USAGE on failure
//     pt_config_save(&cfg, "<out_dir>/config.yaml");   // the resolved config next to the outputs
//     ...
//     pt_config_free(&cfg);
// or in one call: pt_config_from_args(&cfg, path, sets, n_sets).
//
// Strings are heap-allocated and never NULL ("" = unset). Lists are {n, v} with heap v.
// Enums hold the index of the YAML spelling in the schema's choice list (same order as below).
#pragma once
#include <stdint.h>
#include <stdio.h>

#include "tools/yaml_config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { PT_CFG_REGIME_DREAMPOSE, PT_CFG_REGIME_ANIMATE_ANYONE } pt_cfg_regime;              // dreampose | animate_anyone
typedef enum { PT_CFG_PHASE_FULL, PT_CFG_PHASE_SUBJECT, PT_CFG_PHASE_VAE_DECODER } pt_cfg_phase;       // full | subject | vae_decoder
typedef enum { PT_CFG_POSE_DENSEPOSE, PT_CFG_POSE_SKELETON } pt_cfg_pose_kind;                     // densepose | skeleton
typedef enum { PT_CFG_CLIP_VIT_B32, PT_CFG_CLIP_VIT_L14 } pt_cfg_clip_variant;                     // vit-b-32 | vit-l-14
typedef enum { PT_CFG_CROP_NONE, PT_CFG_CROP_OFFSET, PT_CFG_CROP_RESIZED } pt_cfg_crop_mode;           // none | offset | resized
typedef enum { PT_CFG_LR_CONSTANT, PT_CFG_LR_WARMUP, PT_CFG_LR_COSINE } pt_cfg_lr_schedule;            // constant | warmup | cosine
typedef enum { PT_CFG_PREC_FP32, PT_CFG_PREC_BF16, PT_CFG_PREC_FP16 } pt_cfg_precision;         // fp32 | bf16 | fp16
typedef enum { PT_CFG_PRED_EPSILON, PT_CFG_PRED_V } pt_cfg_prediction;                             // epsilon | v_prediction
typedef enum { PT_CFG_SPACING_LEADING, PT_CFG_SPACING_TRAILING, PT_CFG_SPACING_LINSPACE } pt_cfg_spacing; // leading | trailing | linspace
typedef enum { PT_CFG_DEVICE_CPU, PT_CFG_DEVICE_CUDA } pt_cfg_device;                              // cpu | cuda
typedef enum { PT_CFG_LOSS_MSE, PT_CFG_LOSS_L1 } pt_cfg_loss;                                      // mse | l1
typedef enum { PT_CFG_SAMPLER_PNDM, PT_CFG_SAMPLER_DDIM } pt_cfg_sampler;                          // pndm | ddim
typedef enum { PT_CFG_FUSION_UNIFORM, PT_CFG_FUSION_TRIANGULAR } pt_cfg_fusion;                    // uniform | triangular
typedef enum { PT_CFG_FORMAT_PNG, PT_CFG_FORMAT_MP4, PT_CFG_FORMAT_GIF } pt_cfg_out_format;            // png | mp4 | gif

// Sizes of the tiny random models (model.tiny: true), the embedded default.
typedef struct pt_config_tiny {
    pt_ycfg_ints unet_channels;        // block_out_channels, e.g. [32, 64]
    int unet_layers_per_block;
    int unet_heads;                    // attention heads (every channel count divisible by it)
    int cross_attention_dim;           // context width (CLIP hidden size of the tiny CLIP)
    int norm_groups;                   // GroupNorm groups (divides every UNet / VAE channel count)
    pt_ycfg_ints vae_channels;         // VAE block_out_channels, e.g. [16, 32, 32, 32]
    int vae_layers_per_block;
    int clip_hidden;                   // tiny CLIP vision tower
    int clip_layers;
    int clip_heads;
    int clip_image_size;
    int clip_patch;
    int motion_heads;                  // AnimateDiff temporal attention heads
    pt_ycfg_ints pose_guider_channels; // Animate Anyone Pose Guider widths
} pt_config_tiny;

typedef struct pt_config_model {
    int tiny;                          // tiny random models instead of pretrained weights
    pt_config_tiny tiny_size;
    char *unet;                        // diffusers folder / safetensors / original SD checkpoint
    char *vae;
    char *clip;                        // CLIP vision encoder
    pt_cfg_clip_variant clip_variant;
    char *motion_module;               // AnimateDiff mm_sd_v15_v2.ckpt (AA stage 2)
    char *controlnet;                  // ControlNet-openpose, initialises the Pose Guider (AA stage 1)
    char *stage1_checkpoint;           // AA stage-1 result loaded by stage 2
    char *checkpoint;                  // posetune checkpoint to start from / render with
    char *vae_decoder_checkpoint;      // DreamPose finetuned VAE decoder (render)
    int in_channels;                   // UNet conv_in channels (DreamPose: 4 + 2*n_poses; AA: 4)
    int64_t init_seed;                 // seed of random inits (tiny models, new layers)
} pt_config_model;

typedef struct pt_config_data {
    char *path;                        // HDF5 file (posetune pack) or folder
    int synthetic;                     // generated data (demo, tests)
    int synthetic_videos;
    int synthetic_frames;
    pt_cfg_pose_kind pose_kind;
    int height, width;
    int num_frames;                    // frames per clip (AA stage 2, render windows)
    int frame_stride;
    int ref_margin;                    // reference frame at least this many frames from the target
    int n_poses;                       // DreamPose consecutive poses (odd)
    pt_ycfg_strs subject_images;       // DreamPose subject finetune images
    pt_ycfg_strs subject_poses;        // their DensePose files (empty: found next to the images)
    pt_cfg_crop_mode crop_mode;
    double crop_prob;
    int crop_max_offset;               // pixels (offset crop)
    double crop_min_keep;              // offset crop: kept fraction of the height, lower bound
    pt_ycfg_floats crop_scale;         // resized crop: [min, max] area fraction
    pt_ycfg_floats crop_ratio;         // resized crop: [min, max] aspect ratio
    double drop_pose, drop_image, drop_both;   // DreamPose per-batch dropout
    double drop_uncond;                // AA per-step unconditional probability
    int workers;
    int prefetch;
} pt_config_data;

typedef struct pt_config_train {
    int64_t steps;
    int batch_size;                    // per GPU
    int grad_accum;
    double lr;
    pt_cfg_lr_schedule lr_schedule;
    int64_t warmup_steps;
    double adam_beta1, adam_beta2, adam_eps, weight_decay;
    double grad_clip;                  // 0: off
    pt_cfg_precision precision;
    pt_cfg_prediction prediction;
    int zero_terminal_snr;
    pt_cfg_spacing timestep_spacing;
    int num_train_timesteps;
    double beta_start, beta_end;
    double min_snr_gamma;              // 0: off
    double noise_offset;               // 0: off
    int gradient_checkpointing;
    double ema_decay;                  // 0: off
    int64_t seed;
    int64_t log_every, checkpoint_every, sample_every;
    int keep_checkpoints;              // 0: keep all
    char *resume;                      // "auto" | "never" | PATH
    char *out_dir;
    pt_cfg_device device;
    pt_cfg_loss loss;
    double hand_loss_factor;           // 1: off
    int zero1;
} pt_config_train;

typedef struct pt_config_render {
    char *reference;                   // reference / subject image
    char *poses;                       // driving pose sequence (folder, HDF5 or keypoint JSON)
    char *output;                      // output folder or file
    int max_frames;                    // 0: all
    pt_cfg_sampler scheduler;
    int steps;
    double image_guidance, pose_guidance;   // DreamPose dual guidance
    double cfg_scale;                  // Animate Anyone classifier-free guidance
    double eta;
    int same_noise;
    int window, overlap;
    pt_cfg_fusion fusion;
    int pose_rescale;
    pt_cfg_out_format format;
    int fps;
    int64_t seed;
    int batch_size;
} pt_config_render;

typedef struct pt_config {
    pt_cfg_regime regime;
    pt_cfg_phase phase;                    // DreamPose
    int stage;                         // Animate Anyone: 1 or 2
    char *name;
    pt_config_model model;
    pt_config_data data;
    pt_config_train train;
    pt_config_render render;
    char *source;                      // last file loaded ("" if none); not a config key
} pt_config;

const pt_ycfg_schema *pt_config_schema(void);

void pt_config_defaults(pt_config *cfg);                       // zeroes cfg first
void pt_config_free(pt_config *cfg);
void pt_config_copy(pt_config *dst, const pt_config *src);     // dst initialised or zeroed
int pt_config_equal(const pt_config *a, const pt_config *b, const char **first_diff);
void pt_config_load(pt_config *cfg, const char *path);         // on top of cfg's current values
void pt_config_apply_set(pt_config *cfg, const char *kv);      // "a.b=VALUE"
// YAML text held in memory (e.g. a checkpoint's posetune.config); `source` names it in messages.
void pt_config_load_text(pt_config *cfg, const char *text, const char *source);
void pt_config_validate(const pt_config *cfg);                 // cross-field checks (PT_USAGE)
// defaults + load (path may be NULL) + sets + validate.
void pt_config_from_args(pt_config *cfg, const char *path, const char *const *sets, int n_sets);
void pt_config_print(const pt_config *cfg, FILE *out);
void pt_config_save(const pt_config *cfg, const char *path);   // atomic
char *pt_config_to_yaml(const pt_config *cfg);                 // the resolved YAML, heap (caller frees)
void pt_config_write_reference(FILE *out);                     // docs/config.md

// YAML spellings of enum values (for logs): pt_config_enum_name("train.precision", cfg->train.precision).
const char *pt_config_enum_name(const char *path, int value);

#ifdef __cplusplus
}
#endif

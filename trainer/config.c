// config.c — the schema of pt_config (every key, its type, bounds, default and help text) and the
// cross-field validation. The generic YAML machinery is tools/yaml_config.c.
#include "trainer/config.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tools/check.h"

_Static_assert(sizeof(pt_cfg_regime) == sizeof(int) && sizeof(pt_cfg_out_format) == sizeof(int),
               "config enums are stored through int pointers");

#define INF INFINITY
#define OFF(m) offsetof(pt_config, m)
// Field helpers: path, member, bounds, default (YAML text), help.
#define B(p, m, d, h)               {p, PT_YC_BOOL, OFF(m), -INF, INF, d, NULL, 0, h}
#define I(p, m, lo, hi, d, h)       {p, PT_YC_INT, OFF(m), lo, hi, d, NULL, 0, h}
#define L(p, m, lo, hi, d, h)       {p, PT_YC_INT64, OFF(m), lo, hi, d, NULL, 0, h}
#define F(p, m, lo, hi, d, h)       {p, PT_YC_FLOAT, OFF(m), lo, hi, d, NULL, 0, h}
#define S(p, m, h)                  {p, PT_YC_STRING, OFF(m), -INF, INF, "\"\"", NULL, 0, h}
#define SD(p, m, d, h)              {p, PT_YC_STRING, OFF(m), -INF, INF, d, NULL, 0, h}
#define E(p, m, ch, d, h)           {p, PT_YC_ENUM, OFF(m), -INF, INF, d, ch, 0, h}
#define IL(p, m, lo, hi, n, d, h)   {p, PT_YC_INT_LIST, OFF(m), lo, hi, d, NULL, n, h}
#define FL(p, m, lo, hi, n, d, h)   {p, PT_YC_FLOAT_LIST, OFF(m), lo, hi, d, NULL, n, h}
#define SL(p, m, h)                 {p, PT_YC_STRING_LIST, OFF(m), -INF, INF, "[]", NULL, 0, h}

static const char *const REGIMES[] = {"dreampose", "animate_anyone", NULL};
static const char *const PHASES[] = {"full", "subject", "vae_decoder", NULL};
static const char *const POSE_KINDS[] = {"densepose", "skeleton", NULL};
static const char *const CLIP_VARIANTS[] = {"vit-b-32", "vit-l-14", NULL};
static const char *const CROP_MODES[] = {"none", "offset", "resized", NULL};
static const char *const LR_SCHEDULES[] = {"constant", "warmup", "cosine", NULL};
static const char *const PRECISIONS[] = {"fp32", "bf16", "fp16", NULL};
static const char *const PREDICTIONS[] = {"epsilon", "v_prediction", NULL};
static const char *const SPACINGS[] = {"leading", "trailing", "linspace", NULL};
static const char *const DEVICES[] = {"cpu", "cuda", NULL};
static const char *const LOSSES[] = {"mse", "l1", NULL};
static const char *const SAMPLERS[] = {"pndm", "ddim", NULL};
static const char *const FUSIONS[] = {"uniform", "triangular", NULL};
static const char *const FORMATS[] = {"png", "mp4", "gif", NULL};

static const pt_ycfg_field FIELDS[] = {
    E("regime", regime, REGIMES, "dreampose", "Training / inference recipe: DreamPose (image, DensePose) or Animate Anyone (video, skeleton)."),
    E("phase", phase, PHASES, "full", "DreamPose phase: full = phase-1 finetune on a dataset, subject = per-subject finetune, vae_decoder = VAE decoder finetune."),
    I("stage", stage, 1, 2, "1", "Animate Anyone stage: 1 = image stage (UNets + Pose Guider), 2 = motion modules only."),
    S("name", name, "Free-form run name shown in logs."),

    B("model.tiny", model.tiny, "false", "Use tiny randomly initialised models (the embedded default) instead of pretrained weights."),
    IL("model.tiny_size.unet_channels", model.tiny_size.unet_channels, 1, 4096, 0, "[32, 64]", "Tiny UNet block_out_channels (one entry per resolution level)."),
    I("model.tiny_size.unet_layers_per_block", model.tiny_size.unet_layers_per_block, 1, 8, "1", "Tiny UNet resnets per down block (up blocks have one more)."),
    I("model.tiny_size.unet_heads", model.tiny_size.unet_heads, 1, 64, "2", "Tiny UNet attention heads; divides every UNet channel count."),
    I("model.tiny_size.cross_attention_dim", model.tiny_size.cross_attention_dim, 1, 4096, "32", "Tiny UNet cross-attention context width."),
    I("model.tiny_size.norm_groups", model.tiny_size.norm_groups, 1, 1024, "8", "GroupNorm groups of the tiny UNet and VAE; divides every channel count."),
    IL("model.tiny_size.vae_channels", model.tiny_size.vae_channels, 1, 4096, 0, "[16, 32, 32, 32]", "Tiny VAE block_out_channels; the VAE downsamples 2^(n-1) times."),
    I("model.tiny_size.vae_layers_per_block", model.tiny_size.vae_layers_per_block, 1, 8, "1", "Tiny VAE resnets per block."),
    I("model.tiny_size.clip_hidden", model.tiny_size.clip_hidden, 1, 4096, "32", "Tiny CLIP vision tower width."),
    I("model.tiny_size.clip_layers", model.tiny_size.clip_layers, 1, 64, "2", "Tiny CLIP vision tower depth."),
    I("model.tiny_size.clip_heads", model.tiny_size.clip_heads, 1, 64, "2", "Tiny CLIP attention heads; divides clip_hidden."),
    I("model.tiny_size.clip_image_size", model.tiny_size.clip_image_size, 8, 1024, "32", "Tiny CLIP input resolution (square)."),
    I("model.tiny_size.clip_patch", model.tiny_size.clip_patch, 1, 64, "8", "Tiny CLIP patch size; divides clip_image_size."),
    I("model.tiny_size.motion_heads", model.tiny_size.motion_heads, 1, 64, "2", "Tiny motion module heads; divides every UNet channel count."),
    IL("model.tiny_size.pose_guider_channels", model.tiny_size.pose_guider_channels, 1, 4096, 4, "[8, 8, 16, 32]", "Tiny Pose Guider widths (the real one is [16, 32, 96, 256])."),
    S("model.unet", model.unet, "Pretrained UNet: diffusers folder, .safetensors or original SD checkpoint (paths are relative to the working directory)."),
    S("model.vae", model.vae, "Pretrained VAE (AutoencoderKL): diffusers folder or weights file."),
    S("model.clip", model.clip, "Pretrained CLIP image encoder: transformers folder or weights file."),
    E("model.clip_variant", model.clip_variant, CLIP_VARIANTS, "vit-b-32", "CLIP image encoder: vit-b-32 (DreamPose, last_hidden_state) or vit-l-14 with projection (Animate Anyone, image_embeds)."),
    S("model.motion_module", model.motion_module, "AnimateDiff motion module checkpoint (mm_sd_v15_v2.ckpt) that initialises stage 2; empty = zero-initialised output projections."),
    S("model.controlnet", model.controlnet, "ControlNet-openpose weights whose controlnet_cond_embedding initialises the Pose Guider; empty = random init."),
    S("model.stage1_checkpoint", model.stage1_checkpoint, "Animate Anyone stage-1 checkpoint loaded by stage 2 (denoising UNet, reference UNet, Pose Guider)."),
    S("model.checkpoint", model.checkpoint, "posetune checkpoint to start from (subject finetune: the phase-1 result) or to render with."),
    S("model.vae_decoder_checkpoint", model.vae_decoder_checkpoint, "Finetuned VAE decoder (DreamPose vae_decoder phase) used when decoding; empty = the pretrained decoder."),
    I("model.in_channels", model.in_channels, 4, 64, "14", "UNet conv_in channels: 4 + 2 x data.n_poses for DreamPose (latent + U,V per pose), 4 for Animate Anyone."),
    L("model.init_seed", model.init_seed, 0, INF, "0", "Seed of random initialisation (tiny models and new layers)."),

    S("data.path", data.path, "Training data: an HDF5 file written by 'posetune pack' or a folder of frames and poses."),
    B("data.synthetic", data.synthetic, "false", "Generate synthetic videos (moving shapes with matching poses) instead of reading data.path."),
    I("data.synthetic_videos", data.synthetic_videos, 1, 1000000, "8", "Number of synthetic videos."),
    I("data.synthetic_frames", data.synthetic_frames, 1, 100000, "32", "Frames per synthetic video."),
    E("data.pose_kind", data.pose_kind, POSE_KINDS, "densepose", "Pose representation: densepose (2-channel U,V; DreamPose) or skeleton (RGB DWPose/OpenPose drawing; Animate Anyone)."),
    I("data.height", data.height, 8, 8192, "640", "Training / render image height in pixels."),
    I("data.width", data.width, 8, 8192, "512", "Training / render image width in pixels."),
    I("data.num_frames", data.num_frames, 1, 1024, "24", "Frames per training clip (Animate Anyone stage 2); image stages use one frame."),
    I("data.frame_stride", data.frame_stride, 1, 1000, "4", "Stride between the frames of a training clip."),
    I("data.ref_margin", data.ref_margin, 0, 1000000, "30", "The reference frame is at least this many frames away from the target (Animate Anyone)."),
    I("data.n_poses", data.n_poses, 1, 31, "5", "DreamPose: consecutive poses p(i-2..i+2) stacked into the UNet input, clamped at the video ends (odd)."),
    SL("data.subject_images", data.subject_images, "DreamPose subject finetune: the subject's images."),
    SL("data.subject_poses", data.subject_poses, "DensePose files of data.subject_images, one each; empty = found next to the images."),
    E("data.crop_mode", data.crop_mode, CROP_MODES, "none", "Random crop: none, offset (DreamPose: random top/left, resized back) or resized (Animate Anyone: RandomResizedCrop)."),
    F("data.crop_prob", data.crop_prob, 0, 1, "0.7", "Probability that a sample is cropped."),
    I("data.crop_max_offset", data.crop_max_offset, 0, 4096, "24", "Offset crop: top and left are drawn in [0, crop_max_offset] pixels."),
    F("data.crop_min_keep", data.crop_min_keep, 0.05, 1, "0.9609375", "Offset crop: the kept height is at least this fraction of the image (615/640 in DreamPose); width keeps the aspect ratio."),
    FL("data.crop_scale", data.crop_scale, 0.01, 1, 2, "[0.9, 1.0]", "Resized crop: [min, max] fraction of the area kept."),
    FL("data.crop_ratio", data.crop_ratio, 0.1, 10, 2, "[0.9, 1.0]", "Resized crop: [min, max] aspect ratio of the crop."),
    F("data.drop_pose", data.drop_pose, 0, 1, "0.05", "DreamPose: probability (per batch) that the poses are zeroed."),
    F("data.drop_image", data.drop_image, 0, 1, "0.05", "DreamPose: probability (per batch) that the conditioning image is black (through CLIP and the VAE)."),
    F("data.drop_both", data.drop_both, 0, 1, "0.05", "DreamPose: probability (per batch) that both are dropped."),
    F("data.drop_uncond", data.drop_uncond, 0, 1, "0.1", "Animate Anyone: probability (per step) of an unconditional step (zero CLIP input, no reference pass)."),
    I("data.workers", data.workers, 0, 256, "2", "Data loader threads (0: load on the training thread)."),
    I("data.prefetch", data.prefetch, 1, 1024, "4", "Batches prepared ahead of the training step."),

    L("train.steps", train.steps, 1, INF, "1000", "Optimizer steps."),
    I("train.batch_size", train.batch_size, 1, 65536, "1", "Samples per GPU per micro-batch."),
    I("train.grad_accum", train.grad_accum, 1, 65536, "1", "Micro-batches accumulated per optimizer step (effective batch = batch_size x grad_accum x GPUs)."),
    F("train.lr", train.lr, 0, 1, "5e-6", "Peak learning rate (AdamW)."),
    E("train.lr_schedule", train.lr_schedule, LR_SCHEDULES, "constant", "constant, warmup (linear warmup then constant) or cosine (linear warmup then cosine decay to 0)."),
    L("train.warmup_steps", train.warmup_steps, 0, INF, "0", "Linear warmup steps of the warmup and cosine schedules."),
    F("train.adam_beta1", train.adam_beta1, 0, 0.999999, "0.9", "AdamW beta1."),
    F("train.adam_beta2", train.adam_beta2, 0, 0.999999999, "0.999", "AdamW beta2."),
    F("train.adam_eps", train.adam_eps, 0, 1, "1e-8", "AdamW epsilon."),
    F("train.weight_decay", train.weight_decay, 0, 10, "0.01", "AdamW decoupled weight decay."),
    F("train.grad_clip", train.grad_clip, 0, INF, "1.0", "Clip the global gradient norm to this value (0: off)."),
    E("train.precision", train.precision, PRECISIONS, "fp32", "Compute precision on CUDA: fp32, bf16 (training and inference; master weights and optimizer state stay fp32) or fp16 (inference only: render)."),
    E("train.prediction", train.prediction, PREDICTIONS, "epsilon", "What the UNet predicts: the noise (epsilon) or v."),
    B("train.zero_terminal_snr", train.zero_terminal_snr, "false", "Rescale the betas to zero terminal SNR (needs v_prediction)."),
    E("train.timestep_spacing", train.timestep_spacing, SPACINGS, "leading", "Timestep spacing of the noise schedule (as diffusers: leading, trailing, linspace)."),
    I("train.num_train_timesteps", train.num_train_timesteps, 2, 100000, "1000", "DDPM training timesteps."),
    F("train.beta_start", train.beta_start, 0, 1, "0.00085", "First beta of the scaled_linear schedule."),
    F("train.beta_end", train.beta_end, 0, 1, "0.012", "Last beta of the scaled_linear schedule."),
    F("train.min_snr_gamma", train.min_snr_gamma, 0, INF, "0", "Min-SNR loss weighting gamma (0: off; Animate Anyone uses 5)."),
    F("train.noise_offset", train.noise_offset, 0, 10, "0", "Noise offset: adds this x randn(b, c, 1, 1) to the noise (0: off)."),
    B("train.gradient_checkpointing", train.gradient_checkpointing, "false", "Recompute activations in the backward pass to save memory."),
    F("train.ema_decay", train.ema_decay, 0, 1, "0", "EMA of the trained weights with this decay (0: off; must be < 1)."),
    L("train.seed", train.seed, 0, INF, "0", "Seed of data order, noise, timesteps and dropout."),
    L("train.log_every", train.log_every, 1, INF, "10", "Log loss, lr and throughput every this many steps."),
    L("train.checkpoint_every", train.checkpoint_every, 0, INF, "500", "Save a checkpoint every this many steps (0: only at the end)."),
    L("train.sample_every", train.sample_every, 0, INF, "0", "Render a sample every this many steps (0: off)."),
    I("train.keep_checkpoints", train.keep_checkpoints, 0, 1000000, "3", "Keep the last K checkpoints (0: keep all)."),
    SD("train.resume", train.resume, "auto", "auto (continue from the latest checkpoint in out_dir, if any), never, or a checkpoint path."),
    SD("train.out_dir", train.out_dir, "runs/posetune", "Folder of checkpoints, logs, samples and the resolved config.yaml."),
    E("train.device", train.device, DEVICES, "cuda", "cpu or cuda."),
    E("train.loss", train.loss, LOSSES, "mse", "Loss: mse, or l1 (VAE decoder phase only)."),
    F("train.hand_loss_factor", train.hand_loss_factor, 1, 1000, "1.0", "MimicMotion regional loss: weight of the latent pixels inside confident hand boxes (1: off; skeleton poses only)."),
    B("train.zero1", train.zero1, "false", "Shard the optimizer state over data-parallel ranks (ZeRO stage 1)."),

    S("render.reference", render.reference, "Reference (subject) image to animate."),
    S("render.poses", render.poses, "Driving pose sequence: a folder of pose files, an HDF5 pack or OpenPose keypoint JSON."),
    S("render.output", render.output, "Output folder (png frames) or file (mp4, gif)."),
    I("render.max_frames", render.max_frames, 0, 1000000, "0", "Render at most this many frames (0: all)."),
    E("render.scheduler", render.scheduler, SAMPLERS, "pndm", "Sampler: pndm (PLMS, DreamPose) or ddim (Animate Anyone)."),
    I("render.steps", render.steps, 1, 1000, "100", "Denoising steps."),
    F("render.image_guidance", render.image_guidance, 0, 100, "8", "DreamPose image guidance scale s1."),
    F("render.pose_guidance", render.pose_guidance, 0, 100, "3", "DreamPose pose guidance scale s2."),
    F("render.cfg_scale", render.cfg_scale, 0, 100, "3.5", "Animate Anyone classifier-free guidance scale."),
    F("render.eta", render.eta, 0, 1, "0", "DDIM eta (0: deterministic)."),
    B("render.same_noise", render.same_noise, "true", "Start every frame from the same initial noise."),
    I("render.window", render.window, 1, 1024, "24", "Frames denoised together (Animate Anyone long videos)."),
    I("render.overlap", render.overlap, 0, 1023, "4", "Frames shared by consecutive windows; predictions are fused every step."),
    E("render.fusion", render.fusion, FUSIONS, "uniform", "Fusion of overlapping windows: uniform average or triangular weights (MimicMotion)."),
    B("render.pose_rescale", render.pose_rescale, "false", "Retarget the driving skeleton to the reference's scale and offset (MimicMotion)."),
    E("render.format", render.format, FORMATS, "png", "Output: png frames, mp4 or gif."),
    I("render.fps", render.fps, 1, 240, "8", "Frames per second of mp4 / gif output."),
    L("render.seed", render.seed, 0, INF, "42", "Seed of the initial noise."),
    I("render.batch_size", render.batch_size, 1, 4096, "1", "Frames (DreamPose) or windows (Animate Anyone) denoised per batch."),
};

static const pt_ycfg_schema SCHEMA = {"posetune config", FIELDS, (int)(sizeof FIELDS / sizeof FIELDS[0])};

const pt_ycfg_schema *pt_config_schema(void) { return &SCHEMA; }

const char *pt_config_enum_name(const char *path, int value) {
    const pt_ycfg_field *f = pt_ycfg_find(&SCHEMA, path);
    PT_CHECKF(f && f->type == PT_YC_ENUM, "pt_config_enum_name: '%s' is not an enum key", path);
    for (int i = 0; f->choices[i]; i++) if (i == value) return f->choices[i];
    PT_RUNTIME("pt_config_enum_name: '%s' has no value %d", path, value);
}

void pt_config_defaults(pt_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    pt_ycfg_defaults(&SCHEMA, cfg);
    cfg->source = pt_strdup("");
}

void pt_config_free(pt_config *cfg) {
    pt_ycfg_free(&SCHEMA, cfg);
    free(cfg->source);
    cfg->source = NULL;
}

void pt_config_copy(pt_config *dst, const pt_config *src) {
    pt_ycfg_copy(&SCHEMA, dst, src);
    free(dst->source);
    dst->source = pt_strdup(src->source ? src->source : "");
}

int pt_config_equal(const pt_config *a, const pt_config *b, const char **first_diff) {
    return pt_ycfg_equal(&SCHEMA, a, b, first_diff);
}

void pt_config_load(pt_config *cfg, const char *path) {
    pt_ycfg_load(&SCHEMA, cfg, path);
    free(cfg->source);
    cfg->source = pt_strdup(path);
}

void pt_config_apply_set(pt_config *cfg, const char *kv) { pt_ycfg_apply_set(&SCHEMA, cfg, kv); }

void pt_config_load_text(pt_config *cfg, const char *text, const char *source) {
    pt_ycfg_load_text(&SCHEMA, cfg, text, strlen(text), source);
    free(cfg->source);
    cfg->source = pt_strdup(source);
}

char *pt_config_to_yaml(const pt_config *cfg) { return pt_ycfg_print_string(&SCHEMA, cfg); }

void pt_config_print(const pt_config *cfg, FILE *out) { pt_ycfg_print(&SCHEMA, cfg, out); }

void pt_config_save(const pt_config *cfg, const char *path) {
    pt_ycfg_save(&SCHEMA, cfg, path,
                 "# posetune resolved config: every key, after include/base files and --set overrides.\n"
                 "# Load it again with: posetune train THIS_FILE\n");
}

void pt_config_from_args(pt_config *cfg, const char *path, const char *const *sets, int n_sets) {
    pt_config_defaults(cfg);
    if (path) pt_config_load(cfg, path);
    for (int i = 0; i < n_sets; i++) pt_config_apply_set(cfg, sets[i]);
    pt_config_validate(cfg);
}

// ---------------------------------------------------------------- cross-field validation

#define BAD(key, ...) do { char m_[600]; snprintf(m_, sizeof m_, __VA_ARGS__);                       \
        PT_USAGE("config%s%s%s: key '%s': %s", src[0] ? " '" : "", src, src[0] ? "'" : "", key, m_); } while (0)

static int divides_all(int d, const pt_ycfg_ints *l) {
    for (int i = 0; i < l->n; i++) if (l->v[i] % d != 0) return 0;
    return 1;
}

static void validate_tiny(const pt_config *c, const char *src) {
    const pt_config_tiny *t = &c->model.tiny_size;
    if (t->unet_channels.n < 1 || t->unet_channels.n > 6) BAD("model.tiny_size.unet_channels", "needs 1 to 6 levels, got %d", t->unet_channels.n);
    if (t->vae_channels.n < 1 || t->vae_channels.n > 6) BAD("model.tiny_size.vae_channels", "needs 1 to 6 levels, got %d", t->vae_channels.n);
    if (!divides_all(t->norm_groups, &t->unet_channels) || !divides_all(t->norm_groups, &t->vae_channels))
        BAD("model.tiny_size.norm_groups", "%d does not divide every UNet and VAE channel count", t->norm_groups);
    if (!divides_all(t->unet_heads, &t->unet_channels))
        BAD("model.tiny_size.unet_heads", "%d does not divide every UNet channel count", t->unet_heads);
    if (!divides_all(t->motion_heads, &t->unet_channels))
        BAD("model.tiny_size.motion_heads", "%d does not divide every UNet channel count", t->motion_heads);
    if (t->clip_hidden % t->clip_heads != 0)
        BAD("model.tiny_size.clip_heads", "%d does not divide clip_hidden %d", t->clip_heads, t->clip_hidden);
    if (t->clip_image_size % t->clip_patch != 0)
        BAD("model.tiny_size.clip_patch", "%d does not divide clip_image_size %d", t->clip_patch, t->clip_image_size);
}

void pt_config_validate(const pt_config *c) {
    const char *src = c->source ? c->source : "";
    const pt_config_data *d = &c->data;
    const pt_config_train *t = &c->train;
    const pt_config_render *r = &c->render;
    if (c->regime == PT_CFG_REGIME_DREAMPOSE) {
        if (c->stage != 1) BAD("stage", "applies to regime animate_anyone only (leave it at 1 for dreampose)");
        if (d->pose_kind != PT_CFG_POSE_DENSEPOSE) BAD("data.pose_kind", "regime dreampose needs densepose (got skeleton)");
        if (d->n_poses % 2 == 0) BAD("data.n_poses", "must be odd (poses i-k..i+k), got %d", d->n_poses);
        if (c->model.in_channels != 4 + 2 * d->n_poses)
            BAD("model.in_channels", "regime dreampose needs 4 + 2 x data.n_poses = %d, got %d", 4 + 2 * d->n_poses, c->model.in_channels);
        if (d->drop_pose + d->drop_image + d->drop_both > 1)
            BAD("data.drop_both", "drop_pose + drop_image + drop_both = %g exceeds 1", d->drop_pose + d->drop_image + d->drop_both);
    } else {
        if (c->phase != PT_CFG_PHASE_FULL) BAD("phase", "applies to regime dreampose only (leave it at full for animate_anyone)");
        if (d->pose_kind != PT_CFG_POSE_SKELETON) BAD("data.pose_kind", "regime animate_anyone needs skeleton (got densepose)");
        if (c->model.in_channels != 4) BAD("model.in_channels", "regime animate_anyone needs 4 (the pose enters through the Pose Guider), got %d", c->model.in_channels);
        if (c->stage == 2 && d->num_frames < 1) BAD("data.num_frames", "stage 2 needs at least 1 frame");
        if (c->stage == 2 && !c->model.tiny && !c->model.stage1_checkpoint[0] && !c->model.checkpoint[0])
            BAD("model.stage1_checkpoint", "stage 2 trains the motion modules on top of a stage-1 result: set model.stage1_checkpoint (or model.checkpoint)");
    }
    if (!c->model.tiny && !c->model.unet[0] && !c->model.checkpoint[0] && !c->model.stage1_checkpoint[0])
        BAD("model.unet", "no weights: set model.unet (or model.checkpoint), or model.tiny: true for tiny random models");
    if (c->model.tiny) validate_tiny(c, src);
    // The latent grid must survive every UNet downsampling: image / (vae factor x 2^(levels-1)).
    int vae_levels = c->model.tiny ? c->model.tiny_size.vae_channels.n : 4;
    int unet_levels = c->model.tiny ? c->model.tiny_size.unet_channels.n : 4;
    int mult = (1 << (vae_levels - 1)) * (1 << (unet_levels - 1));
    if (d->height % mult != 0) BAD("data.height", "%d is not a multiple of %d (VAE and UNet downsampling)", d->height, mult);
    if (d->width % mult != 0) BAD("data.width", "%d is not a multiple of %d (VAE and UNet downsampling)", d->width, mult);
    if (d->crop_scale.v[0] > d->crop_scale.v[1]) BAD("data.crop_scale", "min %g > max %g", d->crop_scale.v[0], d->crop_scale.v[1]);
    if (d->crop_ratio.v[0] > d->crop_ratio.v[1]) BAD("data.crop_ratio", "min %g > max %g", d->crop_ratio.v[0], d->crop_ratio.v[1]);
    if (d->subject_poses.n && d->subject_poses.n != d->subject_images.n)
        BAD("data.subject_poses", "%d files for %d data.subject_images (give one each, or none)", d->subject_poses.n, d->subject_images.n);
    if (t->lr_schedule != PT_CFG_LR_CONSTANT && t->warmup_steps > t->steps)
        BAD("train.warmup_steps", "%lld exceeds train.steps %lld", (long long)t->warmup_steps, (long long)t->steps);
    if (t->zero_terminal_snr && t->prediction != PT_CFG_PRED_V)
        BAD("train.zero_terminal_snr", "needs train.prediction: v_prediction (epsilon is undefined at zero SNR)");
    if (t->beta_start >= t->beta_end) BAD("train.beta_start", "%g must be below train.beta_end %g", t->beta_start, t->beta_end);
    if (t->ema_decay >= 1) BAD("train.ema_decay", "must be below 1 (0: off), got %g", t->ema_decay);
    if (t->loss == PT_CFG_LOSS_L1 && !(c->regime == PT_CFG_REGIME_DREAMPOSE && c->phase == PT_CFG_PHASE_VAE_DECODER))
        BAD("train.loss", "l1 applies to the VAE decoder phase only; the diffusion loss is mse");
    if (t->hand_loss_factor != 1 && d->pose_kind != PT_CFG_POSE_SKELETON)
        BAD("train.hand_loss_factor", "needs skeleton poses (hand boxes come from keypoints)");
    if (!t->resume[0]) BAD("train.resume", "must be auto, never or a checkpoint path (got an empty string)");
    if (!t->out_dir[0]) BAD("train.out_dir", "must name a folder");
    if (r->overlap >= r->window) BAD("render.overlap", "%d must be smaller than render.window %d", r->overlap, r->window);
}

// ---------------------------------------------------------------- reference doc

void pt_config_write_reference(FILE *out) {
    fputs("# posetune configuration reference\n\n"
          "<!-- Generated by pt_config_write_reference() (trainer/config.c); tests/test_config.c checks that\n"
          "     this file is up to date. Regenerate: POSETUNE_WRITE_DOCS=1 build/tests/test_config -->\n\n"
          "Every command (`train`, `subject`, `render`, `demo`) reads one YAML file into one typed\n"
          "struct, `pt_config` (trainer/config.h). Shipped configs live in `configs/`:\n"
          "`configs/dreampose/` (phase 1, subject finetune, VAE decoder, render), `configs/animate_anyone/`\n"
          "(stage 1, stage 2, render) and `configs/demo/` (tiny models on synthetic data, CPU).\n\n"
          "## File format\n\n"
          "- Nested mappings name dotted keys: `train: {lr: 1e-5}` sets `train.lr`; a dotted key\n"
          "  (`train.lr: 1e-5`) works too. Keys not listed below are errors (with a \"did you mean\" hint).\n"
          "- `include: other.yaml` (or `base: other.yaml`, or a list of files) at the top level applies\n"
          "  those files first, relative to the including file; the including file's keys override them.\n"
          "- Values are checked: type (`expected a number, got 'abc'`), range, enum spelling (the allowed\n"
          "  values are listed), list length, duplicate keys. Errors name `file.yaml:LINE:COL` and the key,\n"
          "  and exit with code 2.\n"
          "- `--set key=value` (repeatable) overrides a key after the file; the value is parsed as YAML\n"
          "  (`--set train.lr=1e-5`, `--set data.crop_scale=[0.8,1.0]`) with the same checks.\n"
          "- Relative paths are relative to the working directory.\n"
          "- Training writes the resolved config (every key) to `<train.out_dir>/config.yaml`; it loads back\n"
          "  to the same values.\n\n"
          "## Cross-field checks\n\n"
          "- `regime: dreampose` needs `data.pose_kind: densepose`, odd `data.n_poses`,\n"
          "  `model.in_channels = 4 + 2 x data.n_poses`, `stage: 1`, and dropout probabilities summing to at most 1.\n"
          "- `regime: animate_anyone` needs `data.pose_kind: skeleton`, `model.in_channels: 4`, `phase: full`;\n"
          "  stage 2 with pretrained models needs `model.stage1_checkpoint` (or `model.checkpoint`).\n"
          "- Without `model.tiny`, one of `model.unet`, `model.checkpoint`, `model.stage1_checkpoint` is set.\n"
          "- `data.height` and `data.width` are multiples of 64 (tiny models: of the VAE factor x 2^(UNet levels-1)).\n"
          "- Tiny models: `norm_groups` divides every channel count, head counts divide their widths,\n"
          "  `clip_patch` divides `clip_image_size`.\n"
          "- `train.zero_terminal_snr` needs `train.prediction: v_prediction`; `train.loss: l1` is for\n"
          "  `phase: vae_decoder`; `train.hand_loss_factor` other than 1 needs skeleton poses;\n"
          "  `train.warmup_steps` at most `train.steps` with a warmup or cosine schedule; `train.ema_decay` below 1;\n"
          "  `train.beta_start` below `train.beta_end`; `render.overlap` below `render.window`;\n"
          "  crop `[min, max]` pairs ordered; `data.subject_poses` empty or one per subject image.\n\n"
          "## Keys\n\n", out);
    pt_ycfg_write_reference(&SCHEMA, out);
}

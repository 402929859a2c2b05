// aa_models.c — the Animate Anyone model set (see aa_models.h).
#include "trainer/aa_models.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/rng.h"
#include "models/model_config.h"
#include "models/model_set.h"   // pt_model_set_resolve_checkpoint
#include "tools/check.h"

// Random init of every parameter under `prefix`, independent of the rest of the table.
static void init_prefix_random(pt_params *P, const char *prefix, uint64_t seed) {
    pt_params T;
    pt_params_init(&T, PT_CPU, PT_F32);
    size_t k = strlen(prefix);
    for (int i = 0; i < P->n; i++)
        if (strncmp(P->e[i].name, prefix, k) == 0) pt_params_add(&T, P->e[i].name, P->e[i].t->ndim, P->e[i].t->shape);
    pt_params_finalize(&T);
    pt_params_init_random(&T, pt_rng_derive(seed, prefix, 0));
    for (int i = 0; i < T.n; i++) pt_copy_(pt_params_find(P, T.e[i].name)->t, T.e[i].t);
    pt_params_free(&T);
}

// dst_prefix + name := src_prefix + name for every parameter under src_prefix.
static void copy_prefix(pt_params *P, const char *src, const char *dst) {
    size_t k = strlen(src);
    for (int i = 0; i < P->n; i++) {
        if (strncmp(P->e[i].name, src, k) != 0) continue;
        char nm[600];
        snprintf(nm, sizeof nm, "%s%s", dst, P->e[i].name + k);
        pt_param_entry *e = pt_params_find(P, nm);
        PT_ASSERT(e != NULL);
        pt_copy_(e->t, P->e[i].t);
    }
}

// "model.<param>" tensors of a posetune checkpoint, for parameters under one of `prefixes` (NULL: all).
static void load_posetune(pt_params *P, const char *path_or_dir, const char *key, const char *const *prefixes, int n_pre) {
    char *path = pt_model_set_resolve_checkpoint(path_or_dir, key);
    pt_weights *w = pt_weights_load(path);
    int found = 0;
    for (int p = 0; p < (prefixes ? n_pre : 1); p++) {
        const char *pre = prefixes ? prefixes[p] : "";
        for (int i = 0; i < P->n; i++) {
            if (strncmp(P->e[i].name, pre, strlen(pre)) != 0) continue;
            char nm[640];
            snprintf(nm, sizeof nm, "model.%s", P->e[i].name);
            found += pt_weights_find(w, nm) != NULL;
        }
        pt_load_opts o = {0};
        o.file_prefix = "model.";
        o.allow_missing = 1;
        o.allow_unexpected = 1;
        o.only_prefix = pre;
        pt_params_load(P, w, &o);
    }
    if (!found) PT_USAGE("%s (config key '%s'): no 'model.*' tensor of this Animate Anyone model; is it a posetune "
                         "checkpoint of regime animate_anyone?", path, key);
    const char *rg = pt_weights_meta(w, "posetune.regime");
    if (rg && strncmp(rg, "animate_anyone", 14) != 0)
        PT_USAGE("%s (config key '%s'): a checkpoint of regime '%s', expected animate_anyone", path, key, rg);
    pt_weights_free(w);
    free(path);
}

// ---- build ----------------------------------------------------------------------------------------
void pt_aa_models_build(pt_aa_models *m, const pt_config *cfg, int stage, pt_aa_train train) {
    memset(m, 0, sizeof *m);
    pt_model_device_from_config(cfg, &m->device, &m->dtype);
    const int tiny = cfg->model.tiny;
    pt_unet_config uc;
    pt_vae_config vc;
    pt_clip_vision_config cc;
    char cp[4096];
    if (tiny) {
        pt_model_tiny_unet(cfg, &uc);
        pt_model_tiny_vae(cfg, &vc);
        pt_clip_vision_config_vit_l14(&cc);
        pt_model_tiny_clip(cfg, &cc);
        cc.projection_dim = cfg->model.tiny_size.cross_attention_dim;   // image_embeds feed the UNets' cross-attention
    }
    else {
        if (!cfg->model.unet[0]) PT_USAGE("config key 'model.unet': empty; Animate Anyone needs the sd-image-variations UNet (or model.tiny: true)");
        if (!cfg->model.vae[0]) PT_USAGE("config key 'model.vae': empty; Animate Anyone needs the SD VAE (or model.tiny: true)");
        if (!cfg->model.clip[0]) PT_USAGE("config key 'model.clip': empty; Animate Anyone needs the CLIP ViT-L/14 image encoder (or model.tiny: true)");
        pt_model_config_path(cfg->model.unet, "model.unet", cp, sizeof cp);
        pt_unet_config_load(&uc, cp);
        pt_model_config_path(cfg->model.vae, "model.vae", cp, sizeof cp);
        pt_vae_config_load(&vc, cp);
        pt_model_config_path(cfg->model.clip, "model.clip", cp, sizeof cp);
        pt_clip_vision_config_load(&cc, cp);
    }
    uc.in_channels = 4;
    if (uc.out_channels != 4 || vc.latent_channels != 4)
        PT_USAGE("model: the UNet predicts %d channels, the VAE latent has %d (Animate Anyone needs 4)", uc.out_channels, vc.latent_channels);
    if (uc.cross_attention_dim != cc.projection_dim)
        PT_USAGE("model: UNet cross_attention_dim %d differs from the CLIP projection_dim %d (the context is CLIP image_embeds)",
                 uc.cross_attention_dim, cc.projection_dim);
    m->embed_dim = cc.projection_dim;
    m->vae_factor = 1 << (vc.n_blocks - 1);
    m->height = cfg->data.height;
    m->width = cfg->data.width;
    if (m->height % m->vae_factor || m->width % m->vae_factor)
        PT_USAGE("data.height/width %dx%d: not a multiple of the VAE factor %d", m->height, m->width, m->vae_factor);
    m->latent_h = m->height / m->vae_factor;
    m->latent_w = m->width / m->vae_factor;

    // pose guider widths: tiny from the config, real [16, 32, 96, 256]
    int pgc[PT_PG_MAX_LEVELS], npg;
    if (tiny) {
        npg = cfg->model.tiny_size.pose_guider_channels.n;
        if (npg > PT_PG_MAX_LEVELS) PT_USAGE("model.tiny_size.pose_guider_channels: at most %d entries", PT_PG_MAX_LEVELS);
        for (int i = 0; i < npg; i++) pgc[i] = cfg->model.tiny_size.pose_guider_channels.v[i];
    } else {
        static const int real[4] = {16, 32, 96, 256};
        npg = 4;
        memcpy(pgc, real, sizeof real);
    }
    if ((1 << (npg - 1)) != m->vae_factor)
        PT_USAGE("model.tiny_size.pose_guider_channels: %d levels downsample by %d, the latent grid is the image / %d "
                 "(give log2(VAE factor) + 1 = %d entries)", npg, 1 << (npg - 1), m->vae_factor, vc.n_blocks);

    pt_params_init(&m->P, m->device, m->dtype);
    pt_vae_init(&m->vae, &vc, &m->P, "vae.");
    pt_clip_vision_init(&m->clip, &cc, &m->P, "clip.", 1);
    pt_unet_init(&m->unet, &uc, &m->P, "unet.");
    pt_unet_init(&m->ref, &uc, &m->P, "reference_unet.");
    pt_pose_guider_init(&m->pg, &m->P, "pose_guider.", pgc, npg, 3, uc.block_out_channels[0]);
    pt_motion_config mc;
    pt_motion_config_v2(&mc);
    if (stage == 2) {
        if (tiny) { mc.heads = cfg->model.tiny_size.motion_heads; mc.norm_num_groups = cfg->model.tiny_size.norm_groups; }
        pt_motion_modules_build(&m->mm, &m->P, "motion.", &mc, uc.n_blocks, uc.layers_per_block[0], m->unet.temporal_channels);
        PT_CHECKF(m->mm.n == m->unet.n_temporal_slots, "motion modules %d != UNet temporal slots %d", m->mm.n, m->unet.n_temporal_slots);
        m->mm.checkpoint = cfg->train.gradient_checkpointing;
        m->has_motion = 1;
    }
    pt_params_set_trainable(&m->P, "", 0);
    if (train == PT_AA_TRAIN_STAGE1) {
        char last[64];
        pt_params_set_trainable(&m->P, "unet.", 1);
        pt_params_set_trainable(&m->P, "reference_unet.", 1);
        snprintf(last, sizeof last, "reference_unet.up_blocks.%d.", uc.n_blocks - 1);
        pt_params_set_trainable(&m->P, last, 0);   // frozen in Moore-AnimateAnyone (its outputs still written)
        pt_params_set_trainable(&m->P, "reference_unet.conv_norm_out.", 0);   // never used (no_head)
        pt_params_set_trainable(&m->P, "reference_unet.conv_out.", 0);
        pt_params_set_trainable(&m->P, "pose_guider.", 1);
    } else if (train == PT_AA_TRAIN_STAGE2) {
        PT_CHECKF(stage == 2, "stage-2 training without motion modules");
        pt_params_set_trainable(&m->P, "motion.", 1);
    }
    pt_params_finalize(&m->P);

    uint64_t seed = (uint64_t)cfg->model.init_seed;
    if (tiny) {
        init_prefix_random(&m->P, "vae.", seed);
        init_prefix_random(&m->P, "clip.", seed);
        init_prefix_random(&m->P, "unet.", seed);
        copy_prefix(&m->P, "unet.", "reference_unet.");
        init_prefix_random(&m->P, "pose_guider.", seed);
        if (m->has_motion) init_prefix_random(&m->P, "motion.", seed);
    } else {
        pt_weights *w = pt_weights_load(cfg->model.unet);
        pt_unet_load(&m->unet, w);
        pt_unet_load(&m->ref, w);
        pt_weights_free(w);
        w = pt_weights_load(cfg->model.vae);
        pt_vae_upgrade_names(w);
        pt_load_opts o = {0};
        o.map = pt_model_strip_prefix_map; o.map_ctx = (void *)"vae."; o.only_prefix = "vae.";
        pt_params_load(&m->P, w, &o);
        pt_weights_free(w);
        w = pt_weights_load(cfg->model.clip);
        pt_load_opts oc = {0};
        oc.map = pt_model_strip_prefix_map; oc.map_ctx = (void *)"clip."; oc.only_prefix = "clip."; oc.allow_unexpected = 1;
        pt_clip_vision_load(&m->P, w, &oc);
        pt_weights_free(w);
        init_prefix_random(&m->P, "pose_guider.", seed);
    }
    pt_pose_guider_zero_out(&m->pg);
    if (cfg->model.controlnet[0]) {
        pt_weights *w = pt_weights_load(cfg->model.controlnet);
        pt_pose_guider_load_controlnet(&m->pg, &m->P, w);
        pt_weights_free(w);
    }
    if (m->has_motion) {
        if (cfg->model.motion_module[0]) {
            pt_weights *w = pt_weights_load(cfg->model.motion_module);
            pt_load_opts o = {0};
            o.map = pt_model_strip_prefix_map; o.map_ctx = (void *)"motion."; o.only_prefix = "motion.";
            pt_motion_load(&m->P, w, &o);
            pt_weights_free(w);
        } else {
            if (!tiny) PT_WARN("model.motion_module is empty: the motion modules start from random weights with zero output projections");
            if (!tiny) init_prefix_random(&m->P, "motion.", seed);
            pt_motion_modules_zero_init(&m->mm);
        }
    }
    if (cfg->model.stage1_checkpoint[0]) {
        const char *pre[3] = {"unet.", "reference_unet.", "pose_guider."};
        load_posetune(&m->P, cfg->model.stage1_checkpoint, "model.stage1_checkpoint", pre, 3);
    }
    if (cfg->model.checkpoint[0]) load_posetune(&m->P, cfg->model.checkpoint, "model.checkpoint", NULL, 0);

    pt_model_clip_preprocess(cfg, &cc, &m->clip_pre);
}

void pt_aa_models_free(pt_aa_models *m) {
    pt_ref_bank_free(&m->bank);
    pt_unet_free(&m->unet);
    pt_unet_free(&m->ref);
    pt_clip_vision_free(&m->clip);
    if (m->has_motion) pt_motion_modules_free(&m->mm);
    pt_params_free(&m->P);
    memset(m, 0, sizeof *m);
}

// ---- conditioning ---------------------------------------------------------------------------------
pt_tensor *pt_aa_clip_embeds(pt_aa_models *m, const float *ref, int B, const int32_t *zero_row) {
    const int H = m->height, W = m->width, S = m->clip_pre.crop_h, Sw = m->clip_pre.crop_w, D = m->embed_dim;
    const size_t img = (size_t)3 * H * W;
    float *px = pt_calloc((size_t)B * 3 * S * Sw, sizeof(float));   // (B, 3, S, S) pixel_values
    float *unit = pt_malloc(sizeof(float) * img);                   // (3, H, W) in [0, 1]
    for (int b = 0; b < B; b++) {
        for (size_t i = 0; i < img; i++) unit[i] = 0.5f * (ref[b * img + i] + 1.0f);
        pt_clip_preprocess_chw(&m->clip_pre, unit, H, W, px + (size_t)b * 3 * S * Sw);
    }
    float *e = pt_malloc(sizeof(float) * (size_t)B * D);
    PT_NO_GRAD_BEGIN
    int mark = pt_scope_begin();
    pt_clip_vision_out o;
    pt_clip_vision_forward(&m->clip, pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(B, 3, S, Sw), px), &o);
    pt_copy_to_host_f32(o.image_embeds, e);                          // (B, D)
    pt_scope_end(mark, NULL);
    PT_NO_GRAD_END
    for (int b = 0; b < B; b++)
        if (zero_row && zero_row[b]) memset(e + (size_t)b * D, 0, sizeof(float) * D);
    pt_tensor *out = pt_from_f32(m->device, m->dtype, 3, PT_SHAPE(B, 1, D), e);   // (B, 1, D)
    free(px); free(unit); free(e);
    return out;
}

void pt_aa_encode(pt_aa_models *m, const float *images, int N, const float *noise, float *dst) {
    const int H = m->height, W = m->width, h = m->latent_h, w = m->latent_w;
    const size_t img = (size_t)3 * H * W, per = (size_t)4 * h * w;
    const int chunk = 8;   // bounded activation memory for long clips
    PT_NO_GRAD_BEGIN
    for (int n0 = 0; n0 < N; n0 += chunk) {
        int n = N - n0 < chunk ? N - n0 : chunk;
        int mark = pt_scope_begin();
        pt_tensor *x = pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(n, 3, H, W), images + n0 * img);
        pt_tensor *nz = noise ? pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(n, 4, h, w), noise + n0 * per) : NULL;
        pt_copy_to_host_f32(pt_vae_encode_latents(&m->vae, x, nz), dst + n0 * per);
        pt_scope_end(mark, NULL);
    }
    PT_NO_GRAD_END
}

void pt_aa_decode(pt_aa_models *m, const float *latents, int N, float *dst) {
    const int H = m->height, W = m->width, h = m->latent_h, w = m->latent_w;
    const size_t img = (size_t)3 * H * W, per = (size_t)4 * h * w;
    PT_NO_GRAD_BEGIN
    for (int n0 = 0; n0 < N; n0 += 4) {
        int n = N - n0 < 4 ? N - n0 : 4;
        int mark = pt_scope_begin();
        pt_tensor *z = pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(n, 4, h, w), latents + n0 * per);
        pt_copy_to_host_f32(pt_vae_decode(&m->vae, pt_scale(z, 1.0f / m->vae.cfg.scaling_factor)), dst + n0 * img);
        pt_scope_end(mark, NULL);
    }
    PT_NO_GRAD_END
}

void pt_aa_reference_pass(pt_aa_models *m, pt_tensor *ref_latent, pt_tensor *ctx) {
    const int64_t B = ref_latent->shape[0];
    int64_t zero = 0;
    pt_unet_hooks hk = {0};
    hk.ref_mode = PT_REF_WRITE;
    hk.ref_bank = &m->bank;
    hk.no_head = 1;
    int mark = pt_scope_begin();
    pt_tensor *t = pt_from_i64(m->device, 1, PT_SHAPE(1), &zero);
    (void)B;
    pt_unet_forward(&m->ref, ref_latent, t, ctx, &hk);   // the bank entries keep their history
    pt_scope_end(mark, NULL);
}

pt_tensor *pt_aa_denoise(pt_aa_models *m, pt_tensor *x, pt_tensor *t, pt_tensor *ctx, pt_tensor *pose, int F, int use_bank,
                         int checkpoint) {
    int mark = pt_scope_begin();
    pt_ref_bank empty = {0};
    pt_unet_hooks hk = {0};
    hk.conv_in_residual = pose ? pt_pose_guider_forward(&m->pg, pose) : NULL;   // (B*F, C0, h, w)
    hk.ref_mode = PT_REF_READ;
    hk.ref_bank = use_bank ? &m->bank : &empty;
    hk.ref_frames = F > 0 ? F : 1;
    if (m->has_motion && F > 0) {
        hk.temporal = pt_motion_temporal_hook;
        hk.temporal_ctx = &m->mm;
        hk.frames = F;
    }
    hk.checkpoint = checkpoint;
    pt_tensor *out = pt_unet_forward(&m->unet, x, t, ctx, &hk);   // (B*F, 4, h, w)
    return pt_scope_end(mark, out);
}

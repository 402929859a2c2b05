// model_set.c — the DreamPose model set (see model_set.h).
//
// Pretrained weights may also come from an original single-file Stable Diffusion checkpoint
// (v1-5-pruned.safetensors / .ckpt: "model.diffusion_model.*" + "first_stage_model.*"), for
// model.unet and / or model.vae (the same file may serve both). Its tensors are renamed through the
// explicit tables of checkpoints/names_sd.h. Configs: <dir>/config.json beside the file when it
// describes the component ("_class_name"), else <dir>/unet/config.json or <dir>/vae/config.json,
// else SD1.5 (pt_unet_config_sd15 with model.in_channels, pt_vae_config_sd). A tensor under the
// LDM root with no diffusers name, or a parameter whose tensor is missing, fails naming it.
#include "models/model_set.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autograd/ops.h"
#include "autograd/rng.h"
#include "checkpoints/names_sd.h"
#include "datasets/image_io.h"
#include "models/model_config.h"
#include "tools/check.h"
#include "trainer/ckpt.h"

static int is_dir(const char *p) {
    struct stat st;
    return p && p[0] && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}
static int exists(const char *p) {
    struct stat st;
    return p && p[0] && stat(p, &st) == 0;
}

char *pt_model_set_resolve_checkpoint(const char *path, const char *key) {
    if (is_dir(path)) {
        char d[4096];
        snprintf(d, sizeof d, "%s/checkpoints", path);
        char *p = is_dir(d) ? pt_ckpt_latest(d) : NULL;
        if (!p) p = pt_ckpt_latest(path);
        if (!p) PT_USAGE("config key '%s': '%s' is a folder without checkpoints (expected %s/step-*.safetensors)", key, path, d);
        return p;
    }
    if (!exists(path)) PT_USAGE("config key '%s': checkpoint '%s' does not exist", key, path);
    return pt_strdup(path);
}

// A random VAE's posterior is as wide as its mean (logvar ~ 0): sampling it would bury the image.
// Trained VAEs are nearly deterministic, so the tiny one starts that way: the logvar half of
// quant_conv gets zero weights and bias -12 (posterior std 0.0025).
static void tiny_vae_posterior(pt_model_set *m) {
    pt_conv *q = &m->vae.quant_conv;
    if (!q->w) return;
    int64_t O = q->w->shape[0], I = pt_numel(q->w) / O, L = O / 2;
    float *w = pt_malloc(sizeof(float) * O * I), *b = pt_malloc(sizeof(float) * O);
    pt_copy_to_host_f32(q->w, w);
    pt_copy_to_host_f32(q->b, b);
    for (int64_t o = L; o < O; o++) {
        for (int64_t i = 0; i < I; i++) w[o * I + i] = 0.0f;
        b[o] = -12.0f;
    }
    pt_copy_from_host_f32(q->w, w);
    pt_copy_from_host_f32(q->b, b);
    free(w); free(b);
}

// ---- random init of one component, independent of the rest of the table ----------------------------
typedef enum { COMP_UNET, COMP_VAE, COMP_CLIP, COMP_ADAPTER } comp_kind;

static void register_comp(pt_model_set *m, pt_params *P, comp_kind k, const void *cfg_any) {
    switch (k) {
    case COMP_UNET: pt_unet_init(&m->unet, cfg_any, P, "unet."); break;
    case COMP_VAE: pt_vae_init(&m->vae, cfg_any, P, "vae."); break;
    case COMP_CLIP: pt_clip_vision_init(&m->clip, cfg_any, P, "clip.", 0); break;
    case COMP_ADAPTER:
        pt_dp_adapter_init(&m->adapter, P, "adapter.", m->clip_tokens, m->clip_dim, 4, m->latent_h, m->latent_w);
        break;
    }
}

// Build the component alone in a scratch CPU table, init it randomly, copy into m->P by name.
static void init_comp_random(pt_model_set *m, comp_kind k, const void *cfg_any, uint64_t base_seed, const char *name) {
    pt_model_set scratch;
    memset(&scratch, 0, sizeof scratch);
    scratch.clip_tokens = m->clip_tokens; scratch.clip_dim = m->clip_dim;
    scratch.latent_h = m->latent_h; scratch.latent_w = m->latent_w;
    pt_params T;
    pt_params_init(&T, PT_CPU, PT_F32);
    register_comp(&scratch, &T, k, cfg_any);
    pt_params_finalize(&T);
    pt_params_init_random(&T, pt_rng_derive(base_seed, name, 0));
    for (int i = 0; i < T.n; i++) {
        pt_param_entry *e = pt_params_find(&m->P, T.e[i].name);
        PT_ASSERT(e != NULL);
        pt_copy_(e->t, T.e[i].t);
    }
    if (k == COMP_UNET) pt_unet_free(&scratch.unet);
    if (k == COMP_CLIP) pt_clip_vision_free(&scratch.clip);
    pt_params_free(&T);
}

// conv_in of a random UNet: channels 0..3 ~ N(0, 1/sqrt(4*9)) (a 4-channel init), the pose channels zero.
static void tiny_conv_in(pt_model_set *m, uint64_t seed) {
    pt_tensor *w = m->unet.conv_in.w;   // (O, N, 3, 3)
    int64_t O = w->shape[0], N = w->shape[1];
    float *h = pt_calloc((size_t)(O * N * 9), sizeof(float));
    pt_rng r;
    pt_rng_init(&r, pt_rng_derive(seed, "unet.conv_in.weight", 0));
    float *tmp = pt_malloc(sizeof(float) * 36);
    for (int64_t o = 0; o < O; o++) {
        pt_rng_fill_normal(&r, tmp, 36, 0.0f, (float)(1.0 / 6.0));
        memcpy(h + o * N * 9, tmp, sizeof(float) * 36);
    }
    pt_copy_from_host_f32(w, h);
    free(tmp);
    free(h);
}

// ---- pretrained loads --------------------------------------------------------------------------------
static void load_unet(pt_model_set *m, const char *path) {
    pt_weights *w = pt_weights_load(path);
    pt_unet_load_widened(&m->unet, w);
    pt_weights_free(w);
}

static void load_vae(pt_model_set *m, const char *path) {
    pt_weights *w = pt_weights_load(path);
    pt_vae_upgrade_names(w);
    pt_load_opts o = {0};
    o.map = pt_model_strip_prefix_map; o.map_ctx = (void *)"vae."; o.only_prefix = "vae.";
    pt_params_load(&m->P, w, &o);
    pt_weights_free(w);
}

static void load_clip(pt_model_set *m, const char *path) {
    pt_weights *w = pt_weights_load(path);
    pt_load_opts o = {0};
    o.map = pt_model_strip_prefix_map; o.map_ctx = (void *)"clip."; o.only_prefix = "clip.";
    o.allow_unexpected = 1;   // the projection / text tower of a full CLIPModel file
    pt_clip_vision_load(&m->P, w, &o);
    pt_weights_free(w);
}

// ---- original (LDM) single-file Stable Diffusion checkpoints ---------------------------------------
// v1-5-pruned.safetensors / .ckpt: the UNet under "model.diffusion_model.", the VAE under
// "first_stage_model." (checkpoints/names_sd.h), one file for both.
#define LDM_UNET_ROOT "model.diffusion_model."
#define LDM_VAE_ROOT "first_stage_model."

static int is_file(const char *p) {
    struct stat st;
    return p && p[0] && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int has_tensor_under(const pt_weights *w, const char *root) {
    size_t k = strlen(root);
    for (int i = 0; i < w->n; i++)
        if (strncmp(w->t[i].name, root, k) == 0) return 1;
    return 0;
}

// The file at `path` when it is a single weights file holding the LDM names under `root`, else NULL.
// `other`: an already loaded file to reuse when it is the same path (model.unet == model.vae).
static pt_weights *open_ldm(const char *path, const char *root, pt_weights *other) {
    if (!is_file(path)) return NULL;
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".json") == 0) return NULL;   // a shard index: diffusers
    if (other && strcmp(other->source, path) == 0) return has_tensor_under(other, root) ? other : NULL;
    pt_weights *w = pt_weights_load(path);
    if (has_tensor_under(w, root)) return w;
    pt_weights_free(w);
    return NULL;
}

// A config for one component of a single-file checkpoint: <dir>/config.json when it describes this
// component ("_class_name" absent or naming it), else <dir>/<sub>/config.json (a diffusers folder
// beside the file). Returns 0 when there is none (the caller takes the SD1.5 configuration).
static int ldm_config_path(const char *weights, const char *sub, const char *class_part, char *out, size_t n) {
    const char *slash = strrchr(weights, '/');
    int dl = slash ? (int)(slash - weights) : 1;
    const char *dir = slash ? weights : ".";
    snprintf(out, n, "%.*s/config.json", dl, dir);
    if (exists(out)) {
        pt_json *j = pt_json_parse_file(out);
        const char *cls = pt_json_str(j, "_class_name", NULL);
        int mine = !cls || strstr(cls, class_part) != NULL;
        pt_json_free(j);
        if (mine) return 1;
    }
    snprintf(out, n, "%.*s/%s/config.json", dl, dir, sub);
    return exists(out);
}

// Every parameter under `prefix` must have its tensor in the file: fails naming the LDM name.
static void ldm_check_complete(const pt_params *P, const char *prefix, const pt_weights *view, const pt_sd_names *t,
                               const pt_weights *ckpt) {
    size_t k = strlen(prefix);
    for (int i = 0; i < P->n; i++) {
        const char *nm = P->e[i].name;
        if (strncmp(nm, prefix, k) != 0 || pt_weights_find(view, nm + k)) continue;
        char ldm[512];
        if (!pt_sd_try_to_ldm(t, nm + k, ldm, sizeof ldm, NULL)) snprintf(ldm, sizeof ldm, "(no LDM name)");
        PT_USAGE("%s: missing tensor '%s' (the %s's '%s'); is this an SD 1.x single-file checkpoint of this layout?",
                 ckpt->source, ldm, t->what, nm + k);
    }
}

static void load_unet_ldm(pt_model_set *m, const pt_weights *ckpt) {
    const pt_unet_config *c = &m->unet.cfg;
    for (int i = 1; i < c->n_blocks; i++)
        if (c->layers_per_block[i] != c->layers_per_block[0])
            PT_USAGE("%s: the LDM layout needs one layers_per_block for every block of the UNet config", ckpt->source);
    pt_sd_names *t = pt_sd_names_unet_make(c->n_blocks, c->layers_per_block[0], c->down_attn, c->up_attn);
    pt_weights *volatile v = NULL;
    PT_TRY {
        v = pt_sd_view_from_ldm(ckpt, t);   // unmapped names under the root fail here
        ldm_check_complete(&m->P, "unet.", v, t, ckpt);
        pt_unet_load_widened(&m->unet, v);
    } PT_CATCH {
        if (v) pt_weights_free(v);
        pt_sd_names_free(t);
        pt_weights_rethrow();
    } PT_END_TRY;
    pt_weights_free(v);
    pt_sd_names_free(t);
}

static void load_vae_ldm(pt_model_set *m, const pt_weights *ckpt) {
    pt_sd_names *t = pt_sd_names_vae_make(m->vae.cfg.n_blocks, m->vae.cfg.layers_per_block);
    pt_weights *volatile v = NULL;
    PT_TRY {
        v = pt_sd_view_from_ldm(ckpt, t);
        ldm_check_complete(&m->P, "vae.", v, t, ckpt);
        pt_load_opts o = {0};
        o.map = pt_model_strip_prefix_map; o.map_ctx = (void *)"vae."; o.only_prefix = "vae.";
        pt_params_load(&m->P, v, &o);
    } PT_CATCH {
        if (v) pt_weights_free(v);
        pt_sd_names_free(t);
        pt_weights_rethrow();
    } PT_END_TRY;
    pt_weights_free(v);
    pt_sd_names_free(t);
}

// "model.<param>" tensors of a posetune checkpoint; only parameters starting with only_prefix (or all).
static void load_posetune_ckpt(pt_model_set *m, const char *path_or_dir, const char *key, const char *only_prefix) {
    char *path = pt_model_set_resolve_checkpoint(path_or_dir, key);
    pt_weights *w = pt_weights_load(path);
    int found = 0;
    for (int i = 0; i < m->P.n; i++) {
        if (only_prefix && strncmp(m->P.e[i].name, only_prefix, strlen(only_prefix)) != 0) continue;
        char nm[640];
        snprintf(nm, sizeof nm, "model.%s", m->P.e[i].name);
        found += pt_weights_find(w, nm) != NULL;
    }
    if (!found)
        PT_USAGE("%s (config key '%s'): no 'model.%s*' tensor of this model; is it a posetune checkpoint of the same regime?",
                 path, key, only_prefix ? only_prefix : "");
    pt_load_opts o = {0};
    o.file_prefix = "model.";
    o.allow_missing = 1;
    o.allow_unexpected = 1;
    o.only_prefix = only_prefix;
    pt_params_load(&m->P, w, &o);
    pt_weights_free(w);
    free(path);
}

// ---- build -------------------------------------------------------------------------------------------
void pt_model_set_build(pt_model_set *m, const pt_config *cfg, pt_ms_train train) {
    memset(m, 0, sizeof *m);
    pt_model_device_from_config(cfg, &m->device, &m->dtype);
    m->height = cfg->data.height;
    m->width = cfg->data.width;
    m->n_poses = cfg->data.n_poses;
    m->has_unet = train != PT_MS_TRAIN_VAE_DECODER;
    const int tiny = cfg->model.tiny;

    pt_unet_config uc;
    pt_vae_config vc;
    pt_clip_vision_config cc;
    char cp[4096];
    pt_weights *ldm_vae = NULL, *ldm_unet = NULL;   // original single-file checkpoints (may be one file)
    if (tiny) {
        pt_model_tiny_unet(cfg, &uc);
        pt_model_tiny_vae(cfg, &vc);
        // SD's 0.18215 is 1 / std of its VAE's latents; the random tiny encoder's latent means have a
        // std of about 0.65, so this brings them to about unit variance as well.
        vc.scaling_factor = 1.5f;
        pt_clip_vision_config_vit_b32(&cc);
        pt_model_tiny_clip(cfg, &cc);
        cc.projection_dim = cc.hidden_size;
    }
    else {
        if (!cfg->model.vae[0]) PT_USAGE("config key 'model.vae': empty; DreamPose needs the Stable Diffusion VAE (or model.tiny: true)");
        if (!exists(cfg->model.vae)) PT_USAGE("config key 'model.vae': '%s' does not exist", cfg->model.vae);
        ldm_vae = open_ldm(cfg->model.vae, LDM_VAE_ROOT, NULL);
        if (!ldm_vae) { pt_model_config_path(cfg->model.vae, "model.vae", cp, sizeof cp); pt_vae_config_load(&vc, cp); }
        else if (ldm_config_path(cfg->model.vae, "vae", "Autoencoder", cp, sizeof cp)) pt_vae_config_load(&vc, cp);
        else pt_vae_config_sd(&vc);
        if (m->has_unet) {
            if (!cfg->model.unet[0]) PT_USAGE("config key 'model.unet': empty; DreamPose needs the Stable Diffusion UNet (or model.tiny: true)");
            if (!cfg->model.clip[0]) PT_USAGE("config key 'model.clip': empty; DreamPose needs the CLIP ViT-B/32 vision tower (or model.tiny: true)");
            if (!exists(cfg->model.unet)) PT_USAGE("config key 'model.unet': '%s' does not exist", cfg->model.unet);
            ldm_unet = open_ldm(cfg->model.unet, LDM_UNET_ROOT, ldm_vae);
            if (!ldm_unet) { pt_model_config_path(cfg->model.unet, "model.unet", cp, sizeof cp); pt_unet_config_load(&uc, cp); }
            else if (ldm_config_path(cfg->model.unet, "unet", "UNet", cp, sizeof cp)) pt_unet_config_load(&uc, cp);
            else pt_unet_config_sd15(&uc);   // in_channels: model.in_channels below
            pt_model_config_path(cfg->model.clip, "model.clip", cp, sizeof cp);
            pt_clip_vision_config_load(&cc, cp);
        }
    }
    m->vae_factor = 1 << (vc.n_blocks - 1);
    if (m->height % m->vae_factor || m->width % m->vae_factor)
        PT_USAGE("data.height/width %dx%d: not a multiple of the VAE factor %d", m->height, m->width, m->vae_factor);
    m->latent_h = m->height / m->vae_factor;
    m->latent_w = m->width / m->vae_factor;

    pt_params_init(&m->P, m->device, m->dtype);
    register_comp(m, &m->P, COMP_VAE, &vc);
    if (m->has_unet) {
        if (uc.out_channels != vc.latent_channels || vc.latent_channels != 4)
            PT_USAGE("model: the UNet predicts %d channels, the VAE latent has %d (DreamPose needs 4)", uc.out_channels, vc.latent_channels);
        uc.in_channels = cfg->model.in_channels;
        if (uc.cross_attention_dim != cc.hidden_size)
            PT_USAGE("model: UNet cross_attention_dim %d differs from the CLIP hidden size %d (the adapter keeps the width; "
                     "DreamPose: 768 and ViT-B/32)", uc.cross_attention_dim, cc.hidden_size);
        m->clip_tokens = (int)pt_clip_vision_num_patches(&cc) + 1;
        m->clip_dim = cc.hidden_size;
        register_comp(m, &m->P, COMP_CLIP, &cc);
        register_comp(m, &m->P, COMP_UNET, &uc);
        register_comp(m, &m->P, COMP_ADAPTER, NULL);
        pt_model_clip_preprocess(cfg, &cc, &m->clip_pre);
    }
    pt_params_set_trainable(&m->P, "", 0);
    if (train == PT_MS_TRAIN_DIFFUSION) { pt_params_set_trainable(&m->P, "unet.", 1); pt_params_set_trainable(&m->P, "adapter.", 1); }
    if (train == PT_MS_TRAIN_VAE_DECODER) pt_params_set_trainable(&m->P, "vae.decoder.", 1);
    pt_params_finalize(&m->P);

    uint64_t seed = (uint64_t)cfg->model.init_seed;
    if (tiny) {
        init_comp_random(m, COMP_VAE, &vc, seed, "vae");
        tiny_vae_posterior(m);
        if (m->has_unet) {
            init_comp_random(m, COMP_CLIP, &cc, seed, "clip");
            init_comp_random(m, COMP_UNET, &uc, seed, "unet");
            tiny_conv_in(m, seed);
        }
    } else {
        PT_TRY {
            if (ldm_vae) load_vae_ldm(m, ldm_vae);
            else load_vae(m, cfg->model.vae);
            if (m->has_unet) {
                load_clip(m, cfg->model.clip);
                if (ldm_unet) load_unet_ldm(m, ldm_unet);
                else load_unet(m, cfg->model.unet);
            }
        } PT_CATCH {   // a bad single file: release it and the half-built set before failing
            if (ldm_unet && ldm_unet != ldm_vae) pt_weights_free(ldm_unet);
            if (ldm_vae) pt_weights_free(ldm_vae);
            pt_model_set_free(m);
            pt_weights_rethrow();
        } PT_END_TRY;
        if (ldm_unet && ldm_unet != ldm_vae) pt_weights_free(ldm_unet);
        if (ldm_vae) pt_weights_free(ldm_vae);
    }
    if (m->has_unet) {
        init_comp_random(m, COMP_ADAPTER, NULL, seed, "adapter");
        pt_dp_adapter_reset(&m->adapter);
    }
    if (cfg->model.checkpoint[0]) load_posetune_ckpt(m, cfg->model.checkpoint, "model.checkpoint", m->has_unet ? NULL : "vae.");
    if (cfg->model.vae_decoder_checkpoint[0])
        load_posetune_ckpt(m, cfg->model.vae_decoder_checkpoint, "model.vae_decoder_checkpoint", "vae.decoder.");
}

void pt_model_set_free(pt_model_set *m) {
    if (m->has_unet) { pt_unet_free(&m->unet); pt_clip_vision_free(&m->clip); }
    pt_params_free(&m->P);
    memset(m, 0, sizeof *m);
}

// ---- conditioning ------------------------------------------------------------------------------------
void pt_model_set_cond_inputs(pt_model_set *m, const float *cond, int B, const int32_t *drop, pt_tensor **clip_hidden,
                              pt_tensor **cond_latent) {
    PT_ASSERT(m->has_unet);
    const int H = m->height, W = m->width;
    const size_t img = (size_t)3 * H * W;
    const int S = m->clip_pre.crop_h, Sw = m->clip_pre.crop_w;
    float *x = pt_malloc(sizeof(float) * img * B);            // (B, 3, H, W) VAE input
    float *px = pt_calloc((size_t)B * 3 * S * Sw, sizeof(float));   // (B, 3, S, S) CLIP pixel_values
    float *unit = pt_malloc(sizeof(float) * img);              // (3, H, W) in [0, 1]
    for (int b = 0; b < B; b++) {
        int dropped = drop && drop[b];
        if (dropped) { memset(x + b * img, 0, sizeof(float) * img); continue; }   // zeros through the VAE and CLIP
        memcpy(x + b * img, cond + b * img, sizeof(float) * img);
        for (size_t i = 0; i < img; i++) unit[i] = 0.5f * (cond[b * img + i] + 1.0f);
        pt_clip_preprocess_chw(&m->clip_pre, unit, H, W, px + (size_t)b * 3 * S * Sw);
    }
    PT_NO_GRAD_BEGIN
    int mark = pt_scope_begin();
    pt_tensor *xt = pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(B, 3, H, W), x);
    pt_tensor *lat = pt_vae_encode_latents(&m->vae, xt, NULL);                       // (B, 4, h, w) x scaling
    pt_tensor *pt = pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(B, 3, S, Sw), px);
    pt_clip_vision_out o;
    pt_clip_vision_forward(&m->clip, pt, &o);                                         // (B, T, D)
    pt_tensor *keep[2] = {o.last_hidden_state, lat};
    pt_scope_end_keep(mark, keep, 2);
    *clip_hidden = keep[0];
    *cond_latent = keep[1];
    PT_NO_GRAD_END
    free(x); free(px); free(unit);
}

pt_tensor *pt_model_set_context(pt_model_set *m, const float *cond, int B, const int32_t *drop) {
    int mark = pt_scope_begin();
    pt_tensor *ch, *cl;
    pt_model_set_cond_inputs(m, cond, B, drop, &ch, &cl);
    pt_tensor *ctx = pt_dp_adapter_forward(&m->adapter, ch, cl);                   // (B, T, D)
    return pt_scope_end(mark, ctx);
}

void pt_model_set_poses_to_latent(const pt_model_set *m, const float *poses, int B, const int32_t *drop, float *dst) {
    const int C = 2 * m->n_poses, H = m->height, W = m->width, h = m->latent_h, w = m->latent_w;
    for (int b = 0; b < B; b++) {
        float *d = dst + (size_t)b * C * h * w;
        if (drop && drop[b]) memset(d, 0, sizeof(float) * (size_t)C * h * w);
        else pt_resize_nearest_chw(poses + (size_t)b * C * H * W, C, H, W, d, h, w);
    }
}

pt_tensor *pt_model_set_unet_input(pt_model_set *m, const float *x, const float *poses_lat, int B) {
    const int P2 = 2 * m->n_poses, C = 4 + P2;
    const size_t hw = (size_t)m->latent_h * m->latent_w;
    float *in = pt_malloc(sizeof(float) * B * C * hw);   // (B, 4 + 2n, h, w)
    for (int b = 0; b < B; b++) {
        memcpy(in + (size_t)b * C * hw, x + (size_t)b * 4 * hw, sizeof(float) * 4 * hw);
        memcpy(in + ((size_t)b * C + 4) * hw, poses_lat + (size_t)b * P2 * hw, sizeof(float) * P2 * hw);
    }
    pt_tensor *t = pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(B, C, m->latent_h, m->latent_w), in);
    free(in);
    return t;
}

// export_ckpt.c — pt_export_set_from_checkpoint: a posetune training checkpoint -> an export set.
//
//   1. "model.<param>" tensors (or "ema.<param>" with use_ema) become the set's tensors.
//   2. The resolved config (metadata posetune.config) gives the component configs: tiny models from
//      the same builder training used (pt_model_set_build), pretrained ones from the config.json of
//      model.unet / model.vae / model.clip (the UNet's in_channels from model.in_channels).
//   3. A shapes-only parameter table of those configs checks every tensor of a known component
//      (name and shape: a config that does not match the weights fails here, not in a loader) and
//      lists what the checkpoint lacks; the missing tensors come from the pretrained files, or, for
//      tiny DreamPose models, from the tiny random init (deterministic in model.init_seed).
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoints/export.h"
#include "models/clip_vision.h"
#include "models/dreampose_adapter.h"
#include "models/model_set.h"
#include "models/pose_guider.h"
#include "tools/check.h"
#include "trainer/ckpt.h"
#include "trainer/config.h"

static int is_dir(const char *p) { struct stat st; return p && p[0] && stat(p, &st) == 0 && S_ISDIR(st.st_mode); }
static int exists(const char *p) { struct stat st; return p && p[0] && stat(p, &st) == 0; }
static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

// A file, or the newest checkpoint of <dir>/checkpoints (or of dir itself). Caller frees.
static char *resolve(const char *path) {
    if (!exists(path)) PT_USAGE("%s: no such checkpoint file or run folder", path);
    if (!is_dir(path)) return pt_strdup(path);
    char d[4096];
    snprintf(d, sizeof d, "%s/checkpoints", path);
    char *p = is_dir(d) ? pt_ckpt_latest(d) : NULL;
    if (!p) p = pt_ckpt_latest(path);
    if (!p) PT_USAGE("%s: a folder without training checkpoints (expected %s/step-*.safetensors)", path, d);
    return p;
}

// config.json of a pretrained component (a folder, or beside a weights file); 0 if absent.
static int config_json_of(const char *weights, char *out, size_t n) {
    if (!exists(weights)) return 0;
    if (is_dir(weights)) snprintf(out, n, "%s/config.json", weights);
    else {
        const char *slash = strrchr(weights, '/');
        if (slash) snprintf(out, n, "%.*s/config.json", (int)(slash - weights), weights);
        else snprintf(out, n, "config.json");
    }
    return exists(out);
}

// ---- components ---------------------------------------------------------------------------------------
enum { C_UNET, C_REF, C_VAE, C_CLIP, C_ADAPTER, C_PG, C_N };
static const char *const PREFIX[C_N] = {"unet.", "reference_unet.", "vae.", "clip.", "adapter.", "pose_guider."};
static const char *const KEY[C_N] = {"model.unet", "model.unet", "model.vae", "model.clip", NULL, NULL};

typedef struct {
    int want[C_N];          // the regime has this component
    int have_cfg[C_N];      // its config is known
    pt_params T;            // shapes only: the expected tensors
    pt_unet unet, ref;
    pt_clip_vision clip;
    pt_dp_adapter adapter;
    pt_pose_guider pg;
    int clip_proj;
} expect;

static const char *comp_path(const pt_config *cfg, int c) {
    return c == C_UNET || c == C_REF ? cfg->model.unet : c == C_VAE ? cfg->model.vae : c == C_CLIP ? cfg->model.clip : "";
}

// Missing tensors of component c from its pretrained file (name without the component prefix).
static int fill_from_file(pt_export_set *s, const expect *E, int c, const char *path, FILE *log) {
    pt_weights *w = NULL;
    PT_TRY { w = pt_weights_load(path); }
    PT_CATCH { if (log) fprintf(log, "warning: %s (%s) could not be read: %s\n", KEY[c], path, pt_last_error()); w = NULL; }
    PT_END_TRY;
    if (!w) return 0;
    if (c == C_VAE) pt_vae_upgrade_names(w);
    int n = 0;
    for (int i = 0; i < E->T.n; i++) {
        const pt_param_entry *e = &E->T.e[i];
        if (!starts(e->name, PREFIX[c]) || pt_weights_find(s->w, e->name)) continue;
        const pt_wtensor *t = pt_weights_find(w, e->name + strlen(PREFIX[c]));
        if (!t || pt_wtensor_numel(t) != pt_numel(e->t)) continue;
        pt_weights_add(s->w, e->name, t->dtype, e->t->ndim, e->t->shape, t->data, t->nbytes);   // [C,C,1,1] -> [C,C]
        n++;
    }
    pt_export_set_keep(s, w);
    return n;
}

// Missing tensors from a built (tiny) parameter table.
static int fill_from_params(pt_export_set *s, const expect *E, int c, const pt_params *P) {
    int n = 0;
    for (int i = 0; i < E->T.n; i++) {
        const pt_param_entry *e = &E->T.e[i];
        if (!starts(e->name, PREFIX[c]) || pt_weights_find(s->w, e->name)) continue;
        const pt_param_entry *src = pt_params_find(P, e->name);
        if (!src || pt_numel(src->t) != pt_numel(e->t)) continue;
        int64_t k = pt_numel(src->t);
        float *buf = pt_weights_own_buf(s->w, pt_malloc(sizeof(float) * (size_t)(k ? k : 1)));
        pt_copy_to_host_f32(src->t, buf);
        pt_weights_add(s->w, e->name, PT_F32, e->t->ndim, e->t->shape, buf, sizeof(float) * (size_t)k);
        n++;
    }
    return n;
}

static void check_shapes(const pt_export_set *s, const expect *E, int c) {
    for (int i = 0; i < s->w->n; i++) {
        const pt_wtensor *t = &s->w->t[i];
        if (!starts(t->name, PREFIX[c])) continue;
        if (c == C_UNET && strstr(t->name, ".motion_modules.")) continue;
        const pt_param_entry *e = pt_params_find(&E->T, t->name);
        char a[96];
        if (!e) PT_USAGE("%s: tensor 'model.%s' is not a parameter of the configured %.*s (config mismatch?)", s->source,
                         t->name, (int)strlen(PREFIX[c]) - 1, PREFIX[c]);
        if (pt_wtensor_numel(t) != pt_numel(e->t))
            PT_USAGE("%s: tensor 'model.%s' has shape %s, the configured model has %lld elements", s->source, t->name,
                     pt_wtensor_shape_str(t, a, sizeof a), (long long)pt_numel(e->t));
    }
}

static int missing(const pt_export_set *s, const expect *E, int c) {
    int n = 0;
    for (int i = 0; i < E->T.n; i++) n += starts(E->T.e[i].name, PREFIX[c]) && !pt_weights_find(s->w, E->T.e[i].name);
    return n;
}

// ---- main ----------------------------------------------------------------------------------------------------
void pt_export_set_from_checkpoint(pt_export_set *s, const char *path, int use_ema, FILE *log) {
    char *file = resolve(path);
    pt_weights *ck = pt_weights_load(file);
    pt_export_set_keep(s, ck);
    snprintf(s->source, sizeof s->source, "%s", file);
    free(file);
    if (!pt_weights_meta(ck, "posetune.format"))
        PT_USAGE("%s: not a posetune training checkpoint (no posetune.format in its safetensors metadata)", s->source);
    const char *regime = pt_weights_meta(ck, "posetune.regime"), *step = pt_weights_meta(ck, "posetune.step");
    snprintf(s->regime, sizeof s->regime, "%s", regime ? regime : "");
    s->step = step ? strtoll(step, NULL, 10) : 0;
    int n_ema = 0;
    for (int i = 0; i < ck->n; i++) {
        const pt_wtensor *t = &ck->t[i];
        if (!starts(t->name, "model.")) continue;
        char en[640];
        snprintf(en, sizeof en, "ema.%s", t->name + 6);
        const pt_wtensor *e = use_ema ? pt_weights_find(ck, en) : NULL;
        n_ema += e != NULL;
        pt_export_set_add_view(s, t->name + 6, e ? e : t);
    }
    if (use_ema && !n_ema) PT_USAGE("%s: --use-ema, but the checkpoint holds no ema.* tensors (train.ema_decay was 0)", s->source);
    if (s->w->n == 0) PT_USAGE("%s: the checkpoint holds no model.* tensors", s->source);

    const char *yaml = pt_weights_meta(ck, "posetune.config");
    if (!yaml || !yaml[0]) PT_USAGE("%s: the checkpoint has no posetune.config metadata; the model's configs cannot be rebuilt", s->source);
    pt_config cfg;
    pt_config_defaults(&cfg);
    char src[1100];
    snprintf(src, sizeof src, "%s:posetune.config", s->source);
    pt_config_load_text(&cfg, yaml, src);
    const int aa = cfg.regime == PT_CFG_REGIME_ANIMATE_ANYONE;
    const int vae_only = !aa && cfg.phase == PT_CFG_PHASE_VAE_DECODER;

    expect E;
    memset(&E, 0, sizeof E);
    E.want[C_VAE] = 1;
    if (!vae_only) E.want[C_UNET] = E.want[C_CLIP] = 1;
    if (!aa && !vae_only) E.want[C_ADAPTER] = 1;
    if (aa) E.want[C_REF] = E.want[C_PG] = 1;

    // configs
    pt_model_set ms;
    int have_ms = 0, latent_h = 0, latent_w = 0, clip_tokens = 0;
    if (cfg.model.tiny) {
        pt_config c2;
        memset(&c2, 0, sizeof c2);
        pt_config_copy(&c2, &cfg);
        free(c2.model.checkpoint); c2.model.checkpoint = pt_strdup("");
        free(c2.model.vae_decoder_checkpoint); c2.model.vae_decoder_checkpoint = pt_strdup("");
        c2.train.device = PT_CFG_DEVICE_CPU;
        c2.train.precision = PT_CFG_PREC_FP32;
        pt_model_set_build(&ms, &c2, PT_MS_TRAIN_NONE);
        pt_config_free(&c2);
        have_ms = 1;
        s->unet = ms.unet.cfg; s->ref_unet = ms.unet.cfg; s->vae = ms.vae.cfg; s->clip = ms.clip.cfg;
        latent_h = ms.latent_h; latent_w = ms.latent_w; clip_tokens = ms.clip_tokens;
        for (int c = 0; c < C_N; c++) E.have_cfg[c] = 1;
        s->motion.heads = cfg.model.tiny_size.motion_heads;
    } else {
        char cp[4200];
        for (int c = C_UNET; c <= C_CLIP; c++) {
            if (!E.want[c]) continue;
            if (!config_json_of(comp_path(&cfg, c), cp, sizeof cp)) {
                if (pt_export_set_count(s, PREFIX[c]))
                    PT_USAGE("%s: the checkpoint holds '%s*' tensors but config key '%s' ('%s') gives no config.json to describe "
                             "them; make the pretrained model available at that path", s->source, PREFIX[c], KEY[c], comp_path(&cfg, c));
                continue;
            }
            E.have_cfg[c] = 1;
            if (c == C_UNET || c == C_REF) pt_unet_config_load(c == C_UNET ? &s->unet : &s->ref_unet, cp);
            else if (c == C_VAE) pt_vae_config_load(&s->vae, cp);
            else pt_clip_vision_config_load(&s->clip, cp);
        }
        s->unet.in_channels = cfg.model.in_channels;
        if (E.have_cfg[C_VAE]) {
            int f = 1 << (s->vae.n_blocks - 1);
            latent_h = cfg.data.height / f; latent_w = cfg.data.width / f;
        }
        if (E.have_cfg[C_CLIP]) clip_tokens = (int)pt_clip_vision_num_patches(&s->clip) + 1;
        E.have_cfg[C_ADAPTER] = E.have_cfg[C_VAE] && E.have_cfg[C_CLIP];
        E.have_cfg[C_PG] = E.have_cfg[C_UNET];
    }

    // the expected tensors (shapes only: nothing is allocated)
    pt_params_init(&E.T, PT_CPU, PT_F32);
    E.clip_proj = aa || pt_weights_find(s->w, "clip.visual_projection.weight") != NULL;
    if (E.want[C_UNET] && E.have_cfg[C_UNET]) pt_unet_init(&E.unet, &s->unet, &E.T, "unet.");
    if (E.want[C_REF] && E.have_cfg[C_REF]) pt_unet_init(&E.ref, &s->ref_unet, &E.T, "reference_unet.");
    if (E.want[C_VAE] && E.have_cfg[C_VAE]) { pt_vae v; pt_vae_init(&v, &s->vae, &E.T, "vae."); }
    if (E.want[C_CLIP] && E.have_cfg[C_CLIP]) pt_clip_vision_init(&E.clip, &s->clip, &E.T, "clip.", E.clip_proj);
    if (E.want[C_ADAPTER] && E.have_cfg[C_ADAPTER])
        pt_dp_adapter_init(&E.adapter, &E.T, "adapter.", clip_tokens, s->clip.hidden_size, 4, latent_h, latent_w);
    if (E.want[C_PG] && E.have_cfg[C_PG]) {
        const int real[4] = {16, 32, 96, 256};
        const pt_ycfg_ints *pc = &cfg.model.tiny_size.pose_guider_channels;
        pt_pose_guider_init(&E.pg, &E.T, "pose_guider.", cfg.model.tiny ? pc->v : real, cfg.model.tiny ? pc->n : 4, 3,
                            s->unet.block_out_channels[0]);
    }

    int *flags[C_N] = {&s->has_unet, &s->has_ref_unet, &s->has_vae, &s->has_clip, &s->has_adapter, &s->has_pose_guider};
    for (int c = 0; c < C_N; c++) {
        int present = pt_export_set_count(s, PREFIX[c]);
        if (!E.want[c] || !E.have_cfg[c]) {
            if (present && log) fprintf(log, "left out: %d '%s*' tensors (no config for them in this regime)\n", present, PREFIX[c]);
            continue;
        }
        check_shapes(s, &E, c);
        int miss = missing(s, &E, c), filled = 0;
        const char *from = "";
        if (miss && have_ms && !aa) { filled = fill_from_params(s, &E, c, &ms.P); from = "the tiny random init (model.init_seed)"; }
        else if (miss && KEY[c] && !cfg.model.tiny && comp_path(&cfg, c)[0]) {
            filled = fill_from_file(s, &E, c, comp_path(&cfg, c), log);
            from = comp_path(&cfg, c);
        }
        if (filled && log)
            fprintf(log, "%.*s: %d tensors are not in the checkpoint; taken from %s\n", (int)strlen(PREFIX[c]) - 1, PREFIX[c], filled, from);
        miss -= filled;
        if (!present && !filled) {
            if (log) fprintf(log, "left out: %.*s (frozen, not in the checkpoint, and no pretrained weights to take it from)\n",
                             (int)strlen(PREFIX[c]) - 1, PREFIX[c]);
            continue;
        }
        if (miss && log) fprintf(log, "warning: %.*s is incomplete: %d tensors missing; written as is (loaders will complain)\n",
                                 (int)strlen(PREFIX[c]) - 1, PREFIX[c], miss);
        *flags[c] = 1;
    }
    s->has_motion = pt_export_motion_layout(s, (char[256]){0}, 256, NULL, NULL, NULL, NULL);
    s->adapter_latent_h = latent_h; s->adapter_latent_w = latent_w;
    s->unet_sample_size = latent_h;
    s->vae_sample_size = cfg.data.height;
    s->has_sched = 1;
    s->sched.num_train_timesteps = cfg.train.num_train_timesteps;
    s->sched.beta_start = cfg.train.beta_start;
    s->sched.beta_end = cfg.train.beta_end;
    s->sched.prediction_type = cfg.train.prediction == PT_CFG_PRED_V ? "v_prediction" : "epsilon";
    s->sched.timestep_spacing = pt_config_enum_name("train.timestep_spacing", cfg.train.timestep_spacing);
    s->sched.rescale_betas_zero_snr = cfg.train.zero_terminal_snr;

    if (E.want[C_UNET] && E.have_cfg[C_UNET]) pt_unet_free(&E.unet);
    if (E.want[C_REF] && E.have_cfg[C_REF]) pt_unet_free(&E.ref);
    if (E.want[C_CLIP] && E.have_cfg[C_CLIP]) pt_clip_vision_free(&E.clip);
    pt_params_free(&E.T);
    if (have_ms) pt_model_set_free(&ms);
    pt_config_free(&cfg);
}

// export.c — the export set and the three writers (see export.h). Building a set from a training
// checkpoint lives in export_ckpt.c.
#include "checkpoints/export.h"

#include <stdlib.h>
#include <string.h>

#include "checkpoints/names_motion.h"
#include "checkpoints/names_sd.h"
#include "tools/check.h"
#include "tools/json.h"

// ---- the set ----------------------------------------------------------------------------------------
void pt_export_set_init(pt_export_set *s) {
    memset(s, 0, sizeof *s);
    s->w = pt_weights_new("export set");
    pt_motion_config_v2(&s->motion);
}

void pt_export_set_free(pt_export_set *s) {
    if (s->w) pt_weights_free(s->w);
    for (int i = 0; i < s->n_keep; i++) pt_weights_free(s->keep[i]);
    memset(s, 0, sizeof *s);
}

void pt_export_set_keep(pt_export_set *s, pt_weights *w) {
    PT_CHECKF(s->n_keep < 8, "export set: too many source files");
    s->keep[s->n_keep++] = w;
}

void pt_export_set_add_view(pt_export_set *s, const char *name, const pt_wtensor *src) {
    pt_weights_add(s->w, name, src->dtype, src->ndim, src->shape, src->data, src->nbytes);
}

void pt_export_set_add_params(pt_export_set *s, const pt_params *P, const char *only_prefix) {
    for (int i = 0; i < P->n; i++) {
        const pt_param_entry *e = &P->e[i];
        if (only_prefix && strncmp(e->name, only_prefix, strlen(only_prefix)) != 0) continue;
        int64_t n = pt_numel(e->t);
        float *buf = pt_weights_own_buf(s->w, pt_malloc(sizeof(float) * (size_t)(n ? n : 1)));   // (numel) host f32
        pt_copy_to_host_f32(e->t, buf);
        pt_weights_add(s->w, e->name, PT_F32, e->t->ndim, e->t->shape, buf, sizeof(float) * (size_t)n);
    }
}

static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

int pt_export_set_count(const pt_export_set *s, const char *prefix) {
    int n = 0;
    for (int i = 0; i < s->w->n; i++) n += starts(s->w->t[i].name, prefix);
    return n;
}

int pt_export_target_from_str(const char *s) {
    if (!s) return -1;
    if (strcmp(s, "diffusers") == 0) return PT_EXPORT_DIFFUSERS;
    if (strcmp(s, "sd-single-file") == 0) return PT_EXPORT_SD_SINGLE;
    if (strcmp(s, "animatediff") == 0) return PT_EXPORT_ANIMATEDIFF;
    return -1;
}

// ---- motion-module layout ---------------------------------------------------------------------------
// Offset of the block part ("down_blocks.", "mid_block.", "up_blocks.") of a motion-module name, or -1.
static int motion_block_at(const char *name) {
    const char *mm = strstr(name, ".motion_modules.");
    if (!mm) return -1;
    const char *keys[3] = {"down_blocks.", "mid_block.", "up_blocks."};
    int best = -1;
    for (int k = 0; k < 3; k++) {
        for (const char *p = strstr(name, keys[k]); p && p < mm; p = strstr(p + 1, keys[k]))
            if (p == name || p[-1] == '.') best = best < 0 || (int)(p - name) > best ? (int)(p - name) : best;
    }
    return best;
}

int pt_export_motion_layout(const pt_export_set *s, char *prefix, size_t cap, int *n_blocks, int *layers,
                            int *has_mid, int *widths) {
    int found = 0, nb = 0, L = 0, mid = 0;
    for (int i = 0; i < s->w->n; i++) {
        const pt_wtensor *t = &s->w->t[i];
        int at = motion_block_at(t->name);
        if (at < 0) continue;
        if (!found) snprintf(prefix, cap, "%.*s", at, t->name);
        found = 1;
        const char *b = t->name + at;
        int bi, j;
        if (sscanf(b, "down_blocks.%d.motion_modules.%d.", &bi, &j) == 2) {
            if (bi + 1 > nb) nb = bi + 1;
            if (j + 1 > L) L = j + 1;
            const char *tail = strstr(b, "temporal_transformer.proj_in.weight");
            if (widths && tail && j == 0 && bi < PT_UNET_MAX_BLOCKS) widths[bi] = (int)t->shape[0];
        } else if (starts(b, "mid_block.")) mid = 1;
    }
    if (n_blocks) *n_blocks = nb;
    if (layers) *layers = L;
    if (has_mid) *has_mid = mid;
    return found;
}

// ---- writing components ---------------------------------------------------------------------------------
static int is_float(pt_dtype t) { return t == PT_F32 || t == PT_F16 || t == PT_BF16 || t == PT_F64; }

// Name of a tensor (after the component prefix) in the target; return 0 to leave it out.
typedef int (*rename_fn)(const char *rest, char *out, size_t cap, int *reshape, void *ctx);

// Adds every tensor under `prefix` (motion modules excluded unless motion is set) to wr, renamed by fn.
// reshape: a [C, C] linear weight written as the [C, C, 1, 1] conv of an LDM VAE.
static int add_component(pt_st_writer *wr, const pt_export_set *s, const char *prefix, int motion, pt_dtype dt,
                         rename_fn fn, void *ctx) {
    int n = 0;
    char name[768];
    for (int i = 0; i < s->w->n; i++) {
        const pt_wtensor *t = &s->w->t[i];
        if (!starts(t->name, prefix)) continue;
        const char *rest = t->name + strlen(prefix);
        if ((motion_block_at(t->name) >= 0) != motion) continue;
        int reshape = 0;
        if (fn) { if (!fn(rest, name, sizeof name, &reshape, ctx)) continue; }
        else snprintf(name, sizeof name, "%s", rest);
        int64_t shape[PT_WEIGHTS_MAX_DIMS];
        int nd = t->ndim;
        memcpy(shape, t->shape, sizeof(int64_t) * (size_t)nd);
        if (reshape && nd == 2) { shape[2] = 1; shape[3] = 1; nd = 4; }
        pt_st_writer_add(wr, name, is_float(t->dtype) ? dt : t->dtype, nd, shape, t->dtype, t->data);
        n++;
    }
    return n;
}

static void add_meta(pt_st_writer *wr, const pt_export_set *s) {
    char buf[32];
    pt_st_writer_meta(wr, "format", "pt");
    if (s->regime[0]) pt_st_writer_meta(wr, "posetune.regime", s->regime);
    snprintf(buf, sizeof buf, "%lld", (long long)s->step);
    if (s->source[0]) { pt_st_writer_meta(wr, "posetune.step", buf); pt_st_writer_meta(wr, "posetune.source", s->source); }
}

static void join(char *out, size_t cap, const char *a, const char *b) { snprintf(out, cap, "%s/%s", a, b); }

// <root>/<sub>/config.json + <stem>.safetensors (sharded above max_shard). Returns the tensors written.
static int write_folder(const pt_export_set *s, const char *root, const char *sub, const char *prefix, int motion,
                        rename_fn fn, void *ctx, const char *stem, char *config, pt_dtype dt, size_t shard, FILE *log) {
    char dir[4096], path[4200];
    join(dir, sizeof dir, root, sub);
    pt_st_writer *wr = pt_st_writer_new();
    add_meta(wr, s);
    int n = add_component(wr, s, prefix, motion, dt, fn, ctx);
    if (n == 0) { pt_st_writer_free(wr); free(config); return 0; }
    pt_mkdirs(dir);
    if (config) { join(path, sizeof path, dir, "config.json"); pt_export_write_text(path, config); }
    int shards = pt_st_writer_write_sharded(wr, dir, stem, shard);
    if (log) fprintf(log, "wrote %s/ (%d tensors, %s.safetensors%s)\n", dir, n, stem, shards > 1 ? ", sharded" : "");
    pt_st_writer_free(wr);
    free(config);
    return n;
}

static int mm_to_diffusers(const char *rest, char *out, size_t cap, int *reshape, void *ctx) {
    (void)reshape; (void)ctx;
    return pt_mm_to_diffusers(rest, out, cap);
}

static int to_ldm(const char *rest, char *out, size_t cap, int *reshape, void *ctx) {
    pt_sd_to_ldm((const pt_sd_names *)ctx, rest, out, cap, reshape);
    return 1;
}

// The fixed sinusoidal buffers of every attention block of every motion module (f32, [1, max_len, C]).
static int add_motion_pe(pt_st_writer *wr, const pt_export_set *s, const char *mprefix) {
    int n = 0;
    char nm[768];
    for (int i = 0; i < s->w->n; i++) {
        const pt_wtensor *t = &s->w->t[i];
        if (!starts(t->name, mprefix) || motion_block_at(t->name) < 0) continue;
        const char *q = strstr(t->name, ".to_q.weight");
        const char *ab = strstr(t->name, ".attention_blocks.");
        if (!q || !ab || q[12] != '\0') continue;
        const int C = (int)t->shape[1], L = s->motion.max_len;
        float *pe = pt_malloc(sizeof(float) * (size_t)L * C);   // (1, max_len, C)
        pt_motion_position_encoding(L, C, pe);
        snprintf(nm, sizeof nm, "%.*s.pos_encoder.pe", (int)(q - t->name - strlen(mprefix)), t->name + strlen(mprefix));
        pt_st_writer_add(wr, nm, PT_F32, 3, (const int64_t[]){1, L, C}, PT_F32, pe);
        free(pe);
        n++;
    }
    return n;
}

static int write_animatediff_file(const pt_export_set *s, const char *path, pt_dtype dt, FILE *log) {
    char mprefix[256];
    if (!pt_export_motion_layout(s, mprefix, sizeof mprefix, NULL, NULL, NULL, NULL))
        PT_USAGE("--to animatediff: the model has no motion modules (no '*.motion_modules.*' tensors%s%s)",
                 s->source[0] ? " in " : "", s->source);
    pt_st_writer *wr = pt_st_writer_new();
    add_meta(wr, s);
    int n = add_component(wr, s, mprefix, 1, dt, NULL, NULL);
    int npe = add_motion_pe(wr, s, mprefix);
    pt_st_writer_write(wr, path);
    pt_st_writer_free(wr);
    if (log) fprintf(log, "wrote %s (%d motion-module tensors + %d pos_encoder.pe buffers, AnimateDiff names)\n", path, n, npe);
    return 1;
}

// ---- targets -----------------------------------------------------------------------------------------------
static int write_sd_single(const pt_export_set *s, const char *path, pt_dtype dt, FILE *log) {
    if (!s->has_unet && !s->has_vae) PT_USAGE("--to sd-single-file: the model has neither a UNet nor a VAE to write");
    pt_st_writer *wr = pt_st_writer_new();
    add_meta(wr, s);
    int nu = 0, nv = 0;
    if (s->has_unet) {
        const pt_unet_config *c = &s->unet;
        for (int i = 1; i < c->n_blocks; i++)
            if (c->layers_per_block[i] != c->layers_per_block[0])
                PT_USAGE("--to sd-single-file: the LDM layout needs the same layers_per_block in every block");
        pt_sd_names *t = pt_sd_names_unet_make(c->n_blocks, c->layers_per_block[0], c->down_attn, c->up_attn);
        nu = add_component(wr, s, "unet.", 0, dt, to_ldm, t);
        pt_sd_names_free(t);
        char buf[32];
        snprintf(buf, sizeof buf, "%d", c->in_channels);
        pt_st_writer_meta(wr, "posetune.unet_in_channels", buf);
    }
    if (s->has_vae) {
        pt_sd_names *t = pt_sd_names_vae_make(s->vae.n_blocks, s->vae.layers_per_block);
        nv = add_component(wr, s, "vae.", 0, dt, to_ldm, t);
        pt_sd_names_free(t);
    }
    pt_st_writer_write(wr, path);
    pt_st_writer_free(wr);
    if (log) {
        fprintf(log, "wrote %s (%d UNet tensors as model.diffusion_model.*, %d VAE tensors as first_stage_model.*)\n", path, nu, nv);
        if (s->has_unet && s->unet.in_channels != 4)
            fprintf(log, "note: conv_in takes %d channels (input_blocks.0.0.weight); tools that expect a 4-channel SD1.5 UNet "
                         "will not run it as is\n", s->unet.in_channels);
        const char *other[] = {"clip.", "adapter.", "reference_unet.", "pose_guider."};
        for (int i = 0; i < 4; i++) {
            int k = pt_export_set_count(s, other[i]);
            if (k) fprintf(log, "left out: %d '%s*' tensors (no place in an LDM single file; use --to diffusers)\n", k, other[i]);
        }
        char mp[256];
        if (pt_export_motion_layout(s, mp, sizeof mp, NULL, NULL, NULL, NULL))
            fprintf(log, "left out: the motion modules (use --to animatediff)\n");
    }
    return 1;
}

static void index_entry(pt_jbuf *b, const char *key, const char *lib, const char *cls) {
    pt_jbuf_key(b, key);
    pt_jbuf_arr_begin(b);
    pt_jbuf_str(b, lib);
    pt_jbuf_str(b, cls);
    pt_jbuf_arr_end(b);
}

static int write_diffusers(const pt_export_set *s, const char *dir, pt_dtype dt, size_t shard, FILE *log) {
    pt_mkdirs(dir);
    int files = 0, with_proj = pt_weights_find(s->w, "clip.visual_projection.weight") != NULL;
    int has[9] = {0};   // adapter, image_encoder, motion_module, pose_guider, reference_unet, scheduler, unet, vae
    if (s->has_adapter) {
        const pt_wtensor *l1 = pt_weights_get(s->w, "adapter.linear1.weight");   // (T, T+4)
        const pt_wtensor *v2c = pt_weights_get(s->w, "adapter.vae2clip.weight"); // (D, h/2*w/2)
        char *cfg = pt_export_adapter_config_json((int)l1->shape[0], (int)v2c->shape[0], (int)(l1->shape[1] - l1->shape[0]),
                                                  s->adapter_latent_h, s->adapter_latent_w);
        has[0] = write_folder(s, dir, "adapter", "adapter.", 0, NULL, NULL, "diffusion_pytorch_model", cfg, dt, shard, log) > 0;
    }
    if (s->has_clip)
        has[1] = write_folder(s, dir, "image_encoder", "clip.", 0, NULL, NULL, "model",
                              pt_export_clip_config_json(&s->clip, with_proj, dt), dt, shard, log) > 0;
    char mprefix[256];
    int nb = 0, L = 0, mid = 0, widths[PT_UNET_MAX_BLOCKS] = {0};
    if (pt_export_motion_layout(s, mprefix, sizeof mprefix, &nb, &L, &mid, widths)) {
        char *cfg = pt_export_motion_adapter_config_json(&s->motion, nb, widths, L, mid);
        has[2] = write_folder(s, dir, "motion_module", mprefix, 1, mm_to_diffusers, NULL, "diffusion_pytorch_model", cfg, dt,
                              shard, log) > 0;
        char path[4200];
        snprintf(path, sizeof path, "%s/motion_module/mm_animatediff.safetensors", dir);
        files += write_animatediff_file(s, path, dt, log);
    }
    if (s->has_pose_guider)
        has[3] = write_folder(s, dir, "pose_guider", "pose_guider.", 0, NULL, NULL, "diffusion_pytorch_model",
                              pt_export_pose_guider_config_json(s->w, "pose_guider."), dt, shard, log) > 0;
    if (s->has_ref_unet)
        has[4] = write_folder(s, dir, "reference_unet", "reference_unet.", 0, NULL, NULL, "diffusion_pytorch_model",
                              pt_export_unet_config_json(&s->ref_unet, s->unet_sample_size), dt, shard, log) > 0;
    if (s->has_sched) {
        char sub[4200], path[4300];
        join(sub, sizeof sub, dir, "scheduler");
        pt_mkdirs(sub);
        join(path, sizeof path, sub, "scheduler_config.json");
        char *t = pt_export_scheduler_config_json(&s->sched);
        pt_export_write_text(path, t);
        free(t);
        has[5] = 1;
    }
    if (s->has_unet)
        has[6] = write_folder(s, dir, "unet", "unet.", 0, NULL, NULL, "diffusion_pytorch_model",
                              pt_export_unet_config_json(&s->unet, s->unet_sample_size), dt, shard, log) > 0;
    if (s->has_vae)
        has[7] = write_folder(s, dir, "vae", "vae.", 0, NULL, NULL, "diffusion_pytorch_model",
                              pt_export_vae_config_json(&s->vae, s->vae_sample_size), dt, shard, log) > 0;
    for (int i = 0; i < 8; i++) files += has[i] && i != 5;
    if (!files) PT_USAGE("--to diffusers: nothing to export (the set holds no known component)");

    // model_index.json: diffusers components as [library, class]; posetune's modules as ["posetune", class].
    pt_jbuf b = {0};
    b.indent = 2;
    pt_jbuf_obj_begin(&b);
    pt_jbuf_key(&b, "_class_name");
    pt_jbuf_str(&b, starts(s->regime, "animate_anyone") ? "AnimateAnyonePipeline" : "DreamPosePipeline");
    pt_jbuf_key(&b, "_diffusers_version"); pt_jbuf_str(&b, PT_EXPORT_DIFFUSERS_VERSION);
    pt_jbuf_key(&b, "_posetune");
    pt_jbuf_obj_begin(&b);
    pt_jbuf_key(&b, "dtype"); pt_jbuf_str(&b, pt_dtype_name(dt));
    pt_jbuf_key(&b, "regime"); pt_jbuf_str(&b, s->regime);
    pt_jbuf_key(&b, "source"); pt_jbuf_str(&b, s->source);
    pt_jbuf_key(&b, "step"); pt_jbuf_int(&b, s->step);
    pt_jbuf_obj_end(&b);
    if (has[0]) index_entry(&b, "adapter", "posetune", "Embedding_Adapter");
    if (has[1]) index_entry(&b, "image_encoder", "transformers", with_proj ? "CLIPVisionModelWithProjection" : "CLIPVisionModel");
    if (has[2]) index_entry(&b, "motion_module", "diffusers", "MotionAdapter");
    if (has[3]) index_entry(&b, "pose_guider", "posetune", "PoseGuider");
    if (has[4]) index_entry(&b, "reference_unet", "diffusers", "UNet2DConditionModel");
    if (has[5]) index_entry(&b, "scheduler", "diffusers", "DDPMScheduler");
    if (has[6]) index_entry(&b, "unet", "diffusers", "UNet2DConditionModel");
    if (has[7]) index_entry(&b, "vae", "diffusers", "AutoencoderKL");
    pt_jbuf_obj_end(&b);
    char *text = pt_jbuf_take(&b), path[4200];
    join(path, sizeof path, dir, "model_index.json");
    pt_export_write_text(path, text);
    free(text);
    if (log) fprintf(log, "wrote %s\n", path);
    return files;
}

int pt_export_write(const pt_export_set *s, pt_export_target target, const char *out, pt_dtype dtype,
                    size_t max_shard_bytes, FILE *log) {
    if (dtype != PT_F16 && dtype != PT_BF16 && dtype != PT_F32)
        PT_USAGE("export dtype %s: only fp16, bf16 and fp32 are supported", pt_dtype_name(dtype));
    if (!max_shard_bytes) max_shard_bytes = PT_EXPORT_DEFAULT_SHARD;
    switch (target) {
    case PT_EXPORT_DIFFUSERS: return write_diffusers(s, out, dtype, max_shard_bytes, log);
    case PT_EXPORT_SD_SINGLE: return write_sd_single(s, out, dtype, log);
    case PT_EXPORT_ANIMATEDIFF: return write_animatediff_file(s, out, dtype, log);
    }
    PT_USAGE("unknown export target %d", (int)target);
}

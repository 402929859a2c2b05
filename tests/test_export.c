// test_export.c — posetune export: every target round-trips back through the importers
// (pt_weights_load, pt_sd_view_from_ldm, pt_motion_load) to the source tensors (fp32 bit-exact,
// fp16 = the fp16 rounding of the source), diffusers folders carry exactly the tensor names of the
// peer fixtures (written by diffusers / transformers), config.json files load back to the same
// config, SD1.5's full name tables are a bijection, and bad inputs fail with exit code 2.
#include <dirent.h>
#include <unistd.h>

#include "autograd/dtype.h"
#include "checkpoints/export.h"
#include "checkpoints/names_motion.h"
#include "checkpoints/names_sd.h"
#include "models/clip_vision.h"
#include "models/dreampose_adapter.h"
#include "models/model_set.h"
#include "models/motion_module.h"
#include "models/unet.h"
#include "models/vae.h"
#include "test_util.h"
#include "trainer/ckpt.h"
#include "trainer/config.h"

static char tmp_root[2048];
static const char *tmp_path(const char *name) {
    static char buf[4][4096];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_root, name);
    return buf[k];
}

// Every parameter of P ~ N(0, 1) (biases and norms too, so nothing round-trips by accident).
static void randomize(pt_params *P, uint64_t seed) {
    tu_seed(seed);
    float *d = P->data;
    for (int64_t i = 0; i < P->numel; i++) d[i] = (float)tu_normal();
}

static float f16_round(float x) { return pt_f16_to_f32(pt_f32_to_f16(x)); }

// Compare every parameter of P under `prefix` with the tensor `file_prefix + name - prefix` of w.
// f16: expect the fp16 rounding of the source (and, independently, a relative error <= 2^-11).
static int compare(const pt_params *P, const char *prefix, const pt_weights *w, const char *file_prefix, int f16) {
    int n = 0, bad = 0;
    for (int i = 0; i < P->n; i++) {
        const pt_param_entry *e = &P->e[i];
        if (strncmp(e->name, prefix, strlen(prefix)) != 0) continue;
        char nm[600];
        snprintf(nm, sizeof nm, "%s%s", file_prefix, e->name + strlen(prefix));
        const pt_wtensor *t = pt_weights_find(w, nm);
        if (!t) { EXPECT(0, "exported file lacks '%s'", nm); bad++; continue; }
        int64_t k = pt_numel(e->t);
        EXPECT(pt_wtensor_numel(t) == k, "'%s' numel", nm);
        EXPECT(t->dtype == (f16 ? PT_F16 : PT_F32), "'%s' dtype %s", nm, pt_dtype_name(t->dtype));
        float *x = malloc(sizeof(float) * (size_t)k);
        pt_weights_read_f32(t, x);
        const float *src = (const float *)P->data + e->offset;
        for (int64_t j = 0; j < k; j++) {
            float want = f16 ? f16_round(src[j]) : src[j];
            if (memcmp(&x[j], &want, 4) != 0 || (f16 && fabsf(x[j] - src[j]) > fabsf(src[j]) * (1.0f / 2048) + 6e-8f)) {
                if (!bad) EXPECT(0, "'%s'[%lld] = %.9g, source %.9g", nm, (long long)j, x[j], src[j]);
                bad++;
                break;
            }
        }
        free(x);
        n++;
    }
    EXPECT(bad == 0, "%d tensors differ", bad);
    return n;
}

// The tensor names of w (minus nothing) equal those of the fixture file.
static void same_names(const pt_weights *w, const char *fixture) {
    char path[4096];
    snprintf(path, sizeof path, "%.2000s/%.1000s", fixtures_dir(), fixture);
    pt_weights *f = pt_weights_load(path);
    EXPECT(w->n == f->n, "%s: %d tensors exported, the fixture has %d", fixture, w->n, f->n);
    for (int i = 0; i < f->n; i++) EXPECT(pt_weights_find(w, f->t[i].name), "%s: export lacks '%s'", fixture, f->t[i].name);
    for (int i = 0; i < w->n; i++) EXPECT(pt_weights_find(f, w->t[i].name), "%s: export has extra '%s'", fixture, w->t[i].name);
    pt_weights_free(f);
}

// ---- a tiny DreamPose-like set with the fixtures' shapes ---------------------------------------------------
typedef struct {
    pt_params P;
    pt_unet_config uc; pt_vae_config vc; pt_clip_vision_config cc;
    pt_unet unet; pt_vae vae; pt_clip_vision clip; pt_dp_adapter ad;
} dp_set;

static void fixture_json(const char *name, char *out, size_t n) { snprintf(out, n, "%s/%s", fixtures_dir(), name); }

static void dp_build(dp_set *d) {
    memset(d, 0, sizeof *d);
    char p[4096];
    fixture_json("unet_tiny.json", p, sizeof p); pt_unet_config_load(&d->uc, p);
    fixture_json("vae_tiny.json", p, sizeof p); pt_vae_config_load(&d->vc, p);
    fixture_json("clip_vision_tiny.json", p, sizeof p); pt_clip_vision_config_load(&d->cc, p);
    d->uc.in_channels = 14;   // DreamPose: 4 latent + 2 x 5 poses
    pt_params_init(&d->P, PT_CPU, PT_F32);
    pt_unet_init(&d->unet, &d->uc, &d->P, "unet.");
    pt_vae_init(&d->vae, &d->vc, &d->P, "vae.");
    pt_clip_vision_init(&d->clip, &d->cc, &d->P, "clip.", 1);
    pt_dp_adapter_init(&d->ad, &d->P, "adapter.", 17, 32, 4, 8, 8);
    pt_params_finalize(&d->P);
    randomize(&d->P, 11);
}
static void dp_free(dp_set *d) { pt_unet_free(&d->unet); pt_clip_vision_free(&d->clip); pt_params_free(&d->P); }

static void dp_to_set(dp_set *d, pt_export_set *s) {
    pt_export_set_init(s);
    pt_export_set_add_params(s, &d->P, NULL);
    s->has_unet = s->has_vae = s->has_clip = s->has_adapter = 1;
    s->unet = d->uc; s->vae = d->vc; s->clip = d->cc;
    s->adapter_latent_h = s->adapter_latent_w = 8;
    snprintf(s->regime, sizeof s->regime, "dreampose/full");
}

TEST_CASE(diffusers_roundtrip_and_layout) {
    if (!fixtures_dir()) { test_skip("peer fixtures absent"); return; }
    dp_set d; dp_build(&d);
    pt_export_set s; dp_to_set(&d, &s);
    for (int f16 = 0; f16 < 2; f16++) {
        const char *dir = tmp_path(f16 ? "diff16" : "diff32");
        int files = pt_export_write(&s, PT_EXPORT_DIFFUSERS, dir, f16 ? PT_F16 : PT_F32, 0, NULL);
        EXPECT(files == 4, "weight files %d, expected 4 (unet, vae, image_encoder, adapter)", files);
        char p[4200];
        const char *subs[4] = {"unet", "vae", "image_encoder", "adapter"}, *pre[4] = {"unet.", "vae.", "clip.", "adapter."};
        for (int c = 0; c < 4; c++) {
            snprintf(p, sizeof p, "%s/%s", dir, subs[c]);
            pt_weights *w = pt_weights_load(p);   // the folder, as a diffusers/transformers loader finds it
            int n = compare(&d.P, pre[c], w, "", f16);
            EXPECT(n == w->n, "%s: %d compared, %d in file", subs[c], n, w->n);
            if (!f16 && c == 0) same_names(w, "unet_tiny.safetensors");
            if (!f16 && c == 1) same_names(w, "vae_tiny.safetensors");
            if (!f16 && c == 2) same_names(w, "clip_vision_tiny.safetensors");
            pt_weights_free(w);
        }
        snprintf(p, sizeof p, "%s/image_encoder/model.safetensors", dir);
        EXPECT(access(p, F_OK) == 0, "transformers file name model.safetensors");
        snprintf(p, sizeof p, "%s/model_index.json", dir);
        pt_json *mi = pt_json_parse_file(p);
        const pt_json *u = pt_json_get(mi, "unet");
        EXPECT(u && u->type == PT_JSON_ARR && u->n == 2 && strcmp(u->items[1].str, "UNet2DConditionModel") == 0, "model_index unet");
        const pt_json *ie = pt_json_get(mi, "image_encoder");
        EXPECT(ie && ie->n == 2 && strcmp(ie->items[1].str, "CLIPVisionModelWithProjection") == 0, "model_index image_encoder");
        EXPECT(pt_json_get(mi, "adapter") != NULL && pt_json_get(mi, "motion_module") == NULL, "extras listed");
        pt_json_free(mi);
    }
    // configs load back to the same structs
    pt_unet_config uc; pt_vae_config vc; pt_clip_vision_config cc;
    pt_unet_config_load(&uc, tmp_path("diff32/unet/config.json"));
    pt_vae_config_load(&vc, tmp_path("diff32/vae/config.json"));
    pt_clip_vision_config_load(&cc, tmp_path("diff32/image_encoder/config.json"));
    EXPECT(uc.in_channels == 14, "unet in_channels %d", uc.in_channels);
    EXPECT(memcmp(&uc, &d.uc, sizeof uc) == 0, "UNet config round trip");
    EXPECT(memcmp(&vc, &d.vc, sizeof vc) == 0, "VAE config round trip");
    EXPECT(memcmp(&cc, &d.cc, sizeof cc) == 0, "CLIP config round trip");
    pt_json *ac = pt_json_parse_file(tmp_path("diff32/adapter/config.json"));
    EXPECT(pt_json_int(ac, "clip_tokens", 0) == 17 && pt_json_int(ac, "clip_dim", 0) == 32 &&
           pt_json_int(ac, "latent_height", 0) == 8, "adapter config");
    pt_json_free(ac);
    // sharded: a 64 kB limit splits the UNet; the index folder loads back to the same tensors
    pt_export_write(&s, PT_EXPORT_DIFFUSERS, tmp_path("diffsh"), PT_F32, 64 * 1000, NULL);
    EXPECT(access(tmp_path("diffsh/unet/diffusion_pytorch_model.safetensors.index.json"), F_OK) == 0, "sharded index");
    EXPECT(access(tmp_path("diffsh/unet/diffusion_pytorch_model-00001-of-00002.safetensors"), F_OK) != 0, "more than 2 shards");
    pt_weights *w = pt_weights_load(tmp_path("diffsh/unet"));
    EXPECT(compare(&d.P, "unet.", w, "", 0) == w->n, "sharded unet");
    pt_weights_free(w);
    pt_export_set_free(&s);
    dp_free(&d);
}

// ---- SD single file -------------------------------------------------------------------------------------------
TEST_CASE(sd_single_file_roundtrip) {
    // SD1.5's block layout at a tiny width: 4 blocks x 2 layers, attention in down 0-2 / up 1-3.
    pt_unet_config uc; pt_unet_config_sd15(&uc);
    const int boc[4] = {16, 32, 32, 32};
    memcpy(uc.block_out_channels, boc, sizeof boc);
    uc.norm_num_groups = 8; uc.cross_attention_dim = 16; uc.time_embed_dim = 64; uc.in_channels = 14;
    pt_vae_config vc; pt_vae_config_sd(&vc);
    const int vb[4] = {8, 16, 16, 16};
    memcpy(vc.block_out_channels, vb, sizeof vb);
    vc.norm_num_groups = 8;
    pt_params P; pt_params_init(&P, PT_CPU, PT_F32);
    pt_unet u; pt_unet_init(&u, &uc, &P, "unet.");
    pt_vae v; pt_vae_init(&v, &vc, &P, "vae.");
    pt_params_finalize(&P);
    randomize(&P, 5);
    pt_export_set s; pt_export_set_init(&s);
    pt_export_set_add_params(&s, &P, NULL);
    s.has_unet = s.has_vae = 1; s.unet = uc; s.vae = vc;
    for (int f16 = 0; f16 < 2; f16++) {
        const char *path = tmp_path(f16 ? "sd16.safetensors" : "sd32.safetensors");
        pt_export_write(&s, PT_EXPORT_SD_SINGLE, path, f16 ? PT_F16 : PT_F32, 0, NULL);
        pt_weights *ck = pt_weights_load(path);
        EXPECT(ck->n == P.n, "%d tensors in the single file, %d parameters", ck->n, P.n);
        const pt_wtensor *q = pt_weights_get(ck, "first_stage_model.encoder.mid.attn_1.q.weight");
        EXPECT(q->ndim == 4 && q->shape[2] == 1 && q->shape[3] == 1, "LDM VAE attention is a 1x1 conv");
        const pt_wtensor *ci = pt_weights_get(ck, "model.diffusion_model.input_blocks.0.0.weight");
        EXPECT(ci->shape[1] == 14, "conv_in keeps 14 input channels");
        pt_weights_get(ck, "model.diffusion_model.output_blocks.8.2.conv.weight");   // up 2 upsampler (with attention)
        pt_sd_names *tu = pt_sd_names_unet_sd15(), *tv = pt_sd_names_vae_sd15();
        pt_weights *vu = pt_sd_view_from_ldm(ck, tu), *vv = pt_sd_view_from_ldm(ck, tv);
        EXPECT(compare(&P, "unet.", vu, "", f16) == vu->n, "unet tensors");
        EXPECT(compare(&P, "vae.", vv, "", f16) == vv->n, "vae tensors");
        if (!f16) {   // loads into a fresh parameter table of the right shapes
            pt_params Q; pt_params_init(&Q, PT_CPU, PT_F32);
            pt_unet u2; pt_unet_init(&u2, &uc, &Q, "");
            pt_params_finalize(&Q);
            pt_params_load(&Q, vu, NULL);
            int same = 1;
            for (int i = 0; i < Q.n; i++) {
                char nm[600]; snprintf(nm, sizeof nm, "unet.%s", Q.e[i].name);
                const pt_param_entry *e = pt_params_find(&P, nm);
                same &= e && memcmp((float *)Q.data + Q.e[i].offset, (float *)P.data + e->offset,
                                    sizeof(float) * (size_t)pt_numel(e->t)) == 0;
            }
            EXPECT(same, "loaded UNet equals the source");
            pt_unet_free(&u2); pt_params_free(&Q);
        }
        pt_weights_free(vu); pt_weights_free(vv); pt_sd_names_free(tu); pt_sd_names_free(tv);
        pt_weights_free(ck);
    }
    pt_export_set_free(&s);
    pt_unet_free(&u); pt_params_free(&P);
}

// ---- SD1.5 full-size name tables (shapes only, no weights allocated) -------------------------------------------
TEST_CASE(sd15_names_identity) {
    pt_unet_config uc; pt_unet_config_sd15(&uc);
    pt_vae_config vc; pt_vae_config_sd(&vc);
    pt_params T; pt_params_init(&T, PT_CPU, PT_F32);
    pt_unet u; pt_unet_init(&u, &uc, &T, "");
    int n_unet = T.n;
    pt_vae v; pt_vae_init(&v, &vc, &T, "vae.");
    // independent counts: SD1.5's diffusers files hold 686 UNet and 248 VAE tensors
    EXPECT(n_unet == 686, "UNet tensors %d", n_unet);
    EXPECT(T.n - n_unet == 248, "VAE tensors %d", T.n - n_unet);
    EXPECT(pt_params_count(&T, 0) == 859520964LL + 83653863LL, "parameter count %lld", (long long)pt_params_count(&T, 0));
    pt_sd_names *tu = pt_sd_names_unet_sd15(), *tv = pt_sd_names_vae_sd15();
    pt_weights *seen = pt_weights_new("ldm names");
    int ok = 1, n_reshape = 0;
    for (int i = 0; i < T.n; i++) {
        const char *hf = T.e[i].name;
        int is_vae = strncmp(hf, "vae.", 4) == 0;
        const pt_sd_names *t = is_vae ? tv : tu;
        char ldm[600], back[600];
        int r1 = 0, r2 = 0;
        pt_sd_to_ldm(t, is_vae ? hf + 4 : hf, ldm, sizeof ldm, &r1);
        pt_sd_from_ldm(t, ldm, back, sizeof back, &r2);
        if (strcmp(back, is_vae ? hf + 4 : hf) != 0 || r1 != r2) { ok = 0; EXPECT(0, "%s -> %s -> %s", hf, ldm, back); }
        if (pt_weights_find(seen, ldm)) { ok = 0; EXPECT(0, "two names map to %s", ldm); }
        else pt_weights_add(seen, ldm, PT_F32, 0, NULL, NULL, 0);
        n_reshape += r1;
    }
    EXPECT(ok, "identity");
    EXPECT(n_reshape == 8, "VAE attention weights reshaped: %d (q, k, v, proj_out in encoder and decoder)", n_reshape);
    // hand-derived pairs
    char out[600]; int r;
    pt_sd_to_ldm(tu, "down_blocks.1.downsamplers.0.conv.weight", out, sizeof out, &r);
    EXPECT(strcmp(out, "model.diffusion_model.input_blocks.6.0.op.weight") == 0, "%s", out);
    pt_sd_to_ldm(tu, "up_blocks.3.attentions.2.proj_out.weight", out, sizeof out, &r);
    EXPECT(strcmp(out, "model.diffusion_model.output_blocks.11.1.proj_out.weight") == 0, "%s", out);
    pt_sd_to_ldm(tu, "mid_block.resnets.1.time_emb_proj.bias", out, sizeof out, &r);
    EXPECT(strcmp(out, "model.diffusion_model.middle_block.2.emb_layers.1.bias") == 0, "%s", out);
    pt_sd_to_ldm(tv, "decoder.up_blocks.0.resnets.0.conv1.weight", out, sizeof out, &r);
    EXPECT(strcmp(out, "first_stage_model.decoder.up.3.block.0.conv1.weight") == 0, "%s", out);
    pt_sd_to_ldm(tv, "encoder.mid_block.attentions.0.to_q.weight", out, sizeof out, &r);
    EXPECT(strcmp(out, "first_stage_model.encoder.mid.attn_1.q.weight") == 0 && r == 1, "%s", out);
    pt_weights_free(seen); pt_sd_names_free(tu); pt_sd_names_free(tv);
    pt_unet_free(&u); pt_params_free(&T);
}

// ---- AnimateDiff ------------------------------------------------------------------------------------------------
TEST_CASE(animatediff_roundtrip) {
    if (!fixtures_dir()) { test_skip("peer fixtures absent"); return; }
    char p[4096];
    fixture_json("motion_module_tiny.json", p, sizeof p);
    pt_motion_config mc; pt_motion_config_load(&mc, p);
    mc.norm_num_groups = 8;
    // 2 down blocks x 1 layer: slots down 0, 1 | mid | up 0: 2 slots, up 1: 2 slots
    const int widths[7] = {32, 64, 64, 64, 64, 32, 32};
    pt_params P; pt_params_init(&P, PT_CPU, PT_F32);
    pt_motion_set ms; pt_motion_modules_build(&ms, &P, "unet.", &mc, 2, 1, widths);
    pt_params_finalize(&P);
    randomize(&P, 3);
    pt_export_set s; pt_export_set_init(&s);
    pt_export_set_add_params(&s, &P, NULL);
    s.motion = mc;
    const char *path = tmp_path("mm16.safetensors");
    pt_export_write(&s, PT_EXPORT_ANIMATEDIFF, path, PT_F16, 0, NULL);
    pt_weights *w = pt_weights_load(path);
    int n = compare(&P, "unet.", w, "", 1);
    EXPECT(n == P.n, "%d of %d parameters", n, P.n);
    // pe buffers: 2 per module, [1, max_len, C], pe[p, 2i] = sin(p * 10000^(-2i/C)), f32
    int n_pe = 0;
    for (int i = 0; i < w->n; i++) {
        const pt_wtensor *t = &w->t[i];
        if (!strstr(t->name, "pos_encoder.pe")) continue;
        n_pe++;
        EXPECT(t->dtype == PT_F32 && t->ndim == 3 && t->shape[0] == 1 && t->shape[1] == mc.max_len, "%s shape", t->name);
        const int C = (int)t->shape[2];
        float *x = malloc(sizeof(float) * (size_t)t->shape[1] * C);
        pt_weights_read_f32(t, x);
        int pos = 5, i2 = 6;
        EXPECT_CLOSE(x[pos * C + i2], sin(pos * pow(10000.0, -(double)i2 / C)), 1e-6, 0);
        EXPECT_CLOSE(x[pos * C + i2 + 1], cos(pos * pow(10000.0, -(double)i2 / C)), 1e-6, 0);
        free(x);
    }
    EXPECT(n_pe == 2 * 7, "pe buffers %d", n_pe);
    // one module's names = the fixture's (original AnimateDiff names, pe buffers included), and the
    // 32-wide module's pe equals the fixture's (written by the reference code)
    snprintf(p, sizeof p, "%s/motion_module_tiny.safetensors", fixtures_dir());
    pt_weights *f = pt_weights_load(p);
    int in_mod = 0;
    for (int i = 0; i < w->n; i++) in_mod += strncmp(w->t[i].name, "mid_block.motion_modules.0.", 27) == 0;
    EXPECT(in_mod == f->n, "mid module: %d tensors, fixture %d", in_mod, f->n);
    for (int i = 0; i < f->n; i++) {
        char nm[600]; snprintf(nm, sizeof nm, "mid_block.motion_modules.0.%s", f->t[i].name);
        EXPECT(pt_weights_find(w, nm), "lacks %s", nm);
        if (!strstr(nm, "pos_encoder.pe")) continue;
        snprintf(nm, sizeof nm, "down_blocks.0.motion_modules.0.%s", f->t[i].name);
        const pt_wtensor *a = pt_weights_get(w, nm);
        int64_t k = pt_wtensor_numel(&f->t[i]);
        EXPECT(pt_wtensor_numel(a) == k, "%s numel", nm);
        float *x = malloc(sizeof(float) * (size_t)k), *y = malloc(sizeof(float) * (size_t)k);
        pt_weights_read_f32(a, x); pt_weights_read_f32(&f->t[i], y);
        double worst = 0;
        for (int64_t j = 0; j < k; j++) worst = fmax(worst, fabs((double)x[j] - y[j]));
        EXPECT(worst < 1e-6, "%s differs from the fixture by %g", nm, worst);
        free(x); free(y);
    }
    pt_weights_free(f);
    // the importer used by training accepts the file (it checks the pe buffers)
    pt_params Q; pt_params_init(&Q, PT_CPU, PT_F32);
    pt_motion_set ms2; pt_motion_modules_build(&ms2, &Q, "", &mc, 2, 1, widths);
    pt_params_finalize(&Q);
    pt_motion_load(&Q, w, NULL);
    int same = 1;
    for (int i = 0; i < Q.n; i++) {
        char nm[600]; snprintf(nm, sizeof nm, "unet.%s", Q.e[i].name);
        const pt_param_entry *e = pt_params_find(&P, nm);
        for (int64_t j = 0; e && j < pt_numel(e->t); j++)
            same &= ((float *)Q.data)[Q.e[i].offset + j] == f16_round(((float *)P.data)[e->offset + j]);
        same &= e != NULL;
    }
    EXPECT(same, "pt_motion_load of the export gives the fp16-rounded source");
    pt_weights_free(w);
    // diffusers: motion_module/ holds MotionAdapter names that map back to the originals
    pt_export_write(&s, PT_EXPORT_DIFFUSERS, tmp_path("diffmm"), PT_F32, 0, NULL);
    pt_weights *md = pt_weights_load(tmp_path("diffmm/motion_module"));
    EXPECT(md->n == P.n, "MotionAdapter tensors %d", md->n);
    for (int i = 0; i < md->n; i++) {
        char orig[600], nm[640];
        pt_mm_from_diffusers(md->t[i].name, orig, sizeof orig);
        snprintf(nm, sizeof nm, "unet.%s", orig);
        EXPECT(pt_params_find(&P, nm), "%s -> %s", md->t[i].name, orig);
    }
    pt_json *mcj = pt_json_parse_file(tmp_path("diffmm/motion_module/config.json"));
    EXPECT(pt_json_int(mcj, "motion_layers_per_block", 0) == 1 && pt_json_bool(mcj, "use_motion_mid_block", 0), "MotionAdapter config");
    pt_json_free(mcj);
    pt_weights_free(md);
    pt_motion_modules_free(&ms2); pt_params_free(&Q);
    pt_export_set_free(&s);
    pt_motion_modules_free(&ms); pt_params_free(&P);
}

// ---- from a training checkpoint ------------------------------------------------------------------------------------
TEST_CASE(checkpoint_to_set) {
    pt_config cfg;
    pt_config_from_args(&cfg, POSETUNE_SOURCE_DIR "/configs/demo/dreampose.yaml", NULL, 0);
    pt_model_set m;
    pt_model_set_build(&m, &cfg, PT_MS_TRAIN_DIFFUSION);
    float *ema = malloc(sizeof(float) * (size_t)m.P.numel_trainable);
    for (int64_t i = 0; i < m.P.numel_trainable; i++) ema[i] = (float)i * 1e-6f;
    char *yaml = pt_config_to_yaml(&cfg);
    pt_ckpt_save_opts o = {0};
    o.ema = ema;
    pt_ckpt_meta meta = {"dreampose/full", 7, "{}", yaml};
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/run/checkpoints", tmp_root);
    pt_mkdirs(dir);
    pt_ckpt_save(pt_ckpt_path(dir, 7), &m.P, &o, &meta);   // trainable only: unet.* + adapter.*
    for (int use_ema = 0; use_ema < 2; use_ema++) {
        pt_export_set s; pt_export_set_init(&s);
        pt_export_set_from_checkpoint(&s, tmp_path("run"), use_ema, NULL);   // a run folder
        EXPECT(s.step == 7 && strcmp(s.regime, "dreampose/full") == 0, "regime/step");
        EXPECT(s.has_unet && s.has_vae && s.has_clip && s.has_adapter, "components");
        EXPECT(s.unet.in_channels == cfg.model.in_channels, "in_channels %d", s.unet.in_channels);
        EXPECT(pt_export_set_count(&s, "") == m.P.n, "%d tensors, model %d", pt_export_set_count(&s, ""), m.P.n);
        int bad = 0;
        for (int i = 0; i < m.P.n; i++) {
            const pt_param_entry *e = &m.P.e[i];
            const pt_wtensor *t = pt_weights_find(s.w, e->name);
            if (!t) { bad++; continue; }
            int64_t k = pt_numel(e->t);
            float *x = malloc(sizeof(float) * (size_t)k);
            pt_weights_read_f32(t, x);
            const float *want = use_ema && e->trainable ? ema + e->offset : (const float *)m.P.data + e->offset;
            bad += memcmp(x, want, sizeof(float) * (size_t)k) != 0;   // frozen VAE/CLIP: rebuilt tiny init
            free(x);
        }
        EXPECT(bad == 0, "%d tensors differ (use_ema %d)", bad, use_ema);
        pt_export_set_free(&s);
    }
    free(yaml); free(ema);
    pt_model_set_free(&m);
    pt_config_free(&cfg);
}

TEST_CASE(errors) {
    pt_export_set s;
    pt_export_set_init(&s);
    EXPECT_FAILS(pt_export_set_from_checkpoint(&s, tmp_path("nope.safetensors"), 0, NULL), 2, "no such checkpoint");
    pt_export_set_free(&s);
    pt_st_writer *wr = pt_st_writer_new();
    float x[2] = {1, 2};
    pt_st_writer_add(wr, "conv_in.weight", PT_F32, 1, (const int64_t[]){2}, PT_F32, x);
    pt_st_writer_write(wr, tmp_path("plain.safetensors"));
    pt_st_writer_free(wr);
    pt_export_set_init(&s);
    EXPECT_FAILS(pt_export_set_from_checkpoint(&s, tmp_path("plain.safetensors"), 0, NULL), 2, "not a posetune training checkpoint");
    pt_export_set_free(&s);
    EXPECT(pt_export_target_from_str("onnx") == -1, "unknown target");
    pt_export_set_init(&s);
    EXPECT_FAILS(pt_export_write(&s, PT_EXPORT_ANIMATEDIFF, tmp_path("x.safetensors"), PT_F16, 0, NULL), 2, "no motion modules");
    EXPECT_FAILS(pt_export_write(&s, PT_EXPORT_SD_SINGLE, tmp_path("x.safetensors"), PT_F16, 0, NULL), 2, "neither a UNet nor a VAE");
    pt_export_set_free(&s);
}

int main(void) {
    const char *base = getenv("POSETUNE_TEST_TMP");
    snprintf(tmp_root, sizeof tmp_root, "%s/test_export.%d", base ? base : "/tmp", (int)getpid());
    pt_mkdirs(tmp_root);
    RUN(diffusers_roundtrip_and_layout);
    RUN(sd_single_file_roundtrip);
    RUN(sd15_names_identity);
    RUN(animatediff_roundtrip);
    RUN(checkpoint_to_set);
    RUN(errors);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_root);
    return test_summary();
}

// cmd_subject.c — posetune subject --base CKPT --images PHOTO... --poses DIR --out DIR
//                 [--config configs/dreampose/subject.yaml] [--vae-config configs/dreampose/vae_decoder.yaml]
//                 [--image-poses NPY...] [--set key=value]...
//
// DreamPose phase 2 in one invocation, each stage resumable:
//   OUT/subject/        UNet + adapter finetune on the photos (phase subject, from the --base checkpoint)
//   OUT/vae_decoder/    VAE decoder finetune on the photos (phase vae_decoder; --vae-config on top of --config)
//   OUT/subject.safetensors   the self-contained subject checkpoint (every model.* tensor)
//   OUT/render/         the pose sequence rendered with it (frames + clip)
// A stage whose latest checkpoint reached train.steps is skipped on a rerun; an interrupted one
// continues from its latest checkpoint (train.resume: auto). --set applies to every stage.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/check.h"
#include "tools/cli.h"
#include "trainer/ckpt.h"
#include "trainer/config.h"
#include "trainer/dist.h"
#include "trainer/regime_dreampose.h"
#include "trainer/render_dreampose.h"

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

// A shipped config path: as given, else relative to the source tree's root.
static char *find_config(const char *p) {
    if (file_exists(p) || p[0] == '/') return pt_strdup(p);
    size_t n = strlen(POSETUNE_SOURCE_DIR) + strlen(p) + 2;
    char *q = pt_malloc(n);
    snprintf(q, n, "%s/%s", POSETUNE_SOURCE_DIR, p);
    if (!file_exists(q)) PT_USAGE("config file '%s' not found (also looked for '%s')", p, q);
    return q;
}

static void set_str(char **field, const char *v) {
    free(*field);
    *field = pt_strdup(v ? v : "");
}

static void set_strs(pt_ycfg_strs *l, const char *const *v, int n) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->n = n;
    l->v = pt_calloc((size_t)(n ? n : 1), sizeof(char *));
    for (int i = 0; i < n; i++) l->v[i] = pt_strdup(v[i]);
}

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = pt_malloc(n);
    snprintf(s, n, "%s/%s", a, b);
    return s;
}

typedef struct subject_args {
    const char *base, *poses, *out, *config, *vae_config;
    pt_strlist images, image_poses, sets;
} subject_args;

// The config of one stage: the subject config (+ the VAE config on top) + --set, with the stage's paths.
static void stage_config(pt_config *c, const subject_args *a, int vae_stage, const char *out_dir) {
    pt_config_defaults(c);
    char *p = find_config(a->config);
    pt_config_load(c, p);
    free(p);
    if (vae_stage) {
        p = find_config(a->vae_config);
        pt_config_load(c, p);
        free(p);
    }
    for (int i = 0; i < a->sets.n; i++) pt_config_apply_set(c, a->sets.items[i]);
    c->phase = vae_stage ? PT_CFG_PHASE_VAE_DECODER : PT_CFG_PHASE_SUBJECT;
    set_str(&c->model.checkpoint, vae_stage ? "" : a->base);
    set_str(&c->model.vae_decoder_checkpoint, "");
    set_str(&c->train.out_dir, out_dir);
    set_str(&c->data.path, "");
    c->data.synthetic = 0;
    set_strs(&c->data.subject_images, a->images.items, a->images.n);
    set_strs(&c->data.subject_poses, a->image_poses.items, a->image_poses.n);
    if (!vae_stage) c->data.drop_image = c->data.drop_pose = c->data.drop_both = 0;
    pt_config_validate(c);
}

static void run_stage(const char *name, pt_config *c) {
    int64_t done = pt_dreampose_done_steps(c->train.out_dir);
    if (done >= c->train.steps) {
        fprintf(stderr, "posetune subject: stage '%s' already finished (%lld steps in %s): skipped\n", name, (long long)done,
                c->train.out_dir);
        return;
    }
    fprintf(stderr, "posetune subject: stage '%s': %lld steps -> %s\n", name, (long long)c->train.steps, c->train.out_dir);
    pt_dreampose_train(c);
}

int pt_cmd_subject(int argc, char **argv) {
    subject_args a;
    memset(&a, 0, sizeof a);
    a.config = "configs/dreampose/subject.yaml";
    a.vae_config = "configs/dreampose/vae_decoder.yaml";
    const pt_flag flags[] = {
        {"base", PT_FLAG_STR, &a.base, "phase-1 checkpoint or run folder to start from", "CKPT"},
        {"images", PT_FLAG_STRLIST, &a.images, "a photo of the subject (PNG/JPG)", "PHOTO"},
        {"image-poses", PT_FLAG_STRLIST, &a.image_poses, "DensePose .npy of each photo (default: <photo stem>_densepose.npy)", "NPY"},
        {"poses", PT_FLAG_STR, &a.poses, "pose sequence to render: folder of frame_N_densepose.npy", "DIR"},
        {"out", PT_FLAG_STR, &a.out, "output folder (stages, subject checkpoint, render)", "DIR"},
        {"config", PT_FLAG_STR, &a.config, "subject finetune config (default configs/dreampose/subject.yaml)", "FILE"},
        {"vae-config", PT_FLAG_STR, &a.vae_config, "VAE decoder finetune config, applied on top of --config "
                                                   "(default configs/dreampose/vae_decoder.yaml)", "FILE"},
        {"set", PT_FLAG_STRLIST, &a.sets, "override a config key in every stage", "KEY=VALUE"},
    };
    const pt_cli_spec spec = {"subject", "--base CKPT --images PHOTO... --poses DIR --out DIR [--config FILE] [--set key=value]...",
                              "DreamPose per-subject finetune (UNet + adapter, then the VAE decoder) and a render of the pose\n"
                              "sequence, in one resumable invocation. Writes OUT/subject.safetensors (self-contained) and\n"
                              "OUT/render/ (frames + clip).",
                              flags, (int)(sizeof flags / sizeof flags[0]), 0, 0};
    if (pt_cli_parse(&spec, argc, argv, NULL, &(int){0})) return 0;
    if (!a.base) PT_USAGE("subject: --base CKPT is required (the phase-1 checkpoint or run folder)");
    if (!a.images.n) PT_USAGE("subject: at least one --images PHOTO is required");
    if (!a.poses) PT_USAGE("subject: --poses DIR is required (the pose sequence to render)");
    if (!a.out) PT_USAGE("subject: --out DIR is required");
    if (a.image_poses.n && a.image_poses.n != a.images.n)
        PT_USAGE("subject: %d --image-poses for %d --images (give one each, or none)", a.image_poses.n, a.images.n);
    for (int i = 0; i < a.images.n; i++)
        if (!file_exists(a.images.items[i])) PT_USAGE("subject: --images '%s' does not exist", a.images.items[i]);

    char *d1 = join(a.out, "subject"), *d2 = join(a.out, "vae_decoder"), *d3 = join(a.out, "render");
    char *ck = join(a.out, "subject.safetensors");
    pt_config c1, c2;
    stage_config(&c1, &a, 0, d1);
    stage_config(&c2, &a, 1, d2);
    pt_dist_init(c1.train.device == PT_CFG_DEVICE_CUDA);
    int rank0 = pt_dist_get()->rank == 0;
    if (rank0) {
        printf("# posetune subject: resolved config of the subject stage\n");
        pt_config_print(&c1, stdout);
        fflush(stdout);
    }
    run_stage("subject", &c1);
    run_stage("vae_decoder", &c2);
    pt_dist_barrier();

    if (rank0) {
        // The self-contained subject checkpoint, then the render with it.
        pt_config c3;
        memset(&c3, 0, sizeof c3);
        pt_config_copy(&c3, &c1);
        set_str(&c3.model.checkpoint, d1);
        set_str(&c3.model.vae_decoder_checkpoint, d2);
        set_str(&c3.render.reference, a.images.items[0]);
        set_str(&c3.render.poses, a.poses);
        set_str(&c3.render.output, d3);
        pt_model_set m;
        pt_model_set_build(&m, &c3, PT_MS_TRAIN_NONE);
        char *yaml = pt_config_to_yaml(&c3);
        pt_ckpt_meta meta = {"dreampose/subject", c1.train.steps, "{}", yaml};
        pt_ckpt_save_opts so = {NULL, NULL, NULL, 1};
        pt_ckpt_save(ck, &m.P, &so, &meta);
        free(yaml);
        fprintf(stderr, "posetune subject: wrote %s\n", ck);
        int n = pt_dreampose_render_with(&m, &c3);
        fprintf(stderr, "posetune subject: rendered %d frames into %s\n", n, d3);
        pt_model_set_free(&m);
        pt_config_free(&c3);
    }
    pt_config_free(&c1);
    pt_config_free(&c2);
    free(d1); free(d2); free(d3); free(ck);
    free(a.images.items); free(a.image_poses.items); free(a.sets.items);
    pt_dist_finalize();
    return 0;
}

// cmd_pack.c — posetune pack: frame/pose folders -> one HDF5 file; --bench-read times the loader.
//
// --cache-latents stores the VAE latents of the frames (posterior mean x scaling factor, f16
// (N, 4, H/8, W/8), datasets/pack.h) through the pack's batched latent hook. The VAE is the one
// training builds from --config (models/model_set.h: model.tiny decides tiny vs pretrained
// model.vae, train.device / precision the device); --vae PATH takes a pretrained VAE (diffusers
// folder, weights file with config.json, or an original SD single file) instead, --vae tiny the
// config's tiny VAE. Without --size the frames are stored at the config's data.height x width,
// the size training reads (cached latents are used only at that size).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/dataset.h"
#include "datasets/loader.h"
#include "datasets/pack.h"
#include "datasets/synthetic.h"
#include "models/model_set.h"
#include "tools/check.h"
#include "tools/cli.h"
#include "trainer/config.h"
#include "trainer/dist.h"

static void parse_size(const char *s, int *h, int *w) {
    char *end = NULL;
    long a = strtol(s, &end, 10);
    if (!end || (*end != 'x' && *end != 'X')) PT_USAGE("pack: --size expects HxW (e.g. 640x512), got '%s'", s);
    long b = strtol(end + 1, &end, 10);
    if (!end || *end || a <= 0 || b <= 0 || a > 16384 || b > 16384) PT_USAGE("pack: --size expects HxW with positive sides, got '%s'", s);
    *h = (int)a; *w = (int)b;
}

static int bench_read(const char *path, const char *size, int batch, int threads, int n) {
    int H = 512, W = 512;
    if (size) parse_size(size, &H, &W);
    pt_dataset *ds = pt_dataset_open(path);
    pt_sampler_mode mode = pt_dataset_has_densepose(ds) ? PT_SAMPLER_DREAMPOSE : PT_SAMPLER_AA_STAGE1;
    pt_dataset_close(ds);
    pt_loader_config c;
    pt_loader_config_default(&c, mode, 0);
    c.path = path; c.batch_size = batch; c.height = H; c.width = W; c.n_threads = threads;
    double bps = pt_loader_bench(&c, n);
    printf("bench-read %s: %s batches of %d at %dx%d, %d threads: %.2f batches/s (%.1f samples/s)\n", path,
           mode == PT_SAMPLER_DREAMPOSE ? "DreamPose" : "AA stage-1", batch, H, W, threads, bps, bps * batch);
    return 0;
}

// ---- --cache-latents: the VAE of a training config ---------------------------------------------------
static void encode_batch(void *ctx, const float *imgs, int n, int H, int W, float *latents) {
    pt_model_set *m = ctx;
    PT_NO_GRAD_BEGIN
    int mark = pt_scope_begin();
    pt_tensor *x = pt_from_f32(m->device, m->dtype, 4, PT_SHAPE(n, 3, H, W), imgs);   // (n, 3, H, W)
    pt_copy_to_host_f32(pt_vae_encode_latents(&m->vae, x, NULL), latents);             // (n, 4, H/8, W/8)
    pt_scope_end(mark, NULL);
    PT_NO_GRAD_END
}

// The config for the VAE: --config (or the built-in defaults), --vae PATH|tiny on top.
static void latent_config(pt_config *c, const char *config, const char *vae, const pt_strlist *sets) {
    pt_config_defaults(c);
    if (config) pt_config_load(c, config);
    for (int i = 0; i < sets->n; i++) pt_config_apply_set(c, sets->items[i]);
    if (vae && strcmp(vae, "tiny") == 0) c->model.tiny = 1;
    else if (vae) {
        c->model.tiny = 0;
        free(c->model.vae);
        c->model.vae = pt_strdup(vae);
    }
    if (!config && !vae) PT_USAGE("pack: --cache-latents needs the VAE: --config CONFIG.yaml (as for train) and/or --vae PATH|tiny");
    if (!c->model.tiny && !c->model.vae[0])
        PT_USAGE("pack: --cache-latents: no VAE (config key 'model.vae' is empty and model.tiny is false); give --vae PATH");
}

int pt_cmd_pack(int argc, char **argv) {
    const char *out = NULL, *kind = "auto", *size = NULL, *bench = NULL, *synth = NULL, *config = NULL, *vae = NULL;
    int resume = 0, cache_latents = 0, quiet = 0, batch = 4, threads = 2, n_batches = 20, synth_videos = 2, synth_frames = 16;
    int latent_batch = 8;
    pt_strlist sets = {0};
    const pt_flag flags[] = {
        {"out", PT_FLAG_STR, &out, "output HDF5 file (also -o)", "FILE"},
        {"pose-kind", PT_FLAG_STR, &kind, "densepose | skeleton | auto (default auto: DensePose when present)", "KIND"},
        {"size", PT_FLAG_STR, &size, "resize frames and poses to HxW (default: keep each video's size)", "HxW"},
        {"resume", PT_FLAG_BOOL, &resume, "continue an interrupted pack: skip complete videos, redo partial ones", NULL},
        {"cache-latents", PT_FLAG_BOOL, &cache_latents, "store VAE latents of the frames (mean x scaling factor, f16) for training without per-step VAE encodes", NULL},
        {"config", PT_FLAG_STR, &config, "--cache-latents: the training config whose VAE encodes (model.tiny / model.vae, train.device)", "CONFIG"},
        {"vae", PT_FLAG_STR, &vae, "--cache-latents: a pretrained VAE (folder, file, SD single file), or 'tiny' (the config's tiny VAE)", "PATH|tiny"},
        {"latent-batch", PT_FLAG_INT, &latent_batch, "--cache-latents: frames per VAE batch (default 8)", "N"},
        {"set", PT_FLAG_STRLIST, &sets, "--cache-latents: override a config key, e.g. --set train.device=cpu", "KEY=VALUE"},
        {"quiet", PT_FLAG_BOOL, &quiet, "no progress lines", NULL},
        {"bench-read", PT_FLAG_STR, &bench, "time the data loader on a pack file instead of packing", "FILE"},
        {"batch", PT_FLAG_INT, &batch, "--bench-read: batch size (default 4)", "N"},
        {"threads", PT_FLAG_INT, &threads, "--bench-read: loader threads (default 2)", "N"},
        {"batches", PT_FLAG_INT, &n_batches, "--bench-read: batches to time (default 20)", "N"},
        {"synth", PT_FLAG_STR, &synth, "write the synthetic demo set (datasets/synthetic.h) into DIR and exit", "DIR"},
        {"synth-videos", PT_FLAG_INT, &synth_videos, "--synth: number of videos (default 2)", "N"},
        {"synth-frames", PT_FLAG_INT, &synth_frames, "--synth: frames per video (default 16); --size sets HxW (default 64x64)", "N"},
    };
    static pt_cli_spec spec;
    spec = (pt_cli_spec){"pack", "SRC_DIR... -o data.h5 [--pose-kind densepose|skeleton|auto] [--size HxW] [--resume] "
                                 "[--cache-latents --config CONFIG [--vae PATH|tiny]]",
                         "Pack video folders (frame_N.png + frame_N_densepose.npy or frame_N_pose.png, optional meta.json\n"
                         "with fps) into one HDF5 file: /videos/<name>/{frames,poses}. Each SRC_DIR is one video folder, a\n"
                         "folder of video folders, or NAME.mp4 with its pose files in the folder NAME/ (needs ffmpeg).\n"
                         "Every source is validated before the output is written.",
                         flags, (int)(sizeof flags / sizeof flags[0]), 0, -1};
    // Accept the short form -o FILE.
    char **args = pt_malloc(sizeof(char *) * (size_t)(argc + 1));
    for (int i = 0; i < argc; i++) args[i] = strcmp(argv[i], "-o") == 0 ? "--out" : argv[i];
    args[argc] = NULL;
    const char **pos = pt_malloc(sizeof(char *) * (size_t)(argc + 1));
    int np = 0;
    if (pt_cli_parse(&spec, argc, args, pos, &np)) { free(args); free(pos); return 0; }
    int rc = 0;
    if (synth) {
        pt_synth_opts so;
        pt_synth_opts_default(&so);
        so.n_videos = synth_videos;
        so.n_frames = synth_frames;
        if (size) parse_size(size, &so.height, &so.width);
        pt_synth_generate(synth, &so);
        if (!quiet) fprintf(stderr, "pack: wrote %d synthetic videos of %d frames (%dx%d) to %s\n", so.n_videos, so.n_frames,
                            so.height, so.width, synth);
    } else if (bench) {
        rc = bench_read(bench, size, batch, threads, n_batches);
    } else {
        if (np < 1) PT_USAGE("pack: missing SRC_DIR (usage: posetune pack %s)", spec.usage);
        if (!out) PT_USAGE("pack: missing output file: -o data.h5");
        if (!cache_latents && (config || vae)) PT_USAGE("pack: --config / --vae choose the VAE of --cache-latents; add --cache-latents");
        if (latent_batch < 1) PT_USAGE("pack: --latent-batch must be positive, got %d", latent_batch);
        pt_pack_opts o;
        pt_pack_opts_default(&o);
        o.out = out;
        o.pose_kind = pt_pose_kind_parse(kind, "pack: --pose-kind");
        if (size) parse_size(size, &o.height, &o.width);
        o.resume = resume;
        o.quiet = quiet;
        pt_config c;
        pt_model_set *m = NULL;
        if (cache_latents) {
            latent_config(&c, config, vae, &sets);
            if (!size) { o.height = c.data.height; o.width = c.data.width; }
            else if (o.height != c.data.height || o.width != c.data.width)
                PT_WARN("pack: --size %dx%d differs from the config's data size %dx%d: training at that size will not use these "
                        "latents", o.height, o.width, c.data.height, c.data.width);
            pt_dist_init(c.train.device == PT_CFG_DEVICE_CUDA);
            m = pt_malloc(sizeof *m);
            pt_model_set_build(m, &c, PT_MS_TRAIN_VAE_DECODER);   // the VAE alone
            o.latent_batch_fn = encode_batch;
            o.latent_ctx = m;
            o.latent_batch = latent_batch;
            o.latent_channels = m->vae.cfg.latent_channels;
            o.latent_down = m->vae_factor;
            if (!quiet)
                fprintf(stderr, "pack: caching latents with the %s VAE (%d channels, /%d, scaling %g) at %dx%d\n",
                        c.model.tiny ? "tiny" : c.model.vae, o.latent_channels, o.latent_down, m->vae.cfg.scaling_factor,
                        o.height, o.width);
        }
        pt_pack(pos, np, &o);
        if (m) { pt_model_set_free(m); free(m); pt_config_free(&c); }
    }
    free(args); free(pos); free(sets.items);
    return rc;
}

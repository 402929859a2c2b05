// cmd_pack.c — posetune pack: frame/pose folders -> one HDF5 file; --bench-read times the loader.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/dataset.h"
#include "datasets/loader.h"
#include "datasets/pack.h"
#include "datasets/synthetic.h"
#include "tools/check.h"
#include "tools/cli.h"

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

int pt_cmd_pack(int argc, char **argv) {
    const char *out = NULL, *kind = "auto", *size = NULL, *bench = NULL, *synth = NULL;
    int resume = 0, cache_latents = 0, quiet = 0, batch = 4, threads = 2, n_batches = 20, synth_videos = 2, synth_frames = 16;
    const pt_flag flags[] = {
        {"out", PT_FLAG_STR, &out, "output HDF5 file (also -o)", "FILE"},
        {"pose-kind", PT_FLAG_STR, &kind, "densepose | skeleton | auto (default auto: DensePose when present)", "KIND"},
        {"size", PT_FLAG_STR, &size, "resize frames and poses to HxW (default: keep each video's size)", "HxW"},
        {"resume", PT_FLAG_BOOL, &resume, "continue an interrupted pack: skip complete videos, redo partial ones", NULL},
        {"cache-latents", PT_FLAG_BOOL, &cache_latents, "store VAE latents of the frames (needs the VAE: not available yet)", NULL},
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
    spec = (pt_cli_spec){"pack", "SRC_DIR... -o data.h5 [--pose-kind densepose|skeleton|auto] [--size HxW] [--resume]",
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
        if (cache_latents)
            PT_USAGE("pack: --cache-latents needs the VAE encoder, which posetune cannot load yet; pack without it "
                     "(the pack format and the loader already accept a 'latents' dataset: datasets/pack.h)");
        pt_pack_opts o;
        pt_pack_opts_default(&o);
        o.out = out;
        o.pose_kind = pt_pose_kind_parse(kind, "pack: --pose-kind");
        if (size) parse_size(size, &o.height, &o.width);
        o.resume = resume;
        o.quiet = quiet;
        pt_pack(pos, np, &o);
    }
    free(args); free(pos);
    return rc;
}

// cmd_demo.c — posetune demo [--out DIR] [--steps N]: the embedded default, end to end on the CPU.
//
//   OUT/data/        synthetic videos (stick figures with DensePose, keypoints, skeleton images)
//   OUT/phase1/      DreamPose phase 1 on tiny random models   (configs/demo/dreampose.yaml)
//   OUT/subject/, OUT/vae_decoder/, OUT/subject.safetensors    posetune subject on a few frames of
//                    video 0 (configs/demo/dreampose_subject.yaml + dreampose_vae_decoder.yaml)
//   OUT/render/      the rendered clip: frame_NNNN.png + clip.gif (+ clip.mp4 with ffmpeg)
// Every stage resumes / is skipped when rerun into the same folder.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "datasets/synthetic.h"
#include "tools/check.h"
#include "tools/cli.h"
#include "trainer/config.h"
#include "trainer/dist.h"
#include "trainer/regime_dreampose.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void set_str(char **field, const char *v) {
    free(*field);
    *field = pt_strdup(v);
}

// configs/demo/<name>: relative to the working directory when present, else the source tree.
static void demo_config(char *buf, size_t n, const char *name) {
    struct stat st;
    snprintf(buf, n, "configs/demo/%s", name);
    if (stat(buf, &st) == 0) return;
    snprintf(buf, n, "%s/configs/demo/%s", POSETUNE_SOURCE_DIR, name);
    if (stat(buf, &st) != 0) PT_USAGE("demo: config 'configs/demo/%s' not found (looked in . and %s)", name, POSETUNE_SOURCE_DIR);
}

int pt_cmd_demo(int argc, char **argv) {
    const char *out = "demo-out";
    int steps = 0;
    const pt_flag flags[] = {
        {"out", PT_FLAG_STR, &out, "output folder (default demo-out)", "DIR"},
        {"steps", PT_FLAG_INT, &steps, "phase-1 training steps (default: configs/demo/dreampose.yaml)", "N"},
    };
    const pt_cli_spec spec = {"demo", "[--out DIR] [--steps N]",
                              "The embedded default: generates a synthetic dataset, trains DreamPose phase 1 briefly on tiny\n"
                              "random models, finetunes on one synthetic subject (UNet + adapter, VAE decoder) and renders a\n"
                              "clip to OUT/render (PNG frames + GIF). A few minutes on a laptop CPU; no downloads.",
                              flags, 2, 0, 0};
    if (pt_cli_parse(&spec, argc, argv, NULL, &(int){0})) return 0;
    if (steps < 0) PT_USAGE("demo: --steps must be positive, got %d", steps);
    double t0 = now_s();
    char p1[4096], ps[4096], pv[4096], data[4096], run1[4096];
    demo_config(p1, sizeof p1, "dreampose.yaml");
    demo_config(ps, sizeof ps, "dreampose_subject.yaml");
    demo_config(pv, sizeof pv, "dreampose_vae_decoder.yaml");
    snprintf(data, sizeof data, "%s/data", out);
    snprintf(run1, sizeof run1, "%s/phase1", out);

    pt_config c;
    pt_config_from_args(&c, p1, NULL, 0);
    if (steps > 0) c.train.steps = steps;
    set_str(&c.data.path, data);
    c.data.synthetic = 0;
    set_str(&c.train.out_dir, run1);
    pt_config_validate(&c);
    pt_dist_init(0);

    // 1. data
    char meta[4200];
    snprintf(meta, sizeof meta, "%s/video_%04d/meta.json", data, c.data.synthetic_videos - 1);
    struct stat st;
    if (stat(meta, &st) != 0) {
        pt_synth_opts o;
        pt_synth_opts_default(&o);
        o.n_videos = c.data.synthetic_videos;
        o.n_frames = c.data.synthetic_frames;
        o.width = c.data.width;
        o.height = c.data.height;
        o.seed = (uint64_t)c.train.seed;
        pt_synth_generate(data, &o);
    }
    fprintf(stderr, "demo: data in %s (%d videos x %d frames, %dx%d)  [%.1fs]\n", data, c.data.synthetic_videos,
            c.data.synthetic_frames, c.data.width, c.data.height, now_s() - t0);

    // 2. phase 1
    if (pt_dreampose_done_steps(run1) >= c.train.steps) fprintf(stderr, "demo: phase 1 already done in %s\n", run1);
    else pt_dreampose_train(&c);
    fprintf(stderr, "demo: phase 1 done (%lld steps) in %s  [%.1fs]\n", (long long)c.train.steps, run1, now_s() - t0);

    // 3. subject finetune + VAE decoder + render, on frames of video 0
    char img0[4200], img1[4200], img2[4200], poses[4200];
    int nf = c.data.synthetic_frames;
    snprintf(img0, sizeof img0, "%s/video_0000/frame_%04d.png", data, 0);
    snprintf(img1, sizeof img1, "%s/video_0000/frame_%04d.png", data, nf / 3);
    snprintf(img2, sizeof img2, "%s/video_0000/frame_%04d.png", data, 2 * nf / 3);
    snprintf(poses, sizeof poses, "%s/video_0000", data);
    char *sargv[] = {"subject", "--base", run1, "--images", img0, "--images", img1, "--images", img2, "--poses", poses,
                     "--out", (char *)out, "--config", ps, "--vae-config", pv};
    int rc = pt_cmd_subject((int)(sizeof sargv / sizeof sargv[0]), sargv);
    pt_config_free(&c);
    if (rc) return rc;
    fprintf(stderr, "demo: finished in %.1fs: frames and clip in %s/render\n", now_s() - t0, out);
    return 0;
}

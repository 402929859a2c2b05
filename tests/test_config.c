// test_config.c — the YAML config loader (tools/yaml_config.c) and pt_config (trainer/config.c):
// shipped configs, error messages with file:line, --set, include/base order, save -> load round
// trip, and docs/config.md being the generated reference.
#define _GNU_SOURCE
#include <dirent.h>
#include <ftw.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/test_util.h"
#include "trainer/config.h"
#include "trainer/lr_schedule.h"   // must compile together with config.h (no name clashes)

static char g_tmp[1024];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

static void make_tmp(void) {
    const char *base = getenv("POSETUNE_TEST_TMP");
    snprintf(g_tmp, sizeof g_tmp, "%s/test_config.%d", base && base[0] ? base : "/tmp", (int)getpid());
    pt_mkdirs(g_tmp);
}

// Write text to g_tmp/name; returns the path (static buffer rotation).
static const char *write_tmp(const char *name, const char *text) {
    static char bufs[8][1200];
    static int k = 0;
    char *p = bufs[k++ % 8];
    snprintf(p, 1200, "%s/%s", g_tmp, name);
    char *slash = strrchr(p, '/');
    *slash = 0;
    pt_mkdirs(p);
    *slash = '/';
    FILE *f = pt_fopen(p, "w");
    fputs(text, f);
    pt_fclose(f, p);
    return p;
}

static void load_fresh(pt_config *c, const char *path) {
    pt_config_defaults(c);
    pt_config_load(c, path);
}

// ---------------------------------------------------------------- defaults

TEST_CASE(defaults_are_the_documented_values) {
    pt_config c;
    pt_config_defaults(&c);
    EXPECT(c.regime == PT_CFG_REGIME_DREAMPOSE && c.phase == PT_CFG_PHASE_FULL && c.stage == 1, "regime/phase/stage");
    EXPECT(c.train.lr == 5e-6, "lr %g", c.train.lr);
    EXPECT(c.data.num_frames == 24 && c.data.frame_stride == 4 && c.data.ref_margin == 30 && c.data.n_poses == 5, "data ints");
    EXPECT(c.data.crop_prob == 0.7 && c.data.drop_pose == 0.05 && c.data.drop_uncond == 0.1, "data floats");
    EXPECT(c.data.crop_scale.n == 2 && c.data.crop_scale.v[0] == 0.9 && c.data.crop_scale.v[1] == 1.0, "crop_scale");
    EXPECT(c.render.image_guidance == 8 && c.render.pose_guidance == 3 && c.render.cfg_scale == 3.5, "guidance");
    EXPECT(c.render.window == 24 && c.render.overlap == 4 && c.render.same_noise == 1, "windows");
    EXPECT(strcmp(c.train.resume, "auto") == 0 && strcmp(c.model.unet, "") == 0, "strings");
    EXPECT(c.model.tiny_size.unet_channels.n == 2 && c.model.tiny_size.unet_channels.v[1] == 64, "tiny unet");
    EXPECT(c.data.subject_images.n == 0, "empty list");
    EXPECT(c.train.adam_eps == 1e-8 && c.train.beta_end == 0.012, "adam eps / beta_end");
    pt_config_free(&c);
}

// ---------------------------------------------------------------- shipped configs

static int load_dir(const char *dir, int depth) {
    volatile int n = 0;
    DIR *d = opendir(dir);
    EXPECT(d != NULL, "cannot open %s", dir);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        size_t l = strlen(e->d_name);
        if (e->d_type == DT_DIR && depth < 4) { n += load_dir(p, depth + 1); continue; }
        if (l < 5 || strcmp(e->d_name + l - 5, ".yaml") != 0) continue;
        pt_config c, back;
        volatile int ok = 1;
        PT_TRY { load_fresh(&c, p); pt_config_validate(&c); }
        PT_CATCH { ok = 0; fprintf(stderr, "  %s: %s\n", p, pt_last_error()); } PT_END_TRY;
        EXPECT(ok, "shipped config %s must load and validate", p);
        if (!ok) continue;
        // round trip of every shipped config
        char out[1200];
        snprintf(out, sizeof out, "%s/resolved_%d.yaml", g_tmp, n);
        pt_config_save(&c, out);
        load_fresh(&back, out);
        const char *diff = NULL;
        EXPECT(pt_config_equal(&c, &back, &diff), "%s: round trip differs at '%s'", p, diff ? diff : "?");
        pt_config_free(&c); pt_config_free(&back);
        n++;
    }
    closedir(d);
    return n;
}

TEST_CASE(every_shipped_config_loads_validates_and_round_trips) {
    int n = load_dir(POSETUNE_SOURCE_DIR "/configs", 0);
    EXPECT(n >= 14, "found %d shipped configs", n);
}

static void load_shipped(pt_config *c, const char *rel) {
    char p[1024];
    snprintf(p, sizeof p, "%s/configs/%s", POSETUNE_SOURCE_DIR, rel);
    load_fresh(c, p);
    pt_config_validate(c);
}

TEST_CASE(dreampose_configs_hold_the_paper_settings) {
    pt_config c;
    load_shipped(&c, "dreampose/phase1.yaml");
    EXPECT(c.regime == PT_CFG_REGIME_DREAMPOSE && c.phase == PT_CFG_PHASE_FULL, "regime");
    EXPECT(c.train.lr == 5e-6 && c.train.lr_schedule == PT_CFG_LR_CONSTANT, "lr");
    EXPECT(c.train.batch_size * 2 * c.train.grad_accum == 16 && c.train.grad_accum == 4, "effective batch 16 on 2 GPUs");
    EXPECT(c.data.drop_pose == 0.05 && c.data.drop_image == 0.05 && c.data.drop_both == 0.05, "dropout 5/5/5");
    EXPECT(c.data.height == 640 && c.data.width == 512 && c.model.in_channels == 14, "sizes");
    EXPECT(c.train.weight_decay == 1e-2 && c.train.grad_clip == 1.0 && c.train.adam_beta2 == 0.999, "adamw");
    EXPECT(c.model.clip_variant == PT_CFG_CLIP_VIT_B32 && c.data.pose_kind == PT_CFG_POSE_DENSEPOSE, "clip / pose");
    pt_config_free(&c);

    load_shipped(&c, "dreampose/subject.yaml");
    EXPECT(c.phase == PT_CFG_PHASE_SUBJECT && c.train.steps == 500 && c.train.lr == 1e-5 && c.train.batch_size == 1, "subject");
    EXPECT(c.data.crop_mode == PT_CFG_CROP_OFFSET && c.data.crop_prob == 0.7 && c.data.crop_max_offset == 24, "subject crop");
    EXPECT(c.data.drop_pose == 0 && c.data.drop_image == 0 && c.data.drop_both == 0, "no dropout");
    pt_config_free(&c);

    load_shipped(&c, "dreampose/vae_decoder.yaml");
    EXPECT(c.phase == PT_CFG_PHASE_VAE_DECODER && c.train.steps == 1500 && c.train.lr == 5e-5, "vae decoder");
    EXPECT(c.train.batch_size == 4 && c.train.grad_accum == 4 && c.data.crop_max_offset == 50, "vae batch/crop");
    pt_config_free(&c);

    load_shipped(&c, "dreampose/render.yaml");
    EXPECT(c.render.scheduler == PT_CFG_SAMPLER_PNDM && c.render.steps == 100, "pndm 100");
    EXPECT(c.render.image_guidance == 8 && c.render.pose_guidance == 3 && c.render.same_noise, "guidance");
    pt_config_free(&c);
}

TEST_CASE(animate_anyone_configs_hold_the_official_settings) {
    pt_config c;
    load_shipped(&c, "animate_anyone/stage1.yaml");
    EXPECT(c.regime == PT_CFG_REGIME_ANIMATE_ANYONE && c.stage == 1, "stage 1");
    EXPECT(c.data.height == 768 && c.data.width == 768 && c.train.batch_size == 4, "768^2 batch 4");
    EXPECT(c.train.lr == 1e-5 && c.train.steps == 30000 && c.data.drop_uncond == 0.1, "lr / steps / uncond");
    EXPECT(c.train.prediction == PT_CFG_PRED_V && c.train.zero_terminal_snr && c.train.timestep_spacing == PT_CFG_SPACING_TRAILING, "v / zsnr / trailing");
    EXPECT(c.train.min_snr_gamma == 5 && c.train.noise_offset == 0.05, "min snr / noise offset");
    EXPECT(c.model.clip_variant == PT_CFG_CLIP_VIT_L14 && c.model.in_channels == 4 && c.data.pose_kind == PT_CFG_POSE_SKELETON, "model");
    EXPECT(c.data.crop_mode == PT_CFG_CROP_RESIZED && c.data.crop_scale.v[0] == 0.9 && c.data.crop_ratio.v[1] == 1.0, "crop");
    pt_config_free(&c);

    load_shipped(&c, "animate_anyone/stage2.yaml");
    EXPECT(c.stage == 2 && c.data.height == 512 && c.data.width == 512 && c.train.batch_size == 1, "stage 2 sizes");
    EXPECT(c.data.num_frames == 24 && c.data.frame_stride == 4 && c.train.steps == 10000, "frames / steps");
    EXPECT(c.train.gradient_checkpointing == 1 && c.train.lr == 1e-5, "checkpointing");
    EXPECT(strstr(c.model.motion_module, "mm_sd_v15_v2") != NULL, "motion module '%s'", c.model.motion_module);
    pt_config_free(&c);

    load_shipped(&c, "animate_anyone/render.yaml");
    EXPECT(c.render.scheduler == PT_CFG_SAMPLER_DDIM && c.render.cfg_scale == 3.5, "ddim cfg 3.5");
    EXPECT(c.render.window == 24 && c.render.overlap == 4 && c.render.steps >= 20 && c.render.steps <= 30, "windows");
    pt_config_free(&c);
}

TEST_CASE(demo_configs_are_tiny_synthetic_cpu) {
    const char *demos[] = {"demo/dreampose.yaml", "demo/dreampose_subject.yaml", "demo/animate_anyone_stage1.yaml",
                           "demo/animate_anyone_stage2.yaml"};
    for (int i = 0; i < 4; i++) {
        pt_config c;
        load_shipped(&c, demos[i]);
        EXPECT(c.model.tiny && c.data.synthetic && c.train.device == PT_CFG_DEVICE_CPU, "%s: tiny synthetic cpu", demos[i]);
        EXPECT(c.train.steps >= 10 && c.train.steps <= 500, "%s: at most a few hundred steps (the demo must stay short on a CPU), got %lld",
               demos[i], (long long)c.train.steps);
        EXPECT(c.data.height <= 128 && c.model.unet[0] == 0, "%s: small, no pretrained", demos[i]);
        pt_config_free(&c);
    }
    pt_config c;
    load_shipped(&c, "demo/animate_anyone_stage2.yaml");
    // recipe from animate_anyone/stage2.yaml survives under the demo overrides
    EXPECT(c.stage == 2 && c.train.prediction == PT_CFG_PRED_V && c.data.num_frames == 8, "stage 2 recipe kept");
    pt_config_free(&c);
}

// ---------------------------------------------------------------- errors name file:line

#define EXPECT_LOAD_FAILS(name, text, needle1, needle2)                                  \
    do { const char *p_ = write_tmp(name, text); pt_config c_; pt_config_defaults(&c_); \
         EXPECT_FAILS(pt_config_load(&c_, p_), PT_EXIT_USAGE, needle1);                  \
         EXPECT(strstr(pt_last_error(), needle2) != NULL, "message '%s' lacks '%s'", pt_last_error(), needle2); \
         pt_config_free(&c_); } while (0)

TEST_CASE(errors_name_file_line_and_key) {
    EXPECT_LOAD_FAILS("unknown.yaml", "regime: dreampose\ntrain:\n  steps: 3\n  lrr: 1e-5\n",
                      "unknown.yaml:4:3: unknown key 'train.lrr'", "did you mean 'train.lr'");
    EXPECT_LOAD_FAILS("type.yaml", "# comment\ntrain:\n  lr: abc\n",
                      "type.yaml:3:7: key 'train.lr': expected a number, got 'abc'", "abc");
    EXPECT_LOAD_FAILS("int.yaml", "train:\n\n  steps: 5.5\n", "int.yaml:3:10: key 'train.steps': expected an integer", "5.5");
    EXPECT_LOAD_FAILS("range.yaml", "data:\n  height: 64\n  crop_prob: 1.5\n",
                      "range.yaml:3:14: key 'data.crop_prob': value 1.5 is out of range [0, 1]", "1.5");
    EXPECT_LOAD_FAILS("range2.yaml", "train.steps: 0\n", "range2.yaml:1:14: key 'train.steps'", ">= 1");
    EXPECT_LOAD_FAILS("enum.yaml", "\n\nregime: dreampos\n", "enum.yaml:3:9: key 'regime': bad value 'dreampos'",
                      "allowed: dreampose, animate_anyone");
    EXPECT_LOAD_FAILS("dup.yaml", "train:\n  lr: 1e-5\n  steps: 4\n  lr: 2e-5\n", "dup.yaml:4:3: key 'train.lr': duplicate key",
                      "first given at line 2");
    EXPECT_LOAD_FAILS("dup2.yaml", "train:\n  lr: 1e-5\ntrain.lr: 2e-5\n", "dup2.yaml:3:1: key 'train.lr': duplicate key",
                      "line 2");
    EXPECT_LOAD_FAILS("dup3.yaml", "train:\n  lr: 1e-5\ndata:\n  height: 64\ntrain:\n  steps: 3\n",
                      "dup3.yaml:5:1: key 'train': duplicate key", "line 1");
    EXPECT_LOAD_FAILS("bool.yaml", "model:\n  tiny: maybe\n", "bool.yaml:2:9: key 'model.tiny': expected true or false", "maybe");
    EXPECT_LOAD_FAILS("quoted.yaml", "train:\n  lr: \"1e-5\"\n", "quoted.yaml:2:7: key 'train.lr': expected a number", "quoted");
    EXPECT_LOAD_FAILS("listlen.yaml", "data:\n  crop_scale: [0.9]\n", "listlen.yaml:2:15: key 'data.crop_scale'", "exactly 2");
    EXPECT_LOAD_FAILS("listelem.yaml", "data:\n  crop_scale: [0.9,\n    x]\n", "listelem.yaml:3:5: key 'data.crop_scale'",
                      "expected a number, got 'x'");
    EXPECT_LOAD_FAILS("notlist.yaml", "data:\n  subject_images: a.png\n", "notlist.yaml:2:19: key 'data.subject_images'",
                      "expected a list");
    EXPECT_LOAD_FAILS("section.yaml", "train: 5\n", "section.yaml:1:8: key 'train': is a section", "mapping");
    EXPECT_LOAD_FAILS("scalar_as_map.yaml", "train:\n  lr:\n    x: 1\n", "scalar_as_map.yaml:3:5: key 'train.lr'",
                      "got a mapping");
    EXPECT_LOAD_FAILS("syntax.yaml", "train:\n  lr: 1\n   steps: [1, 2\n", "syntax.yaml:3:", "YAML syntax error");
    EXPECT_LOAD_FAILS("toplist.yaml", "- a\n- b\n", "toplist.yaml:1:1:", "top level must be a mapping");
    EXPECT_LOAD_FAILS("twodocs.yaml", "stage: 1\n---\nstage: 2\n", "twodocs.yaml:3:1:", "second");
    EXPECT_LOAD_FAILS("wrongsection.yaml", "lr: 1e-5\n", "wrongsection.yaml:1:1: unknown key 'lr'", "did you mean 'train.lr'");
    EXPECT_LOAD_FAILS("noinc.yaml", "stage: 1\ninclude: missing.yaml\n", "noinc.yaml:2:10: key 'include'",
                      "missing.yaml");
    write_tmp("cyc_b.yaml", "base: cyc_a.yaml\n");
    EXPECT_LOAD_FAILS("cyc_a.yaml", "include: cyc_b.yaml\n", "include cycle", "cyc_a.yaml");
    // an error inside an included file names that file and its line
    write_tmp("inc/bad_base.yaml", "train:\n  steps: -3\n");
    EXPECT_LOAD_FAILS("inc/top.yaml", "include: bad_base.yaml\n", "inc/bad_base.yaml:2:10: key 'train.steps'", "out of range");

    pt_config c;
    pt_config_defaults(&c);
    EXPECT_FAILS(pt_config_load(&c, "/nonexistent/x.yaml"), PT_EXIT_USAGE, "/nonexistent/x.yaml");
    pt_config_free(&c);
}

// The real process exit code (no PT_TRY installed in the child) is 2, with the message on stderr.
TEST_CASE(errors_exit_with_code_2) {
    const char *p = write_tmp("exit.yaml", "train:\n  lr: abc\n");
    char err[1200];
    snprintf(err, sizeof err, "%s/exit.stderr", g_tmp);
    fflush(stdout); fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {   // a fresh image of this test: no PT_TRY frame of the harness is installed
        if (!freopen(err, "w", stderr)) _exit(99);
        execl("/proc/self/exe", "test_config", "--load", p, (char *)NULL);
        _exit(98);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 2, "exit status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    char *text = pt_read_file(err, NULL);
    EXPECT(strstr(text, "exit.yaml:2:7: key 'train.lr': expected a number, got 'abc'") != NULL, "stderr: %s", text);
    free(text);
}

// ---------------------------------------------------------------- --set

TEST_CASE(set_overrides_and_their_errors) {
    pt_config c;
    pt_config_defaults(&c);
    pt_config_apply_set(&c, "train.lr=1e-4");
    pt_config_apply_set(&c, "train.steps=30_000");
    pt_config_apply_set(&c, "data.crop_scale=[0.8, 0.95]");
    pt_config_apply_set(&c, "model.unet=/weights/unet dir");
    pt_config_apply_set(&c, "render.same_noise=false");
    pt_config_apply_set(&c, "regime=animate_anyone");
    pt_config_apply_set(&c, "data.subject_images=[a.png, \"b c.png\"]");
    pt_config_apply_set(&c, "train={batch_size: 3, grad_accum: 2}");
    pt_config_apply_set(&c, "train.out_dir=");
    EXPECT(c.train.lr == 1e-4 && c.train.steps == 30000, "lr %g steps %lld", c.train.lr, (long long)c.train.steps);
    EXPECT(c.data.crop_scale.v[0] == 0.8 && c.data.crop_scale.v[1] == 0.95, "crop_scale");
    EXPECT(strcmp(c.model.unet, "/weights/unet dir") == 0, "unet '%s'", c.model.unet);
    EXPECT(c.render.same_noise == 0 && c.regime == PT_CFG_REGIME_ANIMATE_ANYONE, "bool / enum");
    EXPECT(c.data.subject_images.n == 2 && strcmp(c.data.subject_images.v[1], "b c.png") == 0, "list");
    EXPECT(c.train.batch_size == 3 && c.train.grad_accum == 2, "section mapping");
    EXPECT(strcmp(c.train.out_dir, "") == 0, "empty string");

    EXPECT_FAILS(pt_config_apply_set(&c, "train.lr=abc"), PT_EXIT_USAGE, "--set 'train.lr=abc': key 'train.lr': expected a number, got 'abc'");
    EXPECT_FAILS(pt_config_apply_set(&c, "train.lrr=1"), PT_EXIT_USAGE, "--set 'train.lrr=1': unknown key 'train.lrr' (did you mean 'train.lr'?)");
    EXPECT_FAILS(pt_config_apply_set(&c, "train.lr"), PT_EXIT_USAGE, "--set 'train.lr': expected KEY=VALUE");
    EXPECT_FAILS(pt_config_apply_set(&c, "=3"), PT_EXIT_USAGE, "expected KEY=VALUE");
    EXPECT_FAILS(pt_config_apply_set(&c, "render.fusion=box"), PT_EXIT_USAGE, "allowed: uniform, triangular");
    EXPECT_FAILS(pt_config_apply_set(&c, "render.eta=2"), PT_EXIT_USAGE, "--set 'render.eta=2': key 'render.eta': value 2 is out of range [0, 1]");
    EXPECT_FAILS(pt_config_apply_set(&c, "train=5"), PT_EXIT_USAGE, "key 'train': is a section");
    EXPECT_FAILS(pt_config_apply_set(&c, "data.crop_scale=[1, 2, 3]"), PT_EXIT_USAGE, "exactly 2");
    EXPECT_FAILS(pt_config_apply_set(&c, "train.steps=[1"), PT_EXIT_USAGE, "not valid YAML");
    EXPECT_FAILS(pt_config_apply_set(&c, "include=x.yaml"), PT_EXIT_USAGE, "unknown key 'include'");
    // a failed --set leaves the value unchanged
    EXPECT(c.train.lr == 1e-4 && c.data.crop_scale.n == 2 && c.data.crop_scale.v[0] == 0.8, "unchanged after errors");
    pt_config_free(&c);
}

// ---------------------------------------------------------------- include / base

TEST_CASE(include_and_base_override_order) {
    write_tmp("layers/common/a.yaml", "train:\n  lr: 1e-5\n  steps: 10\n  seed: 7\nname: from_a\n");
    write_tmp("layers/common/b.yaml", "base: a.yaml\ntrain:\n  steps: 20\n  grad_accum: 3\n");   // b over a
    write_tmp("layers/c.yaml", "train:\n  grad_accum: 5\n  batch_size: 6\n");
    const char *top = write_tmp("layers/top.yaml",
                                "train:\n  steps: 30\n"
                                "include: [common/b.yaml, c.yaml]\n");   // position does not matter
    pt_config c;
    load_fresh(&c, top);
    EXPECT(c.train.steps == 30, "including file wins: %lld", (long long)c.train.steps);
    EXPECT(c.train.grad_accum == 5, "later include wins over earlier: %d", c.train.grad_accum);
    EXPECT(c.train.lr == 1e-5 && c.train.seed == 7 && strcmp(c.name, "from_a") == 0, "values only in a survive");
    EXPECT(c.train.batch_size == 6, "c applied");
    EXPECT(strstr(c.source, "layers/top.yaml") != NULL, "source '%s'", c.source);
    // --set beats everything
    pt_config_apply_set(&c, "train.steps=40");
    EXPECT(c.train.steps == 40, "--set wins");
    pt_config_free(&c);
    // the same key in two files is an override, not a duplicate
    const char *p = write_tmp("layers/again.yaml", "include: common/a.yaml\ntrain:\n  lr: 3e-5\n");
    load_fresh(&c, p);
    EXPECT(c.train.lr == 3e-5, "override %g", c.train.lr);
    pt_config_free(&c);
}

// ---------------------------------------------------------------- printing, saving, round trip

TEST_CASE(save_load_round_trip_is_identical) {
    pt_config c, back, dflt;
    pt_config_defaults(&c);
    pt_config_apply_set(&c, "train.lr=0.1");
    pt_config_apply_set(&c, "train.adam_eps=1e-300");
    pt_config_apply_set(&c, "train.beta_start=0.00085");
    pt_config_apply_set(&c, "train.noise_offset=0.30000000000000004");
    pt_config_apply_set(&c, "train.steps=123456789012");
    pt_config_apply_set(&c, "name=\"a \\\"quoted\\\" name\\twith tab, colon: # and ü\"");
    pt_config_apply_set(&c, "data.subject_images=[\"x/1.png\", \"it's.png\", \"\"]");
    pt_config_apply_set(&c, "model.tiny_size.unet_channels=[8, 16, 24]");
    pt_config_apply_set(&c, "data.crop_ratio=[0.75, 1.3333333333333333]");
    pt_config_apply_set(&c, "render.format=gif");
    pt_config_apply_set(&c, "model.unet=~");
    EXPECT(c.train.noise_offset == 0.1 + 0.2, "0.1 + 0.2 parsed exactly");
    EXPECT(strcmp(c.name, "a \"quoted\" name\twith tab, colon: # and ü") == 0, "name '%s'", c.name);
    char path[1200];
    snprintf(path, sizeof path, "%s/run/config.yaml", g_tmp);
    pt_mkdirs(strcat(strcpy((char[1200]){0}, g_tmp), "/run"));
    pt_config_save(&c, path);
    load_fresh(&back, path);
    const char *diff = NULL;
    EXPECT(pt_config_equal(&c, &back, &diff), "round trip differs at '%s'", diff ? diff : "?");
    pt_config_defaults(&dflt);
    EXPECT(!pt_config_equal(&c, &dflt, &diff) && diff && strcmp(diff, "name") == 0, "differs from defaults first at name");
    // saved text: nested YAML in schema order with shortest floats
    char *text = pt_read_file(path, NULL);
    EXPECT(strstr(text, "\ntrain:\n  steps: 123456789012\n  batch_size: 1\n") != NULL, "train section layout");
    EXPECT(strstr(text, "  lr: 0.1\n") && strstr(text, "  noise_offset: 0.30000000000000004\n"), "shortest floats");
    EXPECT(strstr(text, "  grad_clip: 1.0\n") && strstr(text, "  adam_eps: 1e-300\n"), "float spelling");
    EXPECT(strstr(text, "model:\n  tiny: false\n  tiny_size:\n    unet_channels: [8, 16, 24]\n") != NULL, "nested sections");
    EXPECT(strstr(text, "  subject_images: [\"x/1.png\", \"it's.png\", \"\"]\n") != NULL, "string list");
    EXPECT(strncmp(text, "# posetune resolved config", 26) == 0, "header");
    free(text);
    // no temporary left behind by the atomic write
    DIR *d = opendir(strcat(strcpy((char[1200]){0}, g_tmp), "/run"));
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    EXPECT(n == 1, "%d files in run/", n);
    // through a string (a checkpoint's posetune.config)
    char *yaml = pt_config_to_yaml(&c);
    pt_config fromstr;
    pt_config_defaults(&fromstr);
    pt_config_load_text(&fromstr, yaml, "ckpt:posetune.config");
    EXPECT(pt_config_equal(&c, &fromstr, &diff), "string round trip differs at '%s'", diff ? diff : "?");
    EXPECT(strcmp(fromstr.source, "ckpt:posetune.config") == 0, "source");
    pt_config_free(&fromstr);
    free(yaml);
    // copy is deep and equal
    pt_config cp;
    memset(&cp, 0, sizeof cp);
    pt_config_copy(&cp, &c);
    EXPECT(pt_config_equal(&cp, &c, NULL) && cp.name != c.name && cp.data.subject_images.v != c.data.subject_images.v, "deep copy");
    pt_config_free(&cp); pt_config_free(&c); pt_config_free(&back); pt_config_free(&dflt);
}

TEST_CASE(print_writes_every_field_once) {
    pt_config c;
    pt_config_defaults(&c);
    char *buf = NULL; size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    pt_config_print(&c, f);
    fclose(f);
    int lines = 0, leaves = 0;
    for (char *p = buf; *p; p++) if (*p == '\n') lines++;
    for (char *p = buf; (p = strstr(p, ": ")); p += 2) leaves++;
    const pt_ycfg_schema *s = pt_config_schema();
    EXPECT(leaves == s->n_fields, "%d 'key: value' lines for %d fields", leaves, s->n_fields);
    EXPECT(lines == s->n_fields + 5, "%d lines: fields + 5 section headers (model, tiny_size, data, train, render)", lines);
    EXPECT(strncmp(buf, "regime: dreampose\nphase: full\nstage: 1\nname: \"\"\nmodel:\n", 55) == 0, "start:\n%.80s", buf);
    free(buf);
    char v[64];
    pt_ycfg_format_value(pt_ycfg_find(s, "train.lr"), &c, v, sizeof v);
    EXPECT(strcmp(v, "5e-06") == 0, "lr printed as '%s'", v);
    EXPECT(strcmp(pt_config_enum_name("train.prediction", PT_CFG_PRED_V), "v_prediction") == 0, "enum name");
    pt_config_free(&c);
}

// ---------------------------------------------------------------- cross-field validation

static void expect_invalid(const char *const *sets, int n, const char *needle) {
    pt_config c;
    pt_config_defaults(&c);
    pt_config_apply_set(&c, "model.unet=w");
    for (int i = 0; i < n; i++) pt_config_apply_set(&c, sets[i]);
    EXPECT_FAILS(pt_config_validate(&c), PT_EXIT_USAGE, needle);
    pt_config_free(&c);
}

TEST_CASE(validate_cross_field_rules) {
    pt_config c;
    pt_config_defaults(&c);
    pt_config_apply_set(&c, "model.unet=w");
    pt_config_validate(&c);   // the defaults plus weights are valid
    pt_config_free(&c);
    expect_invalid((const char *const[]){"data.pose_kind=skeleton"}, 1, "key 'data.pose_kind': regime dreampose needs densepose");
    expect_invalid((const char *const[]){"data.n_poses=3"}, 1, "key 'model.in_channels': regime dreampose needs 4 + 2 x data.n_poses = 10, got 14");
    expect_invalid((const char *const[]){"data.n_poses=4", "model.in_channels=12"}, 2, "key 'data.n_poses': must be odd");
    expect_invalid((const char *const[]){"regime=animate_anyone", "data.pose_kind=skeleton"}, 2, "key 'model.in_channels': regime animate_anyone needs 4");
    expect_invalid((const char *const[]){"regime=animate_anyone", "data.pose_kind=skeleton", "model.in_channels=4", "stage=2", "model.unet=w"}, 5,
                   "key 'model.stage1_checkpoint'");
    expect_invalid((const char *const[]){"regime=animate_anyone", "data.pose_kind=skeleton", "model.in_channels=4", "phase=subject"}, 4, "key 'phase'");
    expect_invalid((const char *const[]){"stage=2"}, 1, "key 'stage': applies to regime animate_anyone");
    expect_invalid((const char *const[]){"train.zero_terminal_snr=true"}, 1, "key 'train.zero_terminal_snr': needs train.prediction: v_prediction");
    expect_invalid((const char *const[]){"data.height=600"}, 1, "key 'data.height': 600 is not a multiple of 64");
    expect_invalid((const char *const[]){"data.drop_both=0.95"}, 1, "exceeds 1");
    expect_invalid((const char *const[]){"render.overlap=24"}, 1, "key 'render.overlap'");
    expect_invalid((const char *const[]){"train.loss=l1"}, 1, "key 'train.loss'");
    expect_invalid((const char *const[]){"train.ema_decay=1"}, 1, "key 'train.ema_decay'");
    expect_invalid((const char *const[]){"data.crop_scale=[1.0, 0.5]"}, 1, "key 'data.crop_scale': min 1 > max 0.5");
    expect_invalid((const char *const[]){"train.lr_schedule=cosine", "train.warmup_steps=2000"}, 2, "key 'train.warmup_steps'");
    expect_invalid((const char *const[]){"train.hand_loss_factor=2"}, 1, "key 'train.hand_loss_factor'");
    expect_invalid((const char *const[]){"model.unet="}, 1, "key 'model.unet': no weights");
    expect_invalid((const char *const[]){"model.tiny=true", "data.height=64", "data.width=64", "model.tiny_size.norm_groups=3"}, 4,
                   "key 'model.tiny_size.norm_groups'");
    // tiny sizes change the resolution multiple: VAE [16,32,32,32] (x8) and UNet [32, 64] (x2) -> 16
    pt_config_defaults(&c);
    pt_config_apply_set(&c, "model.tiny=true");
    pt_config_apply_set(&c, "data.height=48");
    pt_config_apply_set(&c, "data.width=80");
    pt_config_validate(&c);
    pt_config_apply_set(&c, "data.width=72");
    EXPECT_FAILS(pt_config_validate(&c), PT_EXIT_USAGE, "72 is not a multiple of 16");
    pt_config_free(&c);
    // pt_config_from_args: defaults + file + sets + validate, and the file is named in messages
    const char *p = write_tmp("fromargs.yaml", "model:\n  unet: w\ndata:\n  pose_kind: skeleton\n");
    EXPECT_FAILS(pt_config_from_args(&c, p, NULL, 0), PT_EXIT_USAGE, "fromargs.yaml': key 'data.pose_kind'");
    pt_config_free(&c);
    const char *sets[] = {"data.pose_kind=densepose"};
    pt_config_from_args(&c, p, sets, 1);
    EXPECT(c.data.pose_kind == PT_CFG_POSE_DENSEPOSE && strcmp(c.model.unet, "w") == 0, "from_args");
    pt_config_free(&c);
}

// ---------------------------------------------------------------- the generic loader on its own schema

typedef struct mini { int a; double b; char *c; } mini;

TEST_CASE(generic_schema_self_checks) {
    mini m;
    static const pt_ycfg_field SPLIT[] = {
        {"x.a", PT_YC_INT, offsetof(mini, a), -INFINITY, INFINITY, "1", NULL, 0, "a"},
        {"y.b", PT_YC_FLOAT, offsetof(mini, b), -INFINITY, INFINITY, "2", NULL, 0, "b"},
        {"x.c", PT_YC_STRING, offsetof(mini, c), -INFINITY, INFINITY, NULL, NULL, 0, "c"},
    };
    static const pt_ycfg_schema split = {"mini", SPLIT, 3};
    EXPECT_FAILS(pt_ycfg_defaults(&split, &m), PT_EXIT_RUNTIME, "section 'x' is split");
    static const pt_ycfg_field BADDEF[] = {
        {"x.a", PT_YC_INT, offsetof(mini, a), 0, 10, "11", NULL, 0, "a"},
    };
    static const pt_ycfg_schema baddef = {"mini", BADDEF, 1};
    EXPECT_FAILS(pt_ycfg_defaults(&baddef, &m), PT_EXIT_RUNTIME, "bad default for 'x.a'");
    static const pt_ycfg_field CLASH[] = {
        {"x", PT_YC_INT, offsetof(mini, a), 0, 10, "1", NULL, 0, "a"},
        {"x.b", PT_YC_FLOAT, offsetof(mini, b), 0, 10, "1", NULL, 0, "b"},
    };
    static const pt_ycfg_schema clash = {"mini", CLASH, 2};
    EXPECT_FAILS(pt_ycfg_defaults(&clash, &m), PT_EXIT_RUNTIME, "both a field and a section");
    // a good mini schema: defaults, load_text, print
    static const pt_ycfg_field OK[] = {
        {"x.a", PT_YC_INT, offsetof(mini, a), 0, 10, "3", NULL, 0, "a"},
        {"x.c", PT_YC_STRING, offsetof(mini, c), -INFINITY, INFINITY, NULL, NULL, 0, "c"},
        {"b", PT_YC_FLOAT, offsetof(mini, b), -INFINITY, INFINITY, "-0.0", NULL, 0, "b"},
    };
    static const pt_ycfg_schema ok = {"mini", OK, 3};
    pt_ycfg_defaults(&ok, &m);
    EXPECT(m.a == 3 && m.c && m.c[0] == 0 && m.b == 0 && signbit(m.b), "mini defaults");
    const char text[] = "x: {a: 7, c: hi}\nb: .inf\n";
    pt_ycfg_load_text(&ok, &m, text, sizeof text - 1, "mem.yaml");
    EXPECT(m.a == 7 && strcmp(m.c, "hi") == 0 && isinf(m.b), "mini load_text");
    EXPECT_FAILS(pt_ycfg_load_text(&ok, &m, "zzzzzzzz: 1\n", 12, "mem.yaml"), PT_EXIT_USAGE,
                 "mem.yaml:1:1: unknown key 'zzzzzzzz'; see docs/config.md");
    char *buf = NULL; size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    pt_ycfg_print(&ok, &m, f);
    fclose(f);
    EXPECT(strcmp(buf, "x:\n  a: 7\n  c: \"hi\"\nb: .inf\n") == 0, "mini print:\n%s", buf);
    free(buf);
    pt_ycfg_free(&ok, &m);
}

// ---------------------------------------------------------------- docs/config.md

TEST_CASE(docs_config_md_is_generated_reference) {
    char *gen = NULL; size_t glen = 0;
    FILE *f = open_memstream(&gen, &glen);
    pt_config_write_reference(f);
    fclose(f);
    const char *doc = POSETUNE_SOURCE_DIR "/docs/config.md";
    const char *w = getenv("POSETUNE_WRITE_DOCS");
    if (w && strcmp(w, "1") == 0) {
        FILE *o = pt_fopen(doc, "w");
        fputs(gen, o);
        pt_fclose(o, doc);
        printf("wrote %s\n", doc);
    }
    size_t dlen = 0;
    char *have = pt_read_file(doc, &dlen);
    EXPECT(dlen == glen && memcmp(have, gen, glen) == 0,
           "docs/config.md is out of date: regenerate with POSETUNE_WRITE_DOCS=1 %s", "tests/test_config");
    // every key appears in the doc with its help text
    const pt_ycfg_schema *s = pt_config_schema();
    for (int i = 0; i < s->n_fields; i++) {
        char key[300];
        snprintf(key, sizeof key, "| `%s` |", s->fields[i].path);
        EXPECT(strstr(gen, key) != NULL, "doc lacks %s", key);
    }
    EXPECT(strstr(gen, "| `train.lr` | float | `5e-6` | 0 … 1 | Peak learning rate (AdamW). |") != NULL, "lr row");
    free(have); free(gen);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--load") == 0) {   // child of errors_exit_with_code_2
        pt_config c;
        pt_config_defaults(&c);
        pt_config_load(&c, argv[2]);
        return 0;
    }
    make_tmp();
    RUN(defaults_are_the_documented_values);
    RUN(every_shipped_config_loads_validates_and_round_trips);
    RUN(dreampose_configs_hold_the_paper_settings);
    RUN(animate_anyone_configs_hold_the_official_settings);
    RUN(demo_configs_are_tiny_synthetic_cpu);
    RUN(errors_name_file_line_and_key);
    RUN(errors_exit_with_code_2);
    RUN(set_overrides_and_their_errors);
    RUN(include_and_base_override_order);
    RUN(save_load_round_trip_is_identical);
    RUN(print_writes_every_field_once);
    RUN(validate_cross_field_rules);
    RUN(generic_schema_self_checks);
    RUN(docs_config_md_is_generated_reference);
    int rc = test_summary();
    if (rc == 0) nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);   // keep the files of a failed run
    return rc;
}

// test_pack_latents.c — posetune pack --cache-latents and DreamPose training on cached latents.
//
//   1. `pack --cache-latents --config configs/demo/dreampose.yaml` (the tiny VAE, batches of 4 frames)
//      stores latents (N, 4, 8, 8) f16 that equal scaling_factor x the VAE posterior mean of each
//      stored frame, encoded here one frame at a time, within f16 rounding.
//   2. Phase 1 on the pack with latents (the regime takes them: no VAE encode of target or
//      conditioning) gives the losses of phase 1 on the same frames packed without latents, within
//      what the f16 rounding of the latents explains (the VAE posterior is made a point, logvar -30,
//      so that the encoding path samples the mean too); dropped conditioning images included.
//   3. A pack whose latents came from another VAE is refused (the frames are encoded instead).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autograd/ops.h"
#include "datasets/dataset.h"
#include "datasets/synthetic.h"
#include "models/model_set.h"
#include "test_util.h"
#include "train_util.h"
#include "tools/check.h"
#include "tools/cli.h"
#include "trainer/dist.h"
#include "trainer/regime_dreampose.h"

#define S 64
#define NF 6

static char g_root[1024], g_data[1100], g_with[1100], g_without[1100], g_cfg[2048];

TEST_CASE(cached_latents_equal_encoding_the_stored_frames) {
    char *av[] = {"pack", g_data, "-o", g_with, "--cache-latents", "--config", g_cfg, "--latent-batch", "4", "--quiet"};
    EXPECT(pt_cmd_pack(10, av) == 0, "pack --cache-latents failed");
    char *bv[] = {"pack", g_data, "-o", g_without, "--size", "64x64", "--quiet"};
    EXPECT(pt_cmd_pack(7, bv) == 0, "pack failed");

    pt_config c;
    pt_config_from_args(&c, g_cfg, NULL, 0);
    pt_model_set m;
    pt_model_set_build(&m, &c, PT_MS_TRAIN_NONE);
    const float sf = 1.5f;   // the tiny VAE's scaling factor (models/model_set.h)
    EXPECT(m.vae.cfg.scaling_factor == sf, "tiny VAE scaling factor %g", m.vae.cfg.scaling_factor);
    pt_dataset *ds = pt_dataset_open(g_with);
    EXPECT(pt_dataset_has_latents(ds), "no latents in %s", g_with);
    pt_dataset *d0 = pt_dataset_open(g_without);
    EXPECT(!pt_dataset_has_latents(d0), "latents in the pack without --cache-latents");
    pt_dataset_close(d0);
    double worst = 0, worst_abs = 0;
    int frames = 0;
    for (int v = 0; v < pt_dataset_n_videos(ds); v++) {
        int lc, lh, lw;
        pt_dataset_latent_shape(ds, v, &lc, &lh, &lw);
        EXPECT(lc == 4 && lh == S / 8 && lw == S / 8, "video %d latents (%d, %d, %d)", v, lc, lh, lw);
        EXPECT(pt_dataset_n_frames(ds, v) == NF, "video %d has %d frames", v, pt_dataset_n_frames(ds, v));
        for (int i = 0; i < pt_dataset_n_frames(ds, v); i++) {
            float x[3 * S * S], mean[4 * (S / 8) * (S / 8)], cached[4 * (S / 8) * (S / 8)];
            pt_dataset_frame(ds, v, i, x, 0, 0);   // the stored frame
            pt_dataset_latent(ds, v, i, cached);
            PT_NO_GRAD_BEGIN
            int mark = pt_scope_begin();
            pt_tensor *mu, *lv;
            pt_vae_encode(&m.vae, pt_from_f32(PT_CPU, PT_F32, 4, PT_SHAPE(1, 3, S, S), x), &mu, &lv);
            pt_copy_to_host_f32(mu, mean);
            pt_scope_end(mark, NULL);
            PT_NO_GRAD_END
            for (int k = 0; k < 4 * (S / 8) * (S / 8); k++) {
                double want = (double)sf * mean[k], d = fabs(cached[k] - want);
                double tol = fabs(want) * ldexp(1.0, -11) + 1e-5;   // half an f16 ulp (+ batch-order rounding)
                if (d / tol > worst) worst = d / tol;
                if (d > worst_abs) worst_abs = d;
            }
            frames++;
        }
    }
    pt_dataset_close(ds);
    printf("  %d frames: cached vs encoded worst |diff| %.3g (%.2f of the f16 tolerance)\n", frames, worst_abs, worst);
    EXPECT(frames == 2 * NF, "%d frames checked", frames);
    EXPECT(worst <= 1.0, "cached latents differ from the encoding beyond f16 rounding (%.2f x tolerance)", worst);
    EXPECT(worst_abs > 0, "no rounding at all: were the latents stored as f16?");
    pt_model_set_free(&m);
    pt_config_free(&c);
}

// logvar half of quant_conv: bias -30 (zero weights already): the posterior is a point.
static void point_posterior(pt_model_set *m) {
    pt_conv *q = &m->vae.quant_conv;
    int64_t O = q->b->shape[0];
    float b[64];
    PT_CHECKF(O <= 64, "quant_conv has %lld outputs", (long long)O);
    pt_copy_to_host_f32(q->b, b);
    for (int64_t o = O / 2; o < O; o++) b[o] = -30.0f;
    pt_copy_from_host_f32(q->b, b);
}

// Runs phase 1 for `steps` on `pack`; returns whether the loader read cached latents.
static int train_on(const char *pack, const char *run, int steps, int64_t init_seed) {
    pt_config c;
    pt_config_from_args(&c, g_cfg, NULL, 0);
    char out[2048];
    snprintf(out, sizeof out, "%s/%s", g_root, run);
    tu_set_str(&c.train.out_dir, out);
    tu_set_str(&c.data.path, pack);
    tu_set_str(&c.model.checkpoint, "");
    c.data.synthetic = 0;
    c.data.drop_image = 0.4;
    c.data.drop_pose = 0.2;
    c.train.steps = steps;
    c.train.log_every = 1000;
    c.train.checkpoint_every = 0;
    c.model.init_seed = init_seed;
    pt_config_validate(&c);
    pt_dreampose *d = pt_malloc(sizeof *d);
    pt_dreampose_init(d, &c);
    int used = d->trainer.loader_cfg.use_latents;
    point_posterior(&d->ms);
    if (steps > 0) pt_dreampose_run(d);
    pt_dreampose_free(d);
    free(d);
    pt_config_free(&c);
    return used;
}

TEST_CASE(phase1_on_cached_latents_matches_encoding) {
    const int steps = 3;
    int a = train_on(g_with, "cached", steps, 1);
    int b = train_on(g_without, "encoded", steps, 1);
    EXPECT(a == 1, "the regime did not take the cached latents");
    EXPECT(b == 0, "cached latents used on a pack without them");
    double la[8], lb[8];
    char pa[2048], pb[2048];
    snprintf(pa, sizeof pa, "%s/cached", g_root);
    snprintf(pb, sizeof pb, "%s/encoded", g_root);
    int na = tu_read_losses(pa, la, 8), nb = tu_read_losses(pb, lb, 8);
    EXPECT(na == steps && nb == steps, "%d / %d losses", na, nb);
    double worst = 0;
    for (int i = 0; i < na && i < nb; i++) {
        double r = fabs(la[i] - lb[i]) / fabs(lb[i]);
        printf("  step %d: loss %.7f cached, %.7f encoded (rel %.2e)\n", i + 1, la[i], lb[i], r);
        worst = r > worst ? r : worst;
    }
    // f16 rounds each latent by <= 2^-11 relative (4.9e-4); the loss moves by far less through it
    EXPECT(worst < 5e-4, "cached and encoded losses differ by %.3g relative", worst);
}

TEST_CASE(latents_of_another_vae_are_refused) {
    int used = train_on(g_with, "other_vae", 0, 2);   // init_seed 2: another random tiny VAE
    EXPECT(used == 0, "latents of another VAE were used");
}

int main(void) {
    snprintf(g_root, sizeof g_root, "%s", tu_tmp_init("test_pack_latents"));
    snprintf(g_data, sizeof g_data, "%s/data", g_root);
    snprintf(g_with, sizeof g_with, "%s/with.h5", g_root);
    snprintf(g_without, sizeof g_without, "%s/without.h5", g_root);
    snprintf(g_cfg, sizeof g_cfg, "%s/configs/demo/dreampose.yaml", POSETUNE_SOURCE_DIR);
    pt_dist_init(0);
    tu_synth_videos(g_data, 2, NF, S, 5);
    RUN(cached_latents_equal_encoding_the_stored_frames);
    RUN(phase1_on_cached_latents_matches_encoding);
    RUN(latents_of_another_vae_are_refused);
    tu_tmp_cleanup();
    return test_summary();
}

// test_dreampose_samples.c — sample grids during DreamPose training (train.sample_every).
//
//   1. A phase-1 run with sample_every = 2 writes sample-00000002.png and sample-00000004.png of the
//      grid size (3 rows of reference | pose | sample, 2-px gutters); the reference column is the first
//      frame of the first video; the final checkpoint (weights, optimizer moments) is bit-identical to
//      a run without samples.
//   2. The step-4 sample is what the final weights render: a model set loaded from the final
//      checkpoint draws the same grid.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoints/weights.h"
#include "datasets/dataset.h"
#include "datasets/image_io.h"
#include "datasets/synthetic.h"
#include "models/model_set.h"
#include "test_util.h"
#include "train_util.h"
#include "tools/check.h"
#include "trainer/ckpt.h"
#include "trainer/dist.h"
#include "trainer/regime_dreampose.h"
#include "trainer/render_dreampose.h"

#define S 64   // image size
#define NF 8   // frames per synthetic video

static char g_root[1024], g_data[1100];

static void run_cfg(pt_config *c, const char *run, int sample_every) {
    tu_demo_config(c, "dreampose.yaml", g_root, run, g_data);
    tu_set_str(&c->model.checkpoint, "");
    c->data.height = c->data.width = S;
    c->data.drop_image = c->data.drop_pose = 0.2;   // dropout rows in the batches too
    c->train.steps = 4;
    c->train.log_every = 1000;
    c->train.checkpoint_every = 0;
    c->train.sample_every = sample_every;
    c->render.image_guidance = 2.0;
    c->render.pose_guidance = 1.5;
    pt_config_validate(c);
}

static int file_exists(const char *p) { struct stat st; return stat(p, &st) == 0; }

static int same_checkpoints(const char *a, const char *b, int *n_checked) {
    pt_weights *wa = pt_weights_load(a), *wb = pt_weights_load(b);
    int diff = 0;
    *n_checked = 0;
    if (wa->n != wb->n) diff++;
    for (int i = 0; i < wa->n; i++) {
        const pt_wtensor *x = &wa->t[i], *y = pt_weights_find(wb, x->name);
        if (!y || y->nbytes != x->nbytes || memcmp(x->data, y->data, x->nbytes)) {
            if (!diff) fprintf(stderr, "  first difference: %s\n", x->name);
            diff++;
        }
        (*n_checked)++;
    }
    pt_weights_free(wa); pt_weights_free(wb);
    return diff == 0;
}

static char g_ckpt[4200], g_sample4[4200];

TEST_CASE(samples_written_and_training_unchanged) {
    pt_config a, b;
    run_cfg(&a, "with_samples", 2);
    run_cfg(&b, "without", 0);
    pt_dreampose_train(&a);
    pt_dreampose_train(&b);
    char p2[4200], p4[4200], p3[4200];
    snprintf(p2, sizeof p2, "%s/sample-00000002.png", a.train.out_dir);
    snprintf(p3, sizeof p3, "%s/sample-00000003.png", a.train.out_dir);
    snprintf(p4, sizeof p4, "%s/sample-00000004.png", a.train.out_dir);
    snprintf(g_sample4, sizeof g_sample4, "%s", p4);
    EXPECT(file_exists(p2) && file_exists(p4), "sample PNGs missing");
    EXPECT(!file_exists(p3), "a sample at step 3 with sample_every 2");
    const int gw = 3 * S + 2 * 2, gh = 3 * S + 2 * 2;   // 3 columns, 3 rows (min(3, NF) frames)
    char ref_png[2048];
    snprintf(ref_png, sizeof ref_png, "%s/video_0000/frame_0000.png", g_data);
    pt_image ref = pt_image_load(ref_png);
    for (int k = 0; k < 2; k++) {
        const char *p = k ? p4 : p2;
        if (!file_exists(p)) continue;
        pt_image im = pt_image_load(p);
        EXPECT(im.w == gw && im.h == gh, "%s is %dx%d, expected %dx%d", p, im.w, im.h, gw, gh);
        if (im.w == gw && im.h == gh) {
            int worst = 0;
            double mean = 0, var = 0;
            for (int r = 0; r < 3; r++)
                for (int y = 0; y < S; y++)
                    for (int x = 0; x < S; x++)
                        for (int ch = 0; ch < 3; ch++) {
                            int g = im.px[((size_t)(r * (S + 2) + y) * gw + x) * 3 + ch];
                            int d = abs(g - ref.px[((size_t)y * S + x) * 3 + ch]);
                            worst = d > worst ? d : worst;
                            double s = im.px[((size_t)(r * (S + 2) + y) * gw + 2 * (S + 2) + x) * 3 + ch];
                            mean += s; var += s * s;
                        }
            const double n = 3.0 * S * S * 3;
            mean /= n;
            var = var / n - mean * mean;
            EXPECT(worst <= 1, "%s: reference column differs from frame 0 by %d levels", p, worst);
            EXPECT(var > 1.0, "%s: the sample column is flat (variance %.3g)", p, var);
        }
        pt_image_free(&im);
    }
    pt_image_free(&ref);
    char da[4200], db[4200];
    snprintf(da, sizeof da, "%s/checkpoints", a.train.out_dir);
    snprintf(db, sizeof db, "%s/checkpoints", b.train.out_dir);
    char *ca = pt_ckpt_latest(da), *cb = pt_ckpt_latest(db);
    EXPECT(ca && cb && strstr(ca, "step-00000004") && strstr(cb, "step-00000004"), "final checkpoints missing");
    if (ca && cb) {
        int n = 0;
        EXPECT(same_checkpoints(ca, cb, &n), "the run with samples ended with other weights / optimizer state");
        EXPECT(n > 10, "only %d tensors compared", n);
        snprintf(g_ckpt, sizeof g_ckpt, "%s", ca);
    }
    free(ca); free(cb);
    pt_config_free(&a);
    pt_config_free(&b);
}

TEST_CASE(sample_shows_the_current_weights) {
    if (!g_ckpt[0] || !file_exists(g_sample4)) { EXPECT(0, "needs the training runs"); return; }
    pt_config c;
    run_cfg(&c, "check", 0);
    tu_set_str(&c.model.checkpoint, g_ckpt);
    pt_model_set m;
    pt_model_set_build(&m, &c, PT_MS_TRAIN_NONE);
    // the same pair the regime takes: frame 0 and the windows of frames (k + 1)(n - 1) / 3
    pt_dataset *ds = pt_dataset_open(g_data);
    float *ref = pt_malloc(sizeof(float) * 3 * S * S), *poses = pt_malloc(sizeof(float) * 3 * 10 * S * S);
    pt_dataset_frame(ds, 0, 0, ref, S, S);
    for (int k = 0; k < 3; k++) {
        int j = (k + 1) * (NF - 1) / 3;
        for (int p = 0; p < 5; p++) {
            int i = j + p - 2;
            i = i < 0 ? 0 : i >= NF ? NF - 1 : i;
            pt_dataset_densepose(ds, 0, i, poses + ((size_t)k * 10 + 2 * p) * S * S, S, S);
        }
    }
    pt_dataset_close(ds);
    char png[4300];
    snprintf(png, sizeof png, "%s/check.png", g_root);
    int steps = c.render.steps < 8 ? c.render.steps : 8;
    pt_dp_sample_grid(&m, &c, ref, poses, 3, steps, pt_rng_derive((uint64_t)c.train.seed, "train.sample", 0), png);
    pt_image a = pt_image_load(png), b = pt_image_load(g_sample4);
    EXPECT(a.w == b.w && a.h == b.h && memcmp(a.px, b.px, (size_t)a.w * a.h * 3) == 0,
           "the step-4 sample is not what the final weights render");
    // and the weights matter: the untrained model draws another sample column
    pt_model_set m0;
    tu_set_str(&c.model.checkpoint, "");
    pt_model_set_build(&m0, &c, PT_MS_TRAIN_NONE);
    pt_dp_sample_grid(&m0, &c, ref, poses, 3, steps, pt_rng_derive((uint64_t)c.train.seed, "train.sample", 0), png);
    pt_image z = pt_image_load(png);
    EXPECT(memcmp(z.px, b.px, (size_t)b.w * b.h * 3) != 0, "the initial weights draw the same grid as the trained ones");
    pt_image_free(&a); pt_image_free(&b); pt_image_free(&z);
    free(ref); free(poses);
    pt_model_set_free(&m0);
    pt_model_set_free(&m);
    pt_config_free(&c);
}

int main(void) {
    snprintf(g_root, sizeof g_root, "%s", tu_tmp_init("test_dreampose_samples"));
    snprintf(g_data, sizeof g_data, "%s/data", g_root);
    pt_dist_init(0);
    tu_synth_videos(g_data, 2, NF, S, 3);
    RUN(samples_written_and_training_unchanged);
    RUN(sample_shows_the_current_weights);
    tu_tmp_cleanup();
    return test_summary();
}

// test_dist_buckets.c — gradient buckets (single process, a fake communicator records launches):
// layout covers the trainable prefix exactly in reverse order, buckets launch during backward in
// index order with final gradients, only on the last micro-step, the probe step and the fallback
// when a parameter turns ready twice, parameters that never turn ready.
#include "autograd/ops.h"
#include "models/params.h"
#include "tests/test_util.h"
#include "trainer/dist_buckets.h"

// Trainable p0 (10), p1 (20), p2 (30), p3 (40) floats and a frozen one added between p1 and p2.
static void build(pt_params *P) {
    pt_params_init(P, PT_CPU, PT_F32);
    pt_params_add(P, "p0", PT_DIMS(10));
    pt_params_add(P, "p1", PT_DIMS(4, 5));
    pt_params_add(P, "frozen", PT_DIMS(7));
    pt_params_add(P, "p2", PT_DIMS(30));
    pt_params_add(P, "p3", PT_DIMS(2, 20));
    pt_params_set_trainable(P, "frozen", 0);
    pt_params_finalize(P);
    pt_params_alloc_grad(P);
}

#define MAXL 32
typedef struct fake {
    pt_params *P;
    int n, bucket[MAXL];
    int64_t off[MAXL], cnt[MAXL];
    float snap[MAXL][100];   // the whole gradient buffer at launch time
    int waits;
} fake;
static void fake_launch(void *ctx, float *grad, int64_t offset, int64_t count, int bucket) {
    fake *f = ctx;
    if (f->n >= MAXL) return;
    f->bucket[f->n] = bucket; f->off[f->n] = offset; f->cnt[f->n] = count;
    memcpy(f->snap[f->n], grad, sizeof(float) * 100);
    f->n++;
}
static void fake_wait(void *ctx) { ((fake *)ctx)->waits++; }

static float xval(int p, int i) { return (float)(p + 1) + 0.01f * (float)i; }

// loss = sum_k sum(p_k * x_k), recorded p0 first so backward finishes p3 first: dL/dp_k = x_k.
static void forward_backward(pt_params *P) {
    int mark = pt_scope_begin();
    const char *names[4] = {"p0", "p1", "p2", "p3"};
    pt_tensor *loss = NULL;
    for (int k = 0; k < 4; k++) {
        pt_tensor *p = pt_params_find(P, names[k])->t;
        int64_t n = pt_numel(p);
        float x[40];
        for (int i = 0; i < n; i++) x[i] = xval(k, i);
        pt_tensor *xt = pt_from_f32(PT_CPU, PT_F32, p->ndim, p->shape, x);
        pt_tensor *s = pt_sum(pt_mul(p, xt));
        loss = loss ? pt_add(loss, s) : s;
    }
    pt_backward(loss, NULL);
    pt_scope_end(mark, NULL);
}

TEST_CASE(layout_covers_prefix_in_reverse) {
    pt_params P;
    build(&P);
    EXPECT(P.numel_trainable == 100, "trainable %lld", (long long)P.numel_trainable);
    // 100 bytes: p3 (160 B) alone, p2 (120 B) alone, then p1 (80 B) + p0 (40 B)
    pt_dist_buckets *db = pt_dist_buckets_create(&P, 100, &(pt_bucket_comm){fake_launch, fake_wait, NULL});
    EXPECT(db->nb == 3, "%d buckets", db->nb);
    int64_t want_off[3] = {60, 30, 0}, want_cnt[3] = {40, 30, 30};
    int want_np[3] = {1, 1, 2};
    for (int k = 0; k < db->nb && k < 3; k++) {
        EXPECT(db->b[k].offset == want_off[k] && db->b[k].count == want_cnt[k], "bucket %d [%lld, +%lld)", k,
               (long long)db->b[k].offset, (long long)db->b[k].count);
        EXPECT(db->b[k].n_params == want_np[k], "bucket %d has %d params", k, db->b[k].n_params);
    }
    pt_dist_buckets_free(db);
    // any cap: contiguous, descending, exactly [0, 100)
    size_t caps[4] = {1, 64, 200, 1 << 20};
    int want_nb[4] = {4, 4, 2, 1};
    for (int c = 0; c < 4; c++) {
        db = pt_dist_buckets_create(&P, caps[c], &(pt_bucket_comm){fake_launch, fake_wait, NULL});
        EXPECT(db->nb == want_nb[c], "cap %zu: %d buckets, expected %d", caps[c], db->nb, want_nb[c]);
        int64_t end = 100;
        int params = 0;
        for (int k = 0; k < db->nb; k++) {
            EXPECT(db->b[k].offset + db->b[k].count == end, "cap %zu bucket %d does not end where the previous began", caps[c], k);
            end = db->b[k].offset;
            params += db->b[k].n_params;
        }
        EXPECT(end == 0 && params == 4, "cap %zu: coverage ends at %lld, %d params", caps[c], (long long)end, params);
        pt_dist_buckets_free(db);
    }
    pt_params_free(&P);
}

TEST_CASE(launch_during_backward_last_micro_step_only) {
    pt_params P;
    build(&P);
    fake f = {0};
    pt_dist_buckets *db = pt_dist_buckets_create(&P, 100, &(pt_bucket_comm){fake_launch, fake_wait, &f});
    // step 1 = probe: nothing launched during backward, all three after it, in order
    pt_params_zero_grad(&P);
    pt_dist_buckets_begin_micro(db, 1);
    forward_backward(&P);
    pt_dist_buckets_end_micro(db);
    EXPECT(f.n == 0, "probe step launched %d buckets during backward", f.n);
    pt_dist_buckets_finish(db);
    EXPECT(f.n == 3 && f.bucket[0] == 0 && f.bucket[1] == 1 && f.bucket[2] == 2, "probe launches %d", f.n);
    EXPECT(f.waits == 1 && db->mode == PT_BUCKETS_OVERLAP, "waits %d mode %d", f.waits, db->mode);
    // step 2 with 2 micro-steps: the first communicates nothing
    f.n = 0;
    pt_params_zero_grad(&P);
    pt_dist_buckets_begin_micro(db, 0);
    forward_backward(&P);
    pt_dist_buckets_end_micro(db);
    EXPECT(f.n == 0, "a non-last micro-step launched %d buckets", f.n);
    pt_dist_buckets_begin_micro(db, 1);
    forward_backward(&P);
    pt_dist_buckets_end_micro(db);
    EXPECT(f.n == 3, "%d launches during the last backward", f.n);
    for (int k = 0; k < f.n && k < 3; k++) {
        EXPECT(f.bucket[k] == k, "launch %d was bucket %d", k, f.bucket[k]);
        // the bucket's gradients are final (2 micro-steps: 2 x) when it is launched ...
        int bad = 0;
        for (int64_t i = f.off[k]; i < f.off[k] + f.cnt[k]; i++) {
            int p = i < 10 ? 0 : i < 30 ? 1 : i < 60 ? 2 : 3;
            int64_t base = p == 0 ? 0 : p == 1 ? 10 : p == 2 ? 30 : 60;
            bad += fabsf(f.snap[k][i] - 2 * xval(p, (int)(i - base))) > 1e-5f;
        }
        EXPECT(bad == 0, "bucket %d launched with %d non-final gradients", k, bad);
    }
    // ... and the first bucket went out while p0's gradient was still that of micro-step 1 only
    EXPECT_CLOSE(f.snap[0][0], xval(0, 0), 1e-6, 0);
    EXPECT(f.snap[0][5] != 2 * xval(0, 5), "bucket 0 launched after backward finished");
    pt_dist_buckets_finish(db);
    EXPECT(f.n == 3 && db->launched_in_backward == 3 && f.waits == 2, "finish relaunched: %d launches, %d waits", f.n, f.waits);
    pt_dist_buckets_free(db);
    pt_params_free(&P);
}

TEST_CASE(in_order_launch_and_unready_parameters) {
    pt_params P;
    build(&P);
    fake f = {0};
    pt_dist_buckets *db = pt_dist_buckets_create(&P, 100, &(pt_bucket_comm){fake_launch, fake_wait, &f});
    db->mode = PT_BUCKETS_OVERLAP;
    pt_dist_buckets_begin_micro(db, 1);
    pt_dist_buckets_on_ready(pt_params_find(&P, "p2")->t, db);   // bucket 1 complete, bucket 0 not yet
    EXPECT(f.n == 0, "bucket 1 launched before bucket 0");
    pt_dist_buckets_on_ready(pt_params_find(&P, "frozen")->t, db);   // not a trainable parameter: ignored
    pt_dist_buckets_on_ready(pt_params_find(&P, "p3")->t, db);
    EXPECT(f.n == 2 && f.bucket[0] == 0 && f.bucket[1] == 1, "%d launches", f.n);
    pt_dist_buckets_on_ready(pt_params_find(&P, "p1")->t, db);   // p0 never turns ready
    EXPECT(f.n == 2, "bucket 2 launched with p0 not ready");
    pt_dist_buckets_finish(db);
    EXPECT(f.n == 3 && f.bucket[2] == 2 && f.off[2] == 0 && f.cnt[2] == 30, "finish did not reduce bucket 2");
    pt_dist_buckets_free(db);
    pt_params_free(&P);
}

TEST_CASE(ready_twice_falls_back_to_after_backward) {
    pt_params P;
    build(&P);
    fake f = {0};
    pt_dist_buckets *db = pt_dist_buckets_create(&P, 100, &(pt_bucket_comm){fake_launch, fake_wait, &f});
    // probe step whose micro-step runs backward twice: every parameter turns ready twice
    pt_params_zero_grad(&P);
    pt_dist_buckets_begin_micro(db, 1);
    forward_backward(&P);
    forward_backward(&P);
    pt_dist_buckets_end_micro(db);
    pt_dist_buckets_finish(db);
    EXPECT(db->mode == PT_BUCKETS_FALLBACK, "mode %d", db->mode);
    f.n = 0;
    pt_params_zero_grad(&P);
    pt_dist_buckets_begin_micro(db, 1);
    forward_backward(&P);
    pt_dist_buckets_end_micro(db);
    EXPECT(f.n == 0, "fallback mode launched %d buckets during backward", f.n);
    pt_dist_buckets_finish(db);
    EXPECT(f.n == 3 && db->launched_in_backward == 0, "%d launches after backward", f.n);
    EXPECT_CLOSE(f.snap[2][0], xval(0, 0), 1e-6, 0);   // reduced with the final gradient
    pt_dist_buckets_free(db);
    pt_params_free(&P);
}

int main(void) {
    RUN(layout_covers_prefix_in_reverse);
    RUN(launch_during_backward_last_micro_step_only);
    RUN(in_order_launch_and_unready_parameters);
    RUN(ready_twice_falls_back_to_after_backward);
    return test_summary();
}

// test_sampler.c — sampler statistics, rank shards, resume, conditioning dropout rates.
#include "datasets/sampler.h"
#include "tests/test_util.h"

static int clampi(int x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : x; }

TEST_CASE(dreampose_pose_window_and_epochs) {
    int nf[4] = {1, 3, 7, 40};
    int first[5] = {0, 1, 4, 11, 51};
    pt_sampler_config c;
    pt_sampler_config_default(&c, PT_SAMPLER_DREAMPOSE, 123);
    pt_sampler *s = pt_sampler_create(&c, nf, 4);
    EXPECT(pt_sampler_n_items(s) == 51, "items %lld", (long long)pt_sampler_n_items(s));
    int seen[3][51] = {{0}};
    int pair_seen[7][7] = {{0}};
    for (int e = 0; e < 3; e++)
        for (int k = 0; k < 51; k++) {
            pt_sample x;
            pt_sampler_next(s, &x);
            EXPECT(x.epoch == e, "epoch %lld at %d/%d", (long long)x.epoch, e, k);
            int n = nf[x.video];
            seen[e][first[x.video] + x.target]++;
            for (int p = 0; p < 5; p++)
                EXPECT(x.poses[p] == clampi(x.target + p - 2, 0, n - 1), "pose %d = %d for target %d of %d", p, x.poses[p], x.target, n);
            if (n > 1) EXPECT(x.cond != x.target && x.cond >= 0 && x.cond < n, "cond %d target %d n %d", x.cond, x.target, n);
            else EXPECT(x.cond == 0 && x.target == 0, "1-frame video");
        }
    for (int e = 0; e < 3; e++)
        for (int i = 0; i < 51; i++) EXPECT(seen[e][i] == 1, "epoch %d item %d seen %d times", e, i, seen[e][i]);
    // Every ordered pair (i != j) of the 7-frame video shows up over many epochs.
    for (int it = 0; it < 51 * 300; it++) {
        pt_sample x;
        pt_sampler_next(s, &x);
        if (x.video == 2) pair_seen[x.cond][x.target]++;
    }
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < 7; j++)
            EXPECT((i == j) == (pair_seen[i][j] == 0), "pair (%d,%d) seen %d times", i, j, pair_seen[i][j]);
    // Expected 300/6 = 50 per pair; 3 sigma ~ 21.
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < 7; j++)
            if (i != j) EXPECT(fabs(pair_seen[i][j] - 50.0) < 3 * sqrt(300 * (1.0 / 6) * (5.0 / 6)) + 1, "pair (%d,%d): %d", i, j, pair_seen[i][j]);
    pt_sampler_free(s);
}

TEST_CASE(aa_stage1_margin) {
    int nf[4] = {100, 40, 20, 1};
    pt_sampler_config c;
    pt_sampler_config_default(&c, PT_SAMPLER_AA_STAGE1, 5);
    pt_sampler *s = pt_sampler_create(&c, nf, 4);
    int ref_before[4] = {0}, ref_after[4] = {0};
    int min_d[4] = {1 << 30, 1 << 30, 1 << 30, 1 << 30};
    for (int it = 0; it < 4000; it++) {
        pt_sample x;
        pt_sampler_next(s, &x);
        int d = abs(x.cond - x.target), n = nf[x.video];
        if (d < min_d[x.video]) min_d[x.video] = d;
        EXPECT(x.cond >= 0 && x.cond < n && x.target >= 0 && x.target < n, "range");
        if (x.cond < x.target) ref_before[x.video]++;
        if (x.cond > x.target) ref_after[x.video]++;
    }
    EXPECT(min_d[0] >= 30 && min_d[1] >= 30, "min distance %d / %d < margin 30", min_d[0], min_d[1]);
    EXPECT(min_d[2] == 19, "20-frame video: distance %d, expected the farthest possible 19", min_d[2]);
    EXPECT(min_d[3] == 0, "1-frame video");
    for (int v = 0; v < 3; v++) EXPECT(ref_before[v] > 100 && ref_after[v] > 100, "video %d: both orders (%d, %d)", v, ref_before[v], ref_after[v]);
    pt_sampler_free(s);
}

TEST_CASE(aa_stage2_clips) {
    int nf[2] = {200, 50};
    pt_sampler_config c;
    pt_sampler_config_default(&c, PT_SAMPLER_AA_STAGE2, 9);
    pt_sampler *s = pt_sampler_create(&c, nf, 2);
    int span = 23 * 4 + 1, max_start = 0, min_start = 1 << 30;
    for (int it = 0; it < 2000; it++) {
        pt_sample x;
        pt_sampler_next(s, &x);
        EXPECT(x.n_clip == 24, "n_clip %d", x.n_clip);
        int n = nf[x.video];
        EXPECT(x.cond >= 0 && x.cond < n, "reference %d", x.cond);
        EXPECT(x.target == x.clip[0], "target");
        if (x.video == 0) {
            for (int k = 1; k < 24; k++) EXPECT(x.clip[k] - x.clip[k - 1] == 4, "stride %d", x.clip[k] - x.clip[k - 1]);
            EXPECT(x.clip[0] >= 0 && x.clip[0] <= n - span, "start %d", x.clip[0]);
            if (x.clip[0] > max_start) max_start = x.clip[0];
            if (x.clip[0] < min_start) min_start = x.clip[0];
        } else {
            for (int k = 0; k < 24; k++) EXPECT(x.clip[k] == clampi(4 * k, 0, 49), "short video clip[%d] = %d", k, x.clip[k]);
        }
    }
    EXPECT(min_start == 0 && max_start == 200 - span, "start range [%d, %d], expected [0, %d]", min_start, max_start, 200 - span);
    pt_sampler_free(s);
}

TEST_CASE(dropout_rates) {
    int nf[1] = {50};
    pt_sampler_config c;
    pt_sampler_config_default(&c, PT_SAMPLER_DREAMPOSE, 77);
    c.p_drop_image = c.p_drop_pose = c.p_drop_both = 0.05f;
    pt_sampler *s = pt_sampler_create(&c, nf, 1);
    const int N = 40000;
    int img = 0, pose = 0, both = 0;
    for (int i = 0; i < N; i++) {
        pt_sample x;
        pt_sampler_next(s, &x);
        if (x.drop_image && x.drop_pose) both++;
        else if (x.drop_image) img++;
        else if (x.drop_pose) pose++;
    }
    double sd = sqrt(N * 0.05 * 0.95), mu = N * 0.05;
    EXPECT(fabs(img - mu) < 3 * sd, "image-only drops %d, expected %g +- %g", img, mu, 3 * sd);
    EXPECT(fabs(pose - mu) < 3 * sd, "pose-only drops %d", pose);
    EXPECT(fabs(both - mu) < 3 * sd, "both drops %d", both);
    pt_sampler_free(s);
    // Draws are keyed by the global sample position, not by the rank: the same key gives the same
    // flags on every rank (so N ranks x B/N equal 1 rank x B), neighbouring keys are independent.
    c.world_size = 2; c.rank = 1;
    int a = 0, same_key = 0, next_key = 0;
    pt_sampler_config c0 = c; c0.rank = 0;
    for (uint64_t k = 0; k < 2000; k++) {
        int i0, p0, i1, p1, i2, p2;
        pt_sampler_dropout(&c0, k, &i0, &p0);
        pt_sampler_dropout(&c, k, &i1, &p1);
        pt_sampler_dropout(&c, k + 1, &i2, &p2);
        a += (i0 || p0);
        same_key += (i0 == i1 && p0 == p1);
        next_key += (i0 == i2 && p0 == p2 && (i0 || p0));
    }
    EXPECT(same_key == 2000, "the same key gave different flags on two ranks (%d of 2000 equal)", same_key);
    EXPECT(next_key < 40, "neighbouring keys drop the same samples (%d of ~%d)", next_key, a);
    pt_sampler_config bad = c0; bad.p_drop_both = 0.95f;
    EXPECT_FAILS(pt_sampler_create(&bad, nf, 1), 2, "dropout rates");
}

static int same_sample(const pt_sample *a, const pt_sample *b) { return memcmp(a, b, sizeof *a) == 0; }

TEST_CASE(resume_mid_epoch) {
    int nf[3] = {13, 8, 21};
    pt_sampler_mode modes[4] = {PT_SAMPLER_DREAMPOSE, PT_SAMPLER_AA_STAGE1, PT_SAMPLER_AA_STAGE2, PT_SAMPLER_DREAMPOSE};
    for (int m = 0; m < 4; m++) {
        pt_sampler_config c;
        pt_sampler_config_default(&c, modes[m], 31 + m);
        c.num_frames = 4; c.stride = 2; c.p_drop_image = 0.2f; c.p_drop_pose = 0.2f;
        if (m == 3) { c.world_size = 3; c.rank = 2; }
        pt_sampler *s = pt_sampler_create(&c, nf, 3);
        pt_sample x;
        for (int i = 0; i < 29; i++) pt_sampler_next(s, &x);   // mid-epoch (42 items) or several epochs in
        pt_sampler_state st = pt_sampler_get_state(s);
        pt_sample want[40];
        for (int i = 0; i < 40; i++) pt_sampler_next(s, &want[i]);
        pt_sampler *r = pt_sampler_create(&c, nf, 3);
        pt_sampler_set_state(r, st);
        for (int i = 0; i < 40; i++) {
            pt_sampler_next(r, &x);
            EXPECT(same_sample(&x, &want[i]), "mode %d: sample %d after resume differs (item %lld vs %lld)", m, i,
                   (long long)x.item, (long long)want[i].item);
        }
        pt_sampler_free(s);
        pt_sampler_free(r);
    }
}

TEST_CASE(rank_shards_disjoint_cover) {
    int nf[4] = {1, 3, 7, 40};   // 51 DreamPose items; 51 % 4 = 3
    for (int W = 1; W <= 4; W++) {
        for (int e = 0; e < 2; e++) {
            int count[51] = {0};
            for (int r = 0; r < W; r++) {
                pt_sampler_config c;
                pt_sampler_config_default(&c, PT_SAMPLER_DREAMPOSE, 2024);
                c.rank = r; c.world_size = W;
                pt_sampler *s = pt_sampler_create(&c, nf, 4);
                pt_sampler_state st = {2024, e, 0};
                pt_sampler_set_state(s, st);
                int64_t nl = pt_sampler_n_local(s);
                EXPECT(nl == (51 - r + W - 1) / W, "rank %d of %d: %lld per epoch", r, W, (long long)nl);
                for (int64_t k = 0; k < nl; k++) {
                    pt_sample x;
                    pt_sampler_next(s, &x);
                    EXPECT(x.epoch == e, "rank %d ran into epoch %lld", r, (long long)x.epoch);
                    count[x.item]++;
                }
                pt_sampler_free(s);
            }
            for (int i = 0; i < 51; i++) EXPECT(count[i] == 1, "world %d epoch %d: item %d taken %d times", W, e, i, count[i]);
        }
    }
    int one[1] = {2};
    pt_sampler_config c;
    pt_sampler_config_default(&c, PT_SAMPLER_DREAMPOSE, 1);
    c.world_size = 3; c.rank = 2;
    EXPECT_FAILS(pt_sampler_create(&c, one, 1), 2, "rank 2 of 3");
}

TEST_CASE(epochs_reshuffle) {
    int nf[1] = {64};
    pt_sampler_config c;
    pt_sampler_config_default(&c, PT_SAMPLER_DREAMPOSE, 3);
    pt_sampler *s = pt_sampler_create(&c, nf, 1);
    int e0[64], e1[64], same = 0;
    pt_sample x;
    for (int i = 0; i < 64; i++) { pt_sampler_next(s, &x); e0[i] = x.target; }
    for (int i = 0; i < 64; i++) { pt_sampler_next(s, &x); e1[i] = x.target; same += e0[i] == e1[i]; }
    EXPECT(same < 8, "epoch 1 repeats epoch 0's order (%d of 64 positions equal)", same);
    pt_sampler_free(s);
}

TEST_CASE(subject_cycles) {
    int nf[1] = {4};
    pt_sampler_config c;
    pt_sampler_config_default(&c, PT_SAMPLER_SUBJECT, 8);
    pt_sampler *s = pt_sampler_create(&c, nf, 1);
    for (int e = 0; e < 5; e++) {
        int seen[4] = {0};
        for (int i = 0; i < 4; i++) {
            pt_sample x;
            pt_sampler_next(s, &x);
            seen[x.target]++;
            EXPECT(x.cond != x.target, "subject cond == target");
            for (int p = 0; p < 5; p++) EXPECT(x.poses[p] == x.target, "subject pose window %d", x.poses[p]);
        }
        for (int i = 0; i < 4; i++) EXPECT(seen[i] == 1, "epoch %d photo %d seen %d", e, i, seen[i]);
    }
    pt_sampler_free(s);
}

int main(void) {
    RUN(dreampose_pose_window_and_epochs);
    RUN(aa_stage1_margin);
    RUN(aa_stage2_clips);
    RUN(dropout_rates);
    RUN(resume_mid_epoch);
    RUN(rank_shards_disjoint_cover);
    RUN(epochs_reshuffle);
    RUN(subject_cycles);
    return test_summary();
}

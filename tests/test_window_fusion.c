// test_window_fusion.c — long-video windows: schedules derived by hand (clamped and wrapped), the
// MimicMotion triangular weights for T = 4 and 5, and fused values computed by hand.
#include "tests/test_util.h"
#include "trainer/window_fusion.h"

static int win_eq(const pt_win_schedule *s, int w, const int *want) {
    for (int k = 0; k < s->window; k++)
        if (s->frames[w * s->window + k] != want[k]) return 0;
    return 1;
}

TEST_CASE(triangular_weights_by_hand) {
    // T = 4: (k + 0.5) * 2 / 4 = 0.25, 0.75, 1.25, 1.75 -> min with 2 - that: 0.25 0.75 0.75 0.25
    const double w4[4] = {0.25, 0.75, 0.75, 0.25};
    for (int k = 0; k < 4; k++) EXPECT_CLOSE(pt_win_weight(PT_FUSE_TRIANGULAR, k, 4), w4[k], 1e-15, 0);
    const double w5[5] = {0.2, 0.6, 1.0, 0.6, 0.2};
    for (int k = 0; k < 5; k++) EXPECT_CLOSE(pt_win_weight(PT_FUSE_TRIANGULAR, k, 5), w5[k], 1e-15, 0);
    EXPECT(pt_win_weight(PT_FUSE_UNIFORM, 2, 4) == 1.0, "uniform 1");
}

TEST_CASE(schedules_by_hand) {
    pt_win_schedule s;
    pt_win_schedule_make(&s, 10, 4, 1, PT_WIN_CLAMP);   // stride 3: starts 0, 3, 6
    EXPECT(s.n_windows == 3 && s.window == 4, "3 windows of 4 (%d)", s.n_windows);
    EXPECT(win_eq(&s, 0, (int[]){0, 1, 2, 3}) && win_eq(&s, 2, (int[]){6, 7, 8, 9}), "windows");
    pt_win_schedule_free(&s);
    pt_win_schedule_make(&s, 11, 4, 1, PT_WIN_CLAMP);   // starts 0, 3, 6, 9 -> clamped to 7
    EXPECT(s.n_windows == 4 && win_eq(&s, 3, (int[]){7, 8, 9, 10}), "clamped last window");
    pt_win_schedule_free(&s);
    pt_win_schedule_make(&s, 11, 4, 1, PT_WIN_WRAP);    // last window 9, 10, 0, 1
    EXPECT(s.n_windows == 4 && win_eq(&s, 3, (int[]){9, 10, 0, 1}), "wrapped last window");
    pt_win_schedule_free(&s);
    pt_win_schedule_make(&s, 3, 8, 2, PT_WIN_WRAP);     // shorter than a window: one window of every frame
    EXPECT(s.n_windows == 1 && s.window == 3 && win_eq(&s, 0, (int[]){0, 1, 2}), "single window");
    pt_win_schedule_free(&s);
    EXPECT_FAILS(pt_win_schedule_make(&s, 10, 4, 4, PT_WIN_CLAMP), PT_EXIT_USAGE, "render.overlap");
}

TEST_CASE(fused_values_by_hand) {
    // N 5, T 4, overlap 2: windows {0,1,2,3} and (start 2 clamped to 1) {1,2,3,4}.
    // Window 0 predicts 0 everywhere, window 1 predicts 1. Triangular weights 0.25 0.75 0.75 0.25:
    //   frame 0: 0;  1: (0.75*0 + 0.25*1)/(1.0) = 0.25;  2: (0.75*0 + 0.75*1)/1.5 = 0.5;
    //   frame 3: (0.25*0 + 0.75*1)/1.0 = 0.75;  4: 1.   Uniform: 0, 0.5, 0.5, 0.5, 1.
    pt_win_schedule s;
    pt_win_schedule_make(&s, 5, 4, 2, PT_WIN_CLAMP);
    EXPECT(s.n_windows == 2 && win_eq(&s, 1, (int[]){1, 2, 3, 4}), "schedule");
    const int64_t per = 3;
    float p0[12] = {0}, p1[12], out[15];
    for (int i = 0; i < 12; i++) p1[i] = 1;
    pt_win_accum a;
    pt_win_accum_init(&a, 5, per);
    pt_win_accum_add(&a, &s, 0, p0, PT_FUSE_TRIANGULAR);
    pt_win_accum_add(&a, &s, 1, p1, PT_FUSE_TRIANGULAR);
    pt_win_accum_result(&a, out);
    const float tri[5] = {0, 0.25f, 0.5f, 0.75f, 1};
    for (int f = 0; f < 5; f++)
        for (int i = 0; i < per; i++) EXPECT_CLOSE(out[f * per + i], tri[f], 1e-7, 0);
    pt_win_accum_reset(&a);
    pt_win_accum_add(&a, &s, 0, p0, PT_FUSE_UNIFORM);
    pt_win_accum_add(&a, &s, 1, p1, PT_FUSE_UNIFORM);
    pt_win_accum_result(&a, out);
    const float uni[5] = {0, 0.5f, 0.5f, 0.5f, 1};
    for (int f = 0; f < 5; f++) EXPECT_CLOSE(out[f * per], uni[f], 1e-7, 0);
    // gather: window 1 of x = frame index
    float x[15], g[12];
    for (int i = 0; i < 15; i++) x[i] = (float)(i / 3);
    pt_win_gather(&s, 1, x, per, g);
    EXPECT(g[0] == 1 && g[11] == 4, "gathered frames 1..4");
    pt_win_accum_free(&a);
    pt_win_schedule_free(&s);
}

int main(void) {
    RUN(triangular_weights_by_hand);
    RUN(schedules_by_hand);
    RUN(fused_values_by_hand);
    return test_summary();
}

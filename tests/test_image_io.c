// test_image_io.c — PNG round trip, decode errors, (C, H, W) conversions, resize rules, crop, grid.
#include "datasets/image_io.h"
#include "tests/test_util.h"

TEST_CASE(png_round_trip_exact) {
    tu_seed(1);
    pt_image im = pt_image_alloc(13, 7, 3);
    for (int i = 0; i < 13 * 7 * 3; i++) im.px[i] = (uint8_t)(tu_uniform() * 256);
    pt_image_save_png(tu_tmp_path("rt.png"), &im);
    pt_image back = pt_image_load(tu_tmp_path("rt.png"));
    EXPECT(back.w == 13 && back.h == 7 && back.c == 3, "size %dx%dx%d", back.w, back.h, back.c);
    EXPECT(memcmp(back.px, im.px, 13 * 7 * 3) == 0, "pixels differ after PNG round trip");
    // grey (1 channel) PNGs load as RGB with the value copied
    pt_image g = pt_image_alloc(3, 2, 1);
    for (int i = 0; i < 6; i++) g.px[i] = (uint8_t)(40 * i);
    pt_image_save_png(tu_tmp_path("grey.png"), &g);
    pt_image gb = pt_image_load(tu_tmp_path("grey.png"));
    EXPECT(gb.c == 3 && gb.px[5 * 3 + 0] == 200 && gb.px[5 * 3 + 2] == 200, "grey -> RGB");
    pt_image_free(&im); pt_image_free(&back); pt_image_free(&g); pt_image_free(&gb);
}

TEST_CASE(corrupt_png_names_file) {
    const char *p = tu_tmp_path("corrupt.png");
    FILE *f = fopen(p, "wb");
    fwrite("\x89PNG\r\n\x1a\nthis is not a png", 1, 26, f);
    fclose(f);
    EXPECT_FAILS(pt_image_load(p), PT_EXIT_USAGE, "corrupt.png");
    EXPECT_FAILS(pt_image_load(tu_tmp_path("missing.png")), PT_EXIT_USAGE, "missing.png");
    // truncated real PNG
    pt_image im = pt_image_alloc(16, 16, 3);
    for (int i = 0; i < 16 * 16 * 3; i++) im.px[i] = (uint8_t)(i * 7);
    pt_image_save_png(tu_tmp_path("full.png"), &im);
    size_t n;
    char *bytes = pt_read_file(tu_tmp_path("full.png"), &n);
    f = fopen(tu_tmp_path("trunc.png"), "wb");
    fwrite(bytes, 1, n / 2, f);
    fclose(f);
    EXPECT_FAILS(pt_image_load(tu_tmp_path("trunc.png")), PT_EXIT_USAGE, "trunc.png");
    free(bytes);
    pt_image_free(&im);
}

TEST_CASE(chw_scaling_and_clamp) {
    pt_image im = pt_image_alloc(2, 1, 3);
    uint8_t v[6] = {0, 255, 128, 10, 20, 30};   // pixel 0 = (0, 255, 128), pixel 1 = (10, 20, 30)
    memcpy(im.px, v, 6);
    float chw[6];
    pt_image_to_chw(&im, chw, -1, 1);
    EXPECT_CLOSE(chw[0], -1.0, 1e-6, 0);                    // c0, x0
    EXPECT_CLOSE(chw[1], -1.0 + 2.0 * 10 / 255, 1e-6, 0);   // c0, x1
    EXPECT_CLOSE(chw[2], 1.0, 1e-6, 0);                     // c1, x0
    EXPECT_CLOSE(chw[4], -1.0 + 2.0 * 128 / 255, 1e-6, 0);  // c2, x0
    pt_image back = pt_image_from_chw(chw, 3, 1, 2, -1, 1);
    EXPECT(memcmp(back.px, v, 6) == 0, "to_chw/from_chw round trip");
    float wild[3] = {2.0f, -3.0f, NAN};
    pt_image c = pt_image_from_chw(wild, 1, 1, 3, 0, 1);
    EXPECT(c.px[0] == 255 && c.px[1] == 0 && c.px[2] == 0, "clamp: %d %d %d", c.px[0], c.px[1], c.px[2]);
    pt_image_free(&im); pt_image_free(&back); pt_image_free(&c);
}

TEST_CASE(bilinear_upscale_matches_torch) {
    // torch.nn.functional.interpolate([[1,2],[3,4]], size=(4,4), mode='bilinear', align_corners=False)
    const float src[4] = {1, 2, 3, 4};
    const float want[16] = {1.0f, 1.25f, 1.75f, 2.0f, 1.5f, 1.75f, 2.25f, 2.5f,
                            2.5f, 2.75f, 3.25f, 3.5f, 3.0f, 3.25f, 3.75f, 4.0f};
    float dst[16];
    pt_resize_bilinear_chw(src, 1, 2, 2, dst, 4, 4);
    for (int i = 0; i < 16; i++) EXPECT_CLOSE(dst[i], want[i], 1e-6, 0);
    // 1 x 3 -> 1 x 5: src coord (o + 0.5) * 0.6 - 0.5 = -0.2(->0), 0.4, 1.0, 1.6, 2.2(->i0=2)
    const float row[3] = {0, 10, 40};
    float r5[5];
    pt_resize_bilinear_chw(row, 1, 1, 3, r5, 1, 5);
    const float w5[5] = {0, 4, 10, 28, 40};
    for (int i = 0; i < 5; i++) EXPECT_CLOSE(r5[i], w5[i], 1e-5, 0);
}

TEST_CASE(downscale_rules) {
    // factor 2 (bilinear): src = 2o + 0.5 -> mean of each pixel pair
    const float a[4] = {1, 3, 5, 9};
    float d2[2];
    pt_resize_bilinear_chw(a, 1, 1, 4, d2, 1, 2);
    EXPECT_CLOSE(d2[0], 2.0, 1e-6, 0);
    EXPECT_CLOSE(d2[1], 7.0, 1e-6, 0);
    // factor 2.5 (> 2: area): output 0 covers [0, 2.5) = x0 + x1 + x2/2, output 1 covers [2.5, 5)
    const float b[5] = {1, 2, 4, 8, 16};
    float d[2];
    pt_resize_bilinear_chw(b, 1, 1, 5, d, 1, 2);
    EXPECT_CLOSE(d[0], (1 + 2 + 0.5 * 4) / 2.5, 1e-6, 0);
    EXPECT_CLOSE(d[1], (0.5 * 4 + 8 + 16) / 2.5, 1e-6, 0);
    // 6 x 6 -> 2 x 2 (factor 3 on both axes): block means
    float c6[36], c2[4];
    for (int i = 0; i < 36; i++) c6[i] = (float)i;
    pt_resize_bilinear_chw(c6, 1, 6, 6, c2, 2, 2);
    // block (0,0): rows 0-2, cols 0-2: mean = 7; (0,1): 10; (1,0): 25; (1,1): 28
    EXPECT_CLOSE(c2[0], 7, 1e-5, 0);
    EXPECT_CLOSE(c2[1], 10, 1e-5, 0);
    EXPECT_CLOSE(c2[2], 25, 1e-5, 0);
    EXPECT_CLOSE(c2[3], 28, 1e-5, 0);
    // constant image stays constant through every path
    float k[7 * 9], ko[3 * 2];
    for (int i = 0; i < 63; i++) k[i] = 0.5f;
    pt_resize_bilinear_chw(k, 1, 7, 9, ko, 3, 2);
    for (int i = 0; i < 6; i++) EXPECT_CLOSE(ko[i], 0.5, 1e-6, 0);
}

TEST_CASE(nearest_index_rule) {
    const float s3[3] = {10, 20, 30};
    float o5[5];
    pt_resize_nearest_chw(s3, 1, 1, 3, o5, 1, 5);   // floor(i * 3 / 5) = 0 0 1 1 2
    const float w5[5] = {10, 10, 20, 20, 30};
    for (int i = 0; i < 5; i++) EXPECT(o5[i] == w5[i], "up[%d] = %g, want %g", i, o5[i], w5[i]);
    const float s5[5] = {1, 2, 3, 4, 5};
    float o3[3];
    pt_resize_nearest_chw(s5, 1, 5, 1, o3, 3, 1);   // rows: floor(i * 5 / 3) = 0 1 3
    EXPECT(o3[0] == 1 && o3[1] == 2 && o3[2] == 4, "down: %g %g %g", o3[0], o3[1], o3[2]);
    // two channels keep their planes
    const float two[4] = {1, 2, 100, 200};   // (2, 1, 2)
    float t4[8];
    pt_resize_nearest_chw(two, 2, 1, 2, t4, 1, 4);
    const float wt[8] = {1, 1, 2, 2, 100, 100, 200, 200};
    for (int i = 0; i < 8; i++) EXPECT(t4[i] == wt[i], "channels[%d] = %g", i, t4[i]);
}

TEST_CASE(crop) {
    float src[2 * 3 * 4];   // (2, 3, 4)
    for (int i = 0; i < 24; i++) src[i] = (float)i;
    float dst[2 * 2 * 2];
    pt_crop_chw(src, 2, 3, 4, 1, 2, 2, 2, dst);
    const float want[8] = {6, 7, 10, 11, 18, 19, 22, 23};
    for (int i = 0; i < 8; i++) EXPECT(dst[i] == want[i], "crop[%d] = %g want %g", i, dst[i], want[i]);
    EXPECT_FAILS(pt_crop_chw(src, 2, 3, 4, 2, 2, 2, 2, dst), PT_EXIT_USAGE, "does not fit");
}

TEST_CASE(grid_png) {
    float a[4] = {1, 1, 1, 1}, b[4] = {-1, 1, -1, 1};   // (1, 2, 2) each, range [-1, 1]
    const float *imgs[3] = {a, b, a};
    pt_image_grid_save(tu_tmp_path("grid.png"), imgs, 3, 1, 2, 2, 2, -1, 1);
    pt_image g = pt_image_load(tu_tmp_path("grid.png"));
    // 2 columns, 2 rows, 2-pixel gutters: 2*2+2 = 6 by 6
    EXPECT(g.w == 6 && g.h == 6, "grid size %dx%d", g.w, g.h);
    EXPECT(g.px[0] == 255, "tile 0 white");
    EXPECT(g.px[(0 * 6 + 2) * 3] == 0, "gutter black");
    EXPECT(g.px[(0 * 6 + 4) * 3] == 0 && g.px[(0 * 6 + 5) * 3 + 1] == 255, "tile 1 row 0 = black, white");
    EXPECT(g.px[(4 * 6 + 0) * 3 + 2] == 255, "tile 2 white");
    EXPECT(g.px[(4 * 6 + 4) * 3] == 0, "empty cell black");
    pt_image_free(&g);
}

int main(void) {
    tu_tmp_init("test_image_io");
    RUN(png_round_trip_exact);
    RUN(corrupt_png_names_file);
    RUN(chw_scaling_and_clamp);
    RUN(bilinear_upscale_matches_torch);
    RUN(downscale_rules);
    RUN(nearest_index_rule);
    RUN(crop);
    RUN(grid_png);
    tu_tmp_cleanup();
    return test_summary();
}

// test_gif.c — the GIF encoder, decoded back with stb_image's GIF decoder: every pixel equals the
// palette colour of its quantised input (plain and dithered), delays and frame count survive,
// LZW table resets (large noisy frames) and code-width growth are exercised.
#define _GNU_SOURCE   // memmem
#include "datasets/gif.h"
#include "tests/test_util.h"

#include <stb_image.h>

TEST_CASE(palette_levels) {
    uint8_t pal[256][3];
    pt_gif_palette(pal);
    // hand-derived: red/blue levels 0 51 102 153 204 255, green levels round(k*255/6) = 0 43 85 128 170 213 255
    int i = pt_gif_quantize(255, 0, 0, 0, 0, 0);
    EXPECT(pal[i][0] == 255 && pal[i][1] == 0 && pal[i][2] == 0, "pure red -> (%d,%d,%d)", pal[i][0], pal[i][1], pal[i][2]);
    i = pt_gif_quantize(128, 128, 128, 0, 0, 0);   // r: 128*5/255 = 2.51 -> 3 (153); g: 3.01 -> 3 (128)
    EXPECT(pal[i][0] == 153 && pal[i][1] == 128 && pal[i][2] == 153, "grey -> (%d,%d,%d)", pal[i][0], pal[i][1], pal[i][2]);
    i = pt_gif_quantize(30, 200, 230, 0, 0, 0);    // r 0.59 -> 1 (51); g 4.71 -> 5 (213); b 4.51 -> 5 (255)
    EXPECT(pal[i][0] == 51 && pal[i][1] == 213 && pal[i][2] == 255, "(30,200,230) -> (%d,%d,%d)", pal[i][0], pal[i][1], pal[i][2]);
    EXPECT(pal[251][0] == 255 && pal[251][1] == 255 && pal[251][2] == 255 && pal[252][0] == 0, "cube end");
    // dithering keeps a mid level's average: 25.5 sits halfway between levels 0 and 51
    int hi = 0;
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) hi += pal[pt_gif_quantize(25, 0, 0, x, y, 1)][0] == 51;
    EXPECT(hi >= 6 && hi <= 10, "dither mixes levels: %d of 16 high", hi);
}

static void check_decode(const char *path, uint8_t *const *frames, int n, int w, int h, int dither, int delay_ms) {
    size_t len;
    char *bytes = pt_read_file(path, &len);
    EXPECT(memcmp(bytes, "GIF89a", 6) == 0, "signature");
    EXPECT(memmem(bytes, len, "NETSCAPE2.0\x03\x01\x00\x00", 15) != NULL, "loops forever");
    int *delays = NULL, x = 0, y = 0, z = 0, comp = 0;
    stbi_uc *dec = stbi_load_gif_from_memory((const stbi_uc *)bytes, (int)len, &delays, &x, &y, &z, &comp, 3);
    free(bytes);
    EXPECT(dec != NULL, "stb decodes it: %s", stbi_failure_reason());
    if (!dec) return;
    EXPECT(x == w && y == h && z == n, "decoded %dx%d x %d frames, want %dx%d x %d", x, y, z, w, h, n);
    uint8_t pal[256][3];
    pt_gif_palette(pal);
    long bad = 0;
    for (int f = 0; f < n && f < z; f++) {
        EXPECT(delays[f] == delay_ms, "frame %d delay %d ms, want %d", f, delays[f], delay_ms);
        for (int yy = 0; yy < h; yy++)
            for (int xx = 0; xx < w; xx++) {
                const uint8_t *s = frames[f] + ((size_t)yy * w + xx) * 3;
                const uint8_t *d = dec + (((size_t)f * h + yy) * w + xx) * 3;
                int q = pt_gif_quantize(s[0], s[1], s[2], xx, yy, dither);
                bad += d[0] != pal[q][0] || d[1] != pal[q][1] || d[2] != pal[q][2];
            }
    }
    EXPECT(bad == 0, "%ld pixels differ from the quantised input", bad);
    stbi_image_free(dec);
    free(delays);
}

TEST_CASE(round_trip_small_frames) {
    const int w = 37, h = 23, n = 4;
    uint8_t *frames[4];
    tu_seed(5);
    for (int f = 0; f < n; f++) {
        frames[f] = pt_malloc((size_t)w * h * 3);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t *p = frames[f] + ((size_t)y * w + x) * 3;
                if (f == 0) { p[0] = (uint8_t)(x * 7); p[1] = (uint8_t)(y * 11); p[2] = (uint8_t)(128 + f); }   // gradient
                else if (f == 1) { p[0] = p[1] = p[2] = 200; }   // flat: long LZW runs
                else for (int k = 0; k < 3; k++) p[k] = (uint8_t)(tu_uniform() * 256);
            }
    }
    pt_gif_save(tu_tmp_path("small.gif"), (const uint8_t *const *)frames, n, w, h, 10.0, 0);
    check_decode(tu_tmp_path("small.gif"), frames, n, w, h, 0, 100);
    pt_gif_save(tu_tmp_path("small_dither.gif"), (const uint8_t *const *)frames, n, w, h, 8.0, 1);
    check_decode(tu_tmp_path("small_dither.gif"), frames, n, w, h, 1, 130);   // round(100/8) = 13 cs
    for (int f = 0; f < n; f++) free(frames[f]);
}

TEST_CASE(large_noisy_frame_resets_table) {
    // 160 x 120 random pixels: ~19k codes, so the 4096-entry table fills and is cleared several times
    const int w = 160, h = 120;
    uint8_t *frames[2];
    tu_seed(9);
    for (int f = 0; f < 2; f++) {
        frames[f] = pt_malloc((size_t)w * h * 3);
        for (int i = 0; i < w * h * 3; i++) frames[f][i] = (uint8_t)(f ? (i / 3 % 17) * 15 : tu_uniform() * 256);
    }
    pt_gif g;
    pt_gif_begin(&g, tu_tmp_path("large.gif"), w, h, 25.0, 0);
    for (int f = 0; f < 2; f++) pt_gif_add_frame(&g, frames[f]);
    pt_gif_end(&g);
    check_decode(tu_tmp_path("large.gif"), frames, 2, w, h, 0, 40);
    // single-pixel image (the smallest code stream)
    uint8_t one[3] = {10, 250, 10};
    uint8_t *op = one;
    pt_gif_save(tu_tmp_path("one.gif"), (const uint8_t *const *)&op, 1, 1, 1, 5.0, 0);
    check_decode(tu_tmp_path("one.gif"), &op, 1, 1, 1, 0, 200);
    for (int f = 0; f < 2; f++) free(frames[f]);
    EXPECT_FAILS(pt_gif_save(tu_tmp_path("none.gif"), NULL, 0, 4, 4, 8.0, 0), PT_EXIT_USAGE, "none.gif");
}

int main(void) {
    tu_tmp_init("test_gif");
    RUN(palette_levels);
    RUN(round_trip_small_frames);
    RUN(large_noisy_frame_resets_table);
    tu_tmp_cleanup();
    return test_summary();
}

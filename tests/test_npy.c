// test_npy.c — .npy round trips, hand-written headers (NumPy's exact layout), and error messages.
#include "datasets/npy.h"
#include "tests/test_util.h"

// Writes magic + version + header dict (padded to 64 with spaces and '\n') + `nbytes` of data.
static void write_raw(const char *path, int major, const char *dict, const void *data, size_t nbytes) {
    FILE *f = fopen(path, "wb");
    size_t pre = major == 1 ? 10 : 12, n = strlen(dict);
    size_t total = pre + n + 1, pad = (64 - total % 64) % 64, hlen = n + pad + 1;
    unsigned char head[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0,
                              (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8), 0, 0};
    fwrite(head, 1, pre, f);
    fwrite(dict, 1, n, f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    if (nbytes) fwrite(data, 1, nbytes, f);
    fclose(f);
}

TEST_CASE(round_trip_f64_and_layout) {
    double d[24];
    for (int i = 0; i < 24; i++) d[i] = i * 0.125 - 1.0;
    pt_npy a = {PT_F64, 3, {2, 3, 4}, d};
    pt_npy_save(tu_tmp_path("a.npy"), &a);
    // NumPy's own header text for np.save of a (2, 3, 4) float64 array, data at byte 128
    size_t n;
    char *raw = pt_read_file(tu_tmp_path("a.npy"), &n);
    const char *want = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4), }";
    EXPECT(memcmp(raw, "\x93NUMPY\x01\x00", 8) == 0, "magic and version 1.0");
    EXPECT(memcmp(raw + 10, want, strlen(want)) == 0, "header dict: %.70s", raw + 10);
    EXPECT(n == 128 + 24 * 8, "file size %zu", n);
    EXPECT(raw[127] == '\n' && raw[126] == ' ', "header ends with spaces and a newline");
    free(raw);
    pt_npy b = pt_npy_load(tu_tmp_path("a.npy"));
    EXPECT(b.dtype == PT_F64 && b.ndim == 3 && b.shape[0] == 2 && b.shape[1] == 3 && b.shape[2] == 4, "shape");
    EXPECT(memcmp(b.data, d, sizeof d) == 0, "data");
    pt_npy_free(&b);
}

TEST_CASE(round_trip_small_dtypes) {
    uint8_t u[5] = {0, 1, 2, 254, 255};
    pt_npy a = {PT_U8, 1, {5}, u};
    pt_npy_save(tu_tmp_path("u.npy"), &a);
    size_t n;
    char *raw = pt_read_file(tu_tmp_path("u.npy"), &n);
    const char *want = "{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }";   // 1-tuple comma
    EXPECT(memcmp(raw + 10, want, strlen(want)) == 0, "header %.60s", raw + 10);
    free(raw);
    pt_npy b = pt_npy_load(tu_tmp_path("u.npy"));
    EXPECT(b.dtype == PT_U8 && b.ndim == 1 && b.shape[0] == 5 && memcmp(b.data, u, 5) == 0, "u8 round trip");
    pt_npy_free(&b);
    float s = 3.5f;
    pt_npy sc = {PT_F32, 0, {0}, &s};
    pt_npy_save(tu_tmp_path("s.npy"), &sc);
    pt_npy c = pt_npy_load(tu_tmp_path("s.npy"));
    EXPECT(c.ndim == 0 && pt_npy_numel(&c) == 1 && *(float *)c.data == 3.5f, "0-d scalar");
    pt_npy_free(&c);
    int64_t iv[2] = {-5, 1ll << 40};
    pt_npy ia = {PT_I64, 2, {1, 2}, iv};
    pt_npy_save(tu_tmp_path("i.npy"), &ia);
    pt_npy ib = pt_npy_load(tu_tmp_path("i.npy"));
    EXPECT(ib.dtype == PT_I64 && ((int64_t *)ib.data)[1] == (1ll << 40), "i64");
    pt_npy_free(&ib);
}

TEST_CASE(hand_written_headers) {
    // float32 (2, 3), version 1.0, double-quoted keys and no trailing comma also accepted
    float f[6] = {0.5f, -1, 2, 3, 4, 1e-3f};
    write_raw(tu_tmp_path("h1.npy"), 1, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 3)}", f, sizeof f);
    pt_npy a = pt_npy_load(tu_tmp_path("h1.npy"));
    EXPECT(a.dtype == PT_F32 && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3, "h1 shape");
    EXPECT(memcmp(a.data, f, sizeof f) == 0, "h1 data");
    float *g = pt_npy_to_f32(&a);
    EXPECT(g[5] == 1e-3f, "to_f32");
    free(g);
    pt_npy_free(&a);
    // float16 in format 2.0 (4-byte header length): 0x3C00 = 1.0, 0xC000 = -2.0, 0x3555 ~ 0.33325
    uint16_t h[3] = {0x3C00, 0xC000, 0x3555};
    write_raw(tu_tmp_path("h2.npy"), 2, "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", h, sizeof h);
    pt_npy b = pt_npy_load(tu_tmp_path("h2.npy"));
    float *bf = pt_npy_to_f32(&b);
    EXPECT(b.dtype == PT_F16 && b.shape[0] == 3, "h2");
    EXPECT_CLOSE(bf[0], 1.0, 0, 0);
    EXPECT_CLOSE(bf[1], -2.0, 0, 0);
    EXPECT_CLOSE(bf[2], 0.333251953125, 0, 0);
    free(bf);
    pt_npy_free(&b);
    // DreamPose DensePose: float64 (2, H, W)
    double dp[2 * 2 * 3] = {0, 0.25, 0.5, 0.75, 1, 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
    write_raw(tu_tmp_path("dp.npy"), 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2, 3), }", dp, sizeof dp);
    pt_npy c = pt_npy_load(tu_tmp_path("dp.npy"));
    EXPECT(c.dtype == PT_F64 && c.shape[0] == 2 && ((double *)c.data)[7] == 0.2, "densepose");
    pt_npy_free(&c);
}

TEST_CASE(errors_name_file_and_expectation) {
    double d[6] = {0};
    write_raw(tu_tmp_path("trunc.npy"), 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", d, 40);
    EXPECT_FAILS(pt_npy_load(tu_tmp_path("trunc.npy")), PT_EXIT_USAGE, "trunc.npy");
    EXPECT_FAILS(pt_npy_load(tu_tmp_path("trunc.npy")), PT_EXIT_USAGE, "need 48 bytes");
    write_raw(tu_tmp_path("fort.npy"), 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", d, 48);
    EXPECT_FAILS(pt_npy_load(tu_tmp_path("fort.npy")), PT_EXIT_USAGE, "Fortran order");
    write_raw(tu_tmp_path("big.npy"), 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2, 3), }", d, 48);
    EXPECT_FAILS(pt_npy_load(tu_tmp_path("big.npy")), PT_EXIT_USAGE, "big-endian");
    write_raw(tu_tmp_path("cplx.npy"), 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (6,), }", d, 48);
    EXPECT_FAILS(pt_npy_load(tu_tmp_path("cplx.npy")), PT_EXIT_USAGE, "'<c8' is not supported");
    write_raw(tu_tmp_path("noshape.npy"), 1, "{'descr': '<f8', 'fortran_order': False}", d, 48);
    EXPECT_FAILS(pt_npy_load(tu_tmp_path("noshape.npy")), PT_EXIT_USAGE, "no 'shape'");
    FILE *f = fopen(tu_tmp_path("magic.npy"), "wb");
    fwrite("PK\x03\x04 this is a zip", 1, 19, f);
    fclose(f);
    EXPECT_FAILS(pt_npy_load(tu_tmp_path("magic.npy")), PT_EXIT_USAGE, "magic.npy' is not a .npy file");
    // header length beyond the end of the file
    f = fopen(tu_tmp_path("hdr.npy"), "wb");
    fwrite("\x93NUMPY\x01\x00\xff\x00{'descr'", 1, 18, f);
    fclose(f);
    EXPECT_FAILS(pt_npy_load(tu_tmp_path("hdr.npy")), PT_EXIT_USAGE, "header is truncated");
}

int main(void) {
    tu_tmp_init("test_npy");
    RUN(round_trip_f64_and_layout);
    RUN(round_trip_small_dtypes);
    RUN(hand_written_headers);
    RUN(errors_name_file_and_expectation);
    tu_tmp_cleanup();
    return test_summary();
}

// test_safetensors.c — safetensors writer/reader: exact round trips, byte layout against the python
// library's output (peer fixtures), sharded files, folders, and every kind of corrupt file.
#include "checkpoints/weights.h"
#include "tests/test_util.h"

static char g_tmp[1024];

static const char *tmp_path(const char *name) {
    static char buf[4][1200];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_tmp, name);
    return buf[k];
}

static unsigned char *slurp(const char *path, size_t *n) { return (unsigned char *)pt_read_file(path, n); }

static void spit(const char *path, const void *data, size_t n) {
    FILE *f = pt_fopen(path, "wb");
    pt_fwrite(data, 1, n, f, path);
    pt_fclose(f, path);
}

static uint64_t rd_u64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

TEST_CASE(round_trip_exact) {
    // f32 values; f16/bf16 stored values are their round-to-nearest-even conversions, checked by hand:
    // 1 + 2^-11 is a tie in f16 (-> 1.0), 1 + 3*2^-11 ties up to 1 + 2^-9; 65504 = f16 max;
    // 2^-24 = smallest f16 subnormal. bf16: 1 + 2^-8 ties to 1.0, 1 + 3*2^-8 -> 1 + 2^-6.
    float src[6] = {1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 65504.0f, 5.9604644775390625e-08f, -2.5f, 0.0f};
    float srcb[6] = {1.0f + 1.0f / 256, 1.0f + 3.0f / 256, -3.0e38f, 1e-3f, -2.5f, 7.0f};
    float want16[6] = {1.0f, 1.0f + 4.0f / 2048, 65504.0f, 5.9604644775390625e-08f, -2.5f, 0.0f};
    int64_t ints[3] = {-5, 1LL << 40, 7};
    int64_t shape23[2] = {2, 3}, shape3[1] = {3};
    pt_st_writer *wr = pt_st_writer_new();
    pt_st_writer_add(wr, "w.f32", PT_F32, 2, shape23, PT_F32, src);
    pt_st_writer_add(wr, "w.f16", PT_F16, 2, shape23, PT_F32, src);
    pt_st_writer_add(wr, "w.bf16", PT_BF16, 1, (int64_t[]){6}, PT_F32, srcb);
    pt_st_writer_add(wr, "steps", PT_I64, 1, shape3, PT_I64, ints);
    pt_st_writer_add(wr, "scalar", PT_F32, 0, NULL, PT_F32, src);
    pt_st_writer_meta(wr, "format", "pt");
    const char *p = tmp_path("rt.safetensors");
    pt_st_writer_write(wr, p);
    pt_st_writer_free(wr);

    pt_weights *w = pt_weights_load(p);
    EXPECT(w->n == 5, "n=%d", w->n);
    EXPECT(pt_weights_meta(w, "format") && strcmp(pt_weights_meta(w, "format"), "pt") == 0, "metadata");
    float got[6];
    const pt_wtensor *t = pt_weights_get(w, "w.f32");
    EXPECT(t->dtype == PT_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->nbytes == 24, "f32 meta");
    pt_weights_read_f32(t, got);
    for (int i = 0; i < 6; i++) EXPECT(got[i] == src[i], "f32[%d] %g", i, got[i]);
    t = pt_weights_get(w, "w.f16");
    EXPECT(t->dtype == PT_F16 && t->nbytes == 12, "f16 meta");
    EXPECT(((const uint16_t *)t->data)[2] == 0x7bff && ((const uint16_t *)t->data)[3] == 0x0001, "f16 bits");
    pt_weights_read_f32(t, got);
    for (int i = 0; i < 6; i++) EXPECT(got[i] == want16[i], "f16[%d] %.9g want %.9g", i, got[i], want16[i]);
    t = pt_weights_get(w, "w.bf16");
    pt_weights_read_f32(t, got);
    EXPECT(got[0] == 1.0f && got[1] == 1.0f + 4.0f / 256 && got[4] == -2.5f && got[5] == 7.0f, "bf16 %g %g", got[0], got[1]);
    EXPECT(((const uint16_t *)t->data)[4] == 0xc020, "bf16 bits of -2.5: %04x", ((const uint16_t *)t->data)[4]);
    t = pt_weights_get(w, "steps");
    EXPECT(t->dtype == PT_I64 && ((const int64_t *)t->data)[1] == (1LL << 40), "i64 exact");
    t = pt_weights_get(w, "scalar");
    EXPECT(t->ndim == 0 && t->nbytes == 4 && pt_wtensor_numel(t) == 1, "scalar");
    EXPECT(pt_weights_find(w, "nope") == NULL, "absent");
    EXPECT_FAILS(pt_weights_get(w, "nope"), 2, "no tensor named 'nope'");
    pt_weights_free(w);

    // raw bytes: header = compact JSON, __metadata__ first, I64 before F32 before BF16 before F16
    // (the library's dtype order), then names; padded with spaces to 8 bytes.
    size_t n;
    unsigned char *raw = slurp(p, &n);
    uint64_t hl = rd_u64(raw);
    const char *want =
        "{\"__metadata__\":{\"format\":\"pt\"},\"steps\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},"
        "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[24,28]},"
        "\"w.f32\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[28,52]},"
        "\"w.bf16\":{\"dtype\":\"BF16\",\"shape\":[6],\"data_offsets\":[52,64]},"
        "\"w.f16\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[64,76]}}";
    size_t wl = strlen(want);
    EXPECT(hl % 8 == 0 && hl >= wl && hl < wl + 8, "header length %llu for %zu chars", (unsigned long long)hl, wl);
    EXPECT(memcmp(raw + 8, want, wl) == 0, "header text:\n%.*s", (int)hl, raw + 8);
    for (size_t i = wl; i < hl; i++) EXPECT(raw[8 + i] == ' ', "padding byte %zu", i);
    EXPECT(n == 8 + hl + 76, "file size %zu", n);
    EXPECT(rd_u64(raw + 8 + hl + 8) == (uint64_t)(1LL << 40), "data order: steps first");
    free(raw);
}

// Re-writing a file produced by the python library gives identical bytes (order, padding, JSON).
static void rewrite_identical(const char *fixture) {
    char src[2048];
    snprintf(src, sizeof src, "%s/%s", fixtures_dir(), fixture);
    pt_weights *w = pt_weights_load(src);
    pt_st_writer *wr = pt_st_writer_new();
    for (int i = w->n - 1; i >= 0; i--)  // insertion order must not matter
        pt_st_writer_add(wr, w->t[i].name, w->t[i].dtype, w->t[i].ndim, w->t[i].shape, w->t[i].dtype, w->t[i].data);
    const char *out = tmp_path("rewrite.safetensors");
    pt_st_writer_write(wr, out);
    pt_st_writer_free(wr);
    size_t na, nb;
    unsigned char *a = slurp(src, &na), *b = slurp(out, &nb);
    EXPECT(na == nb && memcmp(a, b, na) == 0, "%s: rewrite differs (%zu vs %zu bytes)", fixture, na, nb);
    free(a); free(b);
    pt_weights_free(w);
}

TEST_CASE(fixtures_read_and_rewrite) {
    if (!fixtures_dir()) { test_skip("peer fixtures absent"); return; }
    char p[4200];
    snprintf(p, sizeof p, "%s/unet_tiny.safetensors", fixtures_dir());
    pt_weights *w = pt_weights_load(p);
    EXPECT(w->n == 684, "unet tensors %d", w->n);
    const pt_wtensor *t = pt_weights_get(w, "conv_in.weight");
    EXPECT(t->ndim == 4 && t->shape[0] == 16 && t->shape[1] == 4 && t->shape[2] == 3 && t->shape[3] == 3, "conv_in shape");
    float v[256];
    pt_weights_read_f32(pt_weights_get(w, "conv_in.bias"), v);
    EXPECT_CLOSE(v[0], -0.044068433344364166, 0, 1e-7);
    EXPECT_CLOSE(v[2], -0.14932101964950562, 0, 1e-7);
    t = pt_weights_get(w, "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight");
    EXPECT(t->ndim == 2 && t->shape[0] == 16 && t->shape[1] == 16, "to_q shape");
    pt_weights_read_f32(t, v);
    EXPECT_CLOSE(v[1], 0.07705994695425034, 0, 1e-7);
    pt_weights_free(w);

    snprintf(p, sizeof p, "%s/vae_tiny.safetensors", fixtures_dir());
    w = pt_weights_load(p);
    EXPECT(w->n == 244, "vae tensors %d", w->n);
    t = pt_weights_get(w, "decoder.conv_in.weight");
    EXPECT(t->shape[0] == 32 && t->shape[1] == 4, "decoder conv_in shape");
    pt_weights_free(w);

    snprintf(p, sizeof p, "%s/schedulers.io.safetensors", fixtures_dir());
    w = pt_weights_load(p);
    t = pt_weights_get(w, "ddim.timesteps");
    // DDIM, 20 steps over 1000 with steps_offset 1: 951, 901, ...
    EXPECT(t->dtype == PT_I64 && t->shape[0] == 20 && ((const int64_t *)t->data)[0] == 951 &&
           ((const int64_t *)t->data)[1] == 901, "ddim timesteps");
    pt_weights_free(w);

    const char *all[] = {"clip_vision_tiny.safetensors", "clip_vision_tiny.io.safetensors", "motion_module_tiny.safetensors",
                         "motion_module_tiny.io.safetensors", "unet_tiny.io.safetensors", "vae_tiny.io.safetensors"};
    for (int i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/%s", fixtures_dir(), all[i]);
        w = pt_weights_load(p);
        EXPECT(w->n > 0, "%s empty", all[i]);
        pt_weights_free(w);
    }
    rewrite_identical("schedulers.io.safetensors");  // mixed I64/F32: dtype-major order
    rewrite_identical("unet_tiny.safetensors");
    rewrite_identical("vae_tiny.safetensors");
}

TEST_CASE(alphas_cumprod_value) {
    if (!fixtures_dir()) { test_skip("peer fixtures absent"); return; }
    char p[4200];
    snprintf(p, sizeof p, "%s/schedulers.io.safetensors", fixtures_dir());
    pt_weights *w = pt_weights_load(p);
    const pt_wtensor *t = pt_weights_get(w, "alphas_cumprod");
    float *v = pt_malloc(1000 * sizeof(float));
    EXPECT(pt_wtensor_numel(t) == 1000, "numel");
    pt_weights_read_f32(t, v);
    EXPECT_CLOSE(v[0], 1.0 - 0.00085, 0, 1e-6);  // scaled_linear: beta_0 = beta_start
    free(v);
    pt_weights_free(w);
}

TEST_CASE(sharded_and_folder) {
    float a[100], b[50], c[10];
    for (int i = 0; i < 100; i++) a[i] = (float)i;
    for (int i = 0; i < 50; i++) b[i] = -(float)i;
    for (int i = 0; i < 10; i++) c[i] = 0.5f * (float)i;
    pt_st_writer *wr = pt_st_writer_new();
    pt_st_writer_add(wr, "z.a", PT_F32, 1, (int64_t[]){100}, PT_F32, a);   // 400 B
    pt_st_writer_add(wr, "b", PT_F32, 1, (int64_t[]){50}, PT_F32, b);      // 200 B
    pt_st_writer_add(wr, "c", PT_F32, 1, (int64_t[]){10}, PT_F32, c);      // 40 B
    const char *dir = tmp_path("sharded");
    int ns = pt_st_writer_write_sharded(wr, dir, "diffusion_pytorch_model", 450);
    EXPECT(ns == 2, "shards %d", ns);  // [z.a] [b, c]
    char idx[2048];
    snprintf(idx, sizeof idx, "%s/diffusion_pytorch_model.safetensors.index.json", dir);
    size_t n;
    char *text = pt_read_file(idx, &n);
    const char *want = "{\n  \"metadata\": {\n    \"total_size\": 640\n  },\n  \"weight_map\": {\n"
                       "    \"b\": \"diffusion_pytorch_model-00002-of-00002.safetensors\",\n"
                       "    \"c\": \"diffusion_pytorch_model-00002-of-00002.safetensors\",\n"
                       "    \"z.a\": \"diffusion_pytorch_model-00001-of-00002.safetensors\"\n  }\n}\n";
    EXPECT(strcmp(text, want) == 0, "index:\n%s", text);
    free(text);
    pt_weights *w = pt_weights_load(idx);
    EXPECT(w->n == 3, "n %d", w->n);
    float got[100];
    pt_weights_read_f32(pt_weights_get(w, "z.a"), got);
    EXPECT(got[99] == 99.0f, "z.a");
    pt_weights_read_f32(pt_weights_get(w, "c"), got);
    EXPECT(got[9] == 4.5f, "c");
    pt_weights_free(w);
    w = pt_weights_load(dir);   // folder: finds the index
    EXPECT(w->n == 3, "folder n %d", w->n);
    pt_weights_free(w);
    // an index naming a tensor its shard lacks
    char bad[2048];
    snprintf(bad, sizeof bad, "%s/bad.safetensors.index.json", dir);
    const char *bt = "{\"weight_map\": {\"b\": \"diffusion_pytorch_model-00002-of-00002.safetensors\", "
                     "\"ghost\": \"diffusion_pytorch_model-00001-of-00002.safetensors\"}}";
    spit(bad, bt, strlen(bt));
    EXPECT_FAILS(pt_weights_load(bad), 2, "tensor 'ghost' is listed in weight_map");
    // single shard: a plain file
    const char *dir1 = tmp_path("single");
    EXPECT(pt_st_writer_write_sharded(wr, dir1, "model", 1 << 20) == 1, "one shard");
    w = pt_weights_load(dir1);
    EXPECT(w->n == 3 && strstr(w->source, "single"), "single folder");
    pt_weights_free(w);
    pt_st_writer_free(wr);
    EXPECT_FAILS(pt_weights_load(g_tmp), 2, "holds no weights file");
}

// Builds a file from a header string and a data size (data = zeros).
static const char *make_raw(const char *name, const char *hdr, size_t data_bytes, int64_t len_override) {
    const char *p = tmp_path(name);
    size_t hl = strlen(hdr);
    unsigned char *buf = calloc(1, 8 + hl + data_bytes + 1);
    uint64_t L = len_override >= 0 ? (uint64_t)len_override : hl;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(L >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    spit(p, buf, 8 + hl + data_bytes);
    free(buf);
    return p;
}

TEST_CASE(corrupt_files) {
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    const char *p = make_raw("ok.safetensors", ok, 16, -1);
    pt_weights *w = pt_weights_load(p);
    EXPECT(w->n == 1, "baseline loads");
    pt_weights_free(w);
    // truncated data: the tensor's end is past the data section
    p = make_raw("trunc.safetensors", ok, 10, -1);
    EXPECT_FAILS(pt_weights_load(p), 2, "trunc.safetensors: tensor 'a': data_offsets [0, 16] run past the data section (10 bytes");
    // header length past EOF
    p = make_raw("hlen.safetensors", ok, 16, 1000000);
    EXPECT_FAILS(pt_weights_load(p), 2, "hlen.safetensors: header length 1000000 (u64 at byte offset 0) runs past the end");
    // too short
    p = tmp_path("short.safetensors");
    spit(p, "abc", 3);
    EXPECT_FAILS(pt_weights_load(p), 2, "too short");
    // bad JSON: error points into the header
    p = make_raw("json.safetensors", "{\"a\":{\"dtype\" \"F32\"}}", 0, -1);
    EXPECT_FAILS(pt_weights_load(p), 2, "json.safetensors (safetensors header at byte offset 8):1:15: expected ':'");
    // offsets out of range (end < begin)
    p = make_raw("order.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 16, -1);
    EXPECT_FAILS(pt_weights_load(p), 2, "tensor 'a': data_offsets [8, 4] end before they begin");
    // shape x dtype does not match the byte span
    p = make_raw("mismatch.safetensors", "{\"a\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, -1);
    EXPECT_FAILS(pt_weights_load(p), 2, "tensor 'a': data_offsets [0, 16] hold 16 bytes but shape x F16 needs 8");
    // overlapping tensors
    p = make_raw("overlap.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, -1);
    EXPECT_FAILS(pt_weights_load(p), 2, "tensors 'a' [0, 16] and 'b' [8, 16] overlap");
    // unsupported dtype
    p = make_raw("dtype.safetensors", "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4, -1);
    EXPECT_FAILS(pt_weights_load(p), 2, "tensor 'a': unsupported dtype \"F8_E4M3\"");
    // negative / fractional shape
    p = make_raw("neg.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, -1);
    EXPECT_FAILS(pt_weights_load(p), 2, "tensor 'a': shape entry must be a non-negative integer");
    // missing field
    p = make_raw("missing.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, -1);
    EXPECT_FAILS(pt_weights_load(p), 2, "tensor 'a': \"data_offsets\" must be [begin, end]");
    // header is not an object
    p = make_raw("arr.safetensors", "[1,2]", 0, -1);
    EXPECT_FAILS(pt_weights_load(p), 2, "does not start with '{'");
    // metadata must be strings
    p = make_raw("meta.safetensors", "{\"__metadata__\":{\"step\":5}}", 0, -1);
    EXPECT_FAILS(pt_weights_load(p), 2, "__metadata__ value \"step\" must be a string");
    // a truncated copy of a real written file (cut in the data section)
    float x[64] = {0};
    pt_st_writer *wr = pt_st_writer_new();
    pt_st_writer_add(wr, "first", PT_F32, 1, (int64_t[]){32}, PT_F32, x);
    pt_st_writer_add(wr, "second", PT_F32, 1, (int64_t[]){32}, PT_F32, x);
    p = tmp_path("full.safetensors");
    pt_st_writer_write(wr, p);
    pt_st_writer_free(wr);
    size_t n;
    unsigned char *raw = slurp(p, &n);
    p = tmp_path("cut.safetensors");
    spit(p, raw, n - 100);
    free(raw);
    EXPECT_FAILS(pt_weights_load(p), 2, "tensor 'second': data_offsets [128, 256] run past the data section");
    // unaligned data (unpadded header of odd length) still reads correctly
    float y[2] = {1.5f, -2.0f};
    const char *uh = "{\"u\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} ";  // 56 chars -> pad to 57
    size_t hl = strlen(uh);
    unsigned char *buf = calloc(1, 8 + hl + 8);
    buf[0] = (unsigned char)hl;
    memcpy(buf + 8, uh, hl);
    memcpy(buf + 8 + hl, y, 8);
    p = tmp_path("unaligned.safetensors");
    spit(p, buf, 8 + hl + 8);
    free(buf);
    w = pt_weights_load(p);
    float got[2];
    pt_weights_read_f32(pt_weights_get(w, "u"), got);
    EXPECT(got[0] == 1.5f && got[1] == -2.0f && ((uintptr_t)pt_weights_get(w, "u")->data % 4) == 0, "unaligned");
    pt_weights_free(w);
}

TEST_CASE(hash_many) {
    pt_weights *w = pt_weights_new("mem");
    char name[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "blocks.%d.weight", i);
        pt_weights_add(w, name, PT_F32, 0, NULL, NULL, 4);
    }
    int ok = 1;
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "blocks.%d.weight", i);
        const pt_wtensor *t = pt_weights_find(w, name);
        ok &= t && t == &w->t[i];
    }
    EXPECT(ok, "all found at their index");
    EXPECT_FAILS(pt_weights_add(w, "blocks.7.weight", PT_F32, 0, NULL, NULL, 4), 2, "appears twice");
    pt_weights_rename(w, 7, "renamed");
    EXPECT(pt_weights_find(w, "renamed") == &w->t[7] && !pt_weights_find(w, "blocks.7.weight"), "rename");
    pt_weights_free(w);
}

int main(void) {
    const char *t = getenv("POSETUNE_TEST_TMP");
    snprintf(g_tmp, sizeof g_tmp, "%s/test_safetensors", t ? t : "/tmp/posetune-test");
    pt_mkdirs(g_tmp);
    RUN(round_trip_exact);
    RUN(fixtures_read_and_rewrite);
    RUN(alphas_cumprod_value);
    RUN(sharded_and_folder);
    RUN(corrupt_files);
    RUN(hash_many);
    return test_summary();
}

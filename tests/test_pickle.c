// test_pickle.c — restricted torch.save reader on the files of tests/data/make_ckpt.py: exact
// values (written by the script), views sharing storage, nesting, and refusals.
// Cross-check with real PyTorch: run tests/data/make_ckpt_torch.py DIR on a machine with torch,
// then POSETUNE_TORCH_CKPTS=DIR ./test_pickle runs the same value checks on torch's own files
// (plus torch_linear.pt against its .expected.txt; the refusal tests need the stdlib files).
#define _GNU_SOURCE
#include "checkpoints/pickle.h"
#include "checkpoints/weights.h"
#include "tests/test_util.h"

static const char *data_path(const char *name) {
    static char buf[2][4096];
    static int k = 0;
    k ^= 1;
    const char *real = getenv("POSETUNE_TORCH_CKPTS");
    if (real) snprintf(buf[k], sizeof buf[k], "%s/%s", real, name);
    else snprintf(buf[k], sizeof buf[k], "%s/tests/data/%s", POSETUNE_SOURCE_DIR, name);
    return buf[k];
}

static void read_f32(const pt_weights *w, const char *name, float *dst, int64_t want_numel) {
    const pt_wtensor *t = pt_weights_get(w, name);
    EXPECT(pt_wtensor_numel(t) == want_numel, "%s numel %lld", name, (long long)pt_wtensor_numel(t));
    pt_weights_read_f32(t, dst);
}

TEST_CASE(flat_f32_i64) {
    pt_weights *w = pt_weights_load(data_path("torch_f32.pt"));
    EXPECT(w->n == 3, "n=%d", w->n);
    const pt_wtensor *t = pt_weights_get(w, "a.weight");
    EXPECT(t->dtype == PT_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->nbytes == 24, "a.weight");
    EXPECT(((uintptr_t)t->data % 64) == 0, "storage data 64-aligned in the mmap, as torch writes it (no copy)");
    float v[6];
    read_f32(w, "a.weight", v, 6);
    for (int i = 0; i < 6; i++) EXPECT(v[i] == 0.5f * (float)i - 1.0f, "a.weight[%d]=%g", i, v[i]);
    read_f32(w, "a.bias", v, 3);
    EXPECT(v[0] == 0.25f && v[1] == -0.75f && v[2] == 3.0f, "a.bias");
    t = pt_weights_get(w, "steps");
    EXPECT(t->dtype == PT_I64 && t->shape[0] == 4, "steps");
    const int64_t *s = t->data;
    EXPECT(s[0] == -1 && s[1] == 0 && s[2] == (1LL << 40) && s[3] == 7, "i64 values");
    // insertion order of the OrderedDict is kept
    EXPECT(!strcmp(w->t[0].name, "a.weight") && !strcmp(w->t[2].name, "steps"), "order");
    pt_weights_free(w);
}

TEST_CASE(half_precision) {
    pt_weights *w = pt_weights_load(data_path("torch_f16.pt"));
    const pt_wtensor *t = pt_weights_get(w, "w16");
    EXPECT(t->dtype == PT_F16 && t->nbytes == 8, "w16");
    EXPECT(((const uint16_t *)t->data)[0] == 0x3c00 && ((const uint16_t *)t->data)[3] == 0x7bff, "f16 bits");
    float v[4];
    read_f32(w, "w16", v, 4);
    EXPECT(v[0] == 1.0f && v[1] == -2.0f && v[2] == 0.5f && v[3] == 65504.0f, "w16 values");
    t = pt_weights_get(w, "wbf");
    EXPECT(t->dtype == PT_BF16, "wbf dtype");
    read_f32(w, "wbf", v, 3);
    EXPECT(v[0] == 1.0f && v[1] == -3.0f && v[2] == 0.15625f, "bf16 values");
    pt_weights_free(w);
}

TEST_CASE(state_dict_nesting_and_parameter) {
    pt_weights *w = pt_weights_load(data_path("torch_nested.ckpt"));
    EXPECT(w->n == 2, "only the state_dict tensors: n=%d", w->n);
    float v[2];
    read_f32(w, "model.x", v, 2);
    EXPECT(v[0] == 1.5f && v[1] == 2.5f, "model.x");
    read_f32(w, "model.p", v, 1);   // nn.Parameter through _rebuild_parameter
    EXPECT(v[0] == 9.0f, "model.p");
    EXPECT(!pt_weights_find(w, "global_step") && !pt_weights_find(w, "state_dict.model.x"), "no extras");
    pt_weights_free(w);
}

TEST_CASE(views_share_storage) {
    pt_weights *w = pt_weights_load(data_path("torch_view.pt"));  // storage = 0..9
    float v[6];
    read_f32(w, "v_off", v, 6);     // offset 2, (2,3) contiguous -> 2..7
    for (int i = 0; i < 6; i++) EXPECT(v[i] == (float)(i + 2), "v_off[%d]=%g", i, v[i]);
    read_f32(w, "v_pre", v, 3);
    EXPECT(v[0] == 0 && v[1] == 1 && v[2] == 2, "v_pre");
    const pt_wtensor *a = pt_weights_get(w, "v_off"), *b = pt_weights_get(w, "v_pre");
    EXPECT((const float *)a->data == (const float *)b->data + 2, "contiguous views point into one storage");
    read_f32(w, "v_t", v, 6);       // (3,2) stride (1,3): [[0,3],[1,4],[2,5]] copied contiguous
    float want[6] = {0, 3, 1, 4, 2, 5};
    for (int i = 0; i < 6; i++) EXPECT(v[i] == want[i], "v_t[%d]=%g", i, v[i]);
    pt_weights_free(w);
}

TEST_CASE(refusals) {
    if (getenv("POSETUNE_TORCH_CKPTS")) { test_skip("refusal files are written by make_ckpt.py only"); return; }
    EXPECT_FAILS(pt_weights_load(data_path("torch_evil.pt")), 2, "refusing to execute pickle global 'os.system'");
    EXPECT_FAILS(pt_weights_load(data_path("torch_deflated.pt")), 2, "is compressed (method 8)");
}

TEST_CASE(real_torch_linear) {
    const char *real = getenv("POSETUNE_TORCH_CKPTS");
    if (!real) { test_skip("POSETUNE_TORCH_CKPTS not set"); return; }
    pt_weights *w = pt_weights_load(data_path("torch_linear.pt"));
    size_t n;
    char *txt = pt_read_file(data_path("torch_linear.expected.txt"), &n);
    float v[6];
    const char *names[2] = {"weight", "bias"};
    int counts[2] = {6, 2};
    char *line = txt;
    for (int k = 0; k < 2; k++) {
        read_f32(w, names[k], v, counts[k]);
        char *s = line + strlen(names[k]) + 1;
        for (int i = 0; i < counts[k]; i++) EXPECT(v[i] == (float)strtod(s, &s), "%s[%d]", names[k], i);
        line = strchr(line, '\n') + 1;
    }
    free(txt);
    pt_weights_free(w);
}

TEST_CASE(corrupt_archives) {
    if (getenv("POSETUNE_TORCH_CKPTS")) { test_skip("uses the stdlib files"); return; }
    const char *dir = getenv("POSETUNE_TEST_TMP");
    char tmp[4096], path[4200];
    snprintf(tmp, sizeof tmp, "%s/test_pickle", dir ? dir : "/tmp/posetune-test");
    pt_mkdirs(tmp);
    size_t n;
    char *raw = pt_read_file(data_path("torch_f32.pt"), &n);
    // truncated: the end-of-central-directory record is gone
    snprintf(path, sizeof path, "%s/cut.pt", tmp);
    FILE *f = pt_fopen(path, "wb");
    pt_fwrite(raw, 1, n / 2, f, path);
    pt_fclose(f, path);
    EXPECT_FAILS(pt_weights_load(path), 2, "no zip end-of-central-directory record");
    // a storage shorter than the tensor needs: shrink the numel bytes of data/0 is hard to do in
    // place, so instead corrupt one pickle opcode to an unknown one and expect the byte offset.
    const char *pk = memmem(raw, n, "\x80\x02", 2);
    EXPECT(pk != NULL, "pickle found");
    size_t at = (size_t)(pk - raw) + 2;   // first opcode after PROTO
    raw[at] = (char)0xff;
    snprintf(path, sizeof path, "%s/badop.pt", tmp);
    f = pt_fopen(path, "wb");
    pt_fwrite(raw, 1, n, f, path);
    pt_fclose(f, path);
    EXPECT_FAILS(pt_weights_load(path), 2, "data.pkl byte offset 2: unsupported pickle opcode 0xff");
    free(raw);
}

// The zip reader on its own: entry names and sizes of a known archive.
TEST_CASE(zip_entries) {
    if (getenv("POSETUNE_TORCH_CKPTS")) { test_skip("uses the stdlib files"); return; }
    size_t n;
    char *raw = pt_read_file(data_path("torch_nested.ckpt"), &n);
    pt_zip z;
    pt_zip_open(&z, "torch_nested.ckpt", (const uint8_t *)raw, n);
    EXPECT(z.n == 5, "entries %d", z.n);
    const pt_zip_entry *e = pt_zip_find(&z, "torch_nested/byteorder");
    EXPECT(e && e->size == 6 && memcmp(e->data, "little", 6) == 0, "byteorder entry");
    e = pt_zip_find(&z, "torch_nested/data/0");
    EXPECT(e && e->size == 8, "data/0 holds 2 floats");
    EXPECT(pt_zip_find(&z, "nope") == NULL, "absent");
    pt_zip_close(&z);
    free(raw);
}

int main(void) {
    RUN(flat_f32_i64);
    RUN(half_precision);
    RUN(state_dict_nesting_and_parameter);
    RUN(views_share_storage);
    RUN(refusals);
    RUN(real_torch_linear);
    RUN(corrupt_archives);
    RUN(zip_entries);
    return test_summary();
}

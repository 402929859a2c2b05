// test_params.c — parameter table: layout (trainable prefix), loading by name, load errors.
#include <unistd.h>

#include "models/params.h"
#include "tests/test_util.h"

static void build(pt_params *P) {
    pt_params_init(P, PT_CPU, PT_F32);
    pt_params_add(P, "a.weight", PT_DIMS(2, 3));
    pt_params_add(P, "a.bias", PT_DIMS(2));
    pt_params_add(P, "b.weight", PT_DIMS(4, 1, 1, 1));
}

TEST_CASE(layout_trainable_first) {
    pt_params P;
    build(&P);
    pt_params_set_trainable(&P, "a.", 0);
    pt_params_finalize(&P);
    pt_params_alloc_grad(&P);
    EXPECT(P.numel == 12 && P.numel_trainable == 4, "numel %lld trainable %lld", (long long)P.numel, (long long)P.numel_trainable);
    EXPECT(pt_params_find(&P, "b.weight")->offset == 0, "trainable param not first");
    EXPECT(pt_params_find(&P, "a.weight")->offset == 4 && pt_params_find(&P, "a.bias")->offset == 10, "frozen offsets");
    EXPECT(pt_params_find(&P, "b.weight")->t->grad != NULL && pt_params_find(&P, "a.weight")->t->grad == NULL, "grad views");
    EXPECT(pt_params_count(&P, 1) == 4 && pt_params_count(&P, 0) == 12, "counts");
    pt_params_free(&P);
}

TEST_CASE(load_by_name_and_errors) {
    float a[6] = {1, 2, 3, 4, 5, 6}, ab[2] = {7, 8}, b[4] = {9, 10, 11, 12};
    const char *good = tu_tmp_path("good.safetensors");
    {
        pt_st_writer *w = pt_st_writer_new();
        pt_st_writer_add(w, "a.weight", PT_F16, 2, PT_SHAPE(2, 3), PT_F32, a);
        pt_st_writer_add(w, "a.bias", PT_F32, 1, PT_SHAPE(2), PT_F32, ab);
        pt_st_writer_add(w, "b.weight", PT_F32, 2, PT_SHAPE(4, 1), PT_F32, b);   // [4,1] vs [4,1,1,1]: accepted
        pt_st_writer_write(w, good);
        pt_st_writer_free(w);
    }
    pt_params P;
    build(&P);
    pt_params_finalize(&P);
    pt_weights *W = pt_weights_load(good);
    pt_params_load(&P, W, NULL);
    float *d = P.data;
    float expect[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    for (int i = 0; i < 12; i++) EXPECT_CLOSE(d[i], expect[i], 0, 0);
    pt_weights_free(W);
    pt_params_free(&P);

    // missing tensor
    const char *miss = tu_tmp_path("missing.safetensors");
    pt_st_writer *w = pt_st_writer_new();
    pt_st_writer_add(w, "a.weight", PT_F32, 2, PT_SHAPE(2, 3), PT_F32, a);
    pt_st_writer_add(w, "b.weight", PT_F32, 4, PT_SHAPE(4, 1, 1, 1), PT_F32, b);
    pt_st_writer_write(w, miss);
    pt_st_writer_free(w);
    build(&P); pt_params_finalize(&P);
    W = pt_weights_load(miss);
    EXPECT_FAILS(pt_params_load(&P, W, NULL), PT_EXIT_USAGE, "missing tensor 'a.bias'");
    pt_params_mark_new(&P, "a.bias");   // a regime may declare it new: then it loads
    pt_params_load(&P, W, NULL);
    pt_weights_free(W); pt_params_free(&P);

    // wrong shape and unexpected tensor
    const char *bad = tu_tmp_path("bad.safetensors");
    w = pt_st_writer_new();
    pt_st_writer_add(w, "a.weight", PT_F32, 2, PT_SHAPE(3, 2), PT_F32, a);
    pt_st_writer_add(w, "a.bias", PT_F32, 1, PT_SHAPE(2), PT_F32, ab);
    pt_st_writer_add(w, "b.weight", PT_F32, 1, PT_SHAPE(4), PT_F32, b);
    pt_st_writer_add(w, "c.extra", PT_F32, 1, PT_SHAPE(2), PT_F32, ab);
    pt_st_writer_write(w, bad);
    pt_st_writer_free(w);
    build(&P); pt_params_finalize(&P);
    W = pt_weights_load(bad);
    EXPECT_FAILS(pt_params_load(&P, W, NULL), PT_EXIT_USAGE, "'a.weight' has shape [3, 2]");
    pt_weights_free(W); pt_params_free(&P);
    w = pt_st_writer_new();
    pt_st_writer_add(w, "a.weight", PT_F32, 2, PT_SHAPE(2, 3), PT_F32, a);
    pt_st_writer_add(w, "a.bias", PT_F32, 1, PT_SHAPE(2), PT_F32, ab);
    pt_st_writer_add(w, "b.weight", PT_F32, 1, PT_SHAPE(4), PT_F32, b);
    pt_st_writer_add(w, "c.extra", PT_F32, 1, PT_SHAPE(2), PT_F32, ab);
    pt_st_writer_write(w, bad);
    pt_st_writer_free(w);
    build(&P); pt_params_finalize(&P);
    W = pt_weights_load(bad);
    EXPECT_FAILS(pt_params_load(&P, W, NULL), PT_EXIT_USAGE, "unexpected tensor 'c.extra'");
    pt_load_opts o = {.allow_unexpected = 1};
    pt_params_load(&P, W, &o);
    pt_weights_free(W); pt_params_free(&P);
    unlink(good); unlink(miss); unlink(bad);
}

int main(void) {
    tu_tmp_init("test_params");
    RUN(layout_trainable_first);
    RUN(load_by_name_and_errors);
    tu_tmp_cleanup();
    return test_summary();
}

// gpu_ops_mm.c — CUDA vs CPU reference for linear, matmul, conv2d, pad2d, upsample and pooling:
// forward output and every input gradient (gpu_compare), at tiny shapes (f32, bf16, f16) and at
// the real SD1.5 shapes (f32 <= 1e-4, bf16 <= 1e-2). Batch 1 where the CPU reference is slow.
// Run on a GPU machine: build-*/tests/gpu/gpu_ops_mm (about a minute, mostly the CPU reference).
#include "autograd/cuda_common.h"
#include "autograd/ops.h"
#include "autograd/ops/conv2d_cuda.h"
#include "tests/gpu/gpu_check.h"

// ---- op wrappers (gc_fn) ----------------------------------------------------------------------------
typedef struct lin_ctx { int bias, transpose_x; } lin_ctx;
static pt_tensor *f_linear(pt_tensor **in, int n, void *vc) {
    (void)n;
    lin_ctx *c = vc;
    return pt_linear(c->transpose_x ? pt_transpose(in[0], -1, -2) : in[0], in[1], c->bias ? in[2] : NULL);
}
static pt_tensor *f_matmul(pt_tensor **in, int n, void *vc) {
    (void)n;
    return pt_matmul(vc ? pt_transpose(in[0], -1, -2) : in[0], in[1]);
}
typedef struct conv_ctx { int stride, pad, bias, transpose_x; } conv_ctx;
static pt_tensor *f_conv(pt_tensor **in, int n, void *vc) {
    (void)n;
    conv_ctx *c = vc;
    return pt_conv2d(c->transpose_x ? pt_transpose(in[0], 2, 3) : in[0], in[1], c->bias ? in[2] : NULL, c->stride, c->pad);
}
typedef struct rs_ctx { int op, a, b, c, d; } rs_ctx;   // op 0 pad(a,b,c,d), 1 upsample, 2 max(a,b), 3 avg(a,b)
static pt_tensor *f_resample(pt_tensor **in, int n, void *vc) {
    (void)n;
    rs_ctx *c = vc;
    switch (c->op) {
    case 0: return pt_pad2d(in[0], c->a, c->b, c->c, c->d);
    case 1: return pt_upsample_nearest2x(in[0]);
    case 2: return pt_max_pool2d(in[0], c->a, c->b);
    default: return pt_avg_pool2d(in[0], c->a, c->b);
    }
}

// Round a CPU f32 tensor's values to bf16 (so both sides see the same max-pool ties).
static void round_to_bf16(pt_tensor *t) {
    float *p = pt_f32(t);
    for (int64_t i = 0; i < pt_numel(t); i++) p[i] = pt_bf16_to_f32(pt_f32_to_bf16(p[i]));
}

static void compare(const char *label, gc_fn fn, pt_tensor **in, int n_in, void *ctx, const pt_dtype *dts, int n_dt) {
    for (int k = 0; k < n_dt; k++) {
        gpu_result r = gpu_compare(fn, in, n_in, ctx, dts[k]);
        GPU_EXPECT(label, r, dts[k]);
    }
}
static const pt_dtype ALL3[] = {PT_F32, PT_BF16, PT_F16};
static const pt_dtype F32_BF16[] = {PT_F32, PT_BF16};

// ---- tiny shapes ---------------------------------------------------------------------------------------
TEST_CASE(tiny_linear_matmul) {
    int mark = pt_scope_begin();
    lin_ctx lb = {1, 0}, lt = {0, 1};
    pt_tensor *l1[3] = {gc_input(PT_DIMS(2, 5, 7), 1.0), gc_input(PT_DIMS(6, 7), 1.0), gc_input(PT_DIMS(6), 1.0)};
    compare("linear (2,5,7)x(6,7)+b", f_linear, l1, 3, &lb, ALL3, 3);
    pt_tensor *l2[2] = {gc_input(PT_DIMS(3, 7, 4), 1.0), gc_input(PT_DIMS(5, 7), 1.0)};
    compare("linear transposed x, no bias", f_linear, l2, 2, &lt, ALL3, 3);
    pt_tensor *m1[2] = {gc_input(PT_DIMS(2, 3, 4, 5), 1.0), gc_input(PT_DIMS(2, 3, 5, 6), 1.0)};
    compare("matmul batched (2,3,4,5)@(2,3,5,6)", f_matmul, m1, 2, NULL, ALL3, 3);
    pt_tensor *m2[2] = {gc_input(PT_DIMS(2, 4, 5), 1.0), gc_input(PT_DIMS(5, 3), 1.0)};
    compare("matmul shared b (2,4,5)@(5,3)", f_matmul, m2, 2, NULL, ALL3, 3);
    pt_tensor *m3[2] = {gc_input(PT_DIMS(2, 5, 4), 1.0), gc_input(PT_DIMS(2, 5, 3), 1.0)};
    compare("matmul transposed a", f_matmul, m3, 2, (void *)1, ALL3, 3);
    pt_scope_end(mark, NULL);
}

TEST_CASE(tiny_conv) {
    struct { int64_t B, C, H, W, O, kh, kw; conv_ctx c; const char *name; } cs[] = {
        {1, 2, 5, 5, 3, 3, 3, {1, 1, 1, 0}, "conv 3x3 p1"},
        {2, 3, 6, 9, 4, 3, 3, {2, 1, 1, 0}, "conv 3x3 s2 non-square"},
        {2, 4, 5, 7, 3, 1, 1, {1, 0, 1, 0}, "conv 1x1 direct"},
        {1, 3, 5, 5, 2, 1, 1, {2, 0, 0, 0}, "conv 1x1 s2"},
        {1, 3, 16, 24, 5, 8, 8, {8, 0, 0, 0}, "conv 8x8 s8 patch"},
        {2, 3, 7, 6, 2, 3, 3, {1, 0, 1, 1}, "conv 3x3 transposed view"},
        {1, 2, 6, 6, 2, 3, 3, {3, 2, 1, 0}, "conv 3x3 s3 p2"},
        {1, 2, 4, 5, 3, 1, 3, {1, 1, 1, 0}, "conv 1x3 p1"},
    };
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        int mark = pt_scope_begin();
        pt_tensor *in[3] = {cs[k].c.transpose_x ? gc_input(PT_DIMS(cs[k].B, cs[k].C, cs[k].W, cs[k].H), 1.0)
                                                : gc_input(PT_DIMS(cs[k].B, cs[k].C, cs[k].H, cs[k].W), 1.0),
                            gc_input(PT_DIMS(cs[k].O, cs[k].C, cs[k].kh, cs[k].kw), 0.5), gc_input(PT_DIMS(cs[k].O), 1.0)};
        compare(cs[k].name, f_conv, in, cs[k].c.bias ? 3 : 2, &cs[k].c, ALL3, 3);
        pt_scope_end(mark, NULL);
    }
    // several chunks of images: a small workspace forces 2 + 2 + 1 images per GEMM call in f32
    // (27 x 256 columns of 4 bytes per image), 4 + 1 in bf16
    int mark = pt_scope_begin();
    pt_conv2d_set_workspace_bytes(2 * 27 * 256 * 4 + 100);
    conv_ctx c = {1, 1, 1, 0};
    pt_tensor *in[3] = {gc_input(PT_DIMS(5, 3, 16, 16), 1.0), gc_input(PT_DIMS(4, 3, 3, 3), 0.5), gc_input(PT_DIMS(4), 1.0)};
    compare("conv 3x3 in chunks of images", f_conv, in, 3, &c, F32_BF16, 2);
    pt_conv2d_set_workspace_bytes(0);
    pt_scope_end(mark, NULL);
}

TEST_CASE(tiny_resample) {
    struct { rs_ctx c; const char *name; } cs[] = {
        {{0, 0, 1, 0, 1}, "pad2d (0,1,0,1)"}, {{0, 1, 2, 3, 0}, "pad2d (1,2,3,0)"}, {{1, 0, 0, 0, 0}, "upsample 2x"},
        {{2, 2, 2, 0, 0}, "max_pool 2"}, {{2, 3, 1, 0, 0}, "max_pool 3 s1"}, {{2, 3, 2, 0, 0}, "max_pool 3 s2"},
        {{3, 2, 2, 0, 0}, "avg_pool 2"}, {{3, 3, 2, 0, 0}, "avg_pool 3 s2"}, {{3, 2, 1, 0, 0}, "avg_pool 2 s1"},
    };
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        int mark = pt_scope_begin();
        pt_tensor *in[1] = {gc_input(PT_DIMS(2, 3, 7, 8), 1.0)};
        round_to_bf16(in[0]);   // f16 holds these exactly too (|x| < 8)
        compare(cs[k].name, f_resample, in, 1, &cs[k].c, ALL3, 3);
        pt_scope_end(mark, NULL);
    }
}

// ---- SD1.5 shapes -------------------------------------------------------------------------------------------
static void sd_conv(const char *name, int64_t B, int64_t C, int64_t H, int64_t O, int64_t k, int stride, int pad) {
    int mark = pt_scope_begin();
    double ws = 1.0 / sqrt((double)(C * k * k));   // keeps outputs O(1)
    pt_tensor *in[3] = {gc_input(PT_DIMS(B, C, H, H), 1.0), gc_input(PT_DIMS(O, C, k, k), ws), gc_input(PT_DIMS(O), 0.1)};
    conv_ctx c = {stride, pad, 1, 0};
    compare(name, f_conv, in, 3, &c, F32_BF16, 2);
    pt_scope_end(mark, NULL);
}

TEST_CASE(sd_convs) {
    sd_conv("conv 3x3 320ch 64x64", 1, 320, 64, 320, 3, 1, 1);
    sd_conv("conv 3x3 640ch 32x32", 1, 640, 32, 640, 3, 1, 1);
    sd_conv("conv 3x3 1280ch 16x16", 1, 1280, 16, 1280, 3, 1, 1);
    sd_conv("conv 3x3 1280ch 8x8 batch 2", 2, 1280, 8, 1280, 3, 1, 1);
    sd_conv("conv 3x3 s2 320ch 64->32", 1, 320, 64, 320, 3, 2, 1);
    sd_conv("conv 1x1 shortcut 320->640 32x32", 1, 320, 32, 640, 1, 1, 0);
    sd_conv("conv_in 4->320 64x64 batch 2", 2, 4, 64, 320, 3, 1, 1);
}

TEST_CASE(sd_linear_matmul) {
    int mark = pt_scope_begin();
    lin_ctx lb = {1, 0};
    pt_tensor *l1[3] = {gc_input(PT_DIMS(1, 4096, 320), 1.0), gc_input(PT_DIMS(320, 320), 1.0 / sqrt(320.0)),
                        gc_input(PT_DIMS(320), 0.1)};
    compare("linear 4096x320 -> 320", f_linear, l1, 3, &lb, F32_BF16, 2);
    pt_tensor *l2[3] = {gc_input(PT_DIMS(1, 256, 1280), 1.0), gc_input(PT_DIMS(5120, 1280), 1.0 / sqrt(1280.0)),
                        gc_input(PT_DIMS(5120), 0.1)};
    compare("linear 256x1280 -> 5120", f_linear, l2, 3, &lb, F32_BF16, 2);
    pt_tensor *m1[2] = {gc_input(PT_DIMS(8, 1024, 80), 1.0), gc_input(PT_DIMS(8, 80, 77), 1.0 / sqrt(80.0))};
    compare("matmul batched (8,1024,80)@(8,80,77)", f_matmul, m1, 2, NULL, F32_BF16, 2);
    pt_tensor *m2[2] = {gc_input(PT_DIMS(2, 4, 1280), 1.0), gc_input(PT_DIMS(1280, 768), 1.0 / sqrt(1280.0))};
    compare("matmul shared (2,4,1280)@(1280,768)", f_matmul, m2, 2, NULL, F32_BF16, 2);
    pt_scope_end(mark, NULL);
}

TEST_CASE(sd_resample) {
    rs_ctx pad = {0, 0, 1, 0, 1}, up = {1, 0, 0, 0, 0}, mp = {2, 2, 2, 0, 0};
    int mark = pt_scope_begin();
    pt_tensor *a[1] = {gc_input(PT_DIMS(1, 128, 64, 64), 1.0)};
    compare("pad2d (0,1,0,1) 128ch 64x64", f_resample, a, 1, &pad, F32_BF16, 2);
    pt_tensor *b[1] = {gc_input(PT_DIMS(1, 1280, 16, 16), 1.0)};
    compare("upsample 1280ch 16x16", f_resample, b, 1, &up, F32_BF16, 2);
    pt_tensor *c[1] = {gc_input(PT_DIMS(2, 4, 80, 64), 1.0)};
    round_to_bf16(c[0]);
    compare("max_pool 2 (2,4,80,64) DreamPose adapter", f_resample, c, 1, &mp, F32_BF16, 2);
    pt_scope_end(mark, NULL);
}

int main(void) {
    if (!pt_cuda_available()) { printf("SKIP: no CUDA device\n"); return 77; }
    tu_seed(5);
    RUN(tiny_linear_matmul);
    RUN(tiny_conv);
    RUN(tiny_resample);
    RUN(sd_convs);
    RUN(sd_linear_matmul);
    RUN(sd_resample);
    return test_summary();
}

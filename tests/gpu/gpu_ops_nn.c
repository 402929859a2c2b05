// gpu_ops_nn.c — CUDA vs CPU reference for the norm, activation, attention, timestep-embedding
// and loss ops: forward outputs and input gradients (loss = sum(out * R)), f32 (<= 1e-4) and
// bf16 (<= 1e-2), at tiny shapes and at SD1.5 shapes. The CPU reference runs once per case
// and is compared with both dtypes (the 4096-token attention reference is the slow part).
// Attention cases also run bf16 with the opt-in tensor-core forward (POSETUNE_ATTN_TC=1,
// autograd/ops/attention_tc.cu) against the same reference; its backward uses the lse it wrote.
#include <stdlib.h>
#include <time.h>

#include "autograd/cuda_common.h"
#include "autograd/ops/attention_cuda.h"
#include "tests/gpu/gpu_check.h"

static double nn_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// One GPU run of a comparison: dtype, and the tensor-core attention switch: TC_KEEP leaves it as
// it is; TC_OFF / TC_ON set POSETUNE_ATTN_TC=0 / 1 and re-read it (pt_attention_tc_set(-1)).
// TC_ON expects the tensor-core forward to run, TC_FALLBACK (also POSETUNE_ATTN_TC=1) expects the
// case to be unsupported there, i.e. the fp32-FMA kernel to run.
enum { TC_KEEP, TC_OFF, TC_ON, TC_FALLBACK };
typedef struct nn_variant { pt_dtype dt; int tc; } nn_variant;
static const char *tc_name[] = {"", " tc=0", " tc=1", " tc=1 (fallback)"};

static void tc_env(int tc) {   // before the first attention call of a variant
    if (tc == TC_KEEP) return;
    setenv("POSETUNE_ATTN_TC", tc == TC_OFF ? "0" : "1", 1);
    pt_attention_tc_set(-1);
}

// gpu_compare with one CPU reference for every variant. Prints one line per variant.
static void nn_compare_v(const char *label, gc_fn fn, pt_tensor **cpu_in, int n_in, void *ctx, const nn_variant *vs,
                         int nv) {
    int mark = pt_scope_begin();
    for (int k = 0; k < n_in; k++) if (cpu_in[k]->grad) { pt_release(cpu_in[k]->grad); cpu_in[k]->grad = NULL; }
    double t0 = nn_now();
    pt_tensor *out = fn(cpu_in, n_in, ctx);
    int64_t no = pt_numel(out);
    float *R = (float *)pt_malloc(sizeof(float) * (size_t)no);
    for (int64_t i = 0; i < no; i++) R[i] = (float)tu_normal();
    int any_grad = out->requires_grad;
    if (any_grad) pt_backward(pt_sum(pt_mul(out, pt_from_f32(PT_CPU, PT_F32, out->ndim, out->shape, R))), NULL);
    float *oc = (float *)pt_malloc(sizeof(float) * (size_t)no), *o2 = (float *)pt_malloc(sizeof(float) * (size_t)no);
    pt_copy_to_host_f32(out, oc);
    double t_cpu = nn_now() - t0;
    const char *env0 = getenv("POSETUNE_ATTN_TC");
    char env_saved[16] = "";
    if (env0) snprintf(env_saved, sizeof env_saved, "%s", env0);
    for (int vi = 0; vi < nv; vi++) {
        pt_dtype dt = vs[vi].dt;
        int tc = vs[vi].tc;
        tc_env(tc);
        int64_t tc0 = pt_attention_tc_launches();
        int m2 = pt_scope_begin();
        gpu_result r = {0, 0};
        pt_tensor *gin[PT_NODE_MAX_IN];
        for (int k = 0; k < n_in; k++) {
            gin[k] = pt_clone_nograd(cpu_in[k], PT_CUDA, cpu_in[k]->dtype == PT_F32 ? dt : cpu_in[k]->dtype);
            gin[k]->requires_grad = cpu_in[k]->requires_grad;
        }
        pt_cuda_sync();
        double t1 = nn_now();
        pt_tensor *og = fn(gin, n_in, ctx);
        if (any_grad) pt_backward(pt_sum(pt_mul(og, pt_from_f32(PT_CUDA, og->dtype, og->ndim, og->shape, R))), NULL);
        pt_cuda_sync();
        double t_gpu = nn_now() - t1;
        pt_copy_to_host_f32(og, o2);
        r.out_err = rel_err_f32(o2, oc, no);
        for (int k = 0; k < n_in && any_grad; k++) {
            if (!cpu_in[k]->requires_grad || !cpu_in[k]->grad) continue;
            int64_t n = pt_numel(cpu_in[k]);
            float *a = (float *)pt_malloc(sizeof(float) * (size_t)n), *b = (float *)pt_malloc(sizeof(float) * (size_t)n);
            pt_copy_to_host_f32(cpu_in[k]->grad, a);
            if (gin[k]->grad) pt_copy_to_host_f32(gin[k]->grad, b); else for (int64_t i = 0; i < n; i++) b[i] = 0;
            double e = rel_err_f32(b, a, n);
            if (e > r.grad_err) r.grad_err = e;
            free(a); free(b);
        }
        char l2[200];
        snprintf(l2, sizeof l2, "%s%s [cpu %.1fs gpu %.1fms]", label, tc_name[tc], t_cpu, 1e3 * t_gpu);
        GPU_EXPECT(l2, r, dt);
        int64_t tc_runs = pt_attention_tc_launches() - tc0;
        if (tc == TC_ON) EXPECT(tc_runs > 0, "%s: POSETUNE_ATTN_TC=1 but the tensor-core forward did not run", label);
        if (tc == TC_OFF || tc == TC_FALLBACK)
            EXPECT(tc_runs == 0, "%s (%s%s): the tensor-core forward ran %lld times", label, pt_dtype_name(dt), tc_name[tc],
                   (long long)tc_runs);
        for (int k = 0; k < n_in; k++) if (gin[k]->grad) { pt_release(gin[k]->grad); gin[k]->grad = NULL; }
        pt_scope_end(m2, NULL);
    }
    if (env0) setenv("POSETUNE_ATTN_TC", env_saved, 1); else unsetenv("POSETUNE_ATTN_TC");
    pt_attention_tc_set(-1);
    free(R); free(oc); free(o2);
    pt_scope_end(mark, NULL);
}

static void nn_compare(const char *label, gc_fn fn, pt_tensor **cpu_in, int n_in, void *ctx) {
    nn_compare_v(label, fn, cpu_in, n_in, ctx, (nn_variant[]){{PT_F32, TC_KEEP}, {PT_BF16, TC_KEEP}}, 2);
}

// ---- op wrappers ---------------------------------------------------------------------------------
typedef struct nn_ctx { int kind, groups, heads; float scale; } nn_ctx;

enum { K_GN, K_GN_SILU, K_GN_NOAFF, K_LN, K_SILU, K_GELU, K_GELU_TANH, K_QUICK_GELU, K_GEGLU, K_SOFTMAX, K_ATTN,
       K_TEMB, K_MSE, K_L1 };

static pt_tensor *f_op(pt_tensor **in, int n, void *vctx) {
    nn_ctx *c = vctx;
    switch (c->kind) {
    case K_GN: return pt_group_norm(in[0], c->groups, in[1], in[2], 1e-5f);
    case K_GN_SILU: return pt_group_norm_silu(in[0], c->groups, in[1], in[2], 1e-5f);
    case K_GN_NOAFF: return pt_group_norm(in[0], c->groups, NULL, NULL, 1e-6f);
    case K_LN: return pt_layer_norm(in[0], n > 1 ? in[1] : NULL, n > 2 ? in[2] : NULL, 1e-5f);
    case K_SILU: return pt_silu(in[0]);
    case K_GELU: return pt_gelu(in[0], 0);
    case K_GELU_TANH: return pt_gelu(in[0], 1);
    case K_QUICK_GELU: return pt_quick_gelu(in[0]);
    case K_GEGLU: return pt_geglu(in[0]);
    case K_SOFTMAX: return pt_softmax(in[0]);
    case K_ATTN: return pt_attention(in[0], in[1], in[2], c->heads, c->scale);
    case K_TEMB: return pt_timestep_embedding(in[0], c->groups, 1, 0.0f, 1.0f, 10000.0f);
    case K_MSE: return pt_mse_loss(in[0], in[1], n > 2 ? in[2] : NULL);
    default: return pt_l1_loss(in[0], in[1], n > 2 ? in[2] : NULL);
    }
}

static void case_gn(const char *label, int kind, int64_t B, int64_t C, int64_t H, int64_t W, int groups) {
    int mark = pt_scope_begin();
    pt_tensor *in[3] = {gc_input(PT_DIMS(B, C, H, W), 1.0), gc_input(PT_DIMS(C), 1.0), gc_input(PT_DIMS(C), 1.0)};
    nn_ctx c = {kind, groups, 0, 0};
    nn_compare(label, f_op, in, kind == K_GN_NOAFF ? 1 : 3, &c);
    pt_scope_end(mark, NULL);
}

static void case_unary(const char *label, int kind, int ndim, const int64_t *shape) {
    int mark = pt_scope_begin();
    pt_tensor *in[1] = {gc_input(ndim, shape, 1.5)};
    nn_ctx c = {kind, 0, 0, 0};
    nn_compare(label, f_op, in, 1, &c);
    pt_scope_end(mark, NULL);
}

static void case_ln(const char *label, int64_t R, int64_t D, int affine) {
    int mark = pt_scope_begin();
    pt_tensor *in[3] = {gc_input(PT_DIMS(R, D), 1.0), gc_input(PT_DIMS(D), 1.0), gc_input(PT_DIMS(D), 1.0)};
    nn_ctx c = {K_LN, 0, 0, 0};
    nn_compare(label, f_op, in, affine ? 3 : 1, &c);
    pt_scope_end(mark, NULL);
}

// Attention against one CPU reference: f32, bf16 with the fp32-FMA forward, and bf16 with
// POSETUNE_ATTN_TC=1, where tc says whether the tensor-core forward must run (TC_ON) or the case
// must fall back (TC_FALLBACK). The f32 run with the switch on must fall back too (bf16 only).
static void case_attn_tc(const char *label, int64_t B, int64_t Sq, int64_t Skv, int heads, int64_t D, int64_t Dv,
                         float scale, int tc) {
    int mark = pt_scope_begin();
    pt_tensor *in[3] = {gc_input(PT_DIMS(B, Sq, heads * D), 1.0), gc_input(PT_DIMS(B, Skv, heads * D), 1.0),
                        gc_input(PT_DIMS(B, Skv, heads * Dv), 1.0)};
    nn_ctx c = {K_ATTN, 0, heads, scale};
    nn_variant vs[3] = {{PT_F32, TC_FALLBACK}, {PT_BF16, TC_OFF}, {PT_BF16, tc}};
    nn_compare_v(label, f_op, in, 3, &c, vs, 3);
    pt_scope_end(mark, NULL);
}
static void case_attn(const char *label, int64_t B, int64_t Sq, int64_t Skv, int heads, int64_t D, int64_t Dv, float scale) {
    case_attn_tc(label, B, Sq, Skv, heads, D, Dv, scale, TC_FALLBACK);   // shapes the TC path does not take
}

static void case_loss(const char *label, int kind, int wkind) {
    int mark = pt_scope_begin();
    pt_tensor *in[3] = {gc_input(PT_DIMS(2, 4, 64, 64), 1.0), gc_input(PT_DIMS(2, 4, 64, 64), 1.0), NULL};
    if (wkind == 1) in[2] = gc_input(PT_DIMS(2, 1, 1, 1), 1.0);
    if (wkind == 2) in[2] = gc_input(PT_DIMS(2, 1, 64, 64), 1.0);
    if (in[2]) {   // loss weights are positive (min-SNR, masks): no cancellation in the mean
        in[2]->requires_grad = 0;
        float *w = pt_f32(in[2]);
        for (int64_t i = 0; i < pt_numel(in[2]); i++) w[i] = 0.1f + fabsf(w[i]);
    }
    // target = pred +- (0.25 + |n|): differences away from 0, where bf16 rounding would flip the
    // sign of the L1 (sub)gradient
    float *p = pt_f32(in[0]), *t = pt_f32(in[1]);
    for (int64_t i = 0; i < pt_numel(in[0]); i++) t[i] = p[i] + (t[i] >= 0 ? 0.25f + t[i] : t[i] - 0.25f);
    nn_ctx c = {kind, 0, 0, 0};
    nn_compare(label, f_op, in, wkind ? 3 : 2, &c);
    pt_scope_end(mark, NULL);
}

// ---- tests ---------------------------------------------------------------------------------------
TEST_CASE(gpu_tiny) {
    case_gn("group_norm tiny (2,6,3,5) g=3", K_GN, 2, 6, 3, 5, 3);
    case_gn("group_norm_silu tiny (2,4,2,3) g=4", K_GN_SILU, 2, 4, 2, 3, 4);
    case_gn("group_norm no affine (1,8,5,1) g=1", K_GN_NOAFF, 1, 8, 5, 1, 1);
    case_ln("layer_norm tiny (5,7)", 5, 7, 1);
    case_ln("layer_norm tiny no affine (3,33)", 3, 33, 0);
    case_unary("silu tiny (3,7)", K_SILU, PT_DIMS(3, 7));
    case_unary("gelu tiny (3,7)", K_GELU, PT_DIMS(3, 7));
    case_unary("gelu_tanh tiny (3,7)", K_GELU_TANH, PT_DIMS(3, 7));
    case_unary("quick_gelu tiny (3,7)", K_QUICK_GELU, PT_DIMS(3, 7));
    case_unary("geglu tiny (3,10)", K_GEGLU, PT_DIMS(3, 10));
    case_unary("softmax tiny (4,5)", K_SOFTMAX, PT_DIMS(4, 5));
}

TEST_CASE(gpu_norms) {
    case_gn("group_norm 320x64x64 g=32 B=1", K_GN, 1, 320, 64, 64, 32);
    case_gn("group_norm_silu 640x32x32 g=32 B=2", K_GN_SILU, 2, 640, 32, 32, 32);
    case_gn("group_norm_silu 1280x16x16 g=32 B=2", K_GN_SILU, 2, 1280, 16, 16, 32);
    case_ln("layer_norm 4096x320", 4096, 320, 1);
}

TEST_CASE(gpu_activations) {
    case_unary("silu (2,320,64,64)", K_SILU, PT_DIMS(2, 320, 64, 64));
    case_unary("quick_gelu (2,257,3072)", K_QUICK_GELU, PT_DIMS(2, 257, 3072));
    case_unary("geglu 4096x(2*1280)", K_GEGLU, PT_DIMS(1, 4096, 2560));
    case_unary("softmax (8,4096,77)", K_SOFTMAX, PT_DIMS(8, 4096, 77));
    case_unary("softmax (16,2000)", K_SOFTMAX, PT_DIMS(16, 2000));
}

TEST_CASE(gpu_attention_tiny) {
    case_attn("attn tiny Sq7 Skv5 H2 D5 Dv3 s0.7", 2, 7, 5, 2, 5, 3, 0.7f);
    case_attn("attn tiny Sq33 Skv70 H2 D10", 2, 33, 70, 2, 10, 10, 0.0f);
    case_attn("attn tiny Sq40 Skv1 H3 D4 Dv6", 1, 40, 1, 3, 4, 6, 0.0f);
    case_attn_tc("attn tiny Sq64 Skv64 H1 D16", 1, 64, 64, 1, 16, 16, 0.0f, TC_ON);
}

// The tensor-core forward's edges: partial query blocks (7, 200 of 128-row blocks: warps with no
// valid row), partial key tiles (5, 333 of 64-key tiles), D padded in shared memory (8 -> 16,
// 40 -> 48, 72 -> 80), an explicit scale; and cases it must leave to the fp32-FMA kernel.
TEST_CASE(gpu_attention_tc) {
    case_attn_tc("attn tc Sq7 Skv5 H2 D8 s0.7", 2, 7, 5, 2, 8, 8, 0.7f, TC_ON);
    case_attn_tc("attn tc tail 200x333 H2 D80", 1, 200, 333, 2, 80, 80, 0.0f, TC_ON);
    case_attn_tc("attn tc tail 129x65 H3 D40", 2, 129, 65, 3, 40, 40, 0.0f, TC_ON);
    case_attn_tc("attn tc 130x190 H2 D72", 1, 130, 190, 2, 72, 72, 0.0f, TC_ON);
    case_attn_tc("attn tc fallback D5", 2, 33, 70, 2, 5, 5, 0.0f, TC_FALLBACK);
    case_attn_tc("attn tc fallback D8 Dv16", 1, 40, 50, 2, 8, 16, 0.0f, TC_FALLBACK);
    case_attn_tc("attn tc fallback D104 (DP 112)", 1, 64, 64, 1, 104, 104, 0.0f, TC_FALLBACK);
}

TEST_CASE(gpu_attention_sd) {   // bf16 also through the tensor-core forward (TC_ON)
    case_attn_tc("attn self 4096 H8 D40", 1, 4096, 4096, 8, 40, 40, 0.0f, TC_ON);
    case_attn_tc("attn self 1024 H8 D80", 1, 1024, 1024, 8, 80, 80, 0.0f, TC_ON);
    case_attn_tc("attn self 256 H8 D160", 2, 256, 256, 8, 160, 160, 0.0f, TC_ON);
    case_attn_tc("attn cross 4096x77 H8 D40", 1, 4096, 77, 8, 40, 40, 0.0f, TC_ON);
    case_attn_tc("attn cross 4096x50 H8 D40", 1, 4096, 50, 8, 40, 40, 0.0f, TC_ON);
    case_attn_tc("attn cross 64x1 H8 D160 (image emb)", 2, 64, 1, 8, 160, 160, 0.0f, TC_ON);
    case_attn_tc("attn temporal 2048x24 H8 D40", 2048, 24, 24, 8, 40, 40, 0.0f, TC_ON);
    case_attn_tc("attn reference 1024x2048 H8 D80", 1, 1024, 2048, 8, 80, 80, 0.0f, TC_ON);
}

TEST_CASE(gpu_misc) {
    int mark = pt_scope_begin();
    pt_tensor *t = pt_from_i64(PT_CPU, PT_DIMS(5), (int64_t[]){0, 1, 17, 500, 999});
    nn_ctx c = {K_TEMB, 320, 0, 0};
    nn_compare("timestep_embedding (5) dim 320", f_op, (pt_tensor *[]){t}, 1, &c);
    nn_ctx c7 = {K_TEMB, 7, 0, 0};
    nn_compare("timestep_embedding (5) dim 7", f_op, (pt_tensor *[]){t}, 1, &c7);
    pt_scope_end(mark, NULL);
    case_loss("mse (2,4,64,64)", K_MSE, 0);
    case_loss("mse weight (B,1,1,1)", K_MSE, 1);
    case_loss("mse weight (B,1,H,W)", K_MSE, 2);
    case_loss("l1 (2,4,64,64)", K_L1, 0);
    case_loss("l1 weight (B,1,H,W)", K_L1, 2);
}

// `gpu_ops_nn tiny` runs only the tiny shapes (quick, e.g. under compute-sanitizer).
int main(int argc, char **argv) {
    if (!pt_cuda_available()) { test_skip("no CUDA device"); return test_summary(); }
    int tiny = argc > 1 && strcmp(argv[1], "tiny") == 0;
    tu_seed(51);
    RUN(gpu_tiny);
    RUN(gpu_attention_tiny);
    if (!tiny) {
        RUN(gpu_norms);
        RUN(gpu_activations);
        RUN(gpu_misc);
        RUN(gpu_attention_sd);
    }
    RUN(gpu_attention_tc);   // last: its random draws leave the other cases' inputs as they were
    return test_summary();
}

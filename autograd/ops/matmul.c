// matmul.c — linear layers and (batched) matrix products, forward and backward.
// Every product goes through pt_gemm (autograd/cpu_gemm.h): the blocked SGEMM on the CPU,
// cuBLAS with fp32 accumulation on CUDA. Non-contiguous inputs are copied to contiguous first
// (outside autograd: the node routes gradients to the original views).
#include "autograd/cpu_gemm.h"
#include "autograd/ops.h"
#include "tools/check.h"

// Save t for backward only when `needed`; returns its slot in n->saved, or -1.
static int64_t save_if(pt_node *n, pt_tensor *t, int needed) {
    if (!needed) return -1;
    pt_node_save(n, t);
    return n->n_saved - 1;
}
#define SAVED(n, slot) ((slot) >= 0 ? (n)->saved[(slot)] : NULL)

// x itself when contiguous, else a contiguous copy that records nothing.
static pt_tensor *contig_nograd(pt_tensor *x) {
    if (pt_is_contiguous(x)) return x;
    pt_tensor *c = pt_empty(x->device, x->dtype, x->ndim, x->shape);
    pt_copy_(c, x);
    return c;
}

static void check_pair(const char *op, const pt_tensor *a, const pt_tensor *b) {
    char s1[128], s2[128];
    if (a->device != b->device || a->dtype != b->dtype)
        PT_RUNTIME("%s: operands %s and %s differ in device or dtype (cast first)", op, pt_shape_str(a, s1, sizeof s1),
                   pt_shape_str(b, s2, sizeof s2));
    if (a->device == PT_CPU && a->dtype != PT_F32)
        PT_RUNTIME("%s: CPU supports f32 only (got %s)", op, pt_shape_str(a, s1, sizeof s1));
}

// Sum of g (rows, cols) over rows -> (cols): the bias gradient, via the reduction op.
static pt_tensor *sum_rows(pt_tensor *g, int64_t rows, int64_t cols) {
    pt_tensor *g2 = pt_reshape(g, 2, PT_SHAPE(rows, cols));
    return pt_reshape(pt_sum_to_shape(g2, 2, PT_SHAPE(1, cols)), 1, PT_SHAPE(cols));
}

// ---- linear: y (R, out) = x (R, in) w^T + b ----------------------------------------------------
// saved: x contiguous (when w needs a gradient), w contiguous (when x does);
// i = {R, in, out, x slot, w slot}
static void linear_backward(pt_node *n) {
    pt_tensor *g = contig_nograd(pt_node_grad_out(n, 0));
    pt_tensor *x = SAVED(n, n->i[3]), *w = SAVED(n, n->i[4]);
    int64_t R = n->i[0], in = n->i[1], out = n->i[2];
    pt_dtype dt = g->dtype;
    if (pt_node_needs_grad(n, 0)) {   // dx (R, in) = g (R, out) w (out, in)
        pt_tensor *dx = pt_empty(g->device, dt, n->in[0]->ndim, n->in[0]->shape);
        pt_gemm(g->device, dt, dt, &(pt_gemm_args){.trans_a = 0, .trans_b = 0, .M = R, .N = in, .K = out, .alpha = 1,
                                                   .A = pt_data(g), .lda = out, .B = pt_data(w), .ldb = in,
                                                   .C = pt_data(dx), .ldc = in});
        pt_grad_accum(n->in[0], dx);
    }
    if (pt_node_needs_grad(n, 1)) {   // dw (out, in) = g^T (out, R) x (R, in)
        pt_tensor *dw = pt_empty(g->device, dt, 2, PT_SHAPE(out, in));
        pt_gemm(g->device, dt, dt, &(pt_gemm_args){.trans_a = 1, .trans_b = 0, .M = out, .N = in, .K = R, .alpha = 1,
                                                   .A = pt_data(g), .lda = out, .B = pt_data(x), .ldb = in,
                                                   .C = pt_data(dw), .ldc = in});
        pt_grad_accum(n->in[1], dw);
    }
    if (n->in[2] && pt_node_needs_grad(n, 2)) pt_grad_accum(n->in[2], sum_rows(g, R, out));
}

pt_tensor *pt_linear(pt_tensor *x, pt_tensor *w, pt_tensor *b) {
    char s1[128], s2[128];
    check_pair("linear", x, w);
    if (b) check_pair("linear (bias)", x, b);
    PT_CHECKF(x->ndim >= 1 && w->ndim == 2 && x->shape[x->ndim - 1] == w->shape[1],
              "linear: input %s does not match weight %s (out, in)", pt_shape_str(x, s1, sizeof s1), pt_shape_str(w, s2, sizeof s2));
    int64_t in = w->shape[1], out = w->shape[0];
    PT_CHECKF(!b || (b->ndim == 1 && b->shape[0] == out), "linear: bias %s, expected (%lld)", pt_shape_str(b, s1, sizeof s1),
              (long long)out);
    int64_t R = in ? pt_numel(x) / in : 0;
    int64_t oshape[PT_MAX_DIMS];
    for (int d = 0; d < x->ndim - 1; d++) oshape[d] = x->shape[d];
    oshape[x->ndim - 1] = out;
    pt_tensor *y = pt_empty(x->device, x->dtype, x->ndim, oshape);
    pt_tensor *xc, *wc;
    PT_NO_GRAD_BEGIN
    xc = contig_nograd(x);
    wc = contig_nograd(w);
    if (b) pt_bias_fill(x->device, x->dtype, pt_data(y), pt_data(contig_nograd(b)), R, out, 1);
    pt_gemm(x->device, x->dtype, x->dtype, &(pt_gemm_args){.trans_a = 0, .trans_b = 1, .M = R, .N = out, .K = in,
                                                           .alpha = 1, .beta = b ? 1.0f : 0.0f,
                                                           .A = pt_data(xc), .lda = in, .B = pt_data(wc), .ldb = in,
                                                           .C = pt_data(y), .ldc = out});
    PT_NO_GRAD_END
    pt_node *n = pt_node_new("linear", linear_backward, 3, (pt_tensor *[]){x, w, b});
    if (n) {
        n->i[3] = save_if(n, xc, pt_node_needs_grad(n, 1));
        n->i[4] = save_if(n, wc, pt_node_needs_grad(n, 0));
        n->i[0] = R; n->i[1] = in; n->i[2] = out;
        pt_node_add_output(n, y);
    }
    return y;
}

// ---- matmul: (..., M, K) @ (..., K, N), or @ (K, N) shared over the batch ------------------------
// saved: a contiguous (when b needs a gradient), b contiguous (when a does);
// i = {batch, M, K, N, b_shared, a slot, b slot}
static void matmul_backward(pt_node *n) {
    pt_tensor *g = contig_nograd(pt_node_grad_out(n, 0));
    pt_tensor *a = SAVED(n, n->i[5]), *b = SAVED(n, n->i[6]);
    int64_t batch = n->i[0], M = n->i[1], K = n->i[2], N = n->i[3];
    int shared = (int)n->i[4];
    pt_dtype dt = g->dtype;
    // A shared b is the same as one product over batch*M rows.
    int64_t rows = shared ? batch * M : M, nb = shared ? 1 : batch;
    if (pt_node_needs_grad(n, 0)) {   // da (rows, K) = g (rows, N) b^T (N, K)
        pt_tensor *da = pt_empty(g->device, dt, n->in[0]->ndim, n->in[0]->shape);
        pt_gemm(g->device, dt, dt, &(pt_gemm_args){.trans_a = 0, .trans_b = 1, .M = rows, .N = K, .K = N, .alpha = 1,
                                                   .A = pt_data(g), .lda = N, .sa = rows * N,
                                                   .B = pt_data(b), .ldb = N, .sb = shared ? 0 : K * N,
                                                   .C = pt_data(da), .ldc = K, .sc = rows * K, .batch = nb});
        pt_grad_accum(n->in[0], da);
    }
    if (pt_node_needs_grad(n, 1)) {   // db (K, N) = a^T (K, rows) g (rows, N)
        pt_tensor *db = pt_empty(g->device, dt, n->in[1]->ndim, n->in[1]->shape);
        pt_gemm(g->device, dt, dt, &(pt_gemm_args){.trans_a = 1, .trans_b = 0, .M = K, .N = N, .K = rows, .alpha = 1,
                                                   .A = pt_data(a), .lda = K, .sa = rows * K,
                                                   .B = pt_data(g), .ldb = N, .sb = rows * N,
                                                   .C = pt_data(db), .ldc = N, .sc = K * N, .batch = nb});
        pt_grad_accum(n->in[1], db);
    }
}

pt_tensor *pt_matmul(pt_tensor *a, pt_tensor *b) {
    char s1[128], s2[128];
    check_pair("matmul", a, b);
    int shared = b->ndim == 2;
    int ok = a->ndim >= 2 && b->ndim >= 2 && a->shape[a->ndim - 1] == b->shape[b->ndim - 2];
    if (ok && !shared) {
        ok = a->ndim == b->ndim;
        for (int d = 0; ok && d < a->ndim - 2; d++) ok = a->shape[d] == b->shape[d];
    }
    if (!ok)
        PT_RUNTIME("matmul: shapes %s and %s do not multiply ((..., M, K) @ (..., K, N) with equal batch dims, or @ (K, N))",
                   pt_shape_str(a, s1, sizeof s1), pt_shape_str(b, s2, sizeof s2));
    int64_t M = a->shape[a->ndim - 2], K = a->shape[a->ndim - 1], N = b->shape[b->ndim - 1];
    int64_t batch = 1;
    for (int d = 0; d < a->ndim - 2; d++) batch *= a->shape[d];
    int64_t oshape[PT_MAX_DIMS];
    for (int d = 0; d < a->ndim - 1; d++) oshape[d] = a->shape[d];
    oshape[a->ndim - 1] = N;
    pt_tensor *y = pt_empty(a->device, a->dtype, a->ndim, oshape);
    pt_tensor *ac, *bc;
    PT_NO_GRAD_BEGIN
    ac = contig_nograd(a);
    bc = contig_nograd(b);
    int64_t rows = shared ? batch * M : M, nb = shared ? 1 : batch;
    pt_gemm(a->device, a->dtype, a->dtype, &(pt_gemm_args){.trans_a = 0, .trans_b = 0, .M = rows, .N = N, .K = K,
                                                           .alpha = 1, .A = pt_data(ac), .lda = K, .sa = rows * K,
                                                           .B = pt_data(bc), .ldb = N, .sb = shared ? 0 : K * N,
                                                           .C = pt_data(y), .ldc = N, .sc = rows * N, .batch = nb});
    PT_NO_GRAD_END
    pt_node *n = pt_node_new("matmul", matmul_backward, 2, (pt_tensor *[]){a, b});
    if (n) {
        n->i[5] = save_if(n, ac, pt_node_needs_grad(n, 1));
        n->i[6] = save_if(n, bc, pt_node_needs_grad(n, 0));
        n->i[0] = batch; n->i[1] = M; n->i[2] = K; n->i[3] = N; n->i[4] = shared;
        pt_node_add_output(n, y);
    }
    return y;
}

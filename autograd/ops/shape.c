// shape.c — views (reshape, permute, transpose, slice) and copies (contiguous, concat, cast,
// to_device, repeat). Copies go through pt_copy_ (strided, converting; CUDA kernel in
// tensor_cuda.cu), so this file has no kernels of its own.
#include <string.h>

#include "autograd/ops.h"
#include "tools/check.h"

static pt_tensor *view_of(pt_tensor *x, int ndim, const int64_t *shape, const int64_t *stride, int64_t offset) {
    pt_tensor *v = pt_wrap(x->device, x->dtype, ndim, shape, NULL);
    // replace the placeholder storage by x's
    free(v->st);
    v->st = x->st;
    x->st->refs++;
    for (int d = 0; d < ndim; d++) v->stride[d] = stride[d];
    v->offset = offset;
    return v;
}

// ---- reshape ----------------------------------------------------------------------------------
static void reshape_backward(pt_node *n) {
    pt_tensor *g = pt_node_grad_out(n, 0), *x = n->in[0];
    pt_grad_accum(x, pt_reshape(g, x->ndim, x->shape));
}

pt_tensor *pt_reshape(pt_tensor *x, int ndim, const int64_t *shape_in) {
    int64_t shape[PT_MAX_DIMS];
    int64_t known = 1;
    int infer = -1;
    PT_CHECKF(ndim <= PT_MAX_DIMS, "reshape to %d dims", ndim);
    for (int d = 0; d < ndim; d++) {
        shape[d] = shape_in[d];
        if (shape[d] == -1) { PT_CHECKF(infer < 0, "reshape: more than one -1"); infer = d; }
        else known *= shape[d];
    }
    int64_t n = pt_numel(x);
    if (infer >= 0) shape[infer] = known ? n / known : 0;
    int64_t total = 1;
    for (int d = 0; d < ndim; d++) total *= shape[d];
    if (total != n) {
        char b[128];
        PT_RUNTIME("reshape of %s to %d dims with %lld elements", pt_shape_str(x, b, sizeof b), ndim, (long long)total);
    }
    pt_tensor *src = x;
    int mark = pt_scope_begin();
    if (!pt_is_contiguous(x)) {
        PT_NO_GRAD_BEGIN
        src = pt_empty(x->device, x->dtype, x->ndim, x->shape);
        pt_copy_(src, x);
        PT_NO_GRAD_END
    }
    int64_t stride[PT_MAX_DIMS], s = 1;
    for (int d = ndim - 1; d >= 0; d--) { stride[d] = s; s *= shape[d]; }
    pt_tensor *v = view_of(src, ndim, shape, stride, src->offset);
    v = pt_scope_end(mark, v);
    pt_node *nd = pt_node_new("reshape", reshape_backward, 1, (pt_tensor *[]){x});
    if (nd) pt_node_add_output(nd, v);
    return v;
}

// ---- permute / transpose ----------------------------------------------------------------------
static void permute_backward(pt_node *n) {
    pt_tensor *g = pt_node_grad_out(n, 0), *x = n->in[0];
    int inv[PT_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) inv[n->i[d]] = d;
    pt_grad_accum(x, pt_contiguous(pt_permute(g, inv)));
}

pt_tensor *pt_permute(pt_tensor *x, const int *perm) {
    int64_t shape[PT_MAX_DIMS], stride[PT_MAX_DIMS];
    int seen[PT_MAX_DIMS] = {0};
    for (int d = 0; d < x->ndim; d++) {
        PT_CHECKF(perm[d] >= 0 && perm[d] < x->ndim && !seen[perm[d]], "permute: invalid permutation");
        seen[perm[d]] = 1;
        shape[d] = x->shape[perm[d]];
        stride[d] = x->stride[perm[d]];
    }
    pt_tensor *v = view_of(x, x->ndim, shape, stride, x->offset);
    pt_node *n = pt_node_new("permute", permute_backward, 1, (pt_tensor *[]){x});
    if (n) { for (int d = 0; d < x->ndim; d++) n->i[d] = perm[d]; pt_node_add_output(n, v); }
    return v;
}

pt_tensor *pt_transpose(pt_tensor *x, int d0, int d1) {
    int perm[PT_MAX_DIMS];
    if (d0 < 0) d0 += x->ndim;
    if (d1 < 0) d1 += x->ndim;
    for (int d = 0; d < x->ndim; d++) perm[d] = d;
    perm[d0] = d1; perm[d1] = d0;
    return pt_permute(x, perm);
}

// ---- contiguous / cast / to_device: one copy op ----------------------------------------------
static void copy_backward(pt_node *n) {
    pt_tensor *g = pt_node_grad_out(n, 0), *x = n->in[0];
    pt_tensor *gx = pt_empty(x->device, x->dtype, x->ndim, x->shape);
    pt_copy_(gx, g);
    pt_grad_accum(x, gx);
}

static pt_tensor *copy_op(pt_tensor *x, pt_device dev, pt_dtype dt, const char *name) {
    pt_tensor *out = pt_empty(dev, dt, x->ndim, x->shape);
    pt_copy_(out, x);
    pt_node *n = pt_node_new(name, copy_backward, 1, (pt_tensor *[]){x});
    if (n) pt_node_add_output(n, out);
    return out;
}

pt_tensor *pt_contiguous(pt_tensor *x) {
    if (pt_is_contiguous(x)) return pt_reshape(x, x->ndim, x->shape);
    return copy_op(x, x->device, x->dtype, "contiguous");
}
pt_tensor *pt_cast(pt_tensor *x, pt_dtype dt) {
    if (dt == x->dtype) return pt_reshape(x, x->ndim, x->shape);
    return copy_op(x, x->device, dt, "cast");
}
pt_tensor *pt_to_device(pt_tensor *x, pt_device dev) {
    if (dev == x->device) return pt_reshape(x, x->ndim, x->shape);
    return copy_op(x, dev, x->dtype, "to_device");
}

// ---- slice ------------------------------------------------------------------------------------
static void slice_backward(pt_node *n) {
    pt_tensor *g = pt_node_grad_out(n, 0), *x = n->in[0];
    int dim = (int)n->i[0];
    pt_tensor *gx = pt_zeros(x->device, x->dtype, x->ndim, x->shape);
    int64_t shape[PT_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[dim] = g->shape[dim];
    pt_tensor *dst = view_of(gx, x->ndim, shape, gx->stride, n->i[1] * gx->stride[dim]);
    pt_copy_(dst, g);
    pt_grad_accum(x, gx);
}

pt_tensor *pt_slice(pt_tensor *x, int dim, int64_t start, int64_t end) {
    if (dim < 0) dim += x->ndim;
    PT_CHECKF(dim >= 0 && dim < x->ndim, "slice: dim out of range");
    if (end < 0) end += x->shape[dim] + 1;
    PT_CHECKF(0 <= start && start <= end && end <= x->shape[dim], "slice [%lld, %lld) of a dim of size %lld",
              (long long)start, (long long)end, (long long)x->shape[dim]);
    int64_t shape[PT_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[dim] = end - start;
    pt_tensor *v = view_of(x, x->ndim, shape, x->stride, x->offset + start * x->stride[dim]);
    pt_node *n = pt_node_new("slice", slice_backward, 1, (pt_tensor *[]){x});
    if (n) { n->i[0] = dim; n->i[1] = start; pt_node_add_output(n, v); }
    return v;
}

// ---- concat -----------------------------------------------------------------------------------
static void concat_backward(pt_node *n) {
    pt_tensor *g = pt_node_grad_out(n, 0);
    int dim = (int)n->i[0];
    int64_t off = 0;
    for (int k = 0; k < n->n_in; k++) {
        pt_tensor *x = n->in[k];
        if (pt_node_needs_grad(n, k)) pt_grad_accum(x, pt_contiguous(pt_slice(g, dim, off, off + x->shape[dim])));
        off += x->shape[dim];
    }
}

pt_tensor *pt_concat(pt_tensor *const *xs, int n_x, int dim) {
    PT_CHECKF(n_x >= 1, "concat of no tensors");
    pt_tensor *x0 = xs[0];
    if (dim < 0) dim += x0->ndim;
    int64_t shape[PT_MAX_DIMS];
    memcpy(shape, x0->shape, sizeof shape);
    shape[dim] = 0;
    for (int k = 0; k < n_x; k++) {
        PT_CHECKF(xs[k]->ndim == x0->ndim && xs[k]->dtype == x0->dtype && xs[k]->device == x0->device,
                  "concat: tensor %d differs in rank, dtype or device", k);
        for (int d = 0; d < x0->ndim; d++)
            PT_CHECKF(d == dim || xs[k]->shape[d] == x0->shape[d], "concat: tensor %d has size %lld at dim %d, expected %lld",
                      k, (long long)xs[k]->shape[d], d, (long long)x0->shape[d]);
        shape[dim] += xs[k]->shape[dim];
    }
    pt_tensor *out = pt_empty(x0->device, x0->dtype, x0->ndim, shape);
    int mark = pt_scope_begin();
    int64_t off = 0;
    for (int k = 0; k < n_x; k++) {
        int64_t s[PT_MAX_DIMS];
        memcpy(s, shape, sizeof s);
        s[dim] = xs[k]->shape[dim];
        pt_tensor *dst = view_of(out, x0->ndim, s, out->stride, off * out->stride[dim]);
        pt_copy_(dst, xs[k]);
        off += s[dim];
    }
    pt_scope_end(mark, NULL);
    // Up to PT_NODE_MAX_IN inputs are differentiable in one node; more are chained.
    if (n_x <= PT_NODE_MAX_IN) {
        pt_node *n = pt_node_new("concat", concat_backward, n_x, xs);
        if (n) { n->i[0] = dim; pt_node_add_output(n, out); }
    } else {
        PT_CHECKF(!pt_grad_enabled(), "concat of more than %d tensors with autograd: concat in groups", PT_NODE_MAX_IN);
    }
    return out;
}

// ---- repeat (tile along a dim) ----------------------------------------------------------------
static void repeat_backward(pt_node *n) {
    pt_tensor *g = pt_node_grad_out(n, 0), *x = n->in[0];
    int dim = (int)n->i[0];
    int64_t t = n->i[1];
    // g: (.., t*n, ..) -> (.., t, n, ..) -> sum over t
    int64_t shape[PT_MAX_DIMS + 1], tgt[PT_MAX_DIMS + 1];
    int k = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (d == dim) { shape[k] = t; tgt[k] = 1; k++; }
        shape[k] = x->shape[d]; tgt[k] = x->shape[d]; k++;
    }
    PT_CHECKF(k <= PT_MAX_DIMS, "repeat: backward needs one more dim than %d", PT_MAX_DIMS);
    pt_tensor *s = pt_sum_to_shape(pt_reshape(g, k, shape), k, tgt);
    pt_grad_accum(x, pt_reshape(s, x->ndim, x->shape));
}

pt_tensor *pt_repeat(pt_tensor *x, int dim, int64_t times) {
    if (dim < 0) dim += x->ndim;
    PT_CHECKF(x->ndim < PT_MAX_DIMS, "repeat needs a tensor of at most %d dims", PT_MAX_DIMS - 1);
    int64_t eshape[PT_MAX_DIMS], estride[PT_MAX_DIMS], oshape[PT_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (d == dim) { eshape[k] = times; estride[k] = 0; k++; }
        eshape[k] = x->shape[d]; estride[k] = x->stride[d]; k++;
        oshape[d] = x->shape[d] * (d == dim ? times : 1);
    }
    pt_tensor *out = pt_empty(x->device, x->dtype, x->ndim, oshape);
    int mark = pt_scope_begin();
    pt_tensor *src = view_of(x, k, eshape, estride, x->offset);
    pt_tensor *dst = pt_wrap(out->device, out->dtype, k, eshape, pt_data(out));
    pt_copy_(dst, src);
    pt_scope_end(mark, NULL);
    pt_node *n = pt_node_new("repeat", repeat_backward, 1, (pt_tensor *[]){x});
    if (n) { n->i[0] = dim; n->i[1] = times; pt_node_add_output(n, out); }
    return out;
}

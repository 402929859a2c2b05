// model_common.c — parameter-registering layer helpers (see model_common.h).
#include "models/model_common.h"

#include <stdio.h>
#include <string.h>

#include "tools/check.h"

const char *pt_mc_join(char *buf, size_t n, const char *base, const char *leaf) {
    if (!leaf || !*leaf) snprintf(buf, n, "%s", base);
    else if (!base || !*base) snprintf(buf, n, "%s", leaf);
    else snprintf(buf, n, "%s.%s", base, leaf);
    return buf;
}

static pt_tensor *add_param(pt_params *P, const char *base, const char *leaf, const char *suffix, int ndim,
                            const int64_t *shape) {
    char nm[256], full[300];
    pt_mc_join(nm, sizeof nm, base, leaf);
    snprintf(full, sizeof full, "%s.%s", nm, suffix);
    return pt_params_add(P, full, ndim, shape);
}

pt_lin pt_mc_linear(pt_params *P, const char *base, const char *leaf, int in, int out, int bias) {
    pt_lin l = {0};
    l.in = in; l.out = out;
    l.w = add_param(P, base, leaf, "weight", PT_DIMS(out, in));
    if (bias) l.b = add_param(P, base, leaf, "bias", PT_DIMS(out));
    return l;
}

pt_conv pt_mc_conv(pt_params *P, const char *base, const char *leaf, int in, int out, int k, int stride, int pad,
                   int bias) {
    pt_conv c = {0};
    c.in = in; c.out = out; c.k = k; c.stride = stride; c.pad = pad;
    c.w = add_param(P, base, leaf, "weight", PT_DIMS(out, in, k, k));
    if (bias) c.b = add_param(P, base, leaf, "bias", PT_DIMS(out));
    return c;
}

pt_gnorm pt_mc_group_norm(pt_params *P, const char *base, const char *leaf, int channels, int groups, float eps) {
    char nm[256];
    if (groups <= 0 || channels % groups != 0)
        PT_USAGE("%s: %d channels cannot be split into %d groups (norm_num_groups)",
                 pt_mc_join(nm, sizeof nm, base, leaf), channels, groups);
    pt_gnorm g = {0};
    g.groups = groups; g.eps = eps;
    g.w = add_param(P, base, leaf, "weight", PT_DIMS(channels));
    g.b = add_param(P, base, leaf, "bias", PT_DIMS(channels));
    return g;
}

pt_lnorm pt_mc_layer_norm(pt_params *P, const char *base, const char *leaf, int channels, float eps) {
    pt_lnorm l = {0};
    l.eps = eps;
    l.w = add_param(P, base, leaf, "weight", PT_DIMS(channels));
    l.b = add_param(P, base, leaf, "bias", PT_DIMS(channels));
    return l;
}

pt_tensor *pt_mc_linear_fwd(const pt_lin *l, pt_tensor *x) { return pt_linear(x, l->w, l->b); }
pt_tensor *pt_mc_conv_fwd(const pt_conv *c, pt_tensor *x) { return pt_conv2d(x, c->w, c->b, c->stride, c->pad); }
pt_tensor *pt_mc_group_norm_fwd(const pt_gnorm *g, pt_tensor *x) {
    return pt_group_norm(x, g->groups, g->w, g->b, g->eps);
}
pt_tensor *pt_mc_group_norm_silu_fwd(const pt_gnorm *g, pt_tensor *x) {
    return pt_group_norm_silu(x, g->groups, g->w, g->b, g->eps);
}
pt_tensor *pt_mc_layer_norm_fwd(const pt_lnorm *l, pt_tensor *x) { return pt_layer_norm(x, l->w, l->b, l->eps); }

pt_tensor *pt_mc_nchw_to_tokens(pt_tensor *x) {
    int64_t B = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    int mark = pt_scope_begin();
    pt_tensor *t = pt_reshape(x, PT_DIMS(B, C, HW));             // (B, C, HW)
    t = pt_contiguous(pt_transpose(t, 1, 2));                      // (B, HW, C)
    return pt_scope_end(mark, t);
}

pt_tensor *pt_mc_tokens_to_nchw(pt_tensor *x, int64_t H, int64_t W) {
    int64_t B = x->shape[0], C = x->shape[2];
    int mark = pt_scope_begin();
    pt_tensor *t = pt_contiguous(pt_transpose(x, 1, 2));           // (B, C, HW)
    t = pt_reshape(t, PT_DIMS(B, C, H, W));                        // (B, C, H, W)
    return pt_scope_end(mark, t);
}

pt_tensor *pt_mc_repeat_interleave_batch(pt_tensor *x, int64_t times) {
    if (times == 1) return pt_reshape(x, x->ndim, x->shape);
    int64_t B = x->shape[0], rest = pt_numel(x) / (B ? B : 1);
    int64_t shape[PT_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[0] = B * times;
    int mark = pt_scope_begin();
    pt_tensor *t = pt_reshape(x, PT_DIMS(B, 1, rest));             // (B, 1, rest)
    t = pt_repeat(t, 1, times);                                    // (B, times, rest)
    t = pt_reshape(t, x->ndim, shape);                             // (B*times, ...)
    return pt_scope_end(mark, t);
}

// transformer2d.c — Transformer2DModel, BasicTransformerBlock and the reference bank
// (see transformer2d.h for the exact computation).
#include "models/transformer2d.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tools/check.h"

// ---- reference bank ------------------------------------------------------------------------------
void pt_ref_bank_clear(pt_ref_bank *b) {
    for (int i = 0; i < b->n; i++) pt_release(b->t[i]);
    b->n = 0;
}
void pt_ref_bank_free(pt_ref_bank *b) {
    pt_ref_bank_clear(b);
    free(b->t);
    memset(b, 0, sizeof *b);
}
void pt_ref_bank_push(pt_ref_bank *b, pt_tensor *x) {
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 16;
        b->t = pt_realloc(b->t, sizeof(pt_tensor *) * (size_t)b->cap);
    }
    // A fresh view (same storage, gradient routed to x) that no scope owns: the bank owns it.
    b->t[b->n++] = pt_own(pt_reshape(x, x->ndim, x->shape));
}

// ---- construction --------------------------------------------------------------------------------
static pt_attn attn_init(pt_params *P, const char *base, const char *leaf, int dim, int kv_dim, int heads) {
    char nm[256];
    pt_mc_join(nm, sizeof nm, base, leaf);
    pt_attn a = {0};
    a.heads = heads;
    a.to_q = pt_mc_linear(P, nm, "to_q", dim, dim, 0);
    a.to_k = pt_mc_linear(P, nm, "to_k", kv_dim, dim, 0);
    a.to_v = pt_mc_linear(P, nm, "to_v", kv_dim, dim, 0);
    a.to_out = pt_mc_linear(P, nm, "to_out.0", dim, dim, 1);
    return a;
}

static void tblock_init(pt_tblock *b, pt_params *P, const char *base, int dim, int heads, int cross_dim) {
    b->dim = dim;
    b->norm1 = pt_mc_layer_norm(P, base, "norm1", dim, 1e-5f);
    b->attn1 = attn_init(P, base, "attn1", dim, dim, heads);
    b->norm2 = pt_mc_layer_norm(P, base, "norm2", dim, 1e-5f);
    b->attn2 = attn_init(P, base, "attn2", dim, cross_dim, heads);
    b->norm3 = pt_mc_layer_norm(P, base, "norm3", dim, 1e-5f);
    b->ff_in = pt_mc_linear(P, base, "ff.net.0.proj", dim, 8 * dim, 1);
    b->ff_out = pt_mc_linear(P, base, "ff.net.2", 4 * dim, dim, 1);
}

void pt_transformer2d_init(pt_transformer2d *t, pt_params *P, const char *base, int channels, int heads,
                           int n_layers, int cross_dim, int groups, int use_linear_projection) {
    if (heads <= 0 || channels % heads != 0)
        PT_USAGE("%s: %d channels cannot be split into %d attention heads (attention_head_dim)", base, channels, heads);
    memset(t, 0, sizeof *t);
    t->channels = channels;
    t->heads = heads;
    t->use_linear_projection = use_linear_projection;
    t->norm = pt_mc_group_norm(P, base, "norm", channels, groups, 1e-6f);
    if (use_linear_projection) t->proj_in_lin = pt_mc_linear(P, base, "proj_in", channels, channels, 1);
    else t->proj_in_conv = pt_mc_conv(P, base, "proj_in", channels, channels, 1, 1, 0, 1);
    t->n_blocks = n_layers;
    t->blocks = pt_calloc((size_t)n_layers, sizeof *t->blocks);
    for (int i = 0; i < n_layers; i++) {
        char nm[256];
        snprintf(nm, sizeof nm, "%s.transformer_blocks.%d", base, i);
        tblock_init(&t->blocks[i], P, nm, channels, heads, cross_dim);
    }
    if (use_linear_projection) t->proj_out_lin = pt_mc_linear(P, base, "proj_out", channels, channels, 1);
    else t->proj_out_conv = pt_mc_conv(P, base, "proj_out", channels, channels, 1, 1, 0, 1);
}

void pt_transformer2d_free(pt_transformer2d *t) {
    free(t->blocks);
    t->blocks = NULL;
    t->n_blocks = 0;
}

// ---- forward -------------------------------------------------------------------------------------
// x (B, Sq, C), kv (B, Skv, Dkv) -> (B, Sq, C)
static pt_tensor *attn_forward(pt_attn *a, pt_tensor *x, pt_tensor *kv) {
    int mark = pt_scope_begin();
    pt_tensor *q = pt_mc_linear_fwd(&a->to_q, x);
    pt_tensor *k = pt_mc_linear_fwd(&a->to_k, kv);
    pt_tensor *v = pt_mc_linear_fwd(&a->to_v, kv);
    float scale = (float)(1.0 / sqrt((double)(a->to_q.out / a->heads)));
    pt_tensor *o = pt_attention(q, k, v, a->heads, scale);       // (B, Sq, C)
    o = pt_mc_linear_fwd(&a->to_out, o);
    return pt_scope_end(mark, o);
}

// The whole block. ref: bank entry (Bref, S', C) for READ, else NULL. out_norm1: when non-NULL,
// receives norm1(h) (WRITE).
static pt_tensor *tblock_body(pt_tblock *b, pt_tensor *h, pt_tensor *context, pt_tensor *ref, pt_tensor **out_norm1) {
    int mark = pt_scope_begin();
    pt_tensor *n = pt_mc_layer_norm_fwd(&b->norm1, h);           // (B, S, C)
    pt_tensor *kv = n;
    if (ref) {
        pt_tensor *r = pt_mc_repeat_interleave_batch(ref, h->shape[0] / ref->shape[0]);   // (B, S', C)
        kv = pt_concat((pt_tensor *[]){n, r}, 2, 1);               // (B, S + S', C)
    }
    h = pt_add(attn_forward(&b->attn1, n, kv), h);
    pt_tensor *n2 = pt_mc_layer_norm_fwd(&b->norm2, h);
    h = pt_add(attn_forward(&b->attn2, n2, context), h);
    pt_tensor *n3 = pt_mc_layer_norm_fwd(&b->norm3, h);
    pt_tensor *f = pt_mc_linear_fwd(&b->ff_in, n3);               // (B, S, 8C)
    f = pt_geglu(f);                                               // (B, S, 4C)
    f = pt_mc_linear_fwd(&b->ff_out, f);                           // (B, S, C)
    h = pt_add(f, h);
    pt_tensor *keep[2] = {h, out_norm1 ? n : NULL};
    pt_scope_end_keep(mark, keep, 2);
    if (out_norm1) *out_norm1 = n;
    return h;
}

// pt_checkpoint body. in: h, context[, ref]; out: h[, norm1].
static void tblock_ckpt_fn(void *ctx, pt_tensor **in, int n_in, pt_tensor **out, int n_out) {
    out[0] = tblock_body((pt_tblock *)ctx, in[0], in[1], n_in > 2 ? in[2] : NULL, n_out > 1 ? &out[1] : NULL);
}

pt_tensor *pt_tblock_forward(pt_tblock *b, pt_tensor *h, pt_tensor *context, pt_ref_ctx *rc, int checkpoint) {
    char s1[128], s2[128];
    if (h->ndim != 3 || h->shape[2] != b->dim)
        PT_RUNTIME("transformer block of width %d got tokens %s", b->dim, pt_shape_str(h, s1, sizeof s1));
    if (context->ndim != 3 || context->shape[2] != b->attn2.to_k.in || context->shape[0] != h->shape[0])
        PT_USAGE("encoder_hidden_states %s: expected (%lld, S, %d) (cross_attention_dim)",
                 pt_shape_str(context, s1, sizeof s1), (long long)h->shape[0], b->attn2.to_k.in);
    pt_tensor *ref = NULL;
    int write = 0;
    if (rc && rc->mode == PT_REF_WRITE && rc->bank) write = 1;
    if (rc && rc->mode == PT_REF_READ && rc->bank && rc->bank->n > 0) {
        if (rc->next >= rc->bank->n)
            PT_USAGE("reference bank holds %d entries, the UNet needs more (block %d): write and read UNets differ",
                     rc->bank->n, rc->next);
        ref = rc->bank->t[rc->next];
        int64_t Bref = ref->shape[0];
        if (ref->ndim != 3 || ref->shape[2] != b->dim || Bref <= 0 || h->shape[0] % Bref != 0 ||
            (rc->frames > 0 && h->shape[0] != Bref * rc->frames))
            PT_USAGE("reference bank entry %d is %s; the block's tokens are %s (ref_frames %d)", rc->next,
                     pt_shape_str(ref, s1, sizeof s1), pt_shape_str(h, s2, sizeof s2), rc->frames);
    }
    if (rc) rc->next++;

    pt_tensor *out[2] = {NULL, NULL};
    if (checkpoint) {
        pt_tensor *in[3] = {h, context, ref};
        pt_checkpoint(tblock_ckpt_fn, b, in, ref ? 3 : 2, out, write ? 2 : 1);
    } else {
        out[0] = tblock_body(b, h, context, ref, write ? &out[1] : NULL);
    }
    if (write) pt_ref_bank_push(rc->bank, out[1]);
    return out[0];
}

pt_tensor *pt_transformer2d_forward(pt_transformer2d *t, pt_tensor *x, pt_tensor *context, pt_ref_ctx *ref,
                                    int checkpoint) {
    int64_t H = x->shape[2], W = x->shape[3];
    int mark = pt_scope_begin();
    pt_tensor *h = pt_mc_group_norm_fwd(&t->norm, x);             // (B, C, H, W)
    if (t->use_linear_projection) {
        h = pt_mc_nchw_to_tokens(h);                               // (B, HW, C)
        h = pt_mc_linear_fwd(&t->proj_in_lin, h);
    } else {
        h = pt_mc_conv_fwd(&t->proj_in_conv, h);
        h = pt_mc_nchw_to_tokens(h);                               // (B, HW, C)
    }
    for (int i = 0; i < t->n_blocks; i++) h = pt_tblock_forward(&t->blocks[i], h, context, ref, checkpoint);
    if (t->use_linear_projection) {
        h = pt_mc_linear_fwd(&t->proj_out_lin, h);
        h = pt_mc_tokens_to_nchw(h, H, W);                         // (B, C, H, W)
    } else {
        h = pt_mc_tokens_to_nchw(h, H, W);
        h = pt_mc_conv_fwd(&t->proj_out_conv, h);
    }
    h = pt_add(h, x);
    return pt_scope_end(mark, h);
}

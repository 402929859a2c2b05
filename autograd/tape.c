// tape.c — recording nodes, the backward sweep, gradient accumulation, checkpointing.
#include "autograd/tape.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/tensor_internal.h"
#include "tools/check.h"


static _Thread_local int g_grad_enabled = 1;
static _Thread_local int g_ckpt_enabled = 1;
static _Thread_local pt_tape g_root_tape = {0};
static _Thread_local pt_tape *g_tape = NULL;

static _Thread_local pt_grad_ready_fn g_ready_fn = NULL;
static _Thread_local void *g_ready_ctx = NULL;
void pt_set_grad_ready_hook(pt_grad_ready_fn fn, void *ctx) { g_ready_fn = fn; g_ready_ctx = ctx; }

static pt_tape *cur_tape(void) { if (!g_tape) g_tape = &g_root_tape; return g_tape; }

int pt_set_grad_enabled(int on) { int p = g_grad_enabled; g_grad_enabled = on; return p; }
int pt_grad_enabled(void) { return g_grad_enabled; }
void pt_checkpoint_set_enabled(int on) { g_ckpt_enabled = on; }
int64_t pt_tape_size(void) { return cur_tape()->n_nodes; }

static pt_node *node_alloc(const char *op, pt_backward_fn bw, int n_in, pt_tensor *const *in) {
    PT_ASSERT(n_in <= PT_NODE_MAX_IN);
    pt_node *n = pt_calloc(1, sizeof *n);
    n->op = op;
    n->backward = bw;
    n->n_in = n_in;
    for (int k = 0; k < n_in; k++) {
        n->in[k] = in[k];
        if (in[k]) {
            pt_tensor_meta_retain(in[k]);
            if (in[k]->is_param && in[k]->requires_grad) in[k]->pending_uses++;
        }
    }
    pt_tape *t = cur_tape();
    n->tape = t;
    n->prev = t->tail;
    if (t->tail) t->tail->next = n; else t->head = n;
    t->tail = n;
    t->n_nodes++;
    return n;
}

pt_node *pt_node_new(const char *op, pt_backward_fn bw, int n_in, pt_tensor *const *in) {
    if (!g_grad_enabled) return NULL;
    int any = 0;
    for (int k = 0; k < n_in; k++) if (in[k] && in[k]->requires_grad) any = 1;
    if (!any) return NULL;
    return node_alloc(op, bw, n_in, in);
}

void pt_node_add_output(pt_node *n, pt_tensor *out) {
    PT_ASSERT(n->n_out < PT_NODE_MAX_OUT);
    n->out[n->n_out++] = out;
    pt_tensor_meta_retain(out);
    out->requires_grad = 1;
    out->node = n;
}

void pt_node_save(pt_node *n, pt_tensor *t) {
    PT_ASSERT(n->n_saved < PT_NODE_MAX_SAVED);
    pt_retain(t);
    n->saved[n->n_saved++] = t;
}

pt_tensor *pt_node_grad_out(pt_node *n, int k) { return n->out[k] ? n->out[k]->grad : NULL; }
int pt_node_needs_grad(pt_node *n, int k) { return n->in[k] && n->in[k]->requires_grad; }

static void node_free(pt_node *n) {
    pt_tape *t = n->tape;
    if (n->prev) n->prev->next = n->next; else t->head = n->next;
    if (n->next) n->next->prev = n->prev; else t->tail = n->prev;
    t->n_nodes--;
    for (int k = 0; k < n->n_saved; k++) {
        pt_tensor_unref(n->saved[k]);   // saved references are not scope entries
    }
    for (int k = 0; k < n->n_out; k++) {
        pt_tensor *o = n->out[k];
        if (o->node == n) o->node = NULL;
        if (o->grad) { pt_tensor *g = o->grad; o->grad = NULL; pt_tensor_unref(g); }
        pt_tensor_meta_release(o);
    }
    for (int k = 0; k < n->n_in; k++) {
        pt_tensor *x = n->in[k];
        if (!x) continue;
        if (x->is_param && x->requires_grad && x->pending_uses > 0 && --x->pending_uses == 0 && g_ready_fn)
            g_ready_fn(x, g_ready_ctx);
        pt_tensor_meta_release(x);
    }
    if (n->free_ctx) n->free_ctx(n->ctx);
    free(n);
}

// ------------------------------------------------------------------ gradient accumulation
void pt_grad_accum(pt_tensor *t, pt_tensor *g) {
    if (!t || !t->requires_grad) return;
    if (!pt_same_shape(t, g)) {
        char a[128], b[128];
        PT_RUNTIME("gradient shape %s does not match tensor %s (op bug)", pt_shape_str(g, a, sizeof a), pt_shape_str(t, b, sizeof b));
    }
    PT_NO_GRAD_BEGIN
    if (t->is_param) {
        // Persistent f32 gradient (possibly a view into the trainer's flat grad buffer).
        if (!t->grad) {
            t->grad = pt_own(pt_zeros(t->device, PT_F32, t->ndim, t->shape));
        }
        pt_tensor *gc = g->dtype == PT_F32 && g->device == t->device ? g : pt_clone_nograd(g, t->device, PT_F32);
        pt_accumulate_(t->grad, gc);   // in place: no temporary of the parameter's size
        if (gc != g) pt_release(gc);
    } else if (!t->grad) {
        pt_retain(g);
        t->grad = g;            // shared: never modified in place, accumulation below is out of place
    } else {
        pt_tensor *sum = pt_own(pt_add(t->grad, g));
        pt_tensor_unref(t->grad);   // the grad's own reference; a scope may still hold another
        t->grad = sum;
    }
    PT_NO_GRAD_END
}

// ------------------------------------------------------------------ backward sweep
static void run_tape_backward(pt_tape *tape) {
    int prev = pt_set_grad_enabled(0);
    for (pt_node *n = tape->tail; n;) {
        pt_node *p = n->prev;
        int has = 0;
        for (int k = 0; k < n->n_out; k++) if (n->out[k]->grad) has = 1;
        if (has && n->backward) {
            int mark = pt_scope_begin();
            n->backward(n);
            pt_scope_end(mark, NULL);
        }
        node_free(n);
        n = p;
    }
    pt_set_grad_enabled(prev);
}

void pt_backward(pt_tensor *root, pt_tensor *grad) {
    PT_CHECKF(root->requires_grad, "pt_backward: the root tensor does not require a gradient");
    int mark = pt_scope_begin();
    pt_tensor *g = grad;
    if (!g) g = pt_full(root->device, root->dtype, root->ndim, root->shape, 1.0f);
    pt_grad_accum(root, g);
    pt_scope_end(mark, NULL);
    run_tape_backward(cur_tape());
}

void pt_tape_clear(void) {
    pt_tape *t = cur_tape();
    while (t->tail) node_free(t->tail);
}

// ------------------------------------------------------------------ activation checkpointing
typedef struct ckpt_ctx { pt_ckpt_fn fn; void *ctx; } ckpt_ctx;

// A new struct viewing the same storage, with no history.
static pt_tensor *alias_detached(pt_tensor *x) {
    pt_tensor *a = pt_reshape(x, x->ndim, x->shape);   // grad is off here: a plain view
    a->requires_grad = x->requires_grad;
    return a;
}

static void checkpoint_backward(pt_node *n) {
    ckpt_ctx *c = n->ctx;
    int n_in = n->n_in, n_out = n->n_out;
    pt_tensor *din[PT_NODE_MAX_IN], *o2[PT_NODE_MAX_OUT];
    for (int k = 0; k < n_in; k++) din[k] = alias_detached(n->saved[k]);
    pt_tape sub = {0};
    pt_tape *outer = g_tape;
    g_tape = &sub;
    int prev = pt_set_grad_enabled(1);
    c->fn(c->ctx, din, n_in, o2, n_out);
    pt_set_grad_enabled(0);
    for (int k = 0; k < n_out; k++) {
        pt_tensor *go = n->out[k]->grad;
        if (go && o2[k]->requires_grad) pt_grad_accum(o2[k], go);
    }
    run_tape_backward(&sub);
    g_tape = outer;
    pt_set_grad_enabled(prev);
    for (int k = 0; k < n_in; k++)
        if (din[k]->grad && pt_node_needs_grad(n, k)) pt_grad_accum(n->in[k], din[k]->grad);
}

void pt_checkpoint(pt_ckpt_fn fn, void *ctx, pt_tensor **in, int n_in, pt_tensor **out, int n_out) {
    PT_ASSERT(n_in <= PT_NODE_MAX_IN && n_out <= PT_NODE_MAX_OUT && n_in <= PT_NODE_MAX_SAVED);
    if (!g_ckpt_enabled || !g_grad_enabled) { fn(ctx, in, n_in, out, n_out); return; }
    int prev = pt_set_grad_enabled(0);
    fn(ctx, in, n_in, out, n_out);
    pt_set_grad_enabled(prev);
    // Always recorded: parameters used inside fn may need gradients even if no input does.
    pt_node *n = node_alloc("checkpoint", checkpoint_backward, n_in, in);
    ckpt_ctx *c = pt_malloc(sizeof *c);
    c->fn = fn; c->ctx = ctx;
    n->ctx = c;
    n->free_ctx = free;
    for (int k = 0; k < n_in; k++) pt_node_save(n, in[k]);
    for (int k = 0; k < n_out; k++) pt_node_add_output(n, out[k]);
}

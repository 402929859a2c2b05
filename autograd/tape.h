// tape.h — reverse-mode autograd: nodes recorded in forward, replayed in reverse by pt_backward.
//
// Writing an op (see autograd/ops/elementwise.c for a complete example):
//     pt_tensor *y = pt_empty(...);                  // compute forward into y
//     pt_node *n = pt_node_new("silu", silu_backward, 1, (pt_tensor *[]){x});
//     if (n) { pt_node_save(n, x); pt_node_add_output(n, y); }
//   pt_node_new returns NULL when no input requires a gradient or grad mode is off: then nothing
//   is recorded and nothing is kept alive (frozen parts cost no memory and no backward).
//   The backward function reads pt_node_grad_out(n, 0), computes each input's gradient with
//   ordinary ops (grad mode is off during backward) and hands it to pt_grad_accum(n->in[k], g).
#pragma once
#include "autograd/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PT_NODE_MAX_IN 8
#define PT_NODE_MAX_OUT 4
#define PT_NODE_MAX_SAVED 8

typedef struct pt_node pt_node;
typedef void (*pt_backward_fn)(pt_node *n);

struct pt_node {
    const char *op;
    pt_backward_fn backward;
    int n_in, n_out, n_saved;
    pt_tensor *in[PT_NODE_MAX_IN];        // gradient routing (struct kept alive, data not)
    pt_tensor *out[PT_NODE_MAX_OUT];
    pt_tensor *saved[PT_NODE_MAX_SAVED];  // data kept alive for backward
    double f[8];                          // op scalars (eps, scale, ...)
    int64_t i[8];                         // op integers (stride, groups, dims, ...)
    void *ctx;                            // op-owned extra state, freed with free_ctx
    void (*free_ctx)(void *ctx);
    pt_node *prev, *next;
    struct pt_tape *tape;
};

typedef struct pt_tape { pt_node *head, *tail; int64_t n_nodes; } pt_tape;

// Grad mode (thread-local). Returns the previous value.
int pt_set_grad_enabled(int on);
int pt_grad_enabled(void);
#define PT_NO_GRAD_BEGIN { int pt__prev_grad = pt_set_grad_enabled(0);
#define PT_NO_GRAD_END pt_set_grad_enabled(pt__prev_grad); }

pt_node *pt_node_new(const char *op, pt_backward_fn bw, int n_in, pt_tensor *const *in);
void pt_node_add_output(pt_node *n, pt_tensor *out);   // marks out->requires_grad
void pt_node_save(pt_node *n, pt_tensor *t);           // keeps t's data alive until backward
pt_tensor *pt_node_grad_out(pt_node *n, int k);        // NULL if no gradient reached output k
int pt_node_needs_grad(pt_node *n, int k);             // does input k want a gradient?

// Accumulate g into t's gradient. g's shape must equal t's (ops reduce broadcasts first).
// For parameters the gradient is f32 and persists (into the buffer the trainer assigned to
// p->grad, or one allocated here); for intermediates the engine frees it after use.
void pt_grad_accum(pt_tensor *t, pt_tensor *g);

// Gradient-ready hook (data-parallel bucketing): called once a parameter's gradient is final for
// this backward pass, i.e. when the last recorded node that uses it has run (or was skipped).
// Runs on the thread that runs backward, in the order gradients become ready.
typedef void (*pt_grad_ready_fn)(pt_tensor *param, void *ctx);
void pt_set_grad_ready_hook(pt_grad_ready_fn fn, void *ctx);   // NULL to remove

// Run backward from `root` (grad = ones if NULL, else `grad` of root's shape). Consumes the tape.
void pt_backward(pt_tensor *root, pt_tensor *grad);
// Drop every recorded node without running backward (after an evaluation with grad mode on).
void pt_tape_clear(void);
int64_t pt_tape_size(void);

// Activation checkpointing: run fn without recording, keep only its inputs; in backward, rerun
// fn with recording on and backpropagate through that recomputation.
// fn must be deterministic and read only its inputs and parameters.
typedef void (*pt_ckpt_fn)(void *ctx, pt_tensor **in, int n_in, pt_tensor **out, int n_out);
void pt_checkpoint(pt_ckpt_fn fn, void *ctx, pt_tensor **in, int n_in, pt_tensor **out, int n_out);
// When off, pt_checkpoint simply calls fn with recording (default on).
void pt_checkpoint_set_enabled(int on);

#ifdef __cplusplus
}
#endif

// model_common.h — small building blocks shared by the model files: layers whose parameters are
// registered in a pt_params table under "<base>.<leaf>.weight" / ".bias" (the checkpoint names),
// and their forward functions.
//
//   pt_conv c = pt_mc_conv(P, "down_blocks.0.resnets.0", "conv1", 320, 320, 3, 1, 1, 1);
//   h = pt_mc_conv_fwd(&c, h);        // (B, 320, H, W)
//
// base may be "" (top-level names such as "conv_in"); leaf may be NULL (the name is base itself).
#pragma once
#include "autograd/ops.h"
#include "models/params.h"

typedef struct pt_lin { pt_tensor *w, *b; int in, out; } pt_lin;                 // w (out, in), b (out)|NULL
typedef struct pt_conv { pt_tensor *w, *b; int in, out, k, stride, pad; } pt_conv; // w (out, in, k, k)
typedef struct pt_gnorm { pt_tensor *w, *b; int groups; float eps; } pt_gnorm;   // w, b (C)
typedef struct pt_lnorm { pt_tensor *w, *b; float eps; } pt_lnorm;               // w, b (C)

// Joins base and leaf with a dot into buf ("a" + "b" -> "a.b"; "" + "b" -> "b").
const char *pt_mc_join(char *buf, size_t n, const char *base, const char *leaf);

pt_lin pt_mc_linear(pt_params *P, const char *base, const char *leaf, int in, int out, int bias);
pt_conv pt_mc_conv(pt_params *P, const char *base, const char *leaf, int in, int out, int k, int stride, int pad,
                   int bias);
pt_gnorm pt_mc_group_norm(pt_params *P, const char *base, const char *leaf, int channels, int groups, float eps);
pt_lnorm pt_mc_layer_norm(pt_params *P, const char *base, const char *leaf, int channels, float eps);

pt_tensor *pt_mc_linear_fwd(const pt_lin *l, pt_tensor *x);        // (..., in) -> (..., out)
pt_tensor *pt_mc_conv_fwd(const pt_conv *c, pt_tensor *x);         // (B, in, H, W) -> (B, out, H', W')
pt_tensor *pt_mc_group_norm_fwd(const pt_gnorm *g, pt_tensor *x);  // (B, C, *)
pt_tensor *pt_mc_group_norm_silu_fwd(const pt_gnorm *g, pt_tensor *x);
pt_tensor *pt_mc_layer_norm_fwd(const pt_lnorm *l, pt_tensor *x);  // over the last dim

// Layout helpers between feature maps and token sequences.
pt_tensor *pt_mc_nchw_to_tokens(pt_tensor *x);                     // (B, C, H, W) -> (B, H*W, C)
pt_tensor *pt_mc_tokens_to_nchw(pt_tensor *x, int64_t H, int64_t W); // (B, H*W, C) -> (B, C, H, W)
// Repeat each batch item `times` times consecutively: (B, ...) -> (B*times, ...) (b0,b0,..,b1,b1,..).
pt_tensor *pt_mc_repeat_interleave_batch(pt_tensor *x, int64_t times);

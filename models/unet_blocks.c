// unet_blocks.c — ResnetBlock2D, Downsample2D, Upsample2D (see unet_blocks.h).
#include "models/unet_blocks.h"

#include "tools/check.h"

void pt_resnet_init(pt_resnet *r, pt_params *P, const char *base, int in, int out, int temb_channels, int groups,
                    float eps, float output_scale_factor) {
    r->in = in; r->out = out;
    r->output_scale_factor = output_scale_factor;
    r->norm1 = pt_mc_group_norm(P, base, "norm1", in, groups, eps);
    r->conv1 = pt_mc_conv(P, base, "conv1", in, out, 3, 1, 1, 1);
    r->time_emb_proj = pt_mc_linear(P, base, "time_emb_proj", temb_channels, out, 1);
    r->norm2 = pt_mc_group_norm(P, base, "norm2", out, groups, eps);
    r->conv2 = pt_mc_conv(P, base, "conv2", out, out, 3, 1, 1, 1);
    r->conv_shortcut = (pt_conv){0};
    if (in != out) r->conv_shortcut = pt_mc_conv(P, base, "conv_shortcut", in, out, 1, 1, 0, 1);
}

static pt_tensor *resnet_body(pt_resnet *r, pt_tensor *x, pt_tensor *temb_act) {
    int mark = pt_scope_begin();
    int64_t B = x->shape[0];
    pt_tensor *h = pt_mc_group_norm_silu_fwd(&r->norm1, x);          // (B, in, H, W)
    h = pt_mc_conv_fwd(&r->conv1, h);                                // (B, out, H, W)
    pt_tensor *t = pt_mc_linear_fwd(&r->time_emb_proj, temb_act);    // (B, out)
    h = pt_add(h, pt_reshape(t, PT_DIMS(B, r->out, 1, 1)));
    h = pt_mc_group_norm_silu_fwd(&r->norm2, h);
    h = pt_mc_conv_fwd(&r->conv2, h);                                // (B, out, H, W)
    pt_tensor *sc = r->conv_shortcut.w ? pt_mc_conv_fwd(&r->conv_shortcut, x) : x;
    h = pt_add(sc, h);
    if (r->output_scale_factor != 1.0f) h = pt_scale(h, 1.0f / r->output_scale_factor);
    return pt_scope_end(mark, h);
}

static void resnet_ckpt_fn(void *ctx, pt_tensor **in, int n_in, pt_tensor **out, int n_out) {
    out[0] = resnet_body((pt_resnet *)ctx, in[0], in[1]);
}

pt_tensor *pt_resnet_forward(pt_resnet *r, pt_tensor *x, pt_tensor *temb_act, int checkpoint) {
    if (x->shape[1] != r->in) {
        char b[128];
        PT_RUNTIME("resnet with %d input channels got %s", r->in, pt_shape_str(x, b, sizeof b));
    }
    if (!checkpoint) return resnet_body(r, x, temb_act);
    pt_tensor *in[2] = {x, temb_act}, *out[1];
    pt_checkpoint(resnet_ckpt_fn, r, in, 2, out, 1);
    return out[0];
}

void pt_downsample_init(pt_resample *d, pt_params *P, const char *base, int channels) {
    d->conv = pt_mc_conv(P, base, "conv", channels, channels, 3, 2, 1, 1);
}
void pt_upsample_init(pt_resample *u, pt_params *P, const char *base, int channels) {
    u->conv = pt_mc_conv(P, base, "conv", channels, channels, 3, 1, 1, 1);
}

pt_tensor *pt_downsample_forward(pt_resample *d, pt_tensor *x) { return pt_mc_conv_fwd(&d->conv, x); }

pt_tensor *pt_upsample_forward(pt_resample *u, pt_tensor *x) {
    int mark = pt_scope_begin();
    pt_tensor *h = pt_upsample_nearest2x(x);                         // (B, C, 2H, 2W)
    h = pt_mc_conv_fwd(&u->conv, h);
    return pt_scope_end(mark, h);
}

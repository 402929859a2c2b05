// tensor_run_vae.c — `posetune tensor-run vae-encode | vae-decode`: diffusers' AutoencoderKL.
//   vae-encode: image (B, 3, H, W) -> enc_mean, enc_logvar (B, 4, H/8, W/8) (quant_conv applied,
//               logvar clamped to [-30, 20]); no gradients (the encoder is frozen in every regime).
//   vae-decode: z (B, 4, h, w) -> dec (B, 3, 8h, 8w) (post_quant_conv, then the decoder); with
//               --grad-from R: grad.<p> of every decoder.* and post_quant_conv.* parameter (the
//               trainable set of DreamPose's VAE finetune; only that half is built) and grad.z.
// Weights with the deprecated attention names (query/key/value/proj_attn) or [C, C, 1, 1] attention
// weights are accepted.
#include "models/vae.h"
#include "tools/check.h"
#include "tools/tensor_run.h"


// Builds only the half that runs (so gradients are written for exactly decoder.* + post_quant_conv).
static void vae_setup(const pt_tr_args *a, pt_vae *v, pt_params *P, pt_weights **w, int part, int train) {
    pt_vae_config cfg;
    pt_vae_config_load(&cfg, a->config);
    *w = pt_weights_load(a->weights);
    pt_vae_upgrade_names(*w);
    pt_params_init(P, a->device, a->dtype);
    pt_vae_init_parts(v, &cfg, P, "", part);
    pt_params_set_trainable(P, "", train);
    pt_params_finalize(P);
    pt_load_opts o = {0};
    o.allow_unexpected = 1;   // the other half of the VAE
    pt_params_load(P, *w, &o);
}

int pt_tensor_run_vae_encode(const pt_tr_args *a) {
    if (a->grad_from) PT_USAGE("tensor-run vae-encode: --grad-from is not supported (the encoder is frozen)");
    pt_params P;
    pt_vae v;
    pt_weights *w;
    vae_setup(a, &v, &P, &w, PT_VAE_ENCODER, 0);
    pt_weights *in = pt_weights_load(a->inputs);
    int mark = pt_scope_begin();
    pt_tr_out o;
    pt_tr_out_init(&o);
    pt_tensor *image = pt_tr_input(a, in, "image", NULL);
    pt_tensor *mean, *logvar;
    PT_NO_GRAD_BEGIN
    pt_vae_encode(&v, image, &mean, &logvar);
    PT_NO_GRAD_END
    pt_tr_out_add(&o, "enc_mean", mean);
    pt_tr_out_add(&o, "enc_logvar", logvar);
    pt_tr_out_write(&o, a->output);
    pt_scope_end(mark, NULL);
    pt_params_free(&P);
    pt_weights_free(in);
    pt_weights_free(w);
    return 0;
}

int pt_tensor_run_vae_decode(const pt_tr_args *a) {
    pt_params P;
    pt_vae v;
    pt_weights *w;
    vae_setup(a, &v, &P, &w, PT_VAE_DECODER, a->grad_from != NULL);
    pt_weights *in = pt_weights_load(a->inputs);
    int mark = pt_scope_begin();
    pt_tr_out o;
    pt_tr_out_init(&o);
    pt_tensor *z = pt_tr_input(a, in, "z", &o);
    int prev = pt_set_grad_enabled(a->grad_from != NULL);
    pt_tensor *dec = pt_vae_decode(&v, z);
    pt_tr_out_add(&o, "dec", dec);
    pt_tr_backward(&o, a, in, dec, &P);
    pt_set_grad_enabled(prev);
    pt_tr_out_write(&o, a->output);
    pt_scope_end(mark, NULL);
    pt_params_free(&P);
    pt_weights_free(in);
    pt_weights_free(w);
    return 0;
}

// tensor_run_unet.c — `posetune tensor-run unet`: UNet2DConditionModel on
// sample (B, Cin, H, W), timestep (B) and encoder_hidden_states (B, S, D) -> out (B, Cout, H, W).
#include "models/unet.h"
#include "tools/check.h"
#include "tools/tensor_run.h"

int pt_tensor_run_unet(const pt_tr_args *a) {
    pt_unet_config cfg;
    pt_unet_config_load(&cfg, a->config);
    pt_weights *w = pt_weights_load(a->weights);
    pt_weights *in = pt_weights_load(a->inputs);

    pt_params P;
    pt_params_init(&P, a->device, a->dtype);
    pt_unet u;
    pt_unet_init(&u, &cfg, &P, "");
    pt_params_finalize(&P);
    pt_unet_load(&u, w);

    int mark = pt_scope_begin();
    pt_tr_out o;
    pt_tr_out_init(&o);
    pt_tensor *sample = pt_tr_input(a, in, "sample", &o);
    pt_tr_args a32 = *a;
    a32.dtype = PT_F32;   // float timesteps stay f32 (bf16 cannot hold 999)
    pt_tensor *timestep = pt_tr_input(&a32, in, "timestep", NULL);
    pt_tensor *ctx = pt_tr_input(a, in, "encoder_hidden_states", &o);
    if (sample->ndim >= 1 && sample->shape[0] % a->frames)
        PT_USAGE("%s: sample batch %lld is not a multiple of --frames %d", a->inputs, (long long)sample->shape[0], a->frames);

    int prev = pt_set_grad_enabled(a->grad_from != NULL);
    pt_unet_hooks hooks = {0};
    hooks.frames = a->frames;
    pt_tensor *out = pt_unet_forward(&u, sample, timestep, ctx, &hooks);
    pt_tr_out_add(&o, "out", out);
    pt_tr_backward(&o, a, in, out, &P);
    pt_set_grad_enabled(prev);
    pt_tr_out_write(&o, a->output);
    pt_scope_end(mark, NULL);

    pt_unet_free(&u);
    pt_params_free(&P);
    pt_weights_free(in);
    pt_weights_free(w);
    return 0;
}

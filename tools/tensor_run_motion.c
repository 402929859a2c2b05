// tensor_run_motion.c — `posetune tensor-run motion-module`: one AnimateDiff temporal module.
//   hidden_states (B*F, C, H, W), frames of each item consecutive -> out (same shape).
//   F: --frames when greater than 1, else the json's num_frames, else 1.
//   C: the json's in_channels, else the width of temporal_transformer.proj_in.weight.
//   --grad-from R: loss = sum(out * R); grad.<p> for every parameter and grad.hidden_states.
// The config json holds heads, num_layers, max_seq_length (and optionally norm_num_groups).
#include "models/motion_module.h"
#include "tools/check.h"
#include "tools/tensor_run.h"


int pt_tensor_run_motion_module(const pt_tr_args *a) {
    pt_motion_config cfg;
    pt_motion_config_load(&cfg, a->config);
    pt_weights *w = pt_weights_load(a->weights);
    pt_weights *in = pt_weights_load(a->inputs);
    int C = cfg.in_channels;
    if (C <= 0) C = (int)pt_weights_get(w, "temporal_transformer.proj_in.weight")->shape[0];
    int frames = a->frames > 1 ? a->frames : (cfg.num_frames > 0 ? cfg.num_frames : 1);

    pt_params P;
    pt_params_init(&P, a->device, a->dtype);
    pt_motion_module m;
    pt_motion_module_init(&m, &P, "", &cfg, C);
    pt_params_finalize(&P);
    pt_motion_load(&P, w, NULL);

    int mark = pt_scope_begin();
    pt_tr_out o;
    pt_tr_out_init(&o);
    pt_tensor *x = pt_tr_input(a, in, "hidden_states", &o);
    int prev = pt_set_grad_enabled(a->grad_from != NULL);
    pt_tensor *out = pt_motion_module_forward(&m, x, frames, 0);
    pt_tr_out_add(&o, "out", out);
    pt_tr_backward(&o, a, in, out, &P);
    pt_set_grad_enabled(prev);
    pt_tr_out_write(&o, a->output);
    pt_scope_end(mark, NULL);

    pt_motion_module_free(&m);
    pt_params_free(&P);
    pt_weights_free(in);
    pt_weights_free(w);
    return 0;
}

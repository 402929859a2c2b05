// tensor_run_clip.c — `posetune tensor-run clip-vision`: transformers' CLIPVisionModel[WithProjection].
//   pixel_values (B, 3, S, S) (already normalised) -> last_hidden_state (B, 1+P, D) (before
//   post_layernorm), penultimate_hidden_state (hidden_states[-2]), pooler_output (B, D) and, when the
//   weights hold visual_projection.weight, image_embeds (B, projection_dim).
//   --grad-from R: loss = sum(last_hidden_state * R); grad.<p> for every parameter, grad.pixel_values.
#include <string.h>

#include "models/clip_vision.h"
#include "tools/check.h"
#include "tools/tensor_run.h"


int pt_tensor_run_clip_vision(const pt_tr_args *a) {
    pt_clip_vision_config cfg;
    pt_clip_vision_config_load(&cfg, a->config);
    pt_weights *w = pt_weights_load(a->weights);
    pt_weights *in = pt_weights_load(a->inputs);
    int with_proj = pt_weights_find(w, "visual_projection.weight") != NULL;

    pt_params P;
    pt_params_init(&P, a->device, a->dtype);
    pt_clip_vision m;
    pt_clip_vision_init(&m, &cfg, &P, "", with_proj);
    if (!a->grad_from) pt_params_set_trainable(&P, "", 0);   // frozen tower: no tape at all
    pt_params_finalize(&P);
    pt_clip_vision_load(&P, w, NULL);

    int mark = pt_scope_begin();
    pt_tr_out o;
    pt_tr_out_init(&o);
    pt_tensor *px = pt_tr_input(a, in, "pixel_values", &o);
    int prev = pt_set_grad_enabled(a->grad_from != NULL);
    pt_clip_vision_out r;
    pt_clip_vision_forward(&m, px, &r);
    pt_tr_out_add(&o, "last_hidden_state", r.last_hidden_state);
    pt_tr_out_add(&o, "penultimate_hidden_state", r.penultimate);
    pt_tr_out_add(&o, "pooler_output", r.pooled);
    if (r.image_embeds) pt_tr_out_add(&o, "image_embeds", r.image_embeds);
    pt_tr_backward(&o, a, in, r.last_hidden_state, &P);
    pt_set_grad_enabled(prev);
    pt_tr_out_write(&o, a->output);
    pt_scope_end(mark, NULL);

    pt_clip_vision_free(&m);
    pt_params_free(&P);
    pt_weights_free(in);
    pt_weights_free(w);
    return 0;
}

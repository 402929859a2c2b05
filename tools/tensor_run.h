// tensor_run.h — `posetune tensor-run MODEL`: one model runner a file (tools/tensor_run_<model>.c),
// dispatched by name from tools/cmd_tensor_run.c, plus the helpers they share.
//
// A runner reads its config, weights and input tensors, runs the model once and writes `out`
// (and, with --grad-from NAME, loss = sum(out * inputs[NAME]), `grad.<param>` for every parameter
// and `grad.<input>` for every float input it tracked) to the output safetensors file:
//
//   pt_tr_out o; pt_tr_out_init(&o);
//   pt_tensor *x = pt_tr_input(a, in, "sample", &o);        // tracked for grad.sample
//   pt_tensor *y = model(x);
//   pt_tr_out_add(&o, "out", y);
//   pt_tr_backward(&o, a, in, y, &P);                        // no-op without --grad-from
//   pt_tr_out_write(&o, a->output);
#pragma once
#include "autograd/ops.h"
#include "checkpoints/weights.h"
#include "models/params.h"

typedef struct pt_tr_args {
    const char *model, *config, *weights, *inputs, *output, *grad_from;
    int frames;            // --frames (1 when not given)
    pt_device device;
    pt_dtype dtype;        // compute dtype of parameters and float inputs
} pt_tr_args;

typedef int (*pt_tr_runner)(const pt_tr_args *a);
// One runner a model (run: NULL in the table of cmd_tensor_run.c = "not implemented yet").
int pt_tensor_run_unet(const pt_tr_args *a);             // tensor_run_unet.c
int pt_tensor_run_vae_encode(const pt_tr_args *a);       // tensor_run_vae.c
int pt_tensor_run_vae_decode(const pt_tr_args *a);
int pt_tensor_run_clip_vision(const pt_tr_args *a);      // tensor_run_clip.c
int pt_tensor_run_motion_module(const pt_tr_args *a);    // tensor_run_motion.c

#define PT_TR_MAX_GRAD_INPUTS 16
typedef struct pt_tr_out {
    struct pt_st_writer *writer;
    int n_inputs;
    const char *input_names[PT_TR_MAX_GRAD_INPUTS];
    pt_tensor *inputs[PT_TR_MAX_GRAD_INPUTS];
} pt_tr_out;

void pt_tr_out_init(pt_tr_out *o);
// Input `name` of the --inputs file as a tensor on a->device: integer tensors as i64, float ones in
// a->dtype. Missing: PT_USAGE naming the tensor and the file. With track != NULL and --grad-from,
// a float input becomes a leaf requiring a gradient, written later as grad.<name>.
pt_tensor *pt_tr_input(const pt_tr_args *a, const pt_weights *in, const char *name, pt_tr_out *track);
void pt_tr_out_add(pt_tr_out *o, const char *name, pt_tensor *t);   // copied now, written as F32
// With a->grad_from: loss = sum(out * inputs[grad_from]); backward; adds grad.<param> for every
// parameter of P and grad.<input> for every tracked input. Without it: nothing.
void pt_tr_backward(pt_tr_out *o, const pt_tr_args *a, const pt_weights *in, pt_tensor *out, pt_params *P);
void pt_tr_out_write(pt_tr_out *o, const char *path);   // writes and frees the writer

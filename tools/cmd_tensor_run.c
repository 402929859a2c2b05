// cmd_tensor_run.c — posetune tensor-run MODEL: run one model on tensors from a safetensors file
// and write its output (and gradients) to another; used to compare with the peer fixtures made by
// diffusers / transformers. Each model's runner lives in tools/tensor_run_<model>.c.
#include <stdlib.h>
#include <string.h>

#include "tools/check.h"
#include "tools/cli.h"
#include "tools/tensor_run.h"

typedef struct tr_model { const char *name; pt_tr_runner run; const char *inputs; } tr_model;

static const tr_model MODELS[] = {
    {"unet", pt_tensor_run_unet, "sample, timestep, encoder_hidden_states"},
    {"vae-encode", pt_tensor_run_vae_encode, "image"},
    {"vae-decode", pt_tensor_run_vae_decode, "z"},
    {"clip-vision", pt_tensor_run_clip_vision, "pixel_values"},
    {"motion-module", pt_tensor_run_motion_module, "hidden_states"},
};
static const int N_MODELS = (int)(sizeof MODELS / sizeof MODELS[0]);

// ---- helpers shared by the runners ----------------------------------------------------------------
void pt_tr_out_init(pt_tr_out *o) {
    memset(o, 0, sizeof *o);
    o->writer = pt_st_writer_new();
}

pt_tensor *pt_tr_input(const pt_tr_args *a, const pt_weights *in, const char *name, pt_tr_out *track) {
    const pt_wtensor *wt = pt_weights_find(in, name);
    if (!wt) PT_USAGE("%s: missing input tensor '%s' (--inputs)", in->source, name);
    int64_t shape[PT_MAX_DIMS];
    if (wt->ndim > PT_MAX_DIMS) PT_USAGE("%s: input tensor '%s' has %d dims (max %d)", in->source, name, wt->ndim, PT_MAX_DIMS);
    for (int d = 0; d < wt->ndim; d++) shape[d] = wt->shape[d];
    int64_t n = pt_wtensor_numel(wt);
    float *tmp = pt_malloc(sizeof(float) * (size_t)(n ? n : 1));
    pt_weights_read_f32(wt, tmp);
    pt_tensor *t;
    int is_int = wt->dtype == PT_I64 || wt->dtype == PT_I32 || wt->dtype == PT_U8 || wt->dtype == PT_BOOL;
    if (is_int) {
        int64_t *iv = pt_malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
        if (wt->dtype == PT_I64) memcpy(iv, wt->data, sizeof(int64_t) * (size_t)n);   // exact, no f32 detour
        else for (int64_t i = 0; i < n; i++) iv[i] = (int64_t)tmp[i];
        t = pt_from_i64(a->device, wt->ndim, shape, iv);
        free(iv);
    } else {
        t = pt_from_f32(a->device, a->dtype, wt->ndim, shape, tmp);
    }
    free(tmp);
    if (track && a->grad_from && !is_int) {
        PT_CHECKF(track->n_inputs < PT_TR_MAX_GRAD_INPUTS, "too many tracked inputs");
        t->requires_grad = 1;
        track->input_names[track->n_inputs] = name;
        track->inputs[track->n_inputs++] = t;
    }
    return t;
}

void pt_tr_out_add(pt_tr_out *o, const char *name, pt_tensor *t) {
    int64_t n = pt_numel(t);
    float *h = pt_malloc(sizeof(float) * (size_t)(n ? n : 1));
    pt_copy_to_host_f32(t, h);
    pt_st_writer_add(o->writer, name, PT_F32, t->ndim, t->shape, PT_F32, h);
    free(h);
}

void pt_tr_backward(pt_tr_out *o, const pt_tr_args *a, const pt_weights *in, pt_tensor *out, pt_params *P) {
    if (!a->grad_from) return;
    pt_tensor *r = pt_tr_input(a, in, a->grad_from, NULL);
    if (!pt_same_shape(r, out)) {
        char s1[128], s2[128];
        PT_USAGE("--grad-from %s: tensor is %s, the model output is %s", a->grad_from, pt_shape_str(r, s1, sizeof s1),
                 pt_shape_str(out, s2, sizeof s2));
    }
    if (!out->requires_grad) PT_USAGE("--grad-from %s: the output does not depend on any trainable tensor", a->grad_from);
    pt_tensor *loss = pt_sum(pt_mul(out, r));
    pt_backward(loss, NULL);
    char name[600];
    for (int i = 0; i < P->n; i++) {
        pt_tensor *p = P->e[i].t;
        snprintf(name, sizeof name, "grad.%s", P->e[i].name);
        if (p->grad) pt_tr_out_add(o, name, p->grad);
        else {
            pt_tensor *z = pt_zeros(PT_CPU, PT_F32, p->ndim, p->shape);   // no path from the loss: zero
            pt_tr_out_add(o, name, z);
        }
    }
    for (int k = 0; k < o->n_inputs; k++) {
        pt_tensor *t = o->inputs[k];
        snprintf(name, sizeof name, "grad.%s", o->input_names[k]);
        if (t->grad) pt_tr_out_add(o, name, t->grad);
        else pt_tr_out_add(o, name, pt_zeros(PT_CPU, PT_F32, t->ndim, t->shape));
    }
}

void pt_tr_out_write(pt_tr_out *o, const char *path) {
    // mkdir -p of the folder holding --output: an output that cannot be written is a runtime error (exit 1)
    const char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        char *d = pt_strdup(path);
        d[slash - path] = '\0';
        pt_mkdirs(d);
        free(d);
    }
    pt_st_writer_write(o->writer, path);
    pt_st_writer_free(o->writer);
    o->writer = NULL;
}

// ---- the command --------------------------------------------------------------------------------
int pt_cmd_tensor_run(int argc, char **argv) {
    const char *config = NULL, *weights = NULL, *inputs = NULL, *output = NULL, *grad_from = NULL;
    const char *device = "cpu", *dtype = "fp32";
    int frames = 1;
    const pt_flag flags[] = {
        {"config", PT_FLAG_STR, &config, "model config (diffusers config.json, or a fixture json)", "FILE"},
        {"weights", PT_FLAG_STR, &weights, "weights (safetensors, .ckpt/.bin, or a model folder)", "FILE"},
        {"inputs", PT_FLAG_STR, &inputs, "input tensors (safetensors)", "FILE"},
        {"output", PT_FLAG_STR, &output, "where to write `out` (and gradients)", "FILE"},
        {"grad-from", PT_FLAG_STR, &grad_from, "loss = sum(out * inputs[NAME]); also write grad.<tensor>", "NAME"},
        {"frames", PT_FLAG_INT, &frames, "frames per video for temporal models (default 1)", "F"},
        {"device", PT_FLAG_STR, &device, "cpu or cuda (default cpu)", "DEV"},
        {"dtype", PT_FLAG_STR, &dtype, "fp32 or bf16 (bf16 needs cuda; default fp32)", "DT"},
    };
    static char desc[1024];
    int k = snprintf(desc, sizeof desc, "Run one model on tensors from a safetensors file. Models:");
    for (int i = 0; i < N_MODELS; i++)
        k += snprintf(desc + k, sizeof desc - k, "\n  %-14s inputs: %s%s", MODELS[i].name, MODELS[i].inputs,
                      MODELS[i].run ? "" : " (not implemented yet)");
    const pt_cli_spec spec = {"tensor-run", "MODEL --config C.json --weights W.safetensors --inputs IN.safetensors "
                                            "--output OUT.safetensors [--grad-from NAME] [--frames F] [--device D] [--dtype T]",
                              desc, flags, (int)(sizeof flags / sizeof *flags), 1, 1};
    const char *pos[1];
    int np = 0;
    if (pt_cli_parse(&spec, argc, argv, pos, &np)) return 0;

    pt_tr_args a = {0};
    a.model = pos[0];
    a.config = config; a.weights = weights; a.inputs = inputs; a.output = output; a.grad_from = grad_from;
    a.frames = frames;
    if (!config) PT_USAGE("tensor-run: --config is required");
    if (!weights) PT_USAGE("tensor-run: --weights is required");
    if (!inputs) PT_USAGE("tensor-run: --inputs is required");
    if (!output) PT_USAGE("tensor-run: --output is required");
    if (frames < 1) PT_USAGE("tensor-run: --frames must be >= 1 (got %d)", frames);
    if (strcmp(device, "cpu") == 0) a.device = PT_CPU;
    else if (strcmp(device, "cuda") == 0) {
#ifdef POSETUNE_HAVE_CUDA
        a.device = PT_CUDA;
#else
        PT_USAGE("tensor-run: --device cuda, but this posetune was built without CUDA");
#endif
    } else PT_USAGE("tensor-run: --device must be cpu or cuda (got '%s')", device);
    if (strcmp(dtype, "fp32") == 0) a.dtype = PT_F32;
    else if (strcmp(dtype, "bf16") == 0) a.dtype = PT_BF16;
    else PT_USAGE("tensor-run: --dtype must be fp32 or bf16 (got '%s')", dtype);
    if (a.dtype == PT_BF16 && a.device != PT_CUDA) PT_USAGE("tensor-run: --dtype bf16 needs --device cuda");

    for (int i = 0; i < N_MODELS; i++) {
        if (strcmp(a.model, MODELS[i].name) != 0) continue;
        if (!MODELS[i].run) PT_USAGE("tensor-run: model '%s' is not implemented yet", a.model);
        return MODELS[i].run(&a);
    }
    char names[256];
    int n = 0;
    for (int i = 0; i < N_MODELS; i++) n += snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", MODELS[i].name);
    PT_USAGE("tensor-run: unknown MODEL '%s' (one of: %s)", a.model, names);
}

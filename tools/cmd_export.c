// cmd_export.c — posetune export CKPT --to diffusers|sd-single-file|animatediff -o OUT
// (checkpoints/export.h does the work).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/export.h"
#include "tools/check.h"
#include "tools/cli.h"

static pt_dtype parse_dtype(const char *s) {
    if (!s || strcmp(s, "fp16") == 0) return PT_F16;
    if (strcmp(s, "bf16") == 0) return PT_BF16;
    if (strcmp(s, "fp32") == 0) return PT_F32;
    PT_USAGE("--dtype '%s': expected fp16, bf16 or fp32", s);
}

// mkdir -p of the folder holding a file path.
static void parent_dirs(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return;
    char *d = pt_strdup(path);
    d[slash - path] = '\0';
    pt_mkdirs(d);
    free(d);
}

int pt_cmd_export(int argc, char **argv) {
    const char *to = NULL, *dtype_s = NULL, *out = NULL;
    int use_ema = 0, shard_mb = 0;
    const pt_flag flags[] = {
        {"to", PT_FLAG_STR, &to, "diffusers (a folder), sd-single-file (LDM names, one .safetensors) or animatediff "
                                 "(motion modules, one .safetensors)", "FORMAT"},
        {"dtype", PT_FLAG_STR, &dtype_s, "float type of the written weights: fp16 (default), bf16 or fp32", "TYPE"},
        {"output", PT_FLAG_STR, &out, "output folder (diffusers) or file (also -o OUT)", "OUT"},
        {"use-ema", PT_FLAG_BOOL, &use_ema, "export the EMA weights instead of the trained ones", NULL},
        {"max-shard-mb", PT_FLAG_INT, &shard_mb, "diffusers: shard weight files above this size (default 10000, as diffusers)", "MB"},
    };
    const pt_cli_spec spec = {
        "export", "CKPT|RUN_DIR --to diffusers|sd-single-file|animatediff -o OUT [--dtype fp16|bf16|fp32] [--use-ema]",
        "Write a posetune training checkpoint (a step-*.safetensors file, or a run folder: its newest checkpoint)\n"
        "in the layout other tools load:\n"
        "  diffusers       OUT/ with model_index.json, unet/, vae/, image_encoder/ (transformers CLIP vision),\n"
        "                  scheduler/, and the regime's extras: adapter/ (DreamPose), pose_guider/, reference_unet/,\n"
        "                  motion_module/ (Animate Anyone). A widened conv_in is in unet/config.json (in_channels).\n"
        "  sd-single-file  one .safetensors with original LDM names (model.diffusion_model.*, first_stage_model.*)\n"
        "  animatediff     the motion modules alone, original AnimateDiff names (mm_sd_v15_v2 layout)\n"
        "Frozen components that the checkpoint does not hold are taken from the config's pretrained paths\n"
        "(or the tiny random init); what cannot be found is left out and said so. Every file is written atomically.",
        flags, 5, 1, 1};
    // The shared parser takes long flags only; -o is this command's one short alias.
    char **args = pt_malloc(sizeof(char *) * (size_t)(argc + 1));
    for (int i = 0; i < argc; i++) args[i] = strcmp(argv[i], "-o") == 0 ? "--output" : argv[i];
    args[argc] = NULL;
    const char *pos[1];
    int np = 0;
    int help = pt_cli_parse(&spec, argc, args, pos, &np);
    free(args);
    if (help) return 0;
    if (!to) PT_USAGE("--to is required: diffusers, sd-single-file or animatediff");
    int target = pt_export_target_from_str(to);
    if (target < 0) PT_USAGE("--to '%s': unknown format (expected diffusers, sd-single-file or animatediff)", to);
    if (!out || !out[0]) PT_USAGE("-o OUT (--output) is required (a folder for diffusers, a .safetensors file otherwise)");
    if (shard_mb < 0) PT_USAGE("--max-shard-mb %d: must be positive", shard_mb);
    pt_dtype dt = parse_dtype(dtype_s);

    pt_export_set s;
    pt_export_set_init(&s);
    pt_export_set_from_checkpoint(&s, pos[0], use_ema, stdout);
    printf("checkpoint %s: regime %s, step %lld%s\n", s.source, s.regime[0] ? s.regime : "?", (long long)s.step,
           use_ema ? " (EMA weights)" : "");
    if (target != PT_EXPORT_DIFFUSERS) parent_dirs(out);
    int files = pt_export_write(&s, (pt_export_target)target, out, dt, (size_t)shard_mb * 1000 * 1000, stdout);
    printf("exported %d weight file%s as %s (%s) to %s\n", files, files == 1 ? "" : "s", to, pt_dtype_name(dt), out);
    pt_export_set_free(&s);
    return 0;
}

// main.c — the posetune binary: dispatch to subcommands (tools/cmd_*.c).
#include <stdio.h>
#include <string.h>

#include "tools/check.h"
#include "tools/cli.h"

static const pt_cmd COMMANDS[] = {
    {"train", "train a model from a YAML config (DreamPose / Animate Anyone)", pt_cmd_train},
    {"subject", "DreamPose per-subject finetune, then render a pose sequence", pt_cmd_subject},
    {"render", "render frames / video from a trained checkpoint and a pose sequence", pt_cmd_render},
    {"pack", "pack frame/pose folders into one HDF5 dataset", pt_cmd_pack},
    {"pose-render", "draw keypoint JSON (OpenPose format) as skeleton images", pt_cmd_pose_render},
    {"export", "export a checkpoint to diffusers / original SD / AnimateDiff formats", pt_cmd_export},
    {"inspect", "list what a checkpoint or weights file holds", pt_cmd_inspect},
    {"tensor-run", "run one model on tensors from a safetensors file (fixtures, debugging)", pt_cmd_tensor_run},
    {"bench", "time the training / inference workloads of ../shared/BASELINE.md", pt_cmd_bench},
    {"demo", "the embedded default: synthetic data + tiny models, train and render in minutes", pt_cmd_demo},
};
static const int N_COMMANDS = (int)(sizeof COMMANDS / sizeof COMMANDS[0]);

static void usage(FILE *out) {
    fprintf(out,
            "posetune — fine-tune and render pose-driven Stable Diffusion 1.x models (DreamPose, Animate Anyone)\n\n"
            "usage: posetune COMMAND [ARGS...]    (posetune COMMAND --help for a command's options)\n\n"
            "commands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(out, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return PT_EXIT_USAGE; }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], COMMANDS[i].name) == 0) return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "posetune: error: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return PT_EXIT_USAGE;
}

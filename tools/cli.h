// cli.h — subcommand table and a small long-flag parser shared by every subcommand.
//
// Each subcommand lives in tools/cmd_<name>.c and exports `int pt_cmd_<name>(int argc, char **argv)`,
// where argv[0] is the subcommand's name. It returns 0 on success; failures go through PT_USAGE (2)
// or PT_RUNTIME (1).
#pragma once
#include <stdint.h>

typedef struct pt_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} pt_cmd;

int pt_cmd_train(int argc, char **argv);
int pt_cmd_subject(int argc, char **argv);
int pt_cmd_render(int argc, char **argv);
int pt_cmd_pack(int argc, char **argv);
int pt_cmd_pose_render(int argc, char **argv);
int pt_cmd_export(int argc, char **argv);
int pt_cmd_inspect(int argc, char **argv);
int pt_cmd_tensor_run(int argc, char **argv);
int pt_cmd_bench(int argc, char **argv);
int pt_cmd_demo(int argc, char **argv);

// ---- flag parsing -------------------------------------------------------------------------
// Flags are long only: --name VALUE, --name=VALUE, or --name for booleans. Positional arguments
// are collected in order. Unknown flags, missing values and bad numbers fail with exit 2 naming
// the flag. Repeatable flags (e.g. --set, --images) collect every value.
typedef enum { PT_FLAG_BOOL, PT_FLAG_STR, PT_FLAG_INT, PT_FLAG_FLOAT, PT_FLAG_STRLIST } pt_flag_kind;

typedef struct pt_flag {
    const char *name;      // without the leading "--"
    pt_flag_kind kind;
    void *dst;             // int* (BOOL/INT), const char** (STR), double* (FLOAT), pt_strlist* (STRLIST)
    const char *help;
    const char *metavar;   // shown in help, e.g. "FILE"
} pt_flag;

typedef struct pt_strlist { const char **items; int n, cap; } pt_strlist;
void pt_strlist_push(pt_strlist *l, const char *s);

typedef struct pt_cli_spec {
    const char *cmd;            // "train"
    const char *usage;          // "CONFIG.yaml [--set key=value]..."
    const char *description;    // paragraph shown by --help
    const pt_flag *flags; int n_flags;
    int min_pos, max_pos;       // positional argument count bounds (max -1: unbounded)
} pt_cli_spec;

// Parses argv (argv[0] = subcommand). Returns 1 if --help was printed (caller returns 0).
// Positional arguments are written to pos (capacity max_pos or argc).
int pt_cli_parse(const pt_cli_spec *spec, int argc, char **argv, const char **pos, int *n_pos);
void pt_cli_print_help(const pt_cli_spec *spec);

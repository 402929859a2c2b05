// cmd_train.c — posetune train (not implemented yet: placeholder that says so).
#include "tools/check.h"
#include "tools/cli.h"

int pt_cmd_train(int argc, char **argv) {
    static const pt_cli_spec spec = {"train", "...", "Not implemented yet.", 0, 0, 0, -1};
    const char *pos[64]; int np = 0;
    (void)argc;
    if (argc < 64 && pt_cli_parse(&spec, argc, argv, pos, &np)) return 0;
    PT_USAGE("'posetune train' is not implemented yet");
}

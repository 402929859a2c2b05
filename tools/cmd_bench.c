// cmd_bench.c — posetune bench (not implemented yet: placeholder that says so).
#include "tools/check.h"
#include "tools/cli.h"

int pt_cmd_bench(int argc, char **argv) {
    static const pt_cli_spec spec = {"bench", "...", "Not implemented yet.", 0, 0, 0, -1};
    const char *pos[64]; int np = 0;
    (void)argc;
    if (argc < 64 && pt_cli_parse(&spec, argc, argv, pos, &np)) return 0;
    PT_USAGE("'posetune bench' is not implemented yet");
}

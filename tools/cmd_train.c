// cmd_train.c — posetune train CONFIG.yaml [--set key=value]...
//
// Loads the config (include files, --set overrides, cross-field checks), prints the resolved config,
// and runs the regime's trainer. Launch under mpirun for data parallelism. Training resumes from
// <train.out_dir>/checkpoints when train.resume is auto (the default).
#include <stdio.h>
#include <stdlib.h>

#include "tools/check.h"
#include "tools/cli.h"
#include "trainer/config.h"
#include "trainer/dist.h"
#include "trainer/regime_dreampose.h"

#include "trainer/regime_aa.h"

int pt_cmd_train(int argc, char **argv) {
    pt_strlist sets = {0};
    const pt_flag flags[] = {
        {"set", PT_FLAG_STRLIST, &sets, "override a config key after the file, e.g. --set train.lr=1e-5", "KEY=VALUE"},
    };
    const pt_cli_spec spec = {"train", "CONFIG.yaml [--set key=value]...",
                              "Train a model from a YAML config (configs/dreampose/*.yaml, configs/animate_anyone/*.yaml,\n"
                              "configs/demo/*.yaml). The resolved config is printed and saved to <train.out_dir>/config.yaml;\n"
                              "checkpoints go to <train.out_dir>/checkpoints and a rerun continues from the latest\n"
                              "(train.resume: auto).",
                              flags, 1, 1, 1};
    const char *pos[1];
    int np = 0;
    if (pt_cli_parse(&spec, argc, argv, pos, &np)) return 0;
    pt_config cfg;
    pt_config_from_args(&cfg, pos[0], sets.items, sets.n);
    pt_dist_init(cfg.train.device == PT_CFG_DEVICE_CUDA);
    if (pt_dist_get()->rank == 0) {
        printf("# posetune train: resolved config of %s\n", pos[0]);
        pt_config_print(&cfg, stdout);
        fflush(stdout);
    }
    double loss;
    if (cfg.regime == PT_CFG_REGIME_DREAMPOSE) loss = pt_dreampose_train(&cfg);
    else {
        loss = pt_animate_anyone_train(&cfg);
    }
    if (pt_dist_get()->rank == 0) fprintf(stderr, "posetune train: done, final loss %.6f, output in %s\n", loss, cfg.train.out_dir);
    pt_config_free(&cfg);
    free(sets.items);
    pt_dist_finalize();
    return 0;
}

// cmd_render.c — posetune render CONFIG.yaml [--reference IMG] [--poses DIR] [--out DIR]
//                                [--checkpoint CKPT] [--vae-decoder CKPT] [--set key=value]...
//
// DreamPose: animates render.reference with the DensePose sequence render.poses using the
// model.checkpoint (a run folder or checkpoint file) and writes frames + a clip to render.output.
#include <stdio.h>
#include <stdlib.h>

#include "tools/check.h"
#include "tools/cli.h"
#include "trainer/config.h"
#include "trainer/dist.h"
#include "trainer/render_dreampose.h"

#include "trainer/render_aa.h"

static void set_str(char **field, const char *v) {
    if (!v) return;
    free(*field);
    *field = pt_strdup(v);
}

int pt_cmd_render(int argc, char **argv) {
    pt_strlist sets = {0};
    const char *reference = NULL, *poses = NULL, *out = NULL, *ckpt = NULL, *vae = NULL;
    const pt_flag flags[] = {
        {"reference", PT_FLAG_STR, &reference, "subject image to animate (render.reference)", "IMAGE"},
        {"poses", PT_FLAG_STR, &poses, "pose sequence: DreamPose folder of frame_N_densepose.npy; Animate Anyone folder of keypoint JSON or skeleton PNGs (render.poses)", "DIR"},
        {"out", PT_FLAG_STR, &out, "output folder (render.output)", "DIR"},
        {"checkpoint", PT_FLAG_STR, &ckpt, "posetune checkpoint or run folder (model.checkpoint)", "CKPT"},
        {"vae-decoder", PT_FLAG_STR, &vae, "finetuned VAE decoder checkpoint or run folder (model.vae_decoder_checkpoint)", "CKPT"},
        {"set", PT_FLAG_STRLIST, &sets, "override a config key, e.g. --set render.steps=50", "KEY=VALUE"},
    };
    const pt_cli_spec spec = {"render", "CONFIG.yaml [--reference IMG] [--poses DIR] [--out DIR] [--checkpoint CKPT] [--set key=value]...",
                              "Render frames (PNG) and a clip (mp4 with ffmpeg, else GIF) from a trained checkpoint and a\n"
                              "pose sequence. DreamPose: PNDM/DDIM with dual classifier-free guidance\n"
                              "(render.image_guidance, render.pose_guidance).",
                              flags, (int)(sizeof flags / sizeof flags[0]), 1, 1};
    const char *pos[1];
    int np = 0;
    if (pt_cli_parse(&spec, argc, argv, pos, &np)) return 0;
    pt_config cfg;
    pt_config_from_args(&cfg, pos[0], sets.items, sets.n);
    set_str(&cfg.render.reference, reference);
    set_str(&cfg.render.poses, poses);
    set_str(&cfg.render.output, out);
    set_str(&cfg.model.checkpoint, ckpt);
    set_str(&cfg.model.vae_decoder_checkpoint, vae);
    pt_config_validate(&cfg);
    pt_dist_init(cfg.train.device == PT_CFG_DEVICE_CUDA);
    int n;
    if (cfg.regime == PT_CFG_REGIME_DREAMPOSE) n = pt_dreampose_render(&cfg);
    else {
        n = pt_animate_anyone_render(&cfg);
    }
    fprintf(stderr, "posetune render: %d frames in %s\n", n, cfg.render.output);
    pt_config_free(&cfg);
    free(sets.items);
    pt_dist_finalize();
    return 0;
}

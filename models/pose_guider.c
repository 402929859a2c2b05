// pose_guider.c — Animate Anyone's Pose Guider (see pose_guider.h).
#include "models/pose_guider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "tools/check.h"

void pt_pose_guider_init(pt_pose_guider *g, pt_params *P, const char *prefix, const int *ch, int n, int in_channels,
                         int out_channels) {
    memset(g, 0, sizeof *g);
    if (n < 1 || n > PT_PG_MAX_LEVELS) PT_USAGE("pose guider: %d channel levels (1 to %d allowed)", n, PT_PG_MAX_LEVELS);
    snprintf(g->prefix, sizeof g->prefix, "%s", prefix ? prefix : "");
    char base[160];
    snprintf(base, sizeof base, "%sconv_in", g->prefix);
    g->conv_in = pt_mc_conv(P, base, NULL, in_channels, ch[0], 3, 1, 1, 1);
    for (int i = 0; i + 1 < n; i++) {
        snprintf(base, sizeof base, "%sblocks.%d", g->prefix, 2 * i);
        g->blocks[2 * i] = pt_mc_conv(P, base, NULL, ch[i], ch[i], 3, 1, 1, 1);
        snprintf(base, sizeof base, "%sblocks.%d", g->prefix, 2 * i + 1);
        g->blocks[2 * i + 1] = pt_mc_conv(P, base, NULL, ch[i], ch[i + 1], 3, 2, 1, 1);
    }
    g->n_blocks = 2 * (n - 1);
    g->n_down = n - 1;
    g->out_channels = out_channels;
    snprintf(base, sizeof base, "%sconv_out", g->prefix);
    g->conv_out = pt_mc_conv(P, base, NULL, ch[n - 1], out_channels, 3, 1, 1, 1);
}

void pt_pose_guider_zero_out(pt_pose_guider *g) {
    pt_zero_(g->conv_out.w);
    pt_zero_(g->conv_out.b);
}

pt_tensor *pt_pose_guider_forward(pt_pose_guider *g, pt_tensor *pose) {
    const int64_t m = (int64_t)1 << g->n_down;
    if (pose->ndim != 4 || pose->shape[1] != g->conv_in.in || pose->shape[2] % m || pose->shape[3] % m) {
        char b[128];
        PT_USAGE("pose guider: input %s; expected (B, %d, H, W) with H, W multiples of %lld", pt_shape_str(pose, b, sizeof b),
                 g->conv_in.in, (long long)m);
    }
    int mark = pt_scope_begin();
    pt_tensor *h = pt_silu(pt_mc_conv_fwd(&g->conv_in, pose));      // (B, c0, H, W)
    for (int i = 0; i < g->n_blocks; i++) h = pt_silu(pt_mc_conv_fwd(&g->blocks[i], h));
    h = pt_mc_conv_fwd(&g->conv_out, h);                             // (B, out, H/2^n, W/2^n)
    return pt_scope_end(mark, h);
}

// parameter "<prefix>conv_in.weight" -> file "controlnet_cond_embedding.conv_in.weight"; conv_out is skipped.
static const char *cn_map(const char *param, char *buf, size_t n, void *ctx) {
    const char *pre = ctx;
    size_t k = strlen(pre);
    if (strncmp(param, pre, k) != 0) return NULL;
    if (strncmp(param + k, "conv_out", 8) == 0) return NULL;
    snprintf(buf, n, "controlnet_cond_embedding.%s", param + k);
    return buf;
}

int pt_pose_guider_load_controlnet(pt_pose_guider *g, pt_params *P, const pt_weights *w) {
    int found = 0;
    for (int i = 0; i < P->n; i++) {
        char buf[600];
        const char *f = cn_map(P->e[i].name, buf, sizeof buf, g->prefix);
        if (!f) continue;
        const pt_wtensor *t = pt_weights_find(w, f);
        if (!t) PT_USAGE("%s: no tensor '%s' (a ControlNet with controlnet_cond_embedding.{conv_in,blocks.N} is expected "
                         "for the Pose Guider %s)", w->source, f, P->e[i].name);
        pt_tensor *p = P->e[i].t;
        int ok = t->ndim == p->ndim;
        for (int d = 0; ok && d < p->ndim; d++) ok = t->shape[d] == p->shape[d];
        if (!ok) {
            char a[96], b[128];
            PT_USAGE("%s: tensor '%s' has shape %s, the Pose Guider's %s is %s (model.tiny_size.pose_guider_channels / "
                     "the UNet width must match the ControlNet)", w->source, f, pt_wtensor_shape_str(t, a, sizeof a),
                     P->e[i].name, pt_shape_str(p, b, sizeof b));
        }
        float *h = pt_malloc(sizeof(float) * (size_t)pt_wtensor_numel(t));
        pt_weights_read_f32(t, h);
        pt_copy_from_host_f32(p, h);
        free(h);
        found++;
    }
    return found;
}

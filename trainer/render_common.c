// render_common.c — the renderers' shared input and output pieces (see render_common.h).
#include "trainer/render_common.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/gif.h"
#include "datasets/image_io.h"
#include "datasets/video.h"
#include "tools/check.h"
#include "trainer/regime_common.h"

float *pt_render_load_reference(const char *path, int H, int W) {
    pt_image im = pt_image_load(path);
    float *raw = pt_malloc(sizeof(float) * 3 * im.w * im.h), *ref = pt_malloc(sizeof(float) * 3 * H * W);
    pt_image_to_chw(&im, raw, -1.0f, 1.0f);
    if (im.w == W && im.h == H) memcpy(ref, raw, sizeof(float) * 3 * H * W);
    else pt_resize_bilinear_chw(raw, 3, im.h, im.w, ref, H, W);
    pt_image_free(&im);
    free(raw);
    return ref;
}

void pt_render_sched(const pt_config *cfg, pt_sched_kind kind, pt_sched *s) {
    pt_sched_config sc = pt_regime_sched_config(cfg);
    sc.kind = kind;
    pt_sched_init(s, &sc);
    s->eta = cfg->render.eta;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int pt_render_list_files(const char *dir, const char *suf, char ***out) {
    DIR *d = opendir(dir);
    if (!d) PT_USAGE("render.poses: cannot open folder '%s'", dir);
    int n = 0, cap = 16;
    char **v = pt_malloc(sizeof(char *) * cap);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!ends_with(e->d_name, suf)) continue;
        if (n == cap) v = pt_realloc(v, sizeof(char *) * (cap *= 2));
        size_t L = strlen(dir) + strlen(e->d_name) + 2;
        v[n] = pt_malloc(L);
        snprintf(v[n], L, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    qsort(v, n, sizeof(char *), cmp_str);
    *out = v;
    return n;
}

static void frame_path(char *buf, size_t n, const char *dir, int i) { snprintf(buf, n, "%s/frame_%04d.png", dir, i); }

void pt_render_save_frame(const char *dir, int i, const float *img, int H, int W) {
    pt_image o = pt_image_from_chw(img, 3, H, W, -1.0f, 1.0f);
    char p[4200];
    frame_path(p, sizeof p, dir, i);
    pt_image_save_png(p, &o);
    pt_image_free(&o);
}

void pt_render_write_clip(const pt_config *cfg, const char *dir, int n, int w, int h) {
    const int fmt = cfg->render.format, have_ff = pt_ffmpeg_available();
    int mp4 = fmt != PT_CFG_FORMAT_GIF && have_ff;
    int gif = fmt == PT_CFG_FORMAT_GIF || fmt == PT_CFG_FORMAT_PNG || !mp4;
    if (fmt == PT_CFG_FORMAT_MP4 && !have_ff) PT_WARN("render.format mp4: ffmpeg is not on PATH; writing %s/clip.gif instead", dir);
    char p[4200];
    if (mp4) {
        snprintf(p, sizeof p, "%s/clip.mp4", dir);
        pt_frames_to_mp4(dir, n, cfg->render.fps, p);
    }
    if (gif) {
        snprintf(p, sizeof p, "%s/clip.gif", dir);
        pt_gif g;
        pt_gif_begin(&g, p, w, h, cfg->render.fps > 0 ? cfg->render.fps : 8, 1);
        for (int i = 0; i < n; i++) {
            char fp[4200];
            frame_path(fp, sizeof fp, dir, i);
            pt_image im = pt_image_load(fp);
            pt_gif_add_frame(&g, im.px);
            pt_image_free(&im);
        }
        pt_gif_end(&g);
    }
}

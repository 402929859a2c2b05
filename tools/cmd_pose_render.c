// cmd_pose_render.c — posetune pose-render: OpenPose / DWPose keypoint JSON -> skeleton PNGs.
//
//   posetune pose-render --input DIR_OR_JSON [--input ...] --out DIR [--width W --height H]
//                        [--confidence-aware] [--threshold 0.3] [--rescale-to REF.json]
//
// Each JSON gives one PNG in --out: "NAME_keypoints.json" -> "NAME_pose.png" (the dataset layout of
// datasets/synthetic.h), any other "NAME.json" -> "NAME.png". A directory input takes its *.json
// files in name order. Size: --width/--height, else the file's canvas_width/canvas_height (with
// --rescale-to: the reference's canvas). --rescale-to fits MimicMotion's retargeting over all inputs
// (a driving sequence) onto the reference pose before drawing.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/image_io.h"
#include "datasets/keypoints.h"
#include "datasets/pose_draw.h"
#include "tools/check.h"
#include "tools/cli.h"

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

// Expands files and directories into a list of JSON paths (owned strings).
static void collect_inputs(const pt_strlist *in, pt_strlist *files) {
    for (int i = 0; i < in->n; i++) {
        struct stat st;
        if (stat(in->items[i], &st) != 0) PT_USAGE("pose-render: --input '%s' does not exist", in->items[i]);
        if (!S_ISDIR(st.st_mode)) { pt_strlist_push(files, pt_strdup(in->items[i])); continue; }
        DIR *d = opendir(in->items[i]);
        if (!d) PT_USAGE("pose-render: cannot read directory '%s'", in->items[i]);
        int first = files->n;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' || !ends_with(e->d_name, ".json")) continue;
            size_t n = strlen(in->items[i]) + strlen(e->d_name) + 2;
            char *p = pt_malloc(n);
            snprintf(p, n, "%s/%s", in->items[i], e->d_name);
            pt_strlist_push(files, p);
        }
        closedir(d);
        if (files->n == first) PT_USAGE("pose-render: directory '%s' holds no .json keypoint files", in->items[i]);
        qsort(files->items + first, (size_t)(files->n - first), sizeof(char *), cmp_str);
    }
}

static char *output_name(const char *out_dir, const char *json) {
    const char *base = strrchr(json, '/');
    base = base ? base + 1 : json;
    size_t n = strlen(out_dir) + strlen(base) + 16;
    char *p = pt_malloc(n);
    size_t bl = strlen(base);
    if (ends_with(base, "_keypoints.json")) snprintf(p, n, "%s/%.*s_pose.png", out_dir, (int)(bl - 15), base);
    else if (ends_with(base, ".json")) snprintf(p, n, "%s/%.*s.png", out_dir, (int)(bl - 5), base);
    else snprintf(p, n, "%s/%s.png", out_dir, base);
    return p;
}

// The fit, with the reference file named in its errors.
static pt_pose_retarget fit_named(const pt_pose_frame *frames, int n, const pt_pose_frame *ref, int dw, int dh,
                                  int rw, int rh, const char *ref_path) {
    pt_pose_retarget r = {1, 0, 1, 0};
    PT_TRY { r = pt_pose_retarget_fit(frames, n, ref, dw, dh, rw, rh); }
    PT_CATCH { pt_fail_at(__FILE__, __LINE__, pt_last_error_code(), "%s (reference '%s')", pt_last_error(), ref_path); }
    PT_END_TRY;
    return r;
}

int pt_cmd_pose_render(int argc, char **argv) {
    pt_strlist inputs = {0};
    const char *out = NULL, *ref_path = NULL;
    int width = 0, height = 0, conf_aware = 0;
    double threshold = 0.3;
    const pt_flag flags[] = {
        {"input", PT_FLAG_STRLIST, &inputs, "keypoint JSON file or a directory of them", "PATH"},
        {"out", PT_FLAG_STR, &out, "output directory for the PNGs", "DIR"},
        {"width", PT_FLAG_INT, &width, "image width (default: the JSON's canvas_width)", "W"},
        {"height", PT_FLAG_INT, &height, "image height (default: the JSON's canvas_height)", "H"},
        {"confidence-aware", PT_FLAG_BOOL, &conf_aware, "MimicMotion colours: scaled by keypoint confidence", NULL},
        {"threshold", PT_FLAG_FLOAT, &threshold, "keypoints below this confidence are not drawn (default 0.3)", "T"},
        {"rescale-to", PT_FLAG_STR, &ref_path, "retarget the inputs onto this reference pose (MimicMotion)", "REF.json"},
    };
    const pt_cli_spec spec = {"pose-render", "--input DIR_OR_JSON... --out DIR [options]",
                              "Draw OpenPose/DWPose keypoint JSON files as DWPose-style skeleton PNGs "
                              "(NAME_keypoints.json -> NAME_pose.png).",
                              flags, (int)(sizeof flags / sizeof flags[0]), 0, 0};
    const char *pos[1];
    int np = 0;
    if (pt_cli_parse(&spec, argc, argv, pos, &np)) return 0;
    if (inputs.n == 0) PT_USAGE("pose-render: --input is required (a keypoint JSON file or a directory)");
    if (!out) PT_USAGE("pose-render: --out is required (output directory)");
    if ((width > 0) != (height > 0) || width < 0 || height < 0)
        PT_USAGE("pose-render: give both --width and --height as positive integers (got %d and %d)", width, height);
    if (!(threshold >= 0 && threshold <= 1)) PT_USAGE("pose-render: --threshold must be in [0, 1] (got %g)", threshold);

    pt_strlist files = {0};
    collect_inputs(&inputs, &files);
    pt_pose_frame *frames = pt_calloc((size_t)files.n, sizeof(pt_pose_frame));
    for (int i = 0; i < files.n; i++) {
        frames[i] = pt_keypoints_load(files.items[i]);
        if (!frames[i].normalized && (frames[i].width <= 0 || frames[i].height <= 0) && width <= 0)
            PT_USAGE("pose-render: '%s' has pixel coordinates but no canvas_width/canvas_height; give --width and --height",
                     files.items[i]);
    }

    pt_pose_draw_opts o;
    pt_pose_draw_opts_default(&o);
    o.confidence_aware = conf_aware;
    o.threshold = threshold > 0 ? (float)threshold : 1e-6f;

    int ref_w = 0, ref_h = 0;
    if (ref_path) {
        pt_pose_frame ref = pt_keypoints_load(ref_path);
        ref_w = ref.width > 0 ? ref.width : width;
        ref_h = ref.height > 0 ? ref.height : height;
        if (ref_w <= 0 || ref_h <= 0)
            PT_USAGE("pose-render: reference '%s' has no canvas_width/canvas_height; give --width and --height", ref_path);
        int dw = frames[0].width > 0 ? frames[0].width : (width > 0 ? width : ref_w);
        int dh = frames[0].height > 0 ? frames[0].height : (height > 0 ? height : ref_h);
        pt_pose_retarget r = fit_named(frames, files.n, &ref, dw, dh, ref_w, ref_h, ref_path);
        for (int i = 0; i < files.n; i++) pt_pose_retarget_apply(&frames[i], &r, dw, dh);
        printf("pose-render: retargeted onto '%s': x' = %.4f x + %.4f, y' = %.4f y + %.4f (normalised)\n",
               ref_path, r.ax, r.bx, r.ay, r.by);
        pt_pose_frame_free(&ref);
    }

    pt_mkdirs(out);
    for (int i = 0; i < files.n; i++) {
        int w = width > 0 ? width : (ref_path ? ref_w : frames[i].width);
        int h = height > 0 ? height : (ref_path ? ref_h : frames[i].height);
        if (w <= 0 || h <= 0)
            PT_USAGE("pose-render: '%s' has no canvas_width/canvas_height; give --width and --height", files.items[i]);
        if (!frames[i].normalized && (frames[i].width <= 0 || frames[i].height <= 0)) {
            frames[i].width = w;   // pixel coordinates for the requested size
            frames[i].height = h;
        }
        pt_image canvas = pt_image_alloc(w, h, 3);
        pt_pose_draw(&frames[i], &canvas, &o);
        char *png = output_name(out, files.items[i]);
        pt_image_save_png(png, &canvas);
        free(png);
        pt_image_free(&canvas);
        pt_pose_frame_free(&frames[i]);
    }
    printf("pose-render: wrote %d skeleton image%s to %s\n", files.n, files.n == 1 ? "" : "s", out);
    for (int i = 0; i < files.n; i++) free((char *)files.items[i]);
    free(files.items);
    free(inputs.items);
    free(frames);
    return 0;
}

// synthetic.c — the embedded default dataset: deterministic walking stick figures with keypoint
// JSON, DWPose-style skeleton images and DensePose-like U,V maps (layout in synthetic.h).
#include "datasets/synthetic.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/rng.h"
#include "datasets/npy.h"
#include "datasets/pose_draw.h"
#include "tools/check.h"
#include "tools/json.h"

#define SYNTH_FPS 8.0
#define N_PARTS 12

void pt_synth_opts_default(pt_synth_opts *o) {
    o->n_videos = 2;
    o->n_frames = 16;
    o->width = 64;
    o->height = 64;
    o->seed = 0;
}

// ---- per-video look and motion, drawn from the video's own random stream ----------------------
typedef struct video_params {
    int gradient;
    float bg_top[3], bg_bot[3];                 // channels in [175, 250]
    float shirt[3], pants[3], skin[3], hair[3]; // channels in [20, 150]
    float height_frac;                          // figure height / image height
    float phase0, cycle;                        // walk phase at frame 0, frames per step cycle
    float leg_amp, arm_amp, drift_amp, drift_phase;
} video_params;

static void draw_colour(pt_rng *r, float c[3], float lo, float hi) {
    for (int k = 0; k < 3; k++) c[k] = lo + (hi - lo) * pt_rng_uniform(r);
}

static video_params make_params(const pt_synth_opts *o, int video) {
    pt_rng r;
    pt_rng_init(&r, pt_rng_derive(o->seed, "synthetic-video", video));
    video_params p;
    p.gradient = pt_rng_uniform(&r) < 0.5f;
    draw_colour(&r, p.bg_top, 175, 250);
    draw_colour(&r, p.bg_bot, 175, 250);
    if (!p.gradient) memcpy(p.bg_bot, p.bg_top, sizeof p.bg_top);
    draw_colour(&r, p.shirt, 20, 150);
    draw_colour(&r, p.pants, 20, 120);
    float tone = pt_rng_uniform(&r);   // skin: warm tones, darker than the background
    p.skin[0] = 110 + 40 * tone; p.skin[1] = 70 + 35 * tone; p.skin[2] = 45 + 30 * tone;
    draw_colour(&r, p.hair, 15, 70);
    p.height_frac = 0.70f + 0.12f * pt_rng_uniform(&r);
    p.phase0 = 6.2831853f * pt_rng_uniform(&r);
    p.cycle = 10.0f + 6.0f * pt_rng_uniform(&r);
    p.leg_amp = 0.30f + 0.20f * pt_rng_uniform(&r);
    p.arm_amp = 0.35f + 0.30f * pt_rng_uniform(&r);
    p.drift_amp = 0.08f * pt_rng_uniform(&r);
    p.drift_phase = 6.2831853f * pt_rng_uniform(&r);
    return p;
}

// ---- the figure: keypoints and the parts that are painted ----------------------------------------
// Part kinds: capsule (segment a-b, radius r), disc (centre a, radius r), trapezoid (axis a-b, half
// widths r at a and r2 at b). U = (id + 0.05 + 0.9 t) / N_PARTS, V = 0.05 + 0.9 (s + 1) / 2 where t
// runs along the part and s across it.
enum { CAPSULE, DISC, TRAPEZOID };
typedef struct part { int kind, id; float ax, ay, bx, by, r, r2; float col[3]; } part;

typedef struct figure {
    float kp[18][2];
    part parts[N_PARTS + 1];
    int n_parts;
    float head_r, head_x, head_y;
    float hair[3];
} figure;

static void limb_end(float x, float y, float len, float angle, float *ox, float *oy) {
    *ox = x + len * sinf(angle);   // angle 0: straight down; positive swings towards +x
    *oy = y + len * cosf(angle);
}

static void add_part(figure *f, int kind, float ax, float ay, float bx, float by, float r, float r2,
                     const float col[3], float shade) {
    part *p = &f->parts[f->n_parts];
    p->kind = kind; p->id = f->n_parts;
    p->ax = ax; p->ay = ay; p->bx = bx; p->by = by; p->r = r; p->r2 = r2;
    for (int k = 0; k < 3; k++) p->col[k] = col[k] * shade;
    f->n_parts++;
}

static void build_figure(const pt_synth_opts *o, const video_params *v, int frame, figure *f) {
    const float W = (float)o->width, H = (float)o->height;
    const float hf = v->height_frac * fminf(H, 1.05f * W);  // figure height in pixels (fits narrow frames)
    const float ph = v->phase0 + 6.2831853f * (float)frame / v->cycle;
    const float cx = W * (0.5f + v->drift_amp * sinf(0.25f * ph + v->drift_phase));
    const float top = 0.5f * (H - hf) - 0.012f * hf * cosf(2.0f * ph);
    const float minr = 1.5f;
    float (*k)[2] = f->kp;
    memset(f, 0, sizeof *f);

    f->head_r = fmaxf(0.075f * hf, 2.5f);
    f->head_x = cx;
    f->head_y = top + f->head_r;
    k[PT_KP_NECK][0] = cx;             k[PT_KP_NECK][1] = top + 0.19f * hf;
    const float hip_y = top + 0.52f * hf, sw = 0.11f * hf, hw = 0.075f * hf;
    k[PT_KP_RSHOULDER][0] = cx - sw;   k[PT_KP_RSHOULDER][1] = k[PT_KP_NECK][1];
    k[PT_KP_LSHOULDER][0] = cx + sw;   k[PT_KP_LSHOULDER][1] = k[PT_KP_NECK][1];
    k[PT_KP_RHIP][0] = cx - 0.6f * hw; k[PT_KP_RHIP][1] = hip_y;
    k[PT_KP_LHIP][0] = cx + 0.6f * hw; k[PT_KP_LHIP][1] = hip_y;
    // legs: thighs swing in antiphase, the knee bends on the forward swing
    const float thigh = 0.23f * hf, shin = 0.22f * hf, upper = 0.17f * hf, fore = 0.15f * hf;
    float sR = sinf(ph), sL = -sinf(ph);
    float aR = v->leg_amp * sR, aL = v->leg_amp * sL;
    limb_end(k[PT_KP_RHIP][0], hip_y, thigh, aR, &k[PT_KP_RKNEE][0], &k[PT_KP_RKNEE][1]);
    limb_end(k[PT_KP_LHIP][0], hip_y, thigh, aL, &k[PT_KP_LKNEE][0], &k[PT_KP_LKNEE][1]);
    limb_end(k[PT_KP_RKNEE][0], k[PT_KP_RKNEE][1], shin, aR - 0.5f * fmaxf(0.0f, cosf(ph)), &k[PT_KP_RANKLE][0], &k[PT_KP_RANKLE][1]);
    limb_end(k[PT_KP_LKNEE][0], k[PT_KP_LKNEE][1], shin, aL - 0.5f * fmaxf(0.0f, -cosf(ph)), &k[PT_KP_LANKLE][0], &k[PT_KP_LANKLE][1]);
    // arms swing against the legs; the elbows bend a little more on the forward swing
    float uR = -0.8f * v->arm_amp * sR - 0.3f, uL = -0.8f * v->arm_amp * sL + 0.3f;
    limb_end(k[PT_KP_RSHOULDER][0], k[PT_KP_RSHOULDER][1], upper, uR, &k[PT_KP_RELBOW][0], &k[PT_KP_RELBOW][1]);
    limb_end(k[PT_KP_LSHOULDER][0], k[PT_KP_LSHOULDER][1], upper, uL, &k[PT_KP_LELBOW][0], &k[PT_KP_LELBOW][1]);
    limb_end(k[PT_KP_RELBOW][0], k[PT_KP_RELBOW][1], fore, uR - 0.3f - 0.2f * fmaxf(0.0f, -sR), &k[PT_KP_RWRIST][0], &k[PT_KP_RWRIST][1]);
    limb_end(k[PT_KP_LELBOW][0], k[PT_KP_LELBOW][1], fore, uL + 0.3f + 0.2f * fmaxf(0.0f, -sL), &k[PT_KP_LWRIST][0], &k[PT_KP_LWRIST][1]);
    // face: inside the head disc (ears at 0.6 r, so their rounded pixel stays inside)
    const float r = f->head_r;
    k[PT_KP_NOSE][0] = cx;             k[PT_KP_NOSE][1] = f->head_y + 0.25f * r;
    k[PT_KP_REYE][0] = cx - 0.35f * r; k[PT_KP_REYE][1] = f->head_y - 0.1f * r;
    k[PT_KP_LEYE][0] = cx + 0.35f * r; k[PT_KP_LEYE][1] = f->head_y - 0.1f * r;
    k[PT_KP_REAR][0] = cx - 0.6f * r;  k[PT_KP_REAR][1] = f->head_y;
    k[PT_KP_LEAR][0] = cx + 0.6f * r;  k[PT_KP_LEAR][1] = f->head_y;
    memcpy(f->hair, v->hair, sizeof f->hair);

    // parts, back to front: far (left) limbs darker
    const float limb_r = fmaxf(0.035f * hf, minr), leg_r = fmaxf(0.045f * hf, minr);
    add_part(f, CAPSULE, k[PT_KP_LHIP][0], k[PT_KP_LHIP][1], k[PT_KP_LKNEE][0], k[PT_KP_LKNEE][1], leg_r, 0, v->pants, 0.85f);
    add_part(f, CAPSULE, k[PT_KP_LKNEE][0], k[PT_KP_LKNEE][1], k[PT_KP_LANKLE][0], k[PT_KP_LANKLE][1], leg_r * 0.9f, 0, v->pants, 0.75f);
    add_part(f, CAPSULE, k[PT_KP_RHIP][0], k[PT_KP_RHIP][1], k[PT_KP_RKNEE][0], k[PT_KP_RKNEE][1], leg_r, 0, v->pants, 1.0f);
    add_part(f, CAPSULE, k[PT_KP_RKNEE][0], k[PT_KP_RKNEE][1], k[PT_KP_RANKLE][0], k[PT_KP_RANKLE][1], leg_r * 0.9f, 0, v->pants, 0.9f);
    add_part(f, TRAPEZOID, cx, k[PT_KP_NECK][1], cx, hip_y, sw, hw, v->shirt, 1.0f);
    add_part(f, CAPSULE, cx, k[PT_KP_NECK][1], cx, f->head_y, fmaxf(0.3f * r, minr), 0, v->skin, 0.9f);
    add_part(f, DISC, f->head_x, f->head_y, 0, 0, r, 0, v->skin, 1.0f);
    add_part(f, CAPSULE, k[PT_KP_LSHOULDER][0], k[PT_KP_LSHOULDER][1], k[PT_KP_LELBOW][0], k[PT_KP_LELBOW][1], limb_r, 0, v->shirt, 0.85f);
    add_part(f, CAPSULE, k[PT_KP_LELBOW][0], k[PT_KP_LELBOW][1], k[PT_KP_LWRIST][0], k[PT_KP_LWRIST][1], limb_r * 0.9f, 0, v->skin, 0.85f);
    add_part(f, CAPSULE, k[PT_KP_RSHOULDER][0], k[PT_KP_RSHOULDER][1], k[PT_KP_RELBOW][0], k[PT_KP_RELBOW][1], limb_r, 0, v->shirt, 0.95f);
    add_part(f, CAPSULE, k[PT_KP_RELBOW][0], k[PT_KP_RELBOW][1], k[PT_KP_RWRIST][0], k[PT_KP_RWRIST][1], limb_r * 0.9f, 0, v->skin, 1.0f);
    PT_ASSERT(f->n_parts <= N_PARTS);
}

// Part-local coordinates of pixel (x, y): returns 1 when inside, with t (along) and s (across).
static int part_coords(const part *p, float x, float y, float *t, float *s) {
    float dx = p->bx - p->ax, dy = p->by - p->ay, l2 = dx * dx + dy * dy, l = sqrtf(l2);
    if (p->kind == DISC) {
        float ex = x - p->ax, ey = y - p->ay;
        if (ex * ex + ey * ey > p->r * p->r) return 0;
        *t = 0.5f + 0.5f * ey / p->r;
        *s = ex / p->r;
        return 1;
    }
    float tt = l2 > 0 ? ((x - p->ax) * dx + (y - p->ay) * dy) / l2 : 0;
    float perp = l > 0 ? ((x - p->ax) * dy - (y - p->ay) * dx) / l : 0;   // signed distance across
    if (p->kind == TRAPEZOID) {
        if (tt < 0 || tt > 1) return 0;
        float half = p->r + (p->r2 - p->r) * tt;
        if (fabsf(perp) > half) return 0;
        *t = tt; *s = perp / half;
        return 1;
    }
    float tc = tt < 0 ? 0 : (tt > 1 ? 1 : tt);
    float ex = p->ax + tc * dx - x, ey = p->ay + tc * dy - y;
    if (ex * ex + ey * ey > p->r * p->r) return 0;
    *t = tc;
    *s = fmaxf(-1.0f, fminf(1.0f, perp / p->r));
    return 1;
}

void pt_synth_render(const pt_synth_opts *o, int video, int frame, pt_image *rgb, double *densepose,
                     pt_pose_frame *kp) {
    const int W = o->width, H = o->height;
    if (W < 16 || H < 16) PT_USAGE("synthetic data: image size %dx%d is too small (need at least 16x16)", W, H);
    video_params v = make_params(o, video);
    figure f;
    build_figure(o, &v, frame, &f);
    if (rgb) *rgb = pt_image_alloc(W, H, 3);
    if (densepose) memset(densepose, 0, sizeof(double) * 2 * (size_t)W * H);
    for (int y = 0; y < H; y++) {
        float a = H > 1 ? (float)y / (float)(H - 1) : 0;
        uint8_t bg[3];
        for (int c = 0; c < 3; c++) bg[c] = (uint8_t)lrintf(v.bg_top[c] + (v.bg_bot[c] - v.bg_top[c]) * a);
        for (int x = 0; x < W; x++) {
            const part *hit = NULL;
            float ht = 0, hs = 0, t, s;
            for (int i = 0; i < f.n_parts; i++)   // the last part that covers the pixel is on top
                if (part_coords(&f.parts[i], (float)x, (float)y, &t, &s)) { hit = &f.parts[i]; ht = t; hs = s; }
            size_t i = (size_t)y * W + x;
            if (rgb) {
                uint8_t *px = rgb->px + i * 3;
                for (int c = 0; c < 3; c++) px[c] = bg[c];
                if (hit) {
                    const float *col = (hit->kind == DISC && ht < 0.3f) ? f.hair : hit->col;
                    for (int c = 0; c < 3; c++) px[c] = (uint8_t)lrintf(col[c]);
                }
            }
            if (densepose && hit) {
                densepose[i] = (hit->id + 0.05 + 0.9 * ht) / N_PARTS;                    // U
                densepose[(size_t)W * H + i] = 0.05 + 0.9 * (hs + 1.0) * 0.5;           // V
            }
        }
    }
    if (kp) {
        memset(kp, 0, sizeof *kp);
        kp->n_people = 1;
        kp->people = pt_calloc(1, sizeof(pt_pose));
        kp->width = W;
        kp->height = H;
        pt_pose *p = &kp->people[0];
        p->n_body = 18;
        uint64_t cs = pt_rng_derive(o->seed, "synthetic-confidence", video);
        for (int j = 0; j < 18; j++) {
            p->body[j][0] = f.kp[j][0];
            p->body[j][1] = f.kp[j][1];
            p->body[j][2] = 0.75f + 0.25f * pt_rng_uniform_at(cs, (uint64_t)frame * 18 + j);
        }
    }
}

static void write_meta(const char *dir, const pt_synth_opts *o, int video) {
    char path[4200];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    pt_jbuf b = {0};
    b.indent = 2;
    pt_jbuf_obj_begin(&b);
    pt_jbuf_key(&b, "fps"); pt_jbuf_num(&b, SYNTH_FPS);
    pt_jbuf_key(&b, "n_frames"); pt_jbuf_int(&b, o->n_frames);
    pt_jbuf_key(&b, "width"); pt_jbuf_int(&b, o->width);
    pt_jbuf_key(&b, "height"); pt_jbuf_int(&b, o->height);
    pt_jbuf_key(&b, "source"); pt_jbuf_str(&b, "posetune synthetic");
    pt_jbuf_key(&b, "seed"); pt_jbuf_int(&b, (int64_t)o->seed);
    pt_jbuf_key(&b, "video"); pt_jbuf_int(&b, video);
    pt_jbuf_obj_end(&b);
    char *text = pt_jbuf_take(&b);
    pt_atomic_file af;
    pt_atomic_open(&af, path);
    pt_fwrite(text, 1, strlen(text), af.f, path);
    pt_fwrite("\n", 1, 1, af.f, path);
    pt_atomic_commit(&af);
    free(text);
}

void pt_synth_generate(const char *out_dir, const pt_synth_opts *o) {
    if (o->n_videos <= 0 || o->n_frames <= 0)
        PT_USAGE("synthetic data: need n_videos > 0 and n_frames > 0 (got %d and %d)", o->n_videos, o->n_frames);
    const int W = o->width, H = o->height;
    if (W < 16 || H < 16) PT_USAGE("synthetic data: image size %dx%d is too small (need at least 16x16)", W, H);
    double *dp = pt_malloc(sizeof(double) * 2 * (size_t)W * H);   // (2, H, W)
    pt_image pose = pt_image_alloc(W, H, 3);
    pt_pose_draw_opts dopts;
    pt_pose_draw_opts_default(&dopts);
    char dir[4096], path[4200];
    if (strlen(out_dir) > 4000) PT_USAGE("synthetic data: output path is too long: '%s'", out_dir);
    for (int v = 0; v < o->n_videos; v++) {
        snprintf(dir, sizeof dir, "%s/video_%04d", out_dir, v);
        pt_mkdirs(dir);
        for (int t = 0; t < o->n_frames; t++) {
            pt_image rgb;
            pt_pose_frame kp;
            pt_synth_render(o, v, t, &rgb, dp, &kp);
            snprintf(path, sizeof path, "%s/frame_%04d.png", dir, t);
            pt_image_save_png_direct(path, &rgb);
            snprintf(path, sizeof path, "%s/frame_%04d_keypoints.json", dir, t);
            pt_keypoints_save_direct(path, &kp);
            pt_pose_draw(&kp, &pose, &dopts);
            snprintf(path, sizeof path, "%s/frame_%04d_pose.png", dir, t);
            pt_image_save_png_direct(path, &pose);
            pt_npy a = {PT_F64, 3, {2, H, W}, dp};
            snprintf(path, sizeof path, "%s/frame_%04d_densepose.npy", dir, t);
            pt_npy_save_direct(path, &a);
            pt_image_free(&rgb);
            pt_pose_frame_free(&kp);
        }
        write_meta(dir, o, v);
    }
    pt_image_free(&pose);
    free(dp);
}

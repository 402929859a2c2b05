// pose_draw.c — DWPose / OpenPose-style skeleton rendering, MimicMotion confidence-aware colours,
// and MimicMotion pose retargeting (see pose_draw.h for the rules).
#include "datasets/pose_draw.h"

#include <math.h>
#include <string.h>

#include "tools/check.h"

const unsigned char PT_POSE_PALETTE[18][3] = {
    {255, 0, 0}, {255, 85, 0}, {255, 170, 0}, {255, 255, 0}, {170, 255, 0}, {85, 255, 0},
    {0, 255, 0}, {0, 255, 85}, {0, 255, 170}, {0, 255, 255}, {0, 170, 255}, {0, 85, 255},
    {0, 0, 255}, {85, 0, 255}, {170, 0, 255}, {255, 0, 255}, {255, 0, 170}, {255, 0, 85},
};
// OpenPose limbSeq (1-based in the Python code) minus one; the two ear-shoulder limbs are not drawn.
const int PT_POSE_LIMBS[17][2] = {
    {1, 2}, {1, 5}, {2, 3}, {3, 4}, {5, 6}, {6, 7}, {1, 8}, {8, 9}, {9, 10},
    {1, 11}, {11, 12}, {12, 13}, {1, 0}, {0, 14}, {14, 16}, {0, 15}, {15, 17},
};
const int PT_HAND_EDGES[20][2] = {
    {0, 1}, {1, 2}, {2, 3}, {3, 4}, {0, 5}, {5, 6}, {6, 7}, {7, 8}, {0, 9}, {9, 10},
    {10, 11}, {11, 12}, {0, 13}, {13, 14}, {14, 15}, {15, 16}, {0, 17}, {17, 18}, {18, 19}, {19, 20},
};

void pt_pose_draw_opts_default(pt_pose_draw_opts *o) {
    memset(o, 0, sizeof *o);
    o->threshold = 0.3f;
    o->draw_body = o->draw_hands = o->draw_face = 1;
}

// ---- raster primitives on an RGB canvas (pixel (x, y) has its centre at integer coordinates) --
typedef struct { pt_image *im; int bgr; } canvas_t;

static void put_px(canvas_t *cv, int x, int y, const int rgb[3]) {
    uint8_t *p = cv->im->px + ((size_t)y * cv->im->w + x) * 3;
    p[0] = (uint8_t)rgb[cv->bgr ? 2 : 0];
    p[1] = (uint8_t)rgb[1];
    p[2] = (uint8_t)rgb[cv->bgr ? 0 : 2];
}

static void bbox(const canvas_t *cv, float x0, float y0, float x1, float y1, int *bx0, int *by0, int *bx1, int *by1) {
    *bx0 = (int)floorf(x0); *by0 = (int)floorf(y0);
    *bx1 = (int)ceilf(x1); *by1 = (int)ceilf(y1);
    if (*bx0 < 0) *bx0 = 0;
    if (*by0 < 0) *by0 = 0;
    if (*bx1 > cv->im->w - 1) *bx1 = cv->im->w - 1;
    if (*by1 > cv->im->h - 1) *by1 = cv->im->h - 1;
}

// Filled ellipse centred at the midpoint of a-b, half-axes |a-b|/2 (along) and hw (across).
static void fill_limb(canvas_t *cv, float ax, float ay, float bx, float by, float hw, const int rgb[3]) {
    float cx = 0.5f * (ax + bx), cy = 0.5f * (ay + by);
    float dx = bx - ax, dy = by - ay, len = sqrtf(dx * dx + dy * dy);
    float ux = len > 0 ? dx / len : 1, uy = len > 0 ? dy / len : 0;
    float ha = fmaxf(0.5f * len, 0.5f);
    float r = fmaxf(ha, hw);
    int x0, y0, x1, y1;
    bbox(cv, cx - r, cy - r, cx + r, cy + r, &x0, &y0, &x1, &y1);
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float px = x - cx, py = y - cy;
            float along = (px * ux + py * uy) / ha, across = (-px * uy + py * ux) / hw;
            if (along * along + across * across <= 1.0f) put_px(cv, x, y, rgb);
        }
}

static void fill_circle(canvas_t *cv, float cx, float cy, float r, const int rgb[3]) {
    int x0, y0, x1, y1;
    bbox(cv, cx - r, cy - r, cx + r, cy + r, &x0, &y0, &x1, &y1);
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) put_px(cv, x, y, rgb);
}

// Line of half-width hw with round caps (distance to the segment <= hw).
static void draw_line(canvas_t *cv, float ax, float ay, float bx, float by, float hw, const int rgb[3]) {
    int x0, y0, x1, y1;
    bbox(cv, fminf(ax, bx) - hw, fminf(ay, by) - hw, fmaxf(ax, bx) + hw, fmaxf(ay, by) + hw, &x0, &y0, &x1, &y1);
    float dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float t = l2 > 0 ? ((x - ax) * dx + (y - ay) * dy) / l2 : 0;
            t = t < 0 ? 0 : (t > 1 ? 1 : t);
            float ex = ax + t * dx - x, ey = ay + t * dy - y;
            if (ex * ex + ey * ey <= hw * hw) put_px(cv, x, y, rgb);
        }
}

static void hsv_full(float h, float rgb[3]) {   // S = V = 1
    float h6 = h * 6.0f;
    int i = (int)floorf(h6);
    float f = h6 - i, q = 1 - f, t = f;
    switch (((i % 6) + 6) % 6) {
    case 0: rgb[0] = 1; rgb[1] = t; rgb[2] = 0; break;
    case 1: rgb[0] = q; rgb[1] = 1; rgb[2] = 0; break;
    case 2: rgb[0] = 0; rgb[1] = 1; rgb[2] = t; break;
    case 3: rgb[0] = 0; rgb[1] = q; rgb[2] = 1; break;
    case 4: rgb[0] = t; rgb[1] = 0; rgb[2] = 1; break;
    default: rgb[0] = 1; rgb[1] = 0; rgb[2] = q; break;
    }
}

// ---- drawing --------------------------------------------------------------------------------------
typedef struct { float sx, sy; float thr; int conf; } xform_t;

static int visible(const float *p, float thr) {
    return p[2] >= thr && p[2] > 0 && !(p[0] < 0 && p[1] < 0);
}

static void draw_body(canvas_t *cv, const pt_pose_frame *f, const xform_t *t, float s) {
    const float stick = fmaxf(1.0f, 4.0f * s), jr = fmaxf(1.0f, 4.0f * s);
    for (int i = 0; i < 17; i++)
        for (int n = 0; n < f->n_people; n++) {
            pt_pose p = f->people[n];
            if (p.n_body == 25) pt_pose_body25_to_coco(&p);
            if (p.n_body != 18) continue;
            const float *a = p.body[PT_POSE_LIMBS[i][0]], *b = p.body[PT_POSE_LIMBS[i][1]];
            if (!visible(a, t->thr) || !visible(b, t->thr)) continue;
            int rgb[3];
            for (int k = 0; k < 3; k++)
                rgb[k] = t->conf ? (int)((double)PT_POSE_PALETTE[i][k] * a[2] * b[2]) : PT_POSE_PALETTE[i][k];
            fill_limb(cv, a[0] * t->sx, a[1] * t->sy, b[0] * t->sx, b[1] * t->sy, stick, rgb);
        }
    // DWPose: canvas = (canvas * 0.6).astype(uint8) before the joints
    size_t npx = (size_t)cv->im->w * cv->im->h * 3;
    for (size_t i = 0; i < npx; i++) cv->im->px[i] = (uint8_t)((double)cv->im->px[i] * 0.6);
    for (int j = 0; j < 18; j++)
        for (int n = 0; n < f->n_people; n++) {
            pt_pose p = f->people[n];
            if (p.n_body == 25) pt_pose_body25_to_coco(&p);
            if (p.n_body != 18 || !visible(p.body[j], t->thr)) continue;
            int rgb[3];
            for (int k = 0; k < 3; k++)
                rgb[k] = t->conf ? (int)((double)PT_POSE_PALETTE[j][k] * p.body[j][2]) : PT_POSE_PALETTE[j][k];
            fill_circle(cv, (float)(int)(p.body[j][0] * t->sx), (float)(int)(p.body[j][1] * t->sy), jr, rgb);
        }
}

static void draw_hand(canvas_t *cv, const float (*h)[3], const xform_t *t, float s) {
    const float hw = fmaxf(0.5f, 1.0f * s), jr = fmaxf(1.0f, 4.0f * s);
    for (int e = 0; e < 20; e++) {
        const float *a = h[PT_HAND_EDGES[e][0]], *b = h[PT_HAND_EDGES[e][1]];
        int ax = (int)(a[0] * t->sx), ay = (int)(a[1] * t->sy), bx = (int)(b[0] * t->sx), by = (int)(b[1] * t->sy);
        if (!visible(a, t->thr) || !visible(b, t->thr) || ax <= 0 || ay <= 0 || bx <= 0 || by <= 0) continue;
        float hsv[3];
        hsv_full(e / 20.0f, hsv);
        double v = t->conf ? (double)(int)(a[2] * b[2] * 255.0) : 255.0;
        int rgb[3] = {(int)lrint(hsv[0] * v), (int)lrint(hsv[1] * v), (int)lrint(hsv[2] * v)};
        draw_line(cv, (float)ax, (float)ay, (float)bx, (float)by, hw, rgb);
    }
    for (int i = 0; i < 21; i++) {
        int x = (int)(h[i][0] * t->sx), y = (int)(h[i][1] * t->sy);
        if (!visible(h[i], t->thr) || x <= 0 || y <= 0) continue;
        int rgb[3] = {0, 0, t->conf ? (int)(h[i][2] * 255.0) : 255};
        fill_circle(cv, (float)x, (float)y, jr, rgb);
    }
}

static void draw_face(canvas_t *cv, const pt_pose *p, const xform_t *t, float s) {
    const float r = fmaxf(1.0f, 3.0f * s);
    int n = p->n_face ? p->n_face : 70;
    for (int i = 0; i < n; i++) {
        int x = (int)(p->face[i][0] * t->sx), y = (int)(p->face[i][1] * t->sy);
        if (!visible(p->face[i], t->thr) || x <= 0 || y <= 0) continue;
        int g = t->conf ? (int)(p->face[i][2] * 255.0) : 255;
        int rgb[3] = {g, g, g};
        fill_circle(cv, (float)x, (float)y, r, rgb);
    }
}

void pt_pose_draw(const pt_pose_frame *f, pt_image *canvas, const pt_pose_draw_opts *o) {
    pt_pose_draw_opts def;
    if (!o) { pt_pose_draw_opts_default(&def); o = &def; }
    if (!canvas || !canvas->px || canvas->c != 3) PT_USAGE("pose drawing needs an RGB canvas (3 channels)");
    canvas_t cv = {canvas, o->bgr_palette};
    const int W = canvas->w, H = canvas->h;
    if (!o->no_clear) memset(canvas->px, 0, (size_t)W * H * 3);
    xform_t t = {1, 1, o->threshold > 0 ? o->threshold : 0.3f, o->confidence_aware};
    if (f->normalized) { t.sx = (float)W; t.sy = (float)H; }
    else if (f->width > 0 && f->height > 0) { t.sx = (float)W / f->width; t.sy = (float)H / f->height; }
    const float s = o->size_scale > 0 ? o->size_scale : (float)(W < H ? W : H) / 512.0f;
    int all = !o->draw_body && !o->draw_hands && !o->draw_face;
    if (all || o->draw_body) draw_body(&cv, f, &t, s);
    if (all || o->draw_hands)
        for (int n = 0; n < f->n_people; n++)
            if (f->people[n].has_hands) {
                draw_hand(&cv, (const float (*)[3])f->people[n].lhand, &t, s);
                draw_hand(&cv, (const float (*)[3])f->people[n].rhand, &t, s);
            }
    if (all || o->draw_face)
        for (int n = 0; n < f->n_people; n++)
            if (f->people[n].has_face) draw_face(&cv, &f->people[n], &t, s);
}

// ---- MimicMotion retargeting -------------------------------------------------------------------
static const int RETARGET_IDS[10] = {0, 1, 2, 5, 8, 11, 14, 15, 16, 17};

// Body of person 0 in normalised coordinates (COCO order); returns 0 when there is no 18/25 body.
static int body_normalised(const pt_pose_frame *f, int w, int h, float out[18][3]) {
    if (f->n_people < 1) return 0;
    pt_pose p = f->people[0];
    if (p.n_body == 25) pt_pose_body25_to_coco(&p);
    if (p.n_body != 18) return 0;
    float sx = 1, sy = 1;
    if (!f->normalized) {
        int fw = f->width > 0 ? f->width : w, fh = f->height > 0 ? f->height : h;
        PT_CHECKF(fw > 0 && fh > 0, "retargeting pixel keypoints needs their canvas size");
        sx = 1.0f / fw; sy = 1.0f / fh;
    }
    for (int i = 0; i < 18; i++) { out[i][0] = p.body[i][0] * sx; out[i][1] = p.body[i][1] * sy; out[i][2] = p.body[i][2]; }
    return 1;
}

pt_pose_retarget pt_pose_retarget_fit(const pt_pose_frame *driving, int n, const pt_pose_frame *ref,
                                      int drive_w, int drive_h, int ref_w, int ref_h) {
    pt_pose_retarget r = {1, 0, 1, 0};
    float rb[18][3], db[18][3];
    if (!body_normalised(ref, ref_w, ref_h, rb)) PT_USAGE("pose retargeting: the reference pose has no 18/25-point body");
    // Least squares of ref_y on drive_y over pairs visible in both (MimicMotion also uses the
    // reference-visible points of every driving frame; points missing in a frame are skipped here).
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int m = 0;
    for (int f = 0; f < n; f++) {
        if (!body_normalised(&driving[f], drive_w, drive_h, db)) continue;
        for (int k = 0; k < 10; k++) {
            int id = RETARGET_IDS[k];
            if (!visible(rb[id], 0.3f) || !visible(db[id], 0.3f)) continue;
            double x = db[id][1], y = rb[id][1];
            sx += x; sy += y; sxx += x * x; sxy += x * y; m++;
        }
    }
    if (m == 0) PT_USAGE("pose retargeting: no keypoint of {nose, neck, shoulders, hips, eyes, ears} is visible "
                         "in both the reference and the driving poses");
    double var = sxx - sx * sx / m;
    double ay = (m >= 2 && var > 1e-12) ? (sxy - sx * sy / m) / var : 1.0;
    double by = (sy - ay * sx) / m;
    double ax = ay * ((double)drive_w / drive_h) / ((double)ref_w / ref_h);
    double sdx = 0;
    int mx = 0;
    for (int f = 0; f < n; f++) {
        if (!body_normalised(&driving[f], drive_w, drive_h, db)) continue;
        for (int k = 0; k < 10; k++) {
            int id = RETARGET_IDS[k];
            if (!visible(rb[id], 0.3f) || !visible(db[id], 0.3f)) continue;
            sdx += rb[id][0] - ax * db[id][0]; mx++;
        }
    }
    r.ax = (float)ax; r.ay = (float)ay; r.by = (float)by; r.bx = (float)(sdx / mx);
    return r;
}

static void affine_points(float (*p)[3], int n, const pt_pose_retarget *r) {
    for (int i = 0; i < n; i++) {
        if (!(p[i][2] > 0) || (p[i][0] < 0 && p[i][1] < 0)) continue;
        p[i][0] = r->ax * p[i][0] + r->bx;
        p[i][1] = r->ay * p[i][1] + r->by;
    }
}

void pt_pose_retarget_apply(pt_pose_frame *f, const pt_pose_retarget *r, int drive_w, int drive_h) {
    if (!f->normalized)
        pt_keypoints_to_normalized(f, f->width > 0 ? f->width : drive_w, f->height > 0 ? f->height : drive_h);
    for (int i = 0; i < f->n_people; i++) {
        pt_pose *p = &f->people[i];
        affine_points(p->body, p->n_body, r);
        if (p->has_hands) { affine_points(p->lhand, 21, r); affine_points(p->rhand, 21, r); }
        if (p->has_face) affine_points(p->face, p->n_face ? p->n_face : 70, r);
    }
}

// hand_mask.c — hand regions on the latent grid (see hand_mask.h).
#include "trainer/hand_mask.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/check.h"

// 1 when (r, g, b) is one of DWPose's hand-edge colours hsv(e/20, 1, 1) whose hue is not a body
// palette hue (e != 0, 10), within 1.5 degrees of hue and with a near-zero minimum channel.
// Returns the hand edge index e (1..19, not 10), or -1.
static int hand_edge_of(float r, float g, float b) {
    float mx = fmaxf(r, fmaxf(g, b)), mn = fminf(r, fminf(g, b));
    if (mx < 0.75f || mn > 0.1f * mx) return -1;
    float d = mx - mn, hue;
    if (mx == r) hue = 60.0f * fmodf((g - b) / d + 6.0f, 6.0f);
    else if (mx == g) hue = 60.0f * ((b - r) / d + 2.0f);
    else hue = 60.0f * ((r - g) / d + 4.0f);
    int e = (int)lroundf(hue / 18.0f) % 20;
    if (e == 0 || e == 10) return -1;
    return fabsf(hue - 18.0f * (float)e) <= 1.5f ? e : -1;
}

static int dilate_count(float *mask, int h, int w) {
    float *tmp = pt_malloc(sizeof(float) * (size_t)h * w);
    memcpy(tmp, mask, sizeof(float) * (size_t)h * w);
    int n = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float v = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int yy = y + dy, xx = x + dx;
                    if (yy >= 0 && yy < h && xx >= 0 && xx < w && tmp[yy * w + xx] > 0) v = 1;
                }
            mask[y * w + x] = v;
            n += v > 0;
        }
    free(tmp);
    return n;
}

int pt_hand_mask_from_pose_image(const float *pose, int H, int W, int h, int w, float *mask) {
    const size_t hw = (size_t)H * W;
    int *cnt = pt_calloc((size_t)h * w * 20, sizeof(int));   // (h, w, 20) hand pixels per cell and edge colour
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t i = (size_t)y * W + x;
            int e = hand_edge_of(pose[i], pose[hw + i], pose[2 * hw + i]);
            if (e < 0) continue;
            cnt[((int)((int64_t)y * h / H) * w + (int)((int64_t)x * w / W)) * 20 + e]++;
        }
    // a cell holds a hand when one edge colour covers enough of its pixels (a line through it);
    // stray blends of neighbouring joint colours spread over several hues and few pixels
    const int cell = (H / h) * (W / w), need = cell / 8 > 3 ? cell / 8 : 3;
    int any = 0;
    for (int i = 0; i < h * w; i++) {
        int best = 0;
        for (int e = 0; e < 20; e++) best = cnt[i * 20 + e] > best ? cnt[i * 20 + e] : best;
        mask[i] = best >= need;
        any |= best >= need;
    }
    free(cnt);
    return any ? dilate_count(mask, h, w) : 0;
}

static void mark_hand(const float (*k)[3], float conf_th, float sx, float sy, int h, int w, float *mask) {
    float x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    int n = 0;
    for (int j = 0; j < 21; j++) {
        if (k[j][2] < conf_th) continue;
        x0 = fminf(x0, k[j][0]); x1 = fmaxf(x1, k[j][0]);
        y0 = fminf(y0, k[j][1]); y1 = fmaxf(y1, k[j][1]);
        n++;
    }
    if (n < 3) return;
    float gx = 0.25f * (x1 - x0), gy = 0.25f * (y1 - y0);
    // to latent cells: pixel -> cell = coordinate * scale; grow at least one cell
    int cx0 = (int)floorf((x0 - gx) * sx) - 1, cx1 = (int)floorf((x1 + gx) * sx) + 1;
    int cy0 = (int)floorf((y0 - gy) * sy) - 1, cy1 = (int)floorf((y1 + gy) * sy) + 1;
    for (int y = cy0 < 0 ? 0 : cy0; y <= cy1 && y < h; y++)
        for (int x = cx0 < 0 ? 0 : cx0; x <= cx1 && x < w; x++) mask[y * w + x] = 1;
}

int pt_hand_mask_from_keypoints(const pt_pose_frame *f, int W, int H, int h, int w, float conf_th, float *mask) {
    memset(mask, 0, sizeof(float) * (size_t)h * w);
    // cells per coordinate unit: normalised coordinates span the grid, pixels span the canvas
    float cw = f->normalized ? 1.0f : (float)(f->width > 0 ? f->width : W);
    float ch = f->normalized ? 1.0f : (float)(f->height > 0 ? f->height : H);
    float sx = (float)w / cw, sy = (float)h / ch;
    for (int p = 0; p < f->n_people; p++) {
        if (!f->people[p].has_hands) continue;
        mark_hand((const float (*)[3])f->people[p].lhand, conf_th, sx, sy, h, w, mask);
        mark_hand((const float (*)[3])f->people[p].rhand, conf_th, sx, sy, h, w, mask);
    }
    int n = 0;
    for (int i = 0; i < h * w; i++) n += mask[i] > 0;
    return n;
}

void pt_hand_mask_to_weight(const float *mask, int64_t n, float factor, float *weight) {
    for (int64_t i = 0; i < n; i++) weight[i] = mask[i] > 0 ? factor : 1.0f;
}

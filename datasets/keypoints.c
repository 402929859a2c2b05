// keypoints.c — OpenPose keypoint JSON read/write (see keypoints.h for the format).
#include "datasets/keypoints.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/check.h"
#include "tools/json.h"

// Reads a flat [x, y, c, ...] array of `key` into dst (cap points). Returns the point count, 0 when
// absent or empty. Lengths other than those in `ok` (point counts) fail naming file, person and key.
static int read_points(const pt_json *person, const char *key, float (*dst)[3], const int *ok, int n_ok,
                       const char *path, int pi) {
    const pt_json *a = pt_json_get(person, key);
    if (!a || a->type == PT_JSON_NULL) return 0;
    if (a->type != PT_JSON_ARR)
        PT_USAGE("'%s': people[%d].%s (line %d) must be an array of numbers, got %s", path, pi, key, a->line,
                 pt_json_type_name(a->type));
    if (a->n == 0) return 0;
    int npts = a->n / 3, good = 0;
    for (int i = 0; i < n_ok; i++) good |= (a->n == 3 * ok[i]);
    if (!good) {
        char want[64] = "";
        for (int i = 0; i < n_ok; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", i ? " or " : "", 3 * ok[i]);
        PT_USAGE("'%s': people[%d].%s (line %d) has %d numbers; expected %s (x, y, confidence per point)",
                 path, pi, key, a->line, a->n, want);
    }
    for (int i = 0; i < a->n; i++) {
        const pt_json *v = &a->items[i];
        if (v->type != PT_JSON_NUM)
            PT_USAGE("'%s': people[%d].%s[%d] (line %d) must be a number, got %s", path, pi, key, i, v->line,
                     pt_json_type_name(v->type));
        dst[i / 3][i % 3] = (float)v->num;
    }
    return npts;
}

static void scan_range(const float (*p)[3], int n, int *any, int *all_unit) {
    for (int i = 0; i < n; i++) {
        if (!(p[i][2] > 0)) continue;
        if (p[i][0] < 0 && p[i][1] < 0) continue;   // DWPose marks missing points with -1
        *any = 1;
        if (p[i][0] < 0 || p[i][0] > 1 || p[i][1] < 0 || p[i][1] > 1) *all_unit = 0;
    }
}

static void parse_frame(const pt_json *root, const char *path, pt_pose_frame *f) {
    if (root->type != PT_JSON_OBJ) PT_USAGE("'%s': expected a JSON object with a \"people\" array", path);
    const pt_json *people = pt_json_get(root, "people");
    if (!people) PT_USAGE("'%s': missing key \"people\" (OpenPose keypoint JSON expected)", path);
    if (people->type != PT_JSON_ARR) PT_USAGE("'%s': \"people\" (line %d) must be an array", path, people->line);
    f->width = (int)pt_json_num(root, "canvas_width", 0);
    f->height = (int)pt_json_num(root, "canvas_height", 0);
    f->n_people = people->n;
    f->people = pt_calloc(people->n ? people->n : 1, sizeof(pt_pose));
    static const int body_ok[] = {18, 25}, hand_ok[] = {21}, face_ok[] = {70, 68};
    int any = 0, all_unit = 1;
    for (int i = 0; i < people->n; i++) {
        const pt_json *pj = &people->items[i];
        if (pj->type != PT_JSON_OBJ) PT_USAGE("'%s': people[%d] (line %d) must be an object", path, i, pj->line);
        pt_pose *p = &f->people[i];
        p->n_body = read_points(pj, "pose_keypoints_2d", p->body, body_ok, 2, path, i);
        int nl = read_points(pj, "hand_left_keypoints_2d", p->lhand, hand_ok, 1, path, i);
        int nr = read_points(pj, "hand_right_keypoints_2d", p->rhand, hand_ok, 1, path, i);
        p->has_hands = nl || nr;
        p->n_face = read_points(pj, "face_keypoints_2d", p->face, face_ok, 2, path, i);
        p->has_face = p->n_face > 0;
        scan_range((const float (*)[3])p->body, p->n_body, &any, &all_unit);
        if (p->has_hands) {
            scan_range((const float (*)[3])p->lhand, 21, &any, &all_unit);
            scan_range((const float (*)[3])p->rhand, 21, &any, &all_unit);
        }
        scan_range((const float (*)[3])p->face, p->n_face, &any, &all_unit);
    }
    const pt_json *norm = pt_json_get(root, "normalized");
    if (norm) f->normalized = pt_json_bool(root, "normalized", 0);
    else f->normalized = any && all_unit;
}

pt_pose_frame pt_keypoints_load(const char *path) {
    pt_json *root = pt_json_parse_file(path);
    pt_pose_frame f = {0};
    PT_TRY { parse_frame(root, path, &f); }
    PT_CATCH {
        pt_json_free(root);
        free(f.people);
        pt_fail_at(__FILE__, __LINE__, pt_last_error_code(), "%s", pt_last_error());
    }
    PT_END_TRY;
    pt_json_free(root);
    return f;
}

// Shortest decimal that reads back as the same float.
static void put_float(pt_jbuf *b, float v) {
    char s[32];
    if (!isfinite(v)) v = 0;
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, (double)v);
        if (strtof(s, NULL) == v) break;
    }
    pt_jbuf_raw(b, s);
}

static void put_points(pt_jbuf *b, const char *key, const float (*p)[3], int n) {
    pt_jbuf_key(b, key);
    pt_jbuf_arr_begin(b);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) put_float(b, p[i][k]);
    pt_jbuf_arr_end(b);
}

char *pt_keypoints_to_json(const pt_pose_frame *f) {
    pt_jbuf b = {0};
    pt_jbuf_obj_begin(&b);
    pt_jbuf_key(&b, "version"); pt_jbuf_raw(&b, "1.3");
    pt_jbuf_key(&b, "people");
    pt_jbuf_arr_begin(&b);
    for (int i = 0; i < f->n_people; i++) {
        const pt_pose *p = &f->people[i];
        pt_jbuf_obj_begin(&b);
        pt_jbuf_key(&b, "person_id"); pt_jbuf_arr_begin(&b); pt_jbuf_int(&b, -1); pt_jbuf_arr_end(&b);
        put_points(&b, "pose_keypoints_2d", (const float (*)[3])p->body, p->n_body);
        if (p->has_hands) {
            put_points(&b, "hand_left_keypoints_2d", (const float (*)[3])p->lhand, 21);
            put_points(&b, "hand_right_keypoints_2d", (const float (*)[3])p->rhand, 21);
        }
        if (p->has_face) put_points(&b, "face_keypoints_2d", (const float (*)[3])p->face, p->n_face ? p->n_face : 70);
        pt_jbuf_obj_end(&b);
    }
    pt_jbuf_arr_end(&b);
    if (f->width > 0 && f->height > 0) {
        pt_jbuf_key(&b, "canvas_width"); pt_jbuf_int(&b, f->width);
        pt_jbuf_key(&b, "canvas_height"); pt_jbuf_int(&b, f->height);
    }
    if (f->normalized) { pt_jbuf_key(&b, "normalized"); pt_jbuf_bool(&b, 1); }
    pt_jbuf_obj_end(&b);
    return pt_jbuf_take(&b);
}

static void write_text(FILE *f, const char *path, const pt_pose_frame *fr) {
    char *text = pt_keypoints_to_json(fr);
    pt_fwrite(text, 1, strlen(text), f, path);
    pt_fwrite("\n", 1, 1, f, path);
    free(text);
}

void pt_keypoints_save(const char *path, const pt_pose_frame *f) {
    pt_atomic_file af;
    pt_atomic_open(&af, path);
    write_text(af.f, path, f);
    pt_atomic_commit(&af);
}

void pt_keypoints_save_direct(const char *path, const pt_pose_frame *f) {
    FILE *fp = pt_fopen(path, "wb");
    write_text(fp, path, f);
    pt_fclose(fp, path);
}

void pt_pose_frame_free(pt_pose_frame *f) {
    if (!f) return;
    free(f->people);
    f->people = NULL;
    f->n_people = 0;
}

pt_pose_frame pt_pose_frame_copy(const pt_pose_frame *f) {
    pt_pose_frame c = *f;
    c.people = pt_malloc(sizeof(pt_pose) * (size_t)(f->n_people ? f->n_people : 1));
    if (f->n_people) memcpy(c.people, f->people, sizeof(pt_pose) * (size_t)f->n_people);
    return c;
}

// Scales x by sx and y by sy for every point that is present (c > 0 and not the DWPose -1 marker).
static void scale_points(float (*p)[3], int n, float sx, float sy) {
    for (int i = 0; i < n; i++) {
        if (!(p[i][2] > 0) || (p[i][0] < 0 && p[i][1] < 0)) continue;
        p[i][0] *= sx;
        p[i][1] *= sy;
    }
}

static void scale_frame(pt_pose_frame *f, float sx, float sy) {
    for (int i = 0; i < f->n_people; i++) {
        pt_pose *p = &f->people[i];
        scale_points(p->body, p->n_body, sx, sy);
        if (p->has_hands) { scale_points(p->lhand, 21, sx, sy); scale_points(p->rhand, 21, sx, sy); }
        if (p->has_face) scale_points(p->face, p->n_face ? p->n_face : 70, sx, sy);
    }
}

void pt_keypoints_to_pixels(pt_pose_frame *f, int w, int h) {
    if (!f->normalized) return;
    scale_frame(f, (float)w, (float)h);
    f->normalized = 0;
    f->width = w;
    f->height = h;
}

void pt_keypoints_to_normalized(pt_pose_frame *f, int w, int h) {
    if (f->normalized) return;
    PT_CHECKF(w > 0 && h > 0, "normalising keypoints needs a canvas size (got %dx%d)", w, h);
    scale_frame(f, 1.0f / (float)w, 1.0f / (float)h);
    f->normalized = 1;
    f->width = w;
    f->height = h;
}

// BODY_25 order: 0 Nose 1 Neck 2 RSho 3 REl 4 RWr 5 LSho 6 LEl 7 LWr 8 MidHip 9 RHip 10 RKnee
// 11 RAnk 12 LHip 13 LKnee 14 LAnk 15 REye 16 LEye 17 REar 18 LEar 19-24 feet.
void pt_pose_body25_to_coco(pt_pose *p) {
    if (p->n_body != 25) return;
    static const int from[18] = {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
    float tmp[18][3];
    for (int i = 0; i < 18; i++) memcpy(tmp[i], p->body[from[i]], sizeof tmp[i]);
    memset(p->body, 0, sizeof p->body);
    memcpy(p->body, tmp, sizeof tmp);
    p->n_body = 18;
}

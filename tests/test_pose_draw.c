// test_pose_draw.c — skeleton colours (DWPose palette, x0.6 canvas, MimicMotion confidence
// products, threshold), hands, normalised frames, retargeting, keypoint JSON read/write.
#include "datasets/keypoints.h"
#include "datasets/pose_draw.h"
#include "tests/test_util.h"

static const uint8_t *px(const pt_image *im, int x, int y) { return im->px + ((size_t)y * im->w + x) * 3; }
#define EXPECT_RGB(im, x, y, r, g, b)                                                        \
    do { const uint8_t *p_ = px((im), (x), (y));                                             \
        EXPECT(p_[0] == (r) && p_[1] == (g) && p_[2] == (b), "pixel (%d,%d) = (%d,%d,%d), want (%d,%d,%d)", \
               (x), (y), p_[0], p_[1], p_[2], (r), (g), (b)); } while (0)

// One person with only the neck (1) at (200, 100) and the right shoulder (2) at (100, 100).
static pt_pose_frame two_points(float c_neck, float c_sho) {
    pt_pose_frame f = {0};
    f.n_people = 1;
    f.people = pt_calloc(1, sizeof(pt_pose));
    f.people[0].n_body = 18;
    f.people[0].body[1][0] = 200; f.people[0].body[1][1] = 100; f.people[0].body[1][2] = c_neck;
    f.people[0].body[2][0] = 100; f.people[0].body[2][1] = 100; f.people[0].body[2][2] = c_sho;
    return f;
}

TEST_CASE(palette_limb_and_joints) {
    pt_pose_frame f = two_points(1, 1);
    pt_image im = pt_image_alloc(512, 512, 3);
    pt_pose_draw(&f, &im, NULL);
    // limb 0 = (neck, right shoulder) in palette[0] = (255, 0, 0), then canvas x 0.6 -> 153
    EXPECT_RGB(&im, 150, 100, 153, 0, 0);
    EXPECT_RGB(&im, 150, 103, 153, 0, 0);   // inside the 4-pixel half width
    EXPECT_RGB(&im, 150, 106, 0, 0, 0);     // outside it
    // joints after the dimming, full colour: neck palette[1] = (255,85,0), shoulder palette[2] = (255,170,0)
    EXPECT_RGB(&im, 200, 100, 255, 85, 0);
    EXPECT_RGB(&im, 203, 101, 255, 85, 0);  // radius 4
    EXPECT_RGB(&im, 100, 100, 255, 170, 0);
    EXPECT_RGB(&im, 300, 300, 0, 0, 0);
    // bgr_palette swaps R and B
    pt_pose_draw_opts o;
    pt_pose_draw_opts_default(&o);
    o.bgr_palette = 1;
    pt_pose_draw(&f, &im, &o);
    EXPECT_RGB(&im, 150, 100, 0, 0, 153);
    pt_image_free(&im);
    pt_pose_frame_free(&f);
}

TEST_CASE(confidence_aware_products) {
    pt_pose_frame f = two_points(0.8f, 0.5f);
    pt_image im = pt_image_alloc(512, 512, 3);
    pt_pose_draw_opts o;
    pt_pose_draw_opts_default(&o);
    o.confidence_aware = 1;
    pt_pose_draw(&f, &im, &o);
    // limb: int(255 * 0.8 * 0.5) = 102, x 0.6 -> 61
    EXPECT_RGB(&im, 150, 100, 61, 0, 0);
    // joints: int(palette * conf): neck (204, 68, 0), shoulder (127, 85, 0)
    EXPECT_RGB(&im, 200, 100, 204, 68, 0);
    EXPECT_RGB(&im, 100, 100, 127, 85, 0);
    pt_image_free(&im);
    pt_pose_frame_free(&f);
}

TEST_CASE(below_threshold_is_skipped) {
    pt_pose_frame f = two_points(0.9f, 0.25f);
    pt_image im = pt_image_alloc(512, 512, 3);
    for (int conf = 0; conf < 2; conf++) {
        pt_pose_draw_opts o;
        pt_pose_draw_opts_default(&o);
        o.confidence_aware = conf;
        pt_pose_draw(&f, &im, &o);
        EXPECT_RGB(&im, 150, 100, 0, 0, 0);    // limb skipped: background
        EXPECT_RGB(&im, 100, 100, 0, 0, 0);    // shoulder joint not drawn
        if (conf) EXPECT_RGB(&im, 200, 100, 229, 76, 0);   // int(255*0.9), int(85*0.9)
        else EXPECT_RGB(&im, 200, 100, 255, 85, 0);
    }
    // a lower threshold draws it: int(255 * 0.9 * 0.25) = 57 -> x 0.6 = 34
    pt_pose_draw_opts o;
    pt_pose_draw_opts_default(&o);
    o.confidence_aware = 1;
    o.threshold = 0.2f;
    pt_pose_draw(&f, &im, &o);
    EXPECT_RGB(&im, 150, 100, 34, 0, 0);
    pt_image_free(&im);
    pt_pose_frame_free(&f);
}

TEST_CASE(normalised_and_scaled_frames) {
    pt_pose_frame f = two_points(1, 1);
    f.people[0].body[1][0] = 0.5f; f.people[0].body[1][1] = 0.25f;   // neck
    f.people[0].body[2][0] = 0.25f; f.people[0].body[2][1] = 0.25f;  // shoulder
    f.normalized = 1;
    pt_image im = pt_image_alloc(256, 128, 3);
    pt_pose_draw(&f, &im, NULL);
    EXPECT_RGB(&im, 128, 32, 255, 85, 0);   // neck at (0.5*256, 0.25*128)
    EXPECT_RGB(&im, 96, 32, 153, 0, 0);     // limb midpoint
    // pixel frame with a 512x256 canvas drawn at 256x128: coordinates halve
    pt_pose_frame g = two_points(1, 1);
    g.width = 512; g.height = 256;
    pt_pose_draw(&g, &im, NULL);
    EXPECT_RGB(&im, 100, 50, 255, 85, 0);
    EXPECT_RGB(&im, 75, 50, 153, 0, 0);
    pt_image_free(&im);
    pt_pose_frame_free(&f);
    pt_pose_frame_free(&g);
}

TEST_CASE(hands_and_face) {
    pt_pose_frame f = {0};
    f.n_people = 1;
    f.people = pt_calloc(1, sizeof(pt_pose));
    pt_pose *p = &f.people[0];
    p->has_hands = 1;
    p->lhand[0][0] = 100; p->lhand[0][1] = 100; p->lhand[0][2] = 1;   // wrist
    p->lhand[1][0] = 200; p->lhand[1][1] = 100; p->lhand[1][2] = 1;   // edge 0: hue 0 -> (255, 0, 0)
    p->lhand[5][0] = 100; p->lhand[5][1] = 300; p->lhand[5][2] = 1;   // edge 4: hue 0.2 -> (204, 255, 0)
    p->has_face = 1;
    p->n_face = 70;
    p->face[0][0] = 400; p->face[0][1] = 400; p->face[0][2] = 0.5f;
    pt_image im = pt_image_alloc(512, 512, 3);
    pt_pose_draw(&f, &im, NULL);
    EXPECT_RGB(&im, 150, 100, 255, 0, 0);
    EXPECT_RGB(&im, 100, 200, 204, 255, 0);
    EXPECT_RGB(&im, 100, 100, 0, 0, 255);      // hand joints blue
    EXPECT_RGB(&im, 400, 400, 255, 255, 255);  // face white
    pt_pose_draw_opts o;
    pt_pose_draw_opts_default(&o);
    o.confidence_aware = 1;
    p->lhand[1][2] = 0.5f;   // edge 0: int(1 * 0.5 * 255) = 127 -> (127, 0, 0)
    pt_pose_draw(&f, &im, &o);
    EXPECT_RGB(&im, 150, 100, 127, 0, 0);
    EXPECT_RGB(&im, 200, 100, 0, 0, 127);      // joint: blue x conf
    EXPECT_RGB(&im, 400, 400, 127, 127, 127);  // face: grey = int(0.5 * 255)
    pt_image_free(&im);
    pt_pose_frame_free(&f);
}

TEST_CASE(retarget_recovers_affine_map) {
    // driving 640x480, reference 512x512; ref = (ax x + 0.05, 0.5 y + 0.1) with ax = 0.5 * (640/480) / 1
    const float ay = 0.5f, by = 0.1f, ax = 0.5f * (640.0f / 480.0f), bx = 0.05f;
    pt_pose_frame drive[2] = {0}, ref = {0};
    ref.n_people = 1; ref.people = pt_calloc(1, sizeof(pt_pose)); ref.normalized = 1;
    ref.people[0].n_body = 18;
    for (int d = 0; d < 2; d++) {
        drive[d].n_people = 1; drive[d].people = pt_calloc(1, sizeof(pt_pose));
        drive[d].width = 640; drive[d].height = 480;
        drive[d].people[0].n_body = 18;
    }
    for (int j = 0; j < 18; j++) {
        float x = 0.2f + 0.03f * j, y = 0.1f + 0.04f * j;   // normalised, same in both driving frames
        for (int d = 0; d < 2; d++) {
            drive[d].people[0].body[j][0] = x * 640;
            drive[d].people[0].body[j][1] = y * 480;
            drive[d].people[0].body[j][2] = 0.9f;
        }
        ref.people[0].body[j][0] = ax * x + bx;
        ref.people[0].body[j][1] = ay * y + by;
        ref.people[0].body[j][2] = 0.9f;
    }
    pt_pose_retarget r = pt_pose_retarget_fit(drive, 2, &ref, 640, 480, 512, 512);
    EXPECT_CLOSE(r.ay, ay, 1e-4, 0);
    EXPECT_CLOSE(r.by, by, 1e-4, 0);
    EXPECT_CLOSE(r.ax, ax, 1e-4, 0);
    EXPECT_CLOSE(r.bx, bx, 1e-4, 0);
    pt_pose_retarget_apply(&drive[0], &r, 640, 480);
    EXPECT(drive[0].normalized, "retargeted frame is normalised");
    EXPECT_CLOSE(drive[0].people[0].body[5][0], ref.people[0].body[5][0], 1e-4, 0);
    EXPECT_CLOSE(drive[0].people[0].body[5][1], ref.people[0].body[5][1], 1e-4, 0);
    pt_pose_frame_free(&drive[0]); pt_pose_frame_free(&drive[1]); pt_pose_frame_free(&ref);
}

TEST_CASE(keypoints_json_round_trip) {
    pt_pose_frame f = two_points(0.75f, 0.3333f);
    f.width = 640; f.height = 480;
    f.people[0].has_hands = 1;
    f.people[0].rhand[20][0] = 12.5f; f.people[0].rhand[20][1] = 1e-3f; f.people[0].rhand[20][2] = 0.1f;
    pt_keypoints_save(tu_tmp_path("k_keypoints.json"), &f);
    pt_pose_frame g = pt_keypoints_load(tu_tmp_path("k_keypoints.json"));
    EXPECT(g.n_people == 1 && g.width == 640 && g.height == 480 && !g.normalized, "header fields");
    EXPECT(g.people[0].n_body == 18 && g.people[0].has_hands && !g.people[0].has_face, "parts");
    EXPECT(memcmp(g.people[0].body, f.people[0].body, sizeof f.people[0].body) == 0, "body floats exact");
    EXPECT(memcmp(g.people[0].rhand, f.people[0].rhand, sizeof f.people[0].rhand) == 0, "hand floats exact");
    pt_pose_frame_free(&f);
    pt_pose_frame_free(&g);
}

static void write_text(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    fputs(s, f);
    fclose(f);
}

TEST_CASE(keypoints_openpose_files) {
    // OpenPose BODY_25 output (no canvas): pixels; MidHip (8) dropped by body25_to_coco
    char body[2048] = "{\"version\":1.3,\"people\":[{\"person_id\":[-1],\"pose_keypoints_2d\":[";
    for (int i = 0; i < 25; i++)
        snprintf(body + strlen(body), sizeof body - strlen(body), "%s%d,%d,0.5", i ? "," : "", 10 * i, 10 * i + 1);
    strcat(body, "],\"face_keypoints_2d\":[],\"hand_left_keypoints_2d\":[]}]}");
    write_text(tu_tmp_path("b25.json"), body);
    pt_pose_frame f = pt_keypoints_load(tu_tmp_path("b25.json"));
    EXPECT(f.n_people == 1 && f.people[0].n_body == 25 && !f.people[0].has_face && !f.people[0].has_hands, "b25");
    EXPECT(!f.normalized && f.width == 0, "pixels, no canvas");
    pt_pose_body25_to_coco(&f.people[0]);
    EXPECT(f.people[0].n_body == 18 && f.people[0].body[8][0] == 90 && f.people[0].body[17][0] == 180,
           "coco RHip = b25[9], LEar = b25[18]");
    pt_pose_frame_free(&f);
    // DWPose-style normalised coordinates are detected
    write_text(tu_tmp_path("norm.json"), "{\"people\":[{\"pose_keypoints_2d\":[0.5,0.5,0.9,0.25,0.75,0.8,"
               "0,0,0, 0,0,0, 0,0,0, 0,0,0, 0,0,0, 0,0,0, 0,0,0, 0,0,0, 0,0,0, 0,0,0, 0,0,0, 0,0,0, 0,0,0,"
               " -1,-1,0.1, 0,0,0, 0,0,0]}]}");
    f = pt_keypoints_load(tu_tmp_path("norm.json"));
    EXPECT(f.normalized, "normalised detected");
    pt_keypoints_to_pixels(&f, 200, 100);
    EXPECT(f.people[0].body[1][0] == 50 && f.people[0].body[1][1] == 75 && f.width == 200, "to pixels");
    pt_pose_frame_free(&f);
    // errors name the file and the key
    write_text(tu_tmp_path("bad_len.json"), "{\"people\":[{\"pose_keypoints_2d\":[1,2,3,4]}]}");
    EXPECT_FAILS(pt_keypoints_load(tu_tmp_path("bad_len.json")), PT_EXIT_USAGE, "bad_len.json': people[0].pose_keypoints_2d");
    write_text(tu_tmp_path("no_people.json"), "{\"persons\":[]}");
    EXPECT_FAILS(pt_keypoints_load(tu_tmp_path("no_people.json")), PT_EXIT_USAGE, "no_people.json': missing key \"people\"");
    write_text(tu_tmp_path("syntax.json"), "{\"people\":[{]}");
    EXPECT_FAILS(pt_keypoints_load(tu_tmp_path("syntax.json")), PT_EXIT_USAGE, "syntax.json");
    write_text(tu_tmp_path("str.json"), "{\"people\":[{\"face_keypoints_2d\":[\"a\"]}]}");
    EXPECT_FAILS(pt_keypoints_load(tu_tmp_path("str.json")), PT_EXIT_USAGE, "face_keypoints_2d");
}

int main(void) {
    tu_tmp_init("test_pose_draw");
    RUN(palette_limb_and_joints);
    RUN(confidence_aware_products);
    RUN(below_threshold_is_skipped);
    RUN(normalised_and_scaled_frames);
    RUN(hands_and_face);
    RUN(retarget_recovers_affine_map);
    RUN(keypoints_json_round_trip);
    RUN(keypoints_openpose_files);
    tu_tmp_cleanup();
    return test_summary();
}

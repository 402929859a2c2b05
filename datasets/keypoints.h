// keypoints.h — OpenPose keypoint JSON (one file per frame), read and written.
//
//   {"version": 1.3, "people": [{"pose_keypoints_2d": [x, y, c, ...],     18 (COCO) or 25 (BODY_25)
//                                "hand_left_keypoints_2d": [21 * 3],      optional
//                                "hand_right_keypoints_2d": [21 * 3],     optional
//                                "face_keypoints_2d": [70 * 3 or 68 * 3]}],  optional
//    "canvas_width": W, "canvas_height": H}                               optional (OpenPose
//                                                                         omits them; we write them)
// Coordinates are pixels (OpenPose). DWPose / controlnet_aux dumps use coordinates normalised to
// [0, 1]; the loader sets `normalized` when every keypoint with c > 0 lies in [0, 1] and the file
// has no canvas size bigger than 1 saying otherwise (or "normalized": true is present).
// pt_keypoints_to_pixels converts a normalised frame. A missing keypoint is (0, 0, 0).
// BODY_25 files are converted to the 18-point COCO order on load (n_body = 18) when asked
// (pt_pose_body25_to_coco); the loader keeps what the file has.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

// COCO-18 order used throughout (OpenPose COCO / DWPose body):
enum {
    PT_KP_NOSE = 0, PT_KP_NECK, PT_KP_RSHOULDER, PT_KP_RELBOW, PT_KP_RWRIST, PT_KP_LSHOULDER,
    PT_KP_LELBOW, PT_KP_LWRIST, PT_KP_RHIP, PT_KP_RKNEE, PT_KP_RANKLE, PT_KP_LHIP, PT_KP_LKNEE,
    PT_KP_LANKLE, PT_KP_REYE, PT_KP_LEYE, PT_KP_REAR, PT_KP_LEAR, PT_KP_COCO_COUNT
};

typedef struct pt_pose {
    int n_body;              // 18 or 25 (0: no body)
    float body[25][3];       // x, y, confidence
    int has_hands;
    float lhand[21][3], rhand[21][3];
    int has_face;
    int n_face;              // 68 or 70
    float face[70][3];
} pt_pose;

typedef struct pt_pose_frame {
    int n_people;
    pt_pose *people;
    int width, height;       // canvas size from the file, 0 if absent
    int normalized;          // 1: coordinates are in [0, 1] (DWPose style)
} pt_pose_frame;

pt_pose_frame pt_keypoints_load(const char *path);      // bad JSON / shapes -> PT_USAGE naming file+key
void pt_keypoints_save(const char *path, const pt_pose_frame *f);   // atomic
void pt_keypoints_save_direct(const char *path, const pt_pose_frame *f);   // checked, not atomic
char *pt_keypoints_to_json(const pt_pose_frame *f);     // the text written by save (caller frees)
void pt_pose_frame_free(pt_pose_frame *f);
pt_pose_frame pt_pose_frame_copy(const pt_pose_frame *f);
// Normalised -> pixel coordinates for a w x h canvas (no-op when already pixels).
void pt_keypoints_to_pixels(pt_pose_frame *f, int w, int h);
// Pixel -> normalised coordinates (no-op when already normalised).
void pt_keypoints_to_normalized(pt_pose_frame *f, int w, int h);
// Reorder a BODY_25 pose into COCO-18 (MidHip, toes and heels dropped). No-op for 18.
void pt_pose_body25_to_coco(pt_pose *p);

#ifdef __cplusplus
}
#endif

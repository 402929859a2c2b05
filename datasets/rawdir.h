// rawdir.h — the raw dataset layout on disk (datasets/synthetic.h documents it), scanned and
// validated: what `posetune pack` reads and what pt_dataset_open accepts instead of an .h5 file.
//
//   VIDEO_DIR/frame_0000.png (or .jpg)      RGB frame
//   VIDEO_DIR/frame_0000_densepose.npy      DensePose U,V float (2, H, W)      } at least one kind,
//   VIDEO_DIR/frame_0000_pose.png           skeleton image (H, W, 3)            } for every frame
//   VIDEO_DIR/meta.json                     optional {"fps": 8.0, ...}
//
// A source path is either one video folder (it holds frame_*.png) or a folder of video folders
// (sorted by name). `NAME.mp4` is also accepted when datasets/video.h can run ffmpeg: its frames are
// decoded into `<scratch>/NAME/` and its pose files are read from the folder `NAME/` next to it.
//
// Validation (all PT_USAGE, exit 2, naming the file): missing source folder, empty video folder
// (no frame_N.png), a frame without its pose file or a pose file without its frame (count
// mismatch), a PNG whose signature/header is unreadable, a frame whose size differs from its pose
// (PNG header / .npy header), frames of one video with different sizes, a .npy whose shape is not
// (2, H, W) or whose data is shorter than its header says. Pixel data is decoded later (a corrupt
// PNG body is reported by pt_image_load, again naming the file).
#pragma once
#include <stdint.h>

typedef enum pt_pose_kind { PT_POSE_AUTO = 0, PT_POSE_DENSEPOSE, PT_POSE_SKELETON } pt_pose_kind;
const char *pt_pose_kind_name(pt_pose_kind k);           // "auto", "densepose", "skeleton"
pt_pose_kind pt_pose_kind_parse(const char *s, const char *what);  // PT_USAGE naming `what`

typedef struct pt_raw_video {
    char *name;          // folder basename (the HDF5 group name)
    char *dir;           // folder the frames are in
    int n;               // number of frames
    int h, w;            // frame size from the first frame's header (0 if unknown, e.g. JPEG)
    double fps;          // meta.json "fps", 0 when unknown
    char **frames;       // (n) paths
    char **densepose;    // (n) paths, or NULL when this video has no DensePose files
    char **skeleton;     // (n) paths, or NULL when this video has no skeleton images
} pt_raw_video;

typedef struct pt_raw_set {
    pt_raw_video *videos;
    int n;
    pt_pose_kind kind;   // resolved: the pose kind every video has (densepose preferred under AUTO)
} pt_raw_set;

// Scan and validate `n_src` source paths. `kind` AUTO picks densepose when the first video has it,
// else skeleton; every video must then have that kind. `scratch` is where .mp4 sources are decoded
// (NULL: .mp4 sources are refused).
pt_raw_set pt_raw_scan(const char *const *srcs, int n_src, pt_pose_kind kind, const char *scratch);
void pt_raw_free(pt_raw_set *s);

// Size of a PNG from its header (signature + IHDR); PT_USAGE naming the file when it is not a PNG.
void pt_png_peek_size(const char *path, int *h, int *w);
// Shape of a (2, H, W) .npy from its header, checking the file holds all the data it declares.
void pt_npy_peek_dense(const char *path, int *h, int *w);

// test_video.c — the ffmpeg CLI wrapper without ffmpeg: the "not installed" message (PATH set to an
// empty directory), and a fake ffmpeg script on PATH to check the arguments we pass, the exit status
// check and the stderr in the error message.
#include "datasets/video.h"
#include "tests/test_util.h"

#include <sys/stat.h>
#include <unistd.h>

static void write_script(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
    chmod(path, 0755);
}

TEST_CASE(ffmpeg_not_installed) {
    char empty[2048];
    snprintf(empty, sizeof empty, "%s", tu_tmp_path("empty_bin"));
    pt_mkdirs(empty);
    char *old = pt_strdup(getenv("PATH") ? getenv("PATH") : "");
    setenv("PATH", empty, 1);
    EXPECT(!pt_ffmpeg_available(), "no ffmpeg in an empty PATH");
    EXPECT_FAILS(pt_frames_to_mp4(tu_tmpdir, 3, 8.0, tu_tmp_path("x.mp4")), PT_EXIT_USAGE,
                 "ffmpeg is not installed; install the Debian package ffmpeg or give frames");
    int n = 0;
    double fps = 0;
    EXPECT_FAILS(pt_video_to_frames(tu_tmp_path("x.mp4"), tu_tmp_path("frames"), &n, &fps), PT_EXIT_USAGE,
                 "ffmpeg is not installed");
    setenv("PATH", old, 1);
    free(old);
}

TEST_CASE(fake_ffmpeg_arguments_and_status) {
    char bin[2048], script[4096], frames[2048];
    snprintf(bin, sizeof bin, "%s", tu_tmp_path("fake_bin"));
    snprintf(frames, sizeof frames, "%s", tu_tmp_path("frames"));
    pt_mkdirs(bin);
    pt_mkdirs(frames);
    // succeeds: records its arguments and writes its last argument (the output file)
    snprintf(script, sizeof script,
             "#!/bin/sh\necho \"$@\" > '%s/args.txt'\nfor a; do last=$a; done\necho fake > \"$last\"\nexit 0\n", tu_tmpdir);
    char exe[2100];
    snprintf(exe, sizeof exe, "%s/ffmpeg", bin);
    write_script(exe, script);
    char *old = pt_strdup(getenv("PATH") ? getenv("PATH") : "");
    char newpath[8192];
    snprintf(newpath, sizeof newpath, "%s:%s", bin, old);
    setenv("PATH", newpath, 1);
    EXPECT(pt_ffmpeg_available(), "fake ffmpeg found");
    // missing frames are reported before ffmpeg runs
    EXPECT_FAILS(pt_frames_to_mp4(frames, 2, 8.0, tu_tmp_path("out.mp4")), PT_EXIT_USAGE, "frame_0000.png' is missing");
    for (int i = 0; i < 2; i++) {
        char p[2200];
        snprintf(p, sizeof p, "%s/frame_%04d.png", frames, i);
        FILE *f = fopen(p, "wb"); fputs("x", f); fclose(f);
    }
    pt_frames_to_mp4(frames, 2, 8.0, tu_tmp_path("out.mp4"));
    char *out = pt_read_file(tu_tmp_path("out.mp4"), NULL);
    EXPECT(strcmp(out, "fake\n") == 0, "output renamed into place: '%s'", out);
    free(out);
    char *args = pt_read_file(tu_tmp_path("args.txt"), NULL);
    EXPECT(strstr(args, "-framerate 8 ") != NULL, "framerate in '%s'", args);
    EXPECT(strstr(args, "frame_%04d.png") != NULL && strstr(args, "-start_number 0") != NULL, "pattern in '%s'", args);
    EXPECT(strstr(args, "-frames:v 2 ") != NULL && strstr(args, "yuv420p") != NULL, "count/pix_fmt in '%s'", args);
    free(args);
    // fails: exit status 3 and its stderr end up in the error
    write_script(exe, "#!/bin/sh\necho 'Unknown encoder libx264' >&2\nexit 3\n");
    EXPECT_FAILS(pt_frames_to_mp4(frames, 2, 8.0, tu_tmp_path("out2.mp4")), PT_EXIT_RUNTIME, "exit status 3");
    EXPECT_FAILS(pt_frames_to_mp4(frames, 2, 8.0, tu_tmp_path("out2.mp4")), PT_EXIT_RUNTIME, "Unknown encoder libx264");
    EXPECT(access(tu_tmp_path("out2.mp4"), F_OK) != 0, "no output after a failure");
    // decoding: the fake writes three frames into the pattern's folder
    write_script(exe, "#!/bin/sh\nfor a; do last=$a; done\nd=$(dirname \"$last\")\n"
                      "for i in 0000 0001 0002; do echo f > \"$d/frame_$i.png\"; done\nexit 0\n");
    FILE *f = fopen(tu_tmp_path("in.mp4"), "wb"); fputs("v", f); fclose(f);
    int n = 0;
    double fps = -1;
    pt_video_to_frames(tu_tmp_path("in.mp4"), tu_tmp_path("decoded"), &n, &fps);
    EXPECT(n == 3, "decoded %d frames", n);
    EXPECT(fps >= 0, "fps %g (0 without ffprobe)", fps);
    EXPECT_FAILS(pt_video_to_frames(tu_tmp_path("nope.mp4"), tu_tmp_path("decoded2"), &n, &fps), PT_EXIT_USAGE, "nope.mp4");
    setenv("PATH", old, 1);
    free(old);
}

int main(void) {
    tu_tmp_init("test_video");
    RUN(ffmpeg_not_installed);
    RUN(fake_ffmpeg_arguments_and_status);
    tu_tmp_cleanup();
    return test_summary();
}

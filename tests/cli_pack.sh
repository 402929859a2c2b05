#!/usr/bin/env bash
# cli_pack.sh — `posetune pack` end to end: synthetic set, pack, bad inputs exit 2 naming the file,
# a crash mid-video (fault injection) then --resume gives the same data as an uninterrupted pack.
set -u
BIN="$1"; T="$2"
rm -rf "$T"; mkdir -p "$T"
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" pack --synth "$T/src" --synth-videos 3 --synth-frames 8 --size 32x40 --quiet || fail "synth"
"$BIN" pack "$T/src" -o "$T/full.h5" 2> "$T/full.log" || fail "pack"
grep -q "video 3/3 'video_0002': 8 frames 32x40" "$T/full.log" || fail "no progress line: $(cat "$T/full.log")"
grep -q "frames/s" "$T/full.log" || fail "no frames/s in progress"

# Crash in the middle of the second video, then resume.
POSETUNE_FAULT=pack_mid_video "$BIN" pack "$T/src" -o "$T/res.h5" 2> "$T/crash.log"
rc=$?
[ $rc -ne 0 ] || fail "fault injection did not kill the packer"
grep -q "fault injected" "$T/crash.log" || fail "no fault message: $(cat "$T/crash.log")"
"$BIN" pack "$T/src" -o "$T/res.h5" --resume 2> "$T/resume.log" || fail "resume: $(cat "$T/resume.log")"
grep -q "video_0000': complete, skipped" "$T/resume.log" || fail "complete video not skipped: $(cat "$T/resume.log")"
grep -q "video_0001': partial group" "$T/resume.log" || fail "partial video not redone: $(cat "$T/resume.log")"
if command -v h5dump > /dev/null; then
  for v in video_0000 video_0001 video_0002; do
    for d in frames poses; do
      a=$(h5dump -d /videos/$v/$d "$T/full.h5" | tail -n +3 | md5sum)
      b=$(h5dump -d /videos/$v/$d "$T/res.h5" | tail -n +3 | md5sum)
      [ "$a" = "$b" ] || fail "$v/$d differs between the uninterrupted and the resumed pack"
    done
  done
else
  echo "note: h5dump not installed; resumed data compared through --bench-read only"
fi
"$BIN" pack --bench-read "$T/res.h5" --size 32x40 --batches 3 > "$T/bench.log" || fail "bench-read on resumed file"

# Bad inputs: exit 2 and the message names the file.
expect2() {  # expect2 NEEDLE ARGS...
  local needle="$1"; shift
  "$BIN" pack "$@" 2> "$T/err.log"; local rc=$?
  [ $rc -eq 2 ] || fail "expected exit 2 for '$*', got $rc: $(cat "$T/err.log")"
  grep -q -- "$needle" "$T/err.log" || fail "message for '$*' does not name $needle: $(cat "$T/err.log")"
}
cp -r "$T/src" "$T/b1"; rm "$T/b1/video_0001/frame_0005_densepose.npy"
expect2 "frame_0005_densepose.npy" "$T/b1" -o "$T/x.h5"
cp -r "$T/src" "$T/b2"; echo garbage > "$T/b2/video_0002/frame_0001.png"
expect2 "video_0002/frame_0001.png" "$T/b2" -o "$T/x.h5"
cp -r "$T/src" "$T/b3"; head -c 100 "$T/src/video_0000/frame_0003_densepose.npy" > "$T/b3/video_0000/frame_0003_densepose.npy"
expect2 "frame_0003_densepose.npy" "$T/b3" -o "$T/x.h5"
expect2 "no_such_dir" "$T/no_such_dir" -o "$T/x.h5"
mkdir -p "$T/b4/empty_video"; expect2 "empty_video" "$T/b4" -o "$T/x.h5"
expect2 "--size" "$T/src" -o "$T/x.h5" --size 32by40
expect2 "pose kind" "$T/src" -o "$T/x.h5" --pose-kind normals
expect2 "cache-latents" "$T/src" -o "$T/x.h5" --cache-latents
expect2 "-o data.h5" "$T/src"
[ ! -e "$T/x.h5" ] || fail "an output file was written by a failing pack"
echo "cli_pack: ok"

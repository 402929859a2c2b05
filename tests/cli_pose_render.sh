#!/usr/bin/env bash
# cli_pose_render.sh — `posetune pose-render`: output names and sizes, directory inputs, determinism,
# confidence-aware and threshold behaviour, retargeting, and errors that exit 2 naming the file.
# usage: bash tests/cli_pose_render.sh POSETUNE_BIN TMPDIR
set -u
BIN=$1
T=$2
rm -rf "$T"; mkdir -p "$T/in" "$T/dir"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
run() { out=$("$@" 2>&1); rc=$?; }
# PNG width x height from the IHDR chunk (bytes 16..23, big-endian)
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{printf "%dx%d", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}'; }

# 18 COCO keypoints (pixels on a 64x48 canvas) with confidence $1
body() {
  local c=$1
  echo -n "[32,8,$c, 32,14,$c, 24,14,$c, 20,22,$c, 18,30,$c, 40,14,$c, 44,22,$c, 46,30,$c,"
  echo -n " 28,28,$c, 27,36,$c, 27,44,$c, 36,28,$c, 37,36,$c, 37,44,$c, 30,7,$c, 34,7,$c, 29,8,$c, 35,8,$c]"
}
echo "{\"people\":[{\"pose_keypoints_2d\":$(body 1.0)}],\"canvas_width\":64,\"canvas_height\":48}" > "$T/in/a_keypoints.json"
echo "{\"people\":[{\"pose_keypoints_2d\":$(body 0.5)}],\"canvas_width\":64,\"canvas_height\":48}" > "$T/in/half.json"
echo "{\"people\":[],\"canvas_width\":64,\"canvas_height\":48}" > "$T/in/empty.json"
echo "{\"people\":[{\"pose_keypoints_2d\":$(body 1.0)}]}" > "$T/nocanvas.json"
echo "{\"people\":[{\"pose_keypoints_2d\":[1,2,3]}],\"canvas_width\":64,\"canvas_height\":48}" > "$T/badlen.json"
echo "{\"people\":[{\"pose_keypoints_2d\":" > "$T/syntax.json"
echo "{\"people\":[],\"canvas_width\":64,\"canvas_height\":48}" > "$T/refempty.json"

# 1. one file: NAME_keypoints.json -> NAME_pose.png at the canvas size
run "$BIN" pose-render --input "$T/in/a_keypoints.json" --out "$T/o1"
[ $rc -eq 0 ] || fail "single file exit $rc: $out"
[ -f "$T/o1/a_pose.png" ] || fail "a_pose.png missing: $(ls "$T/o1")"
[ "$(png_size "$T/o1/a_pose.png")" = "64x48" ] || fail "size $(png_size "$T/o1/a_pose.png"), want 64x48"

# 2. explicit size
run "$BIN" pose-render --input "$T/in/a_keypoints.json" --out "$T/o2" --width 128 --height 96
[ $rc -eq 0 ] && [ "$(png_size "$T/o2/a_pose.png")" = "128x96" ] || fail "--width/--height: rc $rc size $(png_size "$T/o2/a_pose.png" 2>/dev/null)"

# 3. a directory: every .json, other names -> NAME.png
run "$BIN" pose-render --input "$T/in" --out "$T/o3"
[ $rc -eq 0 ] || fail "directory exit $rc: $out"
for f in a_pose.png half.png empty.png; do [ -f "$T/o3/$f" ] || fail "directory: $f missing"; done
echo "$out" | grep -q "wrote 3 skeleton images" || fail "summary line: $out"

# 4. deterministic; confidence-aware changes a 0.5-confidence pose but not a 1.0 one
cmp -s "$T/o1/a_pose.png" "$T/o3/a_pose.png" || fail "same input rendered twice differs"
run "$BIN" pose-render --input "$T/in/a_keypoints.json" --input "$T/in/half.json" --out "$T/o4" --confidence-aware
[ $rc -eq 0 ] || fail "confidence-aware exit $rc: $out"
cmp -s "$T/o4/a_pose.png" "$T/o1/a_pose.png" || fail "confidence 1.0: confidence-aware should equal the plain image"
cmp -s "$T/o4/half.png" "$T/o3/half.png" && fail "confidence 0.5: confidence-aware should differ from the plain image"

# 5. threshold above every confidence draws nothing: same bytes as an empty pose
run "$BIN" pose-render --input "$T/in/half.json" --out "$T/o5" --threshold 0.9
[ $rc -eq 0 ] || fail "threshold exit $rc"
cmp -s "$T/o5/half.png" "$T/o3/empty.png" || fail "--threshold 0.9 should leave a black image"
cmp -s "$T/o3/half.png" "$T/o3/empty.png" && fail "default threshold should draw the 0.5 pose"

# 6. retargeting onto a reference
run "$BIN" pose-render --input "$T/in/half.json" --out "$T/o6" --rescale-to "$T/in/a_keypoints.json"
[ $rc -eq 0 ] || fail "rescale-to exit $rc: $out"
echo "$out" | grep -q "retargeted onto" || fail "no retarget line: $out"
[ -f "$T/o6/half.png" ] || fail "retargeted output missing"
run "$BIN" pose-render --input "$T/in/half.json" --out "$T/o6b" --rescale-to "$T/refempty.json"
[ $rc -eq 2 ] && echo "$out" | grep -q "refempty.json" || fail "reference without a body: rc $rc: $out"

# 7. errors exit 2 and name the file / flag
run "$BIN" pose-render --input "$T/badlen.json" --out "$T/o7"
[ $rc -eq 2 ] && echo "$out" | grep -q "badlen.json" && echo "$out" | grep -q "pose_keypoints_2d" || fail "bad length: rc $rc: $out"
run "$BIN" pose-render --input "$T/syntax.json" --out "$T/o7"
[ $rc -eq 2 ] && echo "$out" | grep -q "syntax.json" || fail "syntax error: rc $rc: $out"
run "$BIN" pose-render --input "$T/nocanvas.json" --out "$T/o7"
[ $rc -eq 2 ] && echo "$out" | grep -q "nocanvas.json" && echo "$out" | grep -q -- "--width" || fail "no canvas: rc $rc: $out"
run "$BIN" pose-render --input "$T/nocanvas.json" --out "$T/o8" --width 64 --height 48
[ $rc -eq 0 ] && cmp -s "$T/o8/nocanvas.png" "$T/o1/a_pose.png" || fail "no canvas + --width/--height should match the canvas render"
run "$BIN" pose-render --input "$T/missing.json" --out "$T/o7"
[ $rc -eq 2 ] && echo "$out" | grep -q "missing.json" || fail "missing input: rc $rc: $out"
run "$BIN" pose-render --input "$T/in/a_keypoints.json"
[ $rc -eq 2 ] && echo "$out" | grep -q -- "--out" || fail "missing --out: rc $rc: $out"
run "$BIN" pose-render --input "$T/in/a_keypoints.json" --out "$T/o7" --width 10
[ $rc -eq 2 ] || fail "--width without --height: rc $rc"
run "$BIN" pose-render --bogus
[ $rc -eq 2 ] && echo "$out" | grep -q -- "--bogus" || fail "unknown flag: rc $rc: $out"
run "$BIN" pose-render --help
[ $rc -eq 0 ] && echo "$out" | grep -q -- "--confidence-aware" || fail "--help: rc $rc"

if [ $fails -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "cli_pose_render: all checks passed"

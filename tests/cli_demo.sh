#!/usr/bin/env bash
# cli_demo.sh — `posetune demo` end to end on the CPU: exit 0, rendered frames + GIF + subject
# checkpoint exist; a rerun into the same folder skips the finished stages and still succeeds.
# usage: bash tests/cli_demo.sh POSETUNE_BIN TMPDIR
set -u
BIN="$1"; TMP="$2"
rm -rf "$TMP"; mkdir -p "$TMP"
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" demo --out "$TMP/demo" --steps 10 > "$TMP/demo.log" 2>&1
rc=$?
[ $rc -eq 0 ] || { tail -30 "$TMP/demo.log"; fail "posetune demo exited with $rc"; }
R="$TMP/demo/render"
[ -s "$R/frame_0000.png" ] || fail "no $R/frame_0000.png"
n=$(ls "$R"/frame_*.png | wc -l)
[ "$n" -ge 2 ] || fail "only $n frames rendered"
[ -s "$R/clip.gif" ] || fail "no $R/clip.gif"
head -c 6 "$R/clip.gif" | grep -q 'GIF89a' || fail "clip.gif is not a GIF89a file"
[ -s "$TMP/demo/subject.safetensors" ] || fail "no subject checkpoint"
ls "$TMP/demo/phase1/checkpoints/"step-00000010.safetensors > /dev/null || fail "phase 1 did not reach step 10"
grep -q "demo: finished" "$TMP/demo.log" || fail "no completion line in the log"

# rerun: every training stage is skipped, the render is redone
"$BIN" demo --out "$TMP/demo" --steps 10 > "$TMP/demo2.log" 2>&1 || { tail -20 "$TMP/demo2.log"; fail "rerun failed"; }
grep -q "phase 1 already done" "$TMP/demo2.log" || fail "rerun retrained phase 1"
grep -q "stage 'subject' already finished" "$TMP/demo2.log" || fail "rerun retrained the subject stage"
grep -q "stage 'vae_decoder' already finished" "$TMP/demo2.log" || fail "rerun retrained the VAE decoder"

# bad input: exit 2 naming the flag
"$BIN" demo --steps abc > "$TMP/bad.log" 2>&1
[ $? -eq 2 ] || fail "--steps abc did not exit 2"
grep -q -- "--steps" "$TMP/bad.log" || fail "the error does not name --steps"
echo "PASS"

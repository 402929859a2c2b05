#!/usr/bin/env bash
# cli_train_resume.sh — `posetune train` resumes: 2 steps, then a run to 4 steps killed while it
# writes its step-4 checkpoint (POSETUNE_FAULT=before_rename:step-00000004: SIGKILL between the
# fsync of the temporary file and its rename), then a rerun that continues from step 2; its step-4
# weights equal a straight 4-step run's bit for bit.
# usage: bash tests/cli_train_resume.sh POSETUNE_BIN TMPDIR
set -u
BIN="$1"; TMP="$2"
rm -rf "$TMP"; mkdir -p "$TMP"
fail() { echo "FAIL: $*"; exit 1; }
SRC="$(cd "$(dirname "$0")/.." && pwd)"
CFG="$SRC/configs/demo/dreampose.yaml"
common=(--set data.synthetic_videos=2 --set data.synthetic_frames=6 --set train.checkpoint_every=0 --set train.keep_checkpoints=0)

"$BIN" train "$CFG" "${common[@]}" --set train.out_dir="$TMP/straight" --set train.steps=4 > "$TMP/s.log" 2>&1 || { tail "$TMP/s.log"; fail "straight run"; }
"$BIN" train "$CFG" "${common[@]}" --set train.out_dir="$TMP/r" --set train.steps=2 > "$TMP/r1.log" 2>&1 || { tail "$TMP/r1.log"; fail "first half"; }
C2="$TMP/r/checkpoints/step-00000002.safetensors"
[ -s "$C2" ] || fail "no step-2 checkpoint"
cp "$C2" "$TMP/c2.copy"
grep -q "^train:" "$TMP/r1.log" || fail "resolved config not printed"

POSETUNE_FAULT=before_rename:step-00000004 "$BIN" train "$CFG" "${common[@]}" --set train.out_dir="$TMP/r" --set train.steps=4 > "$TMP/r2.log" 2>&1
rc=$?
[ $rc -eq 137 ] || { tail "$TMP/r2.log"; fail "the faulted run exited with $rc, expected 137 (SIGKILL)"; }
grep -q "fault injected at 'before_rename' writing .*step-00000004.safetensors" "$TMP/r2.log" || fail "fault point not reached at the checkpoint write"
ls "$TMP"/r/checkpoints/step-00000004.safetensors.tmp.* > /dev/null 2>&1 || fail "no leftover temporary from the killed checkpoint write"
cmp -s "$C2" "$TMP/c2.copy" || fail "the step-2 checkpoint changed"
[ ! -e "$TMP/r/checkpoints/step-00000004.safetensors" ] || fail "a step-4 checkpoint exists after the kill"
"$BIN" inspect "$C2" > /dev/null 2>&1 || fail "the step-2 checkpoint does not load"

"$BIN" train "$CFG" "${common[@]}" --set train.out_dir="$TMP/r" --set train.steps=4 > "$TMP/r3.log" 2>&1 || { tail "$TMP/r3.log"; fail "resumed run"; }
grep -q "resumed from .*step-00000002.safetensors at step 2" "$TMP/r3.log" || { tail "$TMP/r3.log"; fail "did not resume from step 2"; }
! ls "$TMP"/r/checkpoints/*.tmp.* > /dev/null 2>&1 || fail "the leftover temporary was not removed by the rerun"
A="$TMP/straight/checkpoints/step-00000004.safetensors"; B="$TMP/r/checkpoints/step-00000004.safetensors"
[ -s "$B" ] || fail "no step-4 checkpoint after resuming"
"$BIN" inspect "$A" --diff "$B" > "$TMP/diff.log" 2>&1 || { tail -20 "$TMP/diff.log"; fail "resumed weights differ from the straight run"; }
echo "PASS"

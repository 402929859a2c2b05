#!/usr/bin/env bash
# cli_help.sh — the command line's contract (README "Command line"): every command's --help prints a
# usage and exits 0; bad flags, missing arguments, bad numbers and bad config files exit 2 naming the
# flag / `file.yaml:LINE`; runtime failures (an output that cannot be written) exit 1; bad input files
# (corrupt weights) exit 2.
# Usage: bash tests/cli_help.sh POSETUNE_BIN TMPDIR
set -u
BIN="$1"; T="$2"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
FIX="${POSETUNE_FIXTURES:-$SRC/../shared/fixtures/peer}"
rm -rf "$T"; mkdir -p "$T"; cd "$T" || exit 1
fail=0; n_ok=0
ok() { n_ok=$((n_ok + 1)); }
bad() { echo "FAIL: $*"; fail=1; }
# expect CODE NEEDLE CMD...: exit code CODE and stderr containing NEEDLE (fixed string; "" = any)
expect() {
  local code="$1" needle="$2"; shift 2
  "$@" > out.txt 2> err.txt; local rc=$?
  if [ "$rc" != "$code" ]; then bad "'$*': exit $rc, expected $code: $(head -c 300 err.txt)"; return; fi
  if [ -n "$needle" ] && ! grep -qF -- "$needle" err.txt; then bad "'$*': message lacks '$needle': $(head -c 300 err.txt)"; return; fi
  ok
}
CMDS="train subject render pack pose-render export inspect tensor-run bench demo"

# ---- --help: usage on stdout, exit 0 -------------------------------------------------------------
for h in --help -h help; do
  "$BIN" $h > top.txt 2>&1; rc=$?
  if [ $rc -eq 0 ] && grep -q "^usage: posetune COMMAND" top.txt; then ok; else bad "posetune $h: exit $rc"; fi
done
for c in $CMDS; do
  grep -q "^  $c " top.txt || bad "posetune --help does not list '$c'"
  "$BIN" $c --help > out.txt 2> err.txt; rc=$?
  if [ $rc -eq 0 ] && grep -q "^usage: posetune $c" out.txt && grep -q -- "--help" out.txt; then ok
  else bad "posetune $c --help: exit $rc, stdout: $(head -c 200 out.txt)"; fi
done
"$BIN" > out.txt 2> err.txt; rc=$?
[ $rc -eq 2 ] && grep -q "usage: posetune" err.txt && ok || bad "posetune without a command: exit $rc (want 2 + usage)"

# ---- usage errors: exit 2 naming the command / flag ----------------------------------------------
expect 2 "unknown command 'nosuchcmd'" "$BIN" nosuchcmd
for c in $CMDS; do
  expect 2 "unknown flag '--no-such-flag'" "$BIN" $c --no-such-flag
  expect 2 "unknown flag '--no-such-flag'" "$BIN" $c --no-such-flag=3
done
expect 2 "short flag '-x'" "$BIN" train -x
# missing required arguments
expect 2 "missing argument" "$BIN" train
expect 2 "--base" "$BIN" subject
expect 2 "--images" "$BIN" subject --base x
expect 2 "--poses" "$BIN" subject --base x --images y.png
expect 2 "missing argument" "$BIN" render
expect 2 "SRC_DIR" "$BIN" pack
expect 2 "-o data.h5" "$BIN" pack somedir
expect 2 "--input" "$BIN" pose-render
expect 2 "--out" "$BIN" pose-render --input x.json
expect 2 "missing argument" "$BIN" export
expect 2 "--to" "$BIN" export run
expect 2 "-o OUT" "$BIN" export run --to diffusers
expect 2 "missing argument" "$BIN" inspect
expect 2 "missing argument" "$BIN" tensor-run
expect 2 "--config" "$BIN" tensor-run unet
expect 2 "--weights" "$BIN" tensor-run unet --config c.json
expect 2 "--inputs" "$BIN" tensor-run unet --config c.json --weights w.safetensors
expect 2 "--output" "$BIN" tensor-run unet --config c.json --weights w.safetensors --inputs i.safetensors
# a flag at the end with no value
expect 2 "--set expects a value" "$BIN" train cfg.yaml --set
expect 2 "--out expects a value" "$BIN" demo --out
expect 2 "--filter expects a value" "$BIN" inspect f --filter
# non-numeric values of numeric flags
expect 2 "--steps expects an integer, got 'abc'" "$BIN" demo --steps abc
expect 2 "--iters expects an integer, got '3x'" "$BIN" bench --iters 3x
expect 2 "--warmup expects an integer, got ''" "$BIN" bench --warmup=
expect 2 "--batch expects an integer, got 'four'" "$BIN" pack --batch four
expect 2 "--synth-frames expects an integer, got '1.5'" "$BIN" pack --synth-frames 1.5
expect 2 "--width expects an integer, got 'wide'" "$BIN" pose-render --width wide
expect 2 "--threshold expects a number, got 'high'" "$BIN" pose-render --threshold high
expect 2 "--max-shard-mb expects an integer, got 'big'" "$BIN" export --max-shard-mb big
expect 2 "--tol expects a number, got '1e-3x'" "$BIN" inspect f --tol 1e-3x
expect 2 "--frames expects an integer, got 'two'" "$BIN" tensor-run unet --frames two
expect 2 "--iters expects an integer, got '4294967297'" "$BIN" bench --iters 4294967297
# out-of-range / bad enum flag values
expect 2 "--steps" "$BIN" demo --steps -1
expect 2 "--device" "$BIN" bench --device tpu
expect 2 "--threshold" "$BIN" pose-render --input x.json --out o --threshold 2
expect 2 "--frames" "$BIN" tensor-run unet --config c --weights w --inputs i --output o --frames 0
expect 2 "--dtype" "$BIN" export run --to diffusers -o o --dtype int8
expect 2 "--size" "$BIN" pack src -o x.h5 --size 32by40

# ---- config files: exit 2 naming file.yaml:LINE:COL ----------------------------------------------
DEMO="$SRC/configs/demo/dreampose.yaml"
printf 'include: %s\ntrain:\n  steps: 3\n  lrr: 1e-5\n' "$DEMO" > unknown.yaml
expect 2 "unknown.yaml:4:3: unknown key 'train.lrr'" "$BIN" train unknown.yaml
grep -qF "did you mean 'train.lr'" err.txt && ok || bad "unknown key: no 'did you mean' hint: $(cat err.txt)"
printf 'include: %s\n# a comment\ntrain:\n  out_dir: x\n\n  steps: many\n' "$DEMO" > wrongtype.yaml
expect 2 "wrongtype.yaml:6:10: key 'train.steps': expected an integer, got 'many'" "$BIN" train wrongtype.yaml
printf 'include: %s\ntrain:\n  lr: 1e-5\n  steps: 0\n' "$DEMO" > range.yaml
expect 2 "range.yaml:4:10: key 'train.steps': value 0 is out of range" "$BIN" train range.yaml
printf 'include: %s\nrender:\n  eta: 0.0\n  fusion: box\n' "$DEMO" > enum.yaml
expect 2 "enum.yaml:4:11: key 'render.fusion': bad value 'box'" "$BIN" train enum.yaml
printf 'train: {lr: 1e-5, batch_size: [1, 2]}\n' > flow.yaml
expect 2 "flow.yaml:1:" "$BIN" train flow.yaml
printf 'train:\n  lr: 1e-5\n  lr: 2e-5\n' > dup.yaml
expect 2 "dup.yaml:3:" "$BIN" train dup.yaml
printf 'train:\n  lr: [1e-5\n' > syntax.yaml
expect 2 "syntax.yaml:" "$BIN" train syntax.yaml
printf 'include: nonexistent_base.yaml\n' > badinc.yaml
expect 2 "nonexistent_base.yaml" "$BIN" train badinc.yaml
expect 2 "missing.yaml" "$BIN" train missing.yaml
expect 2 "--set 'train.steps=abc': key 'train.steps': expected an integer" "$BIN" train "$DEMO" --set train.steps=abc
expect 2 "--set 'train.nope=1': unknown key 'train.nope'" "$BIN" train "$DEMO" --set train.nope=1
expect 2 "range.yaml:4:10" "$BIN" render range.yaml

# ---- runtime failures: an output that cannot be written exits 1 ----------------------------------
echo "a file, not a folder" > afile
expect 1 "afile" "$BIN" demo --out afile/sub
expect 1 "afile" "$BIN" pack --synth afile --synth-videos 1 --synth-frames 2
expect 1 "afile" "$BIN" train "$DEMO" --set train.steps=1 --set train.out_dir=afile
expect 1 "afile" "$BIN" train "$DEMO" --set train.steps=1 --set train.out_dir=afile/run
"$BIN" pack --synth syn --synth-videos 1 --synth-frames 2 --size 64x64 --quiet > /dev/null 2>&1 || bad "pack --synth failed"
KP=syn/video_0000/frame_0000_keypoints.json
expect 0 "" "$BIN" pose-render --input "$KP" --out pr
expect 1 "afile" "$BIN" pose-render --input "$KP" --out afile
expect 1 "afile" "$BIN" pose-render --input "$KP" --out afile/sub
expect 1 "afile" "$BIN" pack syn -o afile/x.h5
"$BIN" train "$DEMO" --set train.steps=1 --set train.checkpoint_every=1 --set train.out_dir=run > train.log 2>&1 \
  || bad "1-step demo training failed: $(tail -3 train.log)"
expect 1 "afile" "$BIN" export run --to sd-single-file -o afile/x.safetensors
expect 1 "afile" "$BIN" export run --to diffusers -o afile
# bad input files exit 2 naming the file
head -c 100 run/checkpoints/step-00000001.safetensors > trunc.safetensors
printf 'not a checkpoint at all' > garbage.safetensors
expect 2 "trunc.safetensors" "$BIN" inspect trunc.safetensors
expect 2 "garbage.safetensors" "$BIN" inspect garbage.safetensors
expect 2 "nothing_here.safetensors" "$BIN" inspect nothing_here.safetensors
expect 2 "garbage.safetensors" "$BIN" export garbage.safetensors --to diffusers -o exp
expect 2 "no_such_dir" "$BIN" pose-render --input no_such_dir --out pr2
if [ -f "$FIX/unet_tiny.safetensors" ]; then
  TR=(tensor-run unet --config "$FIX/unet_tiny.json" --inputs "$FIX/unet_tiny.io.safetensors")
  expect 2 "garbage.safetensors" "$BIN" "${TR[@]}" --weights garbage.safetensors --output tr.safetensors
  expect 2 "trunc.safetensors" "$BIN" "${TR[@]}" --weights trunc.safetensors --output tr.safetensors
  expect 2 "unet_tiny.io.safetensors" "$BIN" "${TR[@]}" --weights "$FIX/unet_tiny.io.safetensors" --output tr.safetensors
  expect 1 "afile" "$BIN" "${TR[@]}" --weights "$FIX/unet_tiny.safetensors" --output afile/tr.safetensors
  expect 0 "" "$BIN" "${TR[@]}" --weights "$FIX/unet_tiny.safetensors" --output new/dir/tr.safetensors
  [ -f new/dir/tr.safetensors ] && ok || bad "tensor-run did not create the --output folder"
  # an output that exists and is not a regular file is never replaced (atomic writes rename over it)
  mkfifo not_a_file.fifo
  expect 2 "not a regular file" "$BIN" "${TR[@]}" --weights "$FIX/unet_tiny.safetensors" --output not_a_file.fifo
  [ -p not_a_file.fifo ] && ok || bad "the fifo given as --output was replaced"
else
  echo "note: peer fixtures absent ($FIX): tensor-run input checks skipped"
fi
expect 2 "fp16 is for inference" "$BIN" train "$SRC/configs/demo/dreampose.yaml" --set train.precision=fp16 --set train.out_dir=fp16run
printf '{"in_channels": ' > broken.json
expect 2 "broken.json" "$BIN" tensor-run unet --config broken.json --weights w --inputs i --output o

echo "$n_ok checks passed"
if [ $fail -ne 0 ]; then echo "cli_help: FAILED"; exit 1; fi
echo "cli_help: all passed"

#!/usr/bin/env bash
# cli_export.sh — posetune export end to end: a 2-step DreamPose demo run, exported to every format
# that applies, the outputs read back by `posetune inspect`, and the error exits (code 2).
# Usage: bash tests/cli_export.sh POSETUNE_BIN TMPDIR
set -u
BIN="$1"; TMP="$2"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
rm -rf "$TMP"; mkdir -p "$TMP"; cd "$TMP" || exit 1
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; else echo "ok   $1"; fi; }
expect_code() {  # name code cmd...
  local name="$1" code="$2"; shift 2
  "$@" > out.txt 2> err.txt; local rc=$?
  if [ "$rc" != "$code" ]; then echo "FAIL: $name: exit $rc, expected $code"; cat err.txt; fail=1; else echo "ok   $name (exit $rc: $(head -c 160 err.txt | tr '\n' ' '))"; fi
}

"$BIN" train "$SRC/configs/demo/dreampose.yaml" --set train.steps=2 --set train.checkpoint_every=2 \
    --set train.out_dir="$TMP/run" > train.log 2>&1 || { echo "SKIP: posetune train failed:"; tail -5 train.log; exit 77; }
CK="$TMP/run/checkpoints/step-00000002.safetensors"
check "training checkpoint written" "[ -f '$CK' ]"

# diffusers folder (default fp16), from the run folder
"$BIN" export "$TMP/run" --to diffusers -o "$TMP/dp" > exp.log 2>&1; rc=$?
check "export --to diffusers exits 0" "[ $rc = 0 ]"
for f in model_index.json unet/config.json unet/diffusion_pytorch_model.safetensors vae/config.json \
         vae/diffusion_pytorch_model.safetensors image_encoder/config.json image_encoder/model.safetensors \
         adapter/config.json adapter/diffusion_pytorch_model.safetensors scheduler/scheduler_config.json; do
  check "diffusers layout has $f" "[ -f '$TMP/dp/$f' ]"
done
check "unet/config.json describes the 14-channel conv_in" "grep -q '\"in_channels\": 14' '$TMP/dp/unet/config.json'"
"$BIN" inspect "$TMP/dp/unet" --filter conv_in.weight > insp.txt 2>&1
check "unet conv_in is F16 [32, 14, 3, 3]" "grep -q 'conv_in.weight *F16 *\[32, 14, 3, 3\]' insp.txt"
check "the frozen VAE/CLIP were taken from the tiny init (said so)" "grep -q 'tiny random init' exp.log"
check "no temporary files left" "[ -z \"\$(find '$TMP/dp' -name '*.tmp.*')\" ]"

# --dtype fp32 keeps F32 (values: tests/test_export.c checks them bit-exact)
"$BIN" export "$CK" --to diffusers --dtype fp32 -o "$TMP/dp32" > /dev/null 2>&1
"$BIN" inspect "$TMP/dp32/adapter" --json > a.json 2>&1
check "fp32 adapter tensors are F32" "grep -q '\"dtype\": \"F32\"' a.json && ! grep -q '\"F16\"' a.json"

# SD single file with LDM names
expect_code "export --to sd-single-file" 0 "$BIN" export "$CK" --to sd-single-file --dtype bf16 -o "$TMP/sd/model.safetensors"
"$BIN" inspect "$TMP/sd/model.safetensors" > sd.txt 2>&1
check "single file: model.diffusion_model.input_blocks.0.0.weight BF16 [32, 14, 3, 3]" \
      "grep -q 'model.diffusion_model.input_blocks.0.0.weight *BF16 *\[32, 14, 3, 3\]' sd.txt"
check "single file: first_stage_model.* present" "grep -q '^first_stage_model.decoder.conv_out.weight' sd.txt"
check "single file: no diffusers names" "! grep -q '^down_blocks\|^unet\.' sd.txt"

# errors: exit 2 with a message naming the problem
expect_code "missing checkpoint" 2 "$BIN" export "$TMP/nope.safetensors" --to diffusers -o "$TMP/x"
check "  message names the path" "grep -q 'nope.safetensors' err.txt"
expect_code "not a posetune checkpoint" 2 "$BIN" export "$TMP/dp32/unet/diffusion_pytorch_model.safetensors" --to diffusers -o "$TMP/x"
check "  message says so" "grep -q 'not a posetune training checkpoint' err.txt"
expect_code "unknown --to" 2 "$BIN" export "$CK" --to onnx -o "$TMP/x"
check "  message names the format" "grep -q \"onnx\" err.txt"
expect_code "animatediff without motion modules" 2 "$BIN" export "$CK" --to animatediff -o "$TMP/mm.safetensors"
expect_code "--use-ema without EMA weights" 2 "$BIN" export "$CK" --to diffusers --use-ema -o "$TMP/x"
expect_code "bad --dtype" 2 "$BIN" export "$CK" --to diffusers --dtype int8 -o "$TMP/x"
expect_code "missing -o" 2 "$BIN" export "$CK" --to diffusers

exit $fail

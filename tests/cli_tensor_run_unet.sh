#!/usr/bin/env bash
# cli_tensor_run_unet.sh — `posetune tensor-run unet` on the peer fixture: exit codes, output names,
# and exit 2 naming the flag/file/tensor for bad input. (Numbers are compared in tests/test_unet.c,
# test cli_tensor_run_unet, which runs the same command and reads the output.)
# usage: bash tests/cli_tensor_run_unet.sh POSETUNE_BIN TMPDIR
set -u
BIN="$1"; TMP="$2"
HERE="$(cd "$(dirname "$0")" && pwd)"
FIX="${POSETUNE_FIXTURES:-$HERE/../../shared/fixtures/peer}"
if [ ! -f "$FIX/unet_tiny.safetensors" ]; then echo "SKIP: peer fixtures absent ($FIX)"; exit 77; fi
mkdir -p "$TMP"
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; else echo "ok   $1"; fi; }

ARGS=(--config "$FIX/unet_tiny.json" --weights "$FIX/unet_tiny.safetensors" --inputs "$FIX/unet_tiny.io.safetensors")

# forward only
"$BIN" tensor-run unet "${ARGS[@]}" --output "$TMP/fwd.safetensors" 2> "$TMP/fwd.err"; rc=$?
check "forward exits 0 (got $rc: $(head -c 300 "$TMP/fwd.err"))" '[ $rc -eq 0 ]'
# the safetensors header (first 8 bytes: its length) holds every tensor name
header() { head -c 100000 "$1" | tr -d '\000' | grep -a -o '"[a-zA-Z_.0-9]*":{"dtype"' | sed 's/":{"dtype"//; s/^"//'; }
check "forward output holds exactly 'out'" '[ "$(header "$TMP/fwd.safetensors" | tr "\n" " ")" = "out " ]'

# forward + backward
"$BIN" tensor-run unet "${ARGS[@]}" --output "$TMP/grad.safetensors" --grad-from R 2> "$TMP/grad.err"; rc=$?
check "--grad-from exits 0 (got $rc)" '[ $rc -eq 0 ]'
names="$(header "$TMP/grad.safetensors")"
check "687 tensors written" '[ "$(echo "$names" | wc -l)" -eq 687 ]'
for n in out grad.sample grad.encoder_hidden_states grad.conv_in.weight \
         grad.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight grad.mid_block.resnets.1.conv2.bias \
         grad.up_blocks.3.attentions.2.proj_out.weight grad.conv_out.bias; do
  check "output holds $n" 'echo "$names" | grep -qx "$n"'
done

# errors: exit 2, naming the culprit
expect2() {  # name, needle, command...
  local what="$1" needle="$2"; shift 2
  "$@" > /dev/null 2> "$TMP/e.txt"; local rc=$?
  check "$what exits 2 (got $rc)" "[ $rc -eq 2 ]"
  check "$what names '$needle'" "grep -q -- '$needle' '$TMP/e.txt'"
}
expect2 "weights missing tensors" "missing tensor" \
  "$BIN" tensor-run unet --config "$FIX/unet_tiny.json" --weights "$FIX/vae_tiny.safetensors" \
  --inputs "$FIX/unet_tiny.io.safetensors" --output "$TMP/x.safetensors"
expect2 "inputs missing 'sample'" "sample" \
  "$BIN" tensor-run unet --config "$FIX/unet_tiny.json" --weights "$FIX/unet_tiny.safetensors" \
  --inputs "$FIX/unet_tiny.safetensors" --output "$TMP/x.safetensors"
expect2 "--grad-from unknown tensor" "NOPE" "$BIN" tensor-run unet "${ARGS[@]}" --output "$TMP/x.safetensors" --grad-from NOPE
expect2 "missing --config" "--config" "$BIN" tensor-run unet --weights "$FIX/unet_tiny.safetensors" \
  --inputs "$FIX/unet_tiny.io.safetensors" --output "$TMP/x.safetensors"
expect2 "nonexistent config file" "no_such.json" "$BIN" tensor-run unet --config "$TMP/no_such.json" \
  --weights "$FIX/unet_tiny.safetensors" --inputs "$FIX/unet_tiny.io.safetensors" --output "$TMP/x.safetensors"
expect2 "unknown model" "unknown MODEL" "$BIN" tensor-run nosuchmodel "${ARGS[@]}" --output "$TMP/x.safetensors"
expect2 "another model on the UNet's inputs" "missing input tensor" "$BIN" tensor-run vae-decode --config "$FIX/vae_tiny.json" \
  --weights "$FIX/vae_tiny.safetensors" --inputs "$FIX/unet_tiny.io.safetensors" --output "$TMP/x.safetensors"
expect2 "bad --dtype" "--dtype" "$BIN" tensor-run unet "${ARGS[@]}" --output "$TMP/x.safetensors" --dtype fp8
check "no output written on errors" '[ ! -e "$TMP/x.safetensors" ]'
exit $fail

#!/usr/bin/env bash
# cli_inspect.sh — posetune inspect on the peer fixtures, the torch test files, and corrupt copies.
# usage: bash tests/cli_inspect.sh POSETUNE_BIN TMPDIR      (exit 77 = skipped: no fixtures)
set -u
BIN=$1
TMP=$2
HERE=$(cd "$(dirname "$0")" && pwd)
FIX=${POSETUNE_FIXTURES:-$HERE/../../shared/fixtures/peer}
if [ ! -f "$FIX/unet_tiny.safetensors" ]; then echo "SKIP: fixtures absent ($FIX)"; exit 77; fi
mkdir -p "$TMP"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# run CMD...: sets rc, out (stdout+stderr)
run() { out=$("$@" 2>&1); rc=$?; }

# 1. a real diffusers file: count, parameters (computed from the header with python once:
#    684 tensors, 827476 parameters, 3309904 bytes), one known tensor line
run "$BIN" inspect "$FIX/unet_tiny.safetensors"
[ $rc -eq 0 ] || fail "inspect unet exit $rc: $out"
echo "$out" | grep -q "^684 tensors, 827476 parameters, 3309904 bytes" || fail "unet totals: $(echo "$out" | tail -1)"
echo "$out" | grep -Eq "^conv_in.weight +F32 +\[16, 4, 3, 3\] +2304$" || fail "conv_in.weight line missing"

# 2. --filter
run "$BIN" inspect "$FIX/unet_tiny.safetensors" --filter conv_in.
[ $rc -eq 0 ] || fail "filter exit $rc"
echo "$out" | grep -q "^2 tensors (filtered), 592 parameters" || fail "filter totals: $(echo "$out" | tail -1)"

# 3. --json
run "$BIN" inspect "$FIX/vae_tiny.safetensors" --json
[ $rc -eq 0 ] || fail "json exit $rc"
echo "$out" | grep -q '"count": 244,' || fail "json count"
echo "$out" | grep -q '"parameters": 354391,' || fail "json parameters"
echo "$out" | grep -q '"name": "decoder.conv_in.weight"' || fail "json tensor name"

# 4. torch.save file (restricted pickle) and a refused one
run "$BIN" inspect "$HERE/data/torch_view.pt"
[ $rc -eq 0 ] || fail "torch file exit $rc: $out"
echo "$out" | grep -q "^3 tensors, 15 parameters" || fail "torch totals: $(echo "$out" | tail -1)"
run "$BIN" inspect "$HERE/data/torch_evil.pt"
[ $rc -eq 2 ] || fail "evil pickle exit $rc (want 2)"
echo "$out" | grep -q "refusing to execute pickle global 'os.system'" || fail "evil message: $out"

# 5. corrupt copies: truncated data, header length past the end of the file
head -c 2000000 "$FIX/unet_tiny.safetensors" > "$TMP/trunc.safetensors"
run "$BIN" inspect "$TMP/trunc.safetensors"
[ $rc -eq 2 ] || fail "truncated exit $rc (want 2)"
echo "$out" | grep -q "trunc.safetensors: tensor '.*'.*byte offset [0-9]" || fail "truncated message: $out"
{ printf '\xff\xff\xff\x00\x00\x00\x00\x00'; tail -c +9 "$FIX/vae_tiny.safetensors"; } > "$TMP/hlen.safetensors"
run "$BIN" inspect "$TMP/hlen.safetensors"
[ $rc -eq 2 ] || fail "bad header length exit $rc (want 2)"
echo "$out" | grep -q "header length 16777215 (u64 at byte offset 0) runs past the end" || fail "hlen message: $out"

# 6. metadata: a training-checkpoint-like file written by hand (header JSON + 4 data bytes)
hdr='{"__metadata__":{"posetune.format":"1","posetune.regime":"dreampose/full","posetune.step":"500","posetune.config":"a: 1\nb: 2"},"model.x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
printf -v len8 '\\x%02x\\x%02x\\x00\\x00\\x00\\x00\\x00\\x00' $(( ${#hdr} % 256 )) $(( ${#hdr} / 256 ))
{ printf "$len8"; printf '%s' "$hdr"; printf '\x00\x00\x80\x3f'; } > "$TMP/meta.safetensors"
run "$BIN" inspect "$TMP/meta.safetensors"
[ $rc -eq 0 ] || fail "meta file exit $rc: $out"
echo "$out" | grep -q "posetune training checkpoint: regime dreampose/full, step 500" || fail "regime line: $out"
echo "$out" | grep -q "  posetune.config: a: 1 ... (9 bytes; --json shows all)" || fail "long metadata shortened: $out"
run "$BIN" inspect "$TMP/meta.safetensors" --json
echo "$out" | grep -qF '"posetune.config": "a: 1\nb: 2"' || fail "json metadata: $out"

# 7. usage errors
run "$BIN" inspect
[ $rc -eq 2 ] || fail "no argument exit $rc"
run "$BIN" inspect "$TMP/does-not-exist.safetensors"
[ $rc -eq 2 ] || fail "missing file exit $rc"

if [ $fails -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "cli_inspect: all passed"

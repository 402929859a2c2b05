#!/usr/bin/env bash
# Every peer fixture reproduced through `posetune tensor-run` on the CPU: outputs and every gradient
# within 1e-4 relative error per tensor (‖a−b‖ ≤ 1e-5 + 1e-4·‖b‖: the absolute part covers gradients
# that are exactly zero in theory, such as the VAE attention's to_k bias).
#   bash tests/cli_tensor_run_fixtures.sh POSETUNE_BIN TMPDIR
set -u
bin=$1; tmp=$2
src=$(cd "$(dirname "$0")/.." && pwd)
fx=${POSETUNE_FIXTURES:-$src/../shared/fixtures/peer}
[ -d "$fx" ] || { echo "SKIP: no peer fixtures at $fx"; exit 77; }
rm -rf "$tmp"; mkdir -p "$tmp"
passed=0; failed=0
check() {   # check MODEL CONFIG STEM GRAD [extra args]
  local model=$1 config=$2 stem=$3 grad=$4; shift 4
  local ga=(); [ "$grad" = 1 ] && ga=(--grad-from R)
  if "$bin" tensor-run "$model" --config "$config" --weights "$fx/$stem.safetensors" --inputs "$fx/$stem.io.safetensors" \
        --output "$tmp/$model.safetensors" "${ga[@]}" "$@" > "$tmp/$model.log" 2>&1 &&
     "$bin" inspect "$fx/$stem.io.safetensors" --diff "$tmp/$model.safetensors" --common --tol 1e-4 --atol 1e-5 > "$tmp/$model.diff" 2>&1; then
    echo "ok   $model: $(tail -n 1 "$tmp/$model.diff")"; passed=$((passed + 1))
  else
    echo "FAIL $model"; cat "$tmp/$model.log" "$tmp/$model.diff" 2>/dev/null | tail -n 20; failed=$((failed + 1))
  fi
}
check unet "$fx/unet_tiny.json" unet_tiny 1
check vae-encode "$fx/vae_tiny.json" vae_tiny 0
check vae-decode "$fx/vae_tiny.json" vae_tiny 1
check clip-vision "$fx/clip_vision_tiny.json" clip_vision_tiny 0
check motion-module "$src/tests/data/motion_module_tiny_config.json" motion_module_tiny 1
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

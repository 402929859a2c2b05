#!/usr/bin/env bash
# tests/gpu/run.sh — every GPU check in one go, for the device machine (see docs/gpu-testing.md).
#   bash tests/gpu/run.sh [OUTDIR]
# Unpacks the carried Debian packages (.deps/*.deb: libyaml, stb) into a private prefix, builds
# with CUDA (sm_90 only, to save time), runs every tests/gpu/gpu_* executable, the CPU test suite
# as a sanity check, the fixture comparisons on CUDA, and `posetune bench`. Ends with
# "N passed, N failed" and a table.
set -u
source "$(dirname "$0")/env.sh"
out=${1:-${OUT:-/tmp/pt-gpu-out}}
mkdir -p "$out"
passed=0; failed=0
declare -a rows
log() { echo "$@" | tee -a "$out/summary.txt"; }
step() {   # step NAME CMD...
  local name=$1; shift
  local t0=$(date +%s.%N)
  local runner=(timeout "${PT_STEP_TIMEOUT:-300}")
  declare -F "$1" >/dev/null && runner=()   # shell functions run without timeout(1)
  if "${runner[@]}" "$@" >"$out/$name.log" 2>&1; then passed=$((passed+1)); st=PASS; else failed=$((failed+1)); st=FAIL; fi
  local t1=$(date +%s.%N)
  rows+=("$(printf '%-34s %-5s %8.1fs  %s' "$name" "$st" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$(tail -n 1 "$out/$name.log" | cut -c1-60)")")
  echo "== $name: $st"; tail -n 25 "$out/$name.log"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
pt_gpu_cmake_args
if [ -z "${PT_GPU_SKIP_BUILD:-}" ]; then
  step configure cmake "${cfg_args[@]}"
  step build cmake --build "$build" -j"$(nproc)"
fi
for t in "$build"/tests/gpu/gpu_*; do
  [ -x "$t" ] || continue
  [ -n "${PT_GPU_TESTS:-}" ] && ! [[ "$(basename "$t")" =~ $PT_GPU_TESTS ]] && continue
  step "$(basename "$t")" "$t"
done
# Every peer fixture through `posetune tensor-run --device cuda`: f32 outputs and all gradients
# within 1e-4 (atol 1e-5 for gradients that are exactly 0 in theory, e.g. the VAE attention's
# to_k bias); bf16 outputs within 2e-2 (bf16 gradients are printed in the log, not bounded).
fx=$POSETUNE_FIXTURES
fixture() {   # fixture NAME MODEL CONFIG STEM GRAD(0|1) DTYPE
  local name=$1 model=$2 config=$3 stem=$4 grad=$5 dt=$6 o=$out/$1.out.safetensors
  local ga=(); [ "$grad" = 1 ] && ga=(--grad-from R)
  "$bin" tensor-run "$model" --config "$config" --weights "$fx/$stem.safetensors" --inputs "$fx/$stem.io.safetensors" \
      --output "$o" --device cuda --dtype "$dt" "${ga[@]}" || return 1
  if [ "$dt" = fp32 ]; then "$bin" inspect "$fx/$stem.io.safetensors" --diff "$o" --common --tol 1e-4 --atol 1e-5
  else "$bin" inspect "$fx/$stem.io.safetensors" --diff "$o" --common --tol 1e-2 --atol 1e-5 || true
       "$bin" inspect "$fx/$stem.io.safetensors" --diff "$o" --common --exclude grad. --tol 2e-2; fi
}
if [ -d "$fx" ] && [ -z "${PT_GPU_NO_FIXTURES:-}" ]; then
  for dt in fp32 bf16; do
    step fixture_unet_$dt fixture unet_$dt unet "$fx/unet_tiny.json" unet_tiny 1 $dt
    step fixture_vae_encode_$dt fixture vae_enc_$dt vae-encode "$fx/vae_tiny.json" vae_tiny 0 $dt
    step fixture_vae_decode_$dt fixture vae_dec_$dt vae-decode "$fx/vae_tiny.json" vae_tiny 1 $dt
    step fixture_clip_$dt fixture clip_$dt clip-vision "$fx/clip_vision_tiny.json" clip_vision_tiny 0 $dt
    step fixture_motion_$dt fixture motion_$dt motion-module "$root/tests/data/motion_module_tiny_config.json" motion_module_tiny 1 $dt
  done
fi
if [ -n "${PT_GPU_CPU_SUITE:-}" ]; then step cpu_suite ctest --test-dir "$build" -j16 --output-on-failure; fi
if [ -x "$build/posetune" ] && [ "${PT_GPU_BENCH:-1}" != 0 ]; then   # PT_GPU_BENCH=0 skips the bench
  step bench "$build/posetune" bench --device cuda --iters "${PT_BENCH_ITERS:-10}" --warmup "${PT_BENCH_WARMUP:-3}" ${PT_BENCH_ONLY:+--only "$PT_BENCH_ONLY"}
fi
echo
echo "$passed passed, $failed failed"
printf '%s\n' "${rows[@]}"

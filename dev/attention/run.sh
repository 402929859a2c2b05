#!/bin/bash
# run.sh — build dev/attention/attention_forward.cu and check + time every version on the SD1.5
# attention shapes and a few edge shapes (tails, one key, peaky softmax). Run from the repository
# root on a GPU machine:   bash dev/attention/run.sh [versions...]   (default: 1 2 3 4)
# Writes the build report and full logs under $OUT (or /tmp/attnperf); ends with a table and
# "N passed, N failed". Inputs are fresh random draws each run: the seeds are printed (ATTN_SEED=
# reproduces a run).
set -u
export PATH=/usr/local/cuda/bin:$PATH
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
O=${OUT:-/tmp/attnperf}
mkdir -p "$O"
BIN=$O/attention_forward
VERSIONS=${*:-1 2 3 4}
SEED=${ATTN_SEED:-$(date +%s)}
echo "seed base $SEED"

nvcc -O3 -std=c++17 -arch=sm_90 -lineinfo -Xptxas -v -I"$ROOT" -o "$BIN" "$ROOT/dev/attention/attention_forward.cu" \
    >"$O/build.txt" 2>&1 || { tail -30 "$O/build.txt"; echo "BUILD FAILED"; exit 1; }
grep -E "spill stores" "$O/build.txt" | grep -v " 0 bytes spill stores" && echo "WARNING: spills (see $O/build.txt)"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /'

# name | arguments. SD1.5 at 512x512 (64x64 latents), batch 16, 8 heads; temporal = Animate Anyone
# motion module (B*h*w sequences of 24 frames).
CASES=(
  "self-64x64|--B 16 --S 4096 --H 8 --D 40"
  "self-32x32|--B 16 --S 1024 --H 8 --D 80"
  "self-16x16|--B 16 --S 256 --H 8 --D 160"
  "cross-64x64|--B 16 --S 4096 --Skv 77 --H 8 --D 40"
  "temporal-24|--B 2048 --S 24 --H 8 --D 40"
  "peaky-self|--B 1 --S 4096 --H 8 --D 40 --qscale 6"
  "tail-d64|--B 2 --S 100 --Skv 130 --H 3 --D 64"
  "tail-peaky-d80|--B 3 --S 200 --Skv 333 --H 2 --D 80 --qscale 8"
  "one-key|--B 1 --S 65 --Skv 1 --H 2 --D 40"
  "tail-d160|--B 2 --S 130 --Skv 70 --H 2 --D 160 --qscale 4"
  "d128|--B 2 --S 300 --Skv 200 --H 4 --D 128"
  "d32|--B 4 --S 129 --Skv 65 --H 4 --D 32"
)

pass=0; fail=0; n=0
TABLE="$O/table.txt"
printf "%-16s %-3s %-5s %10s %10s\n" case v check ms TFLOP/s >"$TABLE"
for c in "${CASES[@]}"; do
  name=${c%%|*}; args=${c#*|}
  for v in $VERSIONS; do
    n=$((n + 1))
    seed=$((SEED + n))
    log="$O/${name}_v$v.log"
    timeout 300 "$BIN" --version "$v" $args --check --seed "$seed" >"$log" 2>&1
    rc=$?
    line=$(grep '^RESULT' "$log" | tail -1)
    chk=$(echo "$line" | sed -n 's/.*check=\([A-Z]*\).*/\1/p')
    ms=$(echo "$line" | sed -n 's/.*ms=\([0-9.]*\).*/\1/p')
    tf=$(echo "$line" | sed -n 's/.*tflops=\([0-9.]*\).*/\1/p')
    if [ $rc -eq 0 ] && [ "$chk" = PASS ]; then pass=$((pass + 1)); else
      fail=$((fail + 1)); chk=${chk:-ERR}; echo "FAILED: $name v$v (rc $rc, seed $seed): $(grep -v '^RESULT' "$log" | tail -3)"; fi
    grep 'check:' "$log" | sed "s/^/$name /"
    printf "%-16s %-3s %-5s %10s %10s\n" "$name" "$v" "$chk" "${ms:--}" "${tf:--}" >>"$TABLE"
  done
done
echo
cat "$TABLE"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

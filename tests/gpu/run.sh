#!/usr/bin/env bash
# tests/gpu/run.sh — every GPU check in one go, for the device machine (see docs/gpu-testing.md).
#   bash tests/gpu/run.sh [OUTDIR]
# Unpacks the carried Debian packages (.deps/*.deb: libyaml, stb) into a private prefix, builds
# with CUDA (sm_90 only, to save time), runs every tests/gpu/gpu_* executable, the CPU test suite
# as a sanity check, the fixture comparisons on CUDA, and `posetune bench`. Ends with
# "N passed, N failed" and a table.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-${OUT:-/tmp/pt-gpu-out}}
mkdir -p "$out"
prefix=/tmp/pt-prefix
mkdir -p "$prefix"
for f in "$root"/.deps/*.deb; do dpkg -x "$f" "$prefix"; done
arch_dir=$prefix/usr/lib/x86_64-linux-gnu
# the .pc files name /usr; point them at the prefix
for pc in "$arch_dir"/pkgconfig/*.pc; do sed -i "s|^prefix=.*|prefix=$prefix/usr|" "$pc"; done
export PKG_CONFIG_PATH=$arch_dir/pkgconfig
export LD_LIBRARY_PATH=$arch_dir:${LD_LIBRARY_PATH:-}
export CPATH=$prefix/usr/include:$prefix/usr/include/stb
export LIBRARY_PATH=$arch_dir
export NCCL_NVLS_ENABLE=0
export POSETUNE_FIXTURES=$root/.fixtures
build=$root/build-gpu
passed=0; failed=0
declare -a rows
log() { echo "$@" | tee -a "$out/summary.txt"; }
step() {   # step NAME CMD...
  local name=$1; shift
  local t0=$(date +%s.%N)
  if timeout "${PT_STEP_TIMEOUT:-300}" "$@" >"$out/$name.log" 2>&1; then passed=$((passed+1)); st=PASS; else failed=$((failed+1)); st=FAIL; fi
  local t1=$(date +%s.%N)
  rows+=("$(printf '%-34s %-5s %8.1fs  %s' "$name" "$st" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$(tail -n 1 "$out/$name.log" | cut -c1-60)")")
  echo "== $name: $st"; tail -n 25 "$out/$name.log"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
cfg_args=(-S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPOSETUNE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90)
if ! [ -f /usr/include/hdf5/serial/hdf5.h ] && ! [ -f /usr/include/hdf5.h ]; then
  # no system HDF5: use the carried Debian one (its runtime needs libcurl.so.4 and libcrypto.so.3)
  echo "no system HDF5; using the carried packages"
  cfg_args+=(-DHDF5_C_INCLUDE_DIR=$prefix/usr/include/hdf5/serial -DHDF5_C_LIBRARY_hdf5=$arch_dir/libhdf5_serial.so
             -DHDF5_INCLUDE_DIRS=$prefix/usr/include/hdf5/serial -DHDF5_C_LIBRARIES=$arch_dir/libhdf5_serial.so)
  export CPATH=$CPATH:$prefix/usr/include/hdf5/serial
fi
step configure cmake "${cfg_args[@]}"
step build cmake --build "$build" -j16
for t in "$build"/tests/gpu/gpu_*; do
  [ -x "$t" ] && step "$(basename "$t")" "$t"
done
if [ -n "${PT_GPU_CPU_SUITE:-}" ]; then step cpu_suite ctest --test-dir "$build" -j16 --output-on-failure; fi
if [ -x "$build/posetune" ] && [ -n "${PT_GPU_BENCH:-1}" ]; then
  step bench "$build/posetune" bench --device cuda --iters "${PT_BENCH_ITERS:-10}" --warmup "${PT_BENCH_WARMUP:-3}"
fi
echo
echo "$passed passed, $failed failed"
printf '%s\n' "${rows[@]}"

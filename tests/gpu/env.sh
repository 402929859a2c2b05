# tests/gpu/env.sh — sourced by every tests/gpu/*.sh: unpacks the carried Debian packages (.deps)
# into /tmp/pt-prefix (never into /), points pkg-config / the compiler / the loader at them, keeps
# NVLink multicast off, and provides pt_gpu_build (configure + build build-gpu once, sm_90).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
prefix=/tmp/pt-prefix
mkdir -p "$prefix"
for f in "$root"/.deps/*.deb; do [ -f "$f" ] && dpkg -x "$f" "$prefix"; done
arch_dir=$prefix/usr/lib/x86_64-linux-gnu
for pc in "$arch_dir"/pkgconfig/*.pc; do [ -f "$pc" ] && sed -i "s|^prefix=.*|prefix=$prefix/usr|" "$pc"; done
export PKG_CONFIG_PATH=$arch_dir/pkgconfig
export LD_LIBRARY_PATH=$arch_dir:${LD_LIBRARY_PATH:-}
export CPATH=$prefix/usr/include:$prefix/usr/include/stb
export LIBRARY_PATH=$arch_dir
export NCCL_NVLS_ENABLE=0                      # NVLink SHARP multicast stays off (device KINDS.md)
export POSETUNE_FIXTURES=${POSETUNE_FIXTURES:-$root/.fixtures}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
build=$root/build-gpu
bin=$build/posetune
pt_gpu_cmake_args() {
  cfg_args=(-S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPOSETUNE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90)
  if ! [ -f /usr/include/hdf5/serial/hdf5.h ] && ! [ -f /usr/include/hdf5.h ]; then
    # no system HDF5: the carried Debian one (its runtime needs libcurl.so.4 and libcrypto.so.3)
    cfg_args+=(-DHDF5_C_INCLUDE_DIR=$prefix/usr/include/hdf5/serial -DHDF5_C_LIBRARY_hdf5=$arch_dir/libhdf5_serial.so
               -DHDF5_INCLUDE_DIRS=$prefix/usr/include/hdf5/serial -DHDF5_C_LIBRARIES=$arch_dir/libhdf5_serial.so)
    export CPATH=$CPATH:$prefix/usr/include/hdf5/serial
  fi
}
# pt_gpu_build [TARGET...]: configure once, build the targets (all by default)
pt_gpu_build() {
  pt_gpu_cmake_args
  [ -f "$build/CMakeCache.txt" ] || cmake "${cfg_args[@]}" || return 1
  if [ $# -eq 0 ]; then cmake --build "$build" -j"$(nproc)"; else cmake --build "$build" -j"$(nproc)" --target "$@"; fi
}

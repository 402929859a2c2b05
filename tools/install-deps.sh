#!/usr/bin/env bash
# Installs posetune's build dependencies on Debian 12 / Ubuntu (as root, or with sudo).
# CUDA is optional: when /usr/local/cuda/bin/nvcc exists the CUDA backend is built too.
set -eu
pkgs="build-essential cmake pkg-config libhdf5-dev libopenmpi-dev openmpi-bin libyaml-dev libstb-dev"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends $missing
fi

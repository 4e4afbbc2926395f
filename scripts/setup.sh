#!/usr/bin/env bash
# Idempotent install of every Debian 12 package v2x needs. Does nothing when all are present.
# Usage: scripts/setup.sh            (needs root or sudo; apt-get)
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libeigen3-dev            # geometry
  libopencv-dev            # images, camera rendering, BEV pictures
  libpcl-dev               # PCD I/O (incl. binary_compressed), filters
  libboost-dev libboost-program-options-dev   # Boost.Geometry (exact rotated IoU), command lines
  libzmq3-dev cppzmq-dev   # transport (CurveZMQ built in)
  liblz4-dev               # message compression
  libtorch-dev libopenblas0-pthread   # neural networks (LibTorch 1.13 CPU) + fast BLAS
  libyaml-cpp-dev          # configs
  nlohmann-json3-dev       # reports, DAIR-V2X JSON
  libspdlog-dev            # logging
  libgtest-dev libgmock-dev libbenchmark-dev   # tests and benchmarks
  clang libclang-rt-14-dev # libFuzzer target for the wire decoder
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"

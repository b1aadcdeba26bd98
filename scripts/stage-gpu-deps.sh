#!/usr/bin/env bash
# Run HERE (the development machine, which has apt and a network), from the project root.
# The GPU machine lent through the device tool has nvcc, cuDNN, cuBLAS and CMake but none of the
# Debian packages the build needs (GoogleTest, Google Benchmark, OpenBLAS, stb) and no network.
# This downloads those .deb files (about 14 MB) into .gpu-deps/ (git-ignored), to be carried to
# the GPU machine and unpacked there by scripts/gpu-check.sh, e.g.
#   device run  carry=[".gpu-deps"]  command="bash scripts/gpu-check.sh"
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1debian nlohmann-json3-dev
          libopenblas-dev libopenblas-pthread-dev libopenblas0 libopenblas0-pthread libgfortran5
          libstb-dev libstb0)
mkdir -p .gpu-deps
cd .gpu-deps
for p in "${packages[@]}"; do
  ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download "$p"
done
ls -l

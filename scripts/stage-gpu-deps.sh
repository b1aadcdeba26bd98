#!/usr/bin/env bash
# Run HERE (the development machine, which has apt and a network), from anywhere.
# The GPU machine lent through the device tool has nvcc, CMake, ninja, g++ and python3, cuDNN and
# cuBLAS (maybe only as PyTorch's pip wheels), but none of the Debian packages the build needs, and
# no network. This downloads those packages' .deb files into .gpu-deps/ (git-ignored), to be
# carried there and unpacked into a private prefix by scripts/gpu-build.sh:
#   device run  carry=[".gpu-deps"]  command="bash scripts/gpu-check.sh"
# The list is what CMake asks for in a CUDA build with EMBER_REPORT=OFF (no cairo, pkg-config or
# browser then), and the runtime libraries those need that a machine with only g++ lacks.
# Files of packages no longer listed are removed, so the carried folder holds exactly this list
# (and COMMIT, the commit staged from).
# docs/gpu-check.md says more.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(
  libgtest-dev libgmock-dev          # tests/: find_package(GTest) (its config names gmock too)
  libbenchmark-dev libbenchmark1debian  # bench/: find_package(benchmark); libbenchmark.so.1
  libopenblas-pthread-dev            # find_package(BLAS), cblas.h (openblas-pthread/)
  libopenblas0-pthread               # libopenblas.so.0, which links
  libgfortran5 libquadmath0          #   these two, which g++ alone does not bring
  nlohmann-json3-dev                 # <nlohmann/json.hpp>
  libstb-dev                         # <stb/stb_image.h> (datasets/stb_impl.cpp compiles stb)
  libeigen3-dev                      # find_package(Eigen3): gan/quality.cpp
)
mkdir -p .gpu-deps
cd .gpu-deps
wanted=()
for p in "${packages[@]}"; do
  # APT::Sandbox::User=root: this folder need not be writable by apt's _apt user.
  ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download -q -o APT::Sandbox::User=root "$p"
  wanted+=("$(ls "${p}"_*.deb | head -1)")
done
for f in *.deb; do
  [[ " ${wanted[*]} " == *" $f "* ]] || { echo "stage-gpu-deps: removing $f (not needed)"; rm -f "$f"; }
done
# The commit staged from, for gpu-check.sh's summary where the carried tree has no .git.
git rev-parse HEAD >COMMIT 2>/dev/null || rm -f COMMIT
ls -l -- *.deb
echo "stage-gpu-deps: ${#wanted[@]} packages, $(du -cb -- *.deb | tail -1 | cut -f1 |
     awk '{printf "%.1f MiB", $1 / 1048576}') in .gpu-deps (the device tool carries 64 MiB at most)"

#!/usr/bin/env bash
# Sets up a fresh Debian machine for ember and builds it.
#  - installs the Debian packages listed below when any is missing (idempotent: a machine that
#    has them all is not touched, and apt-get runs only when needed);
#  - configures and builds into ./build (EMBER_BUILD_DIR overrides).
# EMBER_CUDA=AUTO|ON|OFF (default AUTO) picks the CUDA backend: AUTO builds it when nvcc, cuBLAS
# and cuDNN are found (e.g. /usr/local/cuda), ON requires them, OFF builds for the CPU only.
set -euo pipefail
cd "$(dirname "$0")/.."

# python3-torch/-torchvision/-h5py/-numpy: the weight converters (models/convert/) and the PyTorch
# comparison tests (tests/interop/), run with /usr/bin/python3. libcairo2-dev and fonts-dejavu-core:
# the report's figures (report/figures.h); chromium: the report's check in a real browser.
packages=(build-essential cmake pkg-config libopenblas-dev libgtest-dev libgmock-dev
          libbenchmark-dev libstb-dev nlohmann-json3-dev libeigen3-dev libcairo2-dev
          fonts-dejavu-core chromium
          python3-torch python3-torchvision python3-h5py python3-numpy)
# shellcheck source=lib/install-packages.sh
source scripts/lib/install-packages.sh
install_missing_packages setup "${packages[@]}"

build_dir=${EMBER_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DEMBER_CUDA="${EMBER_CUDA:-AUTO}"
cmake --build "$build_dir" -j"$(nproc)"

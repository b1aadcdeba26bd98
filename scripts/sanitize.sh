#!/usr/bin/env bash
# Builds ember with AddressSanitizer + UndefinedBehaviorSanitizer (CMake EMBER_SANITIZE=ON, CPU
# only, GCC) into ./build-sanitize and runs the unit tests (ember_tests through CTest, label
# "unit"; GPU tests skip with a reason) with every sanitizer report fatal: a test passes only
# if it ran clean. docs/sanitizers-and-fuzzing.md has the measured times.
#
#   bash scripts/sanitize.sh          # every unit test
#   bash scripts/sanitize.sh --core   # the core subset (CI): all but the slowest suites
#   bash scripts/sanitize.sh -R Safetensors   # extra arguments go to ctest
#
# Installs its missing Debian packages (as scripts/setup.sh, which it does not run: the normal
# build in ./build is not touched). EMBER_SANITIZE_BUILD_DIR overrides the build folder;
# EMBER_JOBS the build's parallel jobs (default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

# The unit tests' build dependencies (scripts/setup.sh lists why each is needed); GCC's ASan and
# UBSan runtimes come with build-essential (libgcc-12-dev).
packages=(build-essential cmake pkg-config libopenblas-dev libgtest-dev libgmock-dev
          libstb-dev nlohmann-json3-dev libeigen3-dev libcairo2-dev fonts-dejavu-core)
# shellcheck source=lib/install-packages.sh
source scripts/lib/install-packages.sh
install_missing_packages sanitize "${packages[@]}"

# The core subset leaves out the five suites that take longest under the sanitizers (about a
# quarter of the test time): whole EfficientNetB2 networks (EfficientNet, GanQuality's
# features), the experiment runner's child processes, the report's check in headless Chromium
# (an uninstrumented program) and the real-data counts (skipped without the data anyway). They
# still run without --core. Times in docs/sanitizers-and-fuzzing.md.
core_exclude='^(EfficientNet|GanQuality|ExperimentRunner|ReportBrowser|DatasetsEuroSatRealData)\.'
ctest_args=()
if [ "${1:-}" = "--core" ]; then
  shift
  ctest_args+=(-E "$core_exclude")
fi

build_dir=${EMBER_SANITIZE_BUILD_DIR:-build-sanitize}
jobs=${EMBER_JOBS:-$(nproc)}
start=$(date +%s)
# -O1, as the ASan documentation recommends: it builds in less than half the time of -O3
# (the build dominates this script's time) and keeps reports close to the source. Without
# -DNDEBUG, so the assertions of nlohmann/json and Eigen check their callers too.
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1 \
      -DEMBER_SANITIZE=ON -DEMBER_CUDA=OFF -DEMBER_BUILD_BENCH=OFF \
      -DCMAKE_CXX_COMPILER="${CXX:-g++}" >/dev/null
# Only the test binary: the apps, bench and helper programs are not needed by the unit tests.
cmake --build "$build_dir" -j"$jobs" --target ember_tests
built=$(date +%s)
echo "sanitize: build took $((built - start)) s"

# Every report fails the test: ASan and UBSan stop at the first error (UBSan because of
# -fno-sanitize-recover), and LeakSanitizer reports leaks at exit. Stack use after return is
# checked too (it costs memory, not much time).
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:strict_string_checks=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
# The CPU allocator caches freed blocks above 32 MiB (tensor/cpu_block_cache.h); under ASan every
# block must really be freed, so that a use after free is reported.
export EMBER_CPU_ALLOCATOR=direct
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan_suppressions.txt:${LSAN_OPTIONS:-}"
ctest --test-dir "$build_dir" -L unit --output-on-failure -j"$jobs" "${ctest_args[@]}" "$@"
echo "sanitize: tests took $(($(date +%s) - built)) s"

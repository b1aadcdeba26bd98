#!/usr/bin/env bash
# Run THERE (the GPU machine), from the project root, with .gpu-deps carried along (see
# scripts/stage-gpu-deps.sh). Unpacks the Debian packages into a private prefix (never into /),
# builds with the CUDA backend, runs the whole test suite, compute-sanitizer memcheck on the GPU
# tests (with the caching allocator bypassed so it sees every allocation), then the GPU
# benchmarks. Logs and benchmark JSON go to $OUT (the device tool brings them back) or ./gpu-check.
#   GPU_CHECK_STEPS="build test memcheck bench"  (default: all four) picks the steps.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$PWD/gpu-check}
mkdir -p "$out"
steps=${GPU_CHECK_STEPS:-"build test memcheck bench"}
prefix=${EMBER_DEPS_PREFIX:-/opt/ember-deps}
lib=$prefix/usr/lib/x86_64-linux-gnu

if [ -d .gpu-deps ] && [ ! -d "$prefix" ]; then
  mkdir -p "$prefix"
  for f in .gpu-deps/*.deb; do dpkg -x "$f" "$prefix"; done
fi
export LD_LIBRARY_PATH=$lib:$lib/openblas-pthread:${LD_LIBRARY_PATH:-}
nvidia-smi -L | tee "$out/device.txt"

if [[ $steps == *build* ]]; then
  cmake -S . -B build-gpu -DEMBER_CUDA=ON -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$prefix/usr" \
        -DBLAS_LIBRARIES="$lib/openblas-pthread/libopenblas.so" \
        -DCBLAS_INCLUDE_DIR="$prefix/usr/include/x86_64-linux-gnu/openblas-pthread" \
        >"$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
  cmake --build build-gpu -j"$(nproc)" >"$out/build.log" 2>&1 || { grep -m20 -E "error" "$out/build.log"; exit 1; }
  echo "build: ok"
fi
if [[ $steps == *test* ]]; then
  ctest --test-dir build-gpu --output-on-failure -j8 >"$out/tests.log" 2>&1
  echo "tests: exit $?"; grep -E "tests passed|tests failed|\*\*\*Failed|Not Run" "$out/tests.log" | head -40
  ./build-gpu/tests/ember_tests --gtest_filter='*Cuda*' --gtest_brief=1 >"$out/cuda-tests.log" 2>&1
  echo "cuda tests: exit $?"; tail -5 "$out/cuda-tests.log"
fi
if [[ $steps == *memcheck* ]]; then
  EMBER_CUDA_ALLOCATOR=direct compute-sanitizer --tool memcheck --error-exitcode 1 \
      ./build-gpu/tests/ember_tests --gtest_filter='*Cuda*' --gtest_brief=1 >"$out/memcheck.log" 2>&1
  echo "memcheck: exit $?"; tail -5 "$out/memcheck.log"
fi
if [[ $steps == *bench* ]]; then
  for b in build-gpu/bench/bench_*_cuda; do
    name=$(basename "$b")
    "$b" --benchmark_counters_tabular=true --benchmark_out="$out/$name.json" \
         --benchmark_out_format=json >"$out/$name.txt" 2>&1
    echo "$name: exit $?"
  done
fi

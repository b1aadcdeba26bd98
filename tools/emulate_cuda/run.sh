#!/bin/sh
# Host-side checks of CUDA code that cannot run on a machine without a GPU (see README.md).
# Usage: tools/emulate_cuda/run.sh [CPU-only build dir] [family ...]
#   (a few minutes on two cores, plus a few minutes to build the CPU-only library the first time)
#   The build dir (default build-cpu) is a CPU-only build (EMBER_CUDA=OFF: a CUDA build's
#   library carries the real kernels); it is configured if it does not exist, and its target
#   ember is brought up to date on every run. CTest runs this (test EmulatedCudaKernels, with a
#   build dir under its binary dir: tests/CMakeLists.txt). Families: pointwise norm index misc
#   conv edges copy depthwise_variants linalg squeeze_excite (default: all).
# Every run regenerates the emulated sources from the current kernels/cuda/*.cu (and the kernel
# variants in kernels/cuda/dev/*.cu), then runs the checks twice: with the real launch geometry,
# and with grid_for capped at 3 blocks and blocks and threads scheduled in reverse order
# (EMU_GRID_CAP=3 EMU_REVERSE=1).
# EMU_WORK_DIR=dir keeps the generated sources, objects and the emulate_kernels binary in dir;
# EMU_ASAN=1 builds the emulated kernels and checks with AddressSanitizer;
# EMU_LOG_DIR=dir copies the two full logs (every case with its maximum error) there.
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/tools/emulate_cuda"
build=$root/build-cpu
case "$1" in
  ""|pointwise|norm|index|misc|conv|edges|copy|depthwise_variants|linalg|squeeze_excite|preprocess) ;;
  *) build=$1; shift ;;
esac
if grep -q 'kernels/cuda/' "$build/CMakeFiles/ember.dir/build.make" 2>/dev/null; then
  echo "run.sh: $build is a CUDA build; give a CPU-only one (-DEMBER_CUDA=OFF)" >&2
  exit 2
fi
# Configure the CPU-only build if needed, and always bring libember.a up to date (a stale CPU
# reference would be compared with current kernels). Under a lock where flock exists, so that
# two runs with the same build dir (two ctest runs of one tree) do not build it at once.
mkdir -p "$build"
if command -v flock > /dev/null 2>&1; then
  exec 9> "$build/emulate_cuda.lock"
  flock 9
fi
if [ -f "$build/CMakeCache.txt" ] || [ ! -f "$build/libember.a" ]; then
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DEMBER_CUDA=OFF -DEMBER_BUILD_TESTS=OFF \
      -DEMBER_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Release
  fi
  cmake --build "$build" -j2 --target ember
fi
if command -v flock > /dev/null 2>&1; then
  flock -u 9
fi
python=${EMU_PYTHON:-python3}  # CTest passes the interpreter CMake found
if [ -n "$EMU_WORK_DIR" ]; then  # keep the generated sources and binaries there (debugging)
  out=$EMU_WORK_DIR
  mkdir -p "$out"
else
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
cxx="g++ -std=c++20 -O1 -Wall -Wextra -Wno-unknown-pragmas -DEMBER_WITH_CUDA=1"
if [ "$EMU_ASAN" = 1 ]; then  # out-of-bounds kernel accesses to tensors (README.md)
  cxx="$cxx -g -fsanitize=address -fno-omit-frame-pointer"
fi
inc="-I$here/shim -I$root -I$here"
libs="$build/libember.a -fopenmp -lopenblas -lpthread"

# 0. The emulator's own self-test (shuffles, barriers, shared memory, error detection).
"$python" "$here/transform.py" "$here/selftest.cpp" tools/emulate_cuda/selftest.cpp > "$out/selftest.cpp"
$cxx -I"$here/shim" "$out/selftest.cpp" -o "$out/selftest"
status=0
echo "== selftest"
"$out/selftest" > "$out/selftest.log" 2>&1 || { cat "$out/selftest.log"; status=1; }
tail -1 "$out/selftest.log"

# 1. The emulated kernels: every kernels/cuda/*.cu, the numbered variants kernels/cuda/dev/*.cu
#    and tensor/cuda/copy.cu (same-device copies and fills; its names differ from the CPU-only
#    library's throwing hooks, so both link), transformed afresh, compiled in parallel pairs.
#    check_conv_forced.cpp launches kernels itself and includes depthwise_conv.emu.cpp, so it is
#    transformed too (and $out is on its include path).
objs=""
for src in "$root"/kernels/cuda/*.cu "$root"/kernels/cuda/dev/*.cu "$root/tensor/cuda/copy.cu"; do
  name=$(basename "$src" .cu)
  "$python" "$here/transform.py" "$src" "${src#"$root"/}" > "$out/$name.emu.cpp"
  objs="$objs $out/$name.emu.o"
done
"$python" "$here/transform.py" "$here/check_conv_forced.cpp" \
  tools/emulate_cuda/check_conv_forced.cpp > "$out/check_conv_forced.cpp"
# The host half of the deferred device errors (the per-device record the range checks fill),
# and kernels/cuda/linalg.cpp on the shim's CBLAS stand-in for cuBLAS, compiled unchanged.
objs="$objs $out/device_errors.o $out/linalg.o"
checks=""
for f in "$here"/check_*.cpp; do checks="$checks $out/$(basename "$f" .cpp).o"; done
for f in $objs "$out/emulate_kernels.o" $checks; do
  base=$(basename "$f" .o)
  if [ "$base" = device_errors ]; then src="$root/tensor/cuda/device_errors.cpp"
  elif [ "$base" = linalg ]; then src="$root/kernels/cuda/linalg.cpp"
  elif [ -f "$out/$base.cpp" ]; then src="$out/$base.cpp"; else src="$here/$base.cpp"; fi
  echo "$src $f"
done | xargs -P 2 -n 2 sh -c "$cxx $inc -I$out -c \"\$0\" -o \"\$1\""
$cxx $objs "$out"/emulate_kernels.o $checks -o "$out/emulate_kernels" $libs

echo "== emulate_kernels $* (launch geometry as written)"
"$out/emulate_kernels" "$@" > "$out/plain.log" 2>&1 || status=1
grep -v '^ok ' "$out/plain.log" || true
echo "== emulate_kernels $* (EMU_GRID_CAP=3 EMU_REVERSE=1)"
EMU_GRID_CAP=3 EMU_REVERSE=1 "$out/emulate_kernels" "$@" > "$out/capped.log" 2>&1 || status=1
grep -v '^ok ' "$out/capped.log" || true
if [ -n "$EMU_LOG_DIR" ]; then cp "$out/plain.log" "$out/capped.log" "$EMU_LOG_DIR"/; fi

[ $status -eq 0 ] && echo "run.sh: all checks passed" || echo "run.sh: FAILURES (see above)"
exit $status

#!/usr/bin/env bash
# Run THERE (the lent GPU machine), from anywhere; scripts/gpu-check.sh calls it. Builds ember with
# the CUDA backend on a machine that has nvcc, CMake, ninja, g++ and python3 but none of the
# Debian -dev packages, and maybe cuDNN and cuBLAS only as PyTorch's pip wheels:
#   bash scripts/gpu-build.sh <build-dir> [<target>...]      (no target: everything)
#  1. unpacks the .deb files carried in .gpu-deps/ (scripts/stage-gpu-deps.sh) with dpkg-deb -x
#     (or python3 where dpkg-deb is missing) into build-gpu-deps/root in this repository, never
#     into /; again only when .gpu-deps changed;
#  2. configures <build-dir> with Ninja, -DEMBER_CUDA=ON -DEMBER_REPORT=OFF (no cairo there),
#     that prefix (CMAKE_PREFIX_PATH; OpenBLAS named directly), and the folders of python3's nvidia
#     wheels for cuDNN/cuBLAS when the toolkit lacks them (cmake/EmberCuda.cmake);
#  3. builds the targets with every core.
# The programs find the prefix's libraries (OpenBLAS, gfortran, benchmark) and the wheels' through
# their RPATH (DT_RPATH, which also serves the libraries' own dependencies), so they run without
# LD_LIBRARY_PATH; <build-dir>/ember-env.sh exports it anyway, for programs that are not ours.
# Logs: <build-dir>/logs/{unpack,configure,build}.log. Exits non-zero on failure, printing the
# error's first lines. Without .gpu-deps, the system's packages are used (a Debian machine with
# scripts/setup.sh's packages).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
[ $# -ge 1 ] || { echo "usage: bash scripts/gpu-build.sh <build-dir> [<target>...]" >&2; exit 2; }
build=$1
shift
[[ $build == /* ]] || build=$repo/$build
logs=$build/logs
mkdir -p "$logs"
fail() { echo "gpu-build: $1" >&2; [ -n "${2:-}" ] && grep -m25 -E "${3:-.}" "$2" >&2; echo "gpu-build: logs in $logs" >&2; exit 1; }
t0=$(date +%s)

# 1. The Debian packages, into a private prefix.
deps=$repo/build-gpu-deps/root
cmake_args=()
if compgen -G ".gpu-deps/*.deb" >/dev/null; then
  stamp=$(cd .gpu-deps && ls -l -- *.deb | awk '{print $5, $NF}')
  if [ ! -f "$deps/.stamp" ] || [ "$(cat "$deps/.stamp")" != "$stamp" ]; then
    rm -rf "$deps"
    mkdir -p "$deps"
    for f in .gpu-deps/*.deb; do
      if command -v dpkg-deb >/dev/null; then
        dpkg-deb -x "$f" "$deps" >>"$logs/unpack.log" 2>&1
      else
        # A .deb is an ar archive holding data.tar.*; extract that as dpkg-deb -x would.
        python3 - "$f" "$deps" >>"$logs/unpack.log" 2>&1 <<'EOF'
import io, sys, tarfile
blob = open(sys.argv[1], "rb").read()
assert blob[:8] == b"!<arch>\n", "not a .deb (ar) file"
pos = 8
while pos + 60 <= len(blob):
    name, size = blob[pos:pos + 16].decode().strip().rstrip("/"), int(blob[pos + 48:pos + 58])
    if name.startswith("data.tar"):
        with tarfile.open(fileobj=io.BytesIO(blob[pos + 60:pos + 60 + size])) as t:
            if hasattr(tarfile, "fully_trusted_filter"):
                t.extractall(sys.argv[2], filter="fully_trusted")
            else:
                t.extractall(sys.argv[2])
    pos += 60 + size + (size & 1)
EOF
      fi
      [ $? -eq 0 ] || fail "could not unpack $f" "$logs/unpack.log"
    done
    echo "$stamp" >"$deps/.stamp"
  fi
  # The staged libraries are Debian 12's: libopenblas.so.0 needs glibc 2.34, libbenchmark.so.1
  # GCC 12's libstdc++ (GLIBCXX_3.4.30). An older system fails at link time; say why up front.
  glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
  libstdcxx=$(g++ -print-file-name=libstdc++.so.6 2>/dev/null)
  if [ -n "$glibc" ] && [ "$(printf '%s\n2.34\n' "$glibc" | sort -V | head -1)" != 2.34 ]; then
    echo "gpu-build: warning: glibc $glibc is older than the 2.34 the staged libraries need" >&2
  fi
  if [ -f "$libstdcxx" ] && ! grep -q GLIBCXX_3.4.30 "$libstdcxx"; then
    echo "gpu-build: warning: $libstdcxx predates GCC 12; the staged libbenchmark needs it" >&2
  fi
  arch=$(gcc -print-multiarch 2>/dev/null)
  lib=$deps/usr/lib/${arch:-x86_64-linux-gnu}
  blas=$lib/openblas-pthread
  [ -e "$blas/libopenblas.so" ] || fail "no OpenBLAS in $blas (is libopenblas-pthread-dev staged?)"
  cmake_args+=(-DCMAKE_PREFIX_PATH="$deps/usr"
               -DBLAS_LIBRARIES="$blas/libopenblas.so"
               -DCBLAS_INCLUDE_DIR="$deps/usr/include/${arch:-x86_64-linux-gnu}/openblas-pthread"
               -DCMAKE_BUILD_RPATH="$lib;$blas"
               # DT_RPATH, not DT_RUNPATH: it also finds libopenblas.so.0's libgfortran.so.5.
               -DCMAKE_EXE_LINKER_FLAGS="-Wl,--disable-new-dtags -Wl,-rpath-link,$lib:$blas")
  export LD_LIBRARY_PATH=$lib:$blas${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  echo "gpu-build: $(ls .gpu-deps/*.deb | wc -l) packages unpacked in ${deps#"$repo"/}"
else
  echo "gpu-build: no .gpu-deps/*.deb; using the system's packages"
fi

# 2. cuDNN/cuBLAS from python3's wheels where the toolkit lacks them (cmake/EmberCuda.cmake asks
# python3 itself; named here so the log says which python and folder).
wheels=$(python3 -c "import os, nvidia; print(';'.join(sorted({os.path.dirname(p) for p in nvidia.__path__})))" 2>/dev/null)
if [ -n "$wheels" ]; then
  echo "gpu-build: python3's nvidia wheels in $wheels"
  cmake_args+=(-DEMBER_PYTHON_NVIDIA_ROOT="$wheels")
  for d in ${wheels//;/ }; do
    for sub in cudnn/lib cu13/lib cublas/lib; do
      [ -d "$d/nvidia/$sub" ] && LD_LIBRARY_PATH=$LD_LIBRARY_PATH${LD_LIBRARY_PATH:+:}$d/nvidia/$sub
    done
  done
  export LD_LIBRARY_PATH
fi
[ -x /usr/local/cuda/bin/nvcc ] && ! command -v nvcc >/dev/null && export PATH=/usr/local/cuda/bin:$PATH
generator=Ninja
command -v ninja >/dev/null || generator="Unix Makefiles"
# A folder configured before with another generator (scripts/gpu-check.sh once used make) is
# configured afresh; its objects are rebuilt anyway.
if [ -f "$build/CMakeCache.txt" ] && ! grep -q "^CMAKE_GENERATOR:INTERNAL=$generator\$" "$build/CMakeCache.txt"; then
  rm -rf "$build/CMakeCache.txt" "$build/CMakeFiles"
fi
echo "export LD_LIBRARY_PATH=\"${LD_LIBRARY_PATH:-}\"" >"$build/ember-env.sh"

t1=$(date +%s)
cmake -S "$repo" -B "$build" -G "$generator" -DCMAKE_BUILD_TYPE=Release -DEMBER_CUDA=ON \
      -DEMBER_REPORT=OFF "${cmake_args[@]}" >"$logs/configure.log" 2>&1 \
  || fail "configure failed:" "$logs/configure.log" "CMake Error|error|Could not|not found|ember:"
grep -E "^-- ember:" "$logs/configure.log"

# 3. Build.
t2=$(date +%s)
target_args=()
for t in "$@"; do target_args+=(--target "$t"); done
cmake --build "$build" -j"$(nproc)" "${target_args[@]}" >"$logs/build.log" 2>&1 \
  || fail "build failed:" "$logs/build.log" "error|Error|FAILED|undefined reference"
t3=$(date +%s)
echo "gpu-build: ok: ${*:-all targets} in ${build#"$repo"/} (unpack $((t1 - t0)) s, configure" \
     "$((t2 - t1)) s, build $((t3 - t2)) s); logs in ${logs#"$repo"/}"

#!/bin/sh
# Host-side checks of CUDA code that cannot run on a machine without a GPU (see README.md).
# Usage: tools/emulate_cuda/run.sh [build dir, default build]  (needs a built libember.a)
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
out=$(mktemp -d)
python3 - "$root" "$out" <<'PY'
import sys
root, out = sys.argv[1], sys.argv[2]
def extract(src, start, end, dst):
    s = open(f"{root}/{src}").read()
    open(f"{out}/{dst}", "w").write(s[s.index(start):s.index(end)])
extract("kernels/cuda/depthwise_conv.cu", "template <typename Index>\nstruct DwShape",
        "// The filter as wt [R*S, C] in a temporary", "dw_kernels_extracted.inc")
extract("kernels/cuda/conv_util.cu", "// dst: [N, Hp, Wp, C]; src: [N, H, W, C].",
        "}  // namespace\n", "util_kernels_extracted.inc")
PY
libs="$build/libember.a -fopenmp -lopenblas"
if [ -f "$build/CMakeFiles/ember.dir/kernels/cuda/conv.cpp.o" ]; then  # a CUDA build
  libs="$libs -L/usr/local/cuda/lib -lcudart -lcublas -lcublasLt -lcudnn -Wl,-rpath,/usr/local/cuda/lib"
  defs="-DEMBER_WITH_CUDA=1 -isystem /usr/local/cuda/include"
fi
for t in emulate_dw emulate_util; do
  g++ -std=c++20 -O1 $defs -I"$root" -I"$out" "$root/tools/emulate_cuda/$t.cpp" -o "$out/$t" $libs -lpthread
  "$out/$t"
done
g++ -O1 "$root/tools/emulate_cuda/colmajor.cpp" -o "$out/colmajor" -lopenblas && "$out/colmajor"

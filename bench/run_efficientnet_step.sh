#!/bin/sh
# Runs ember's and PyTorch's EfficientNetB2 CPU training step (batch 32, 64x64, forward +
# cross_entropy + backward + Adam, 2 threads) back to back, then prints both img/s figures and
# the ratio ember / PyTorch (> 1: ember is faster).
# Usage: bench/run_efficientnet_step.sh [build dir, default ./build]
# Both programs inherit the environment, so OpenMP settings apply to both alike: on a machine
# shared with other work, OMP_WAIT_POLICY=passive keeps idle OpenMP threads (ember's and
# PyTorch's libgomp) from spinning on cores other processes need (docs/cpu_performance.md).
# Needs the bench built (-DEMBER_BUILD_BENCH=ON) and Debian's python3-torch for /usr/bin/python3.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
bin=$build/bench/bench_efficientnet_step
[ -x "$bin" ] || { echo "error: $bin not found (configure with -DEMBER_BUILD_BENCH=ON and build)" >&2; exit 1; }
echo "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-(unset: libgomp spins)}, load: $(cut -d' ' -f1-3 /proc/loadavg)"
json=$(mktemp)
trap 'rm -f "$json"' EXIT
# Both sides on 2 threads: OpenMP (ember's loops) and OpenBLAS (its GEMMs).
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2} \
  "$bin" --benchmark_counters_tabular=true --benchmark_out="$json" --benchmark_out_format=json \
  --benchmark_filter='cpu_'
torch_out=$(/usr/bin/python3 "$here/torch_efficientnet_step.py" --batch 32 --threads 2)
echo "$torch_out"
ember=$(/usr/bin/python3 -c '
import json, sys
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b["name"].startswith("BM_cpu_step/32"):
        print("%.2f" % b["img/s"])
        break' "$json")
torch=$(echo "$torch_out" | awk '/^torch_step_img_per_s/ {print $2}')
echo
echo "EfficientNetB2 CPU training step, batch 32, 64x64, 2 threads (load now: $(cut -d' ' -f1-3 /proc/loadavg)):"
echo "  ember   $ember img/s"
echo "  PyTorch $torch img/s"
awk -v e="$ember" -v t="$torch" 'BEGIN { printf "  ember / PyTorch = %.2f (> 1: ember faster)\n", e / t }'

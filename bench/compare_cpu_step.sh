#!/bin/sh
# Two builds of ember and PyTorch on the EfficientNetB2 CPU training step (batch 32, 64x64,
# forward + cross_entropy + backward + Adam, 2 threads), interleaved in rounds in one run so the
# three share the machine's conditions: "did this change make the step slower?" on a shared
# machine whose load moves the figures by 15-30% between runs (docs/performance.md).
# Each ember entry is the best of 3 repetitions of >= 3 s; PyTorch's is the median of its timed
# steps (bench/torch_efficientnet_step.py). Last lines: the best of each column.
# Usage: bench/compare_cpu_step.sh BEFORE_BUILD_DIR AFTER_BUILD_DIR [ROUNDS, default 3]
# Each build dir needs bench/bench_efficientnet_step (-DEMBER_BUILD_BENCH=ON); PyTorch is
# Debian's python3-torch (/usr/bin/python3).
set -eu
[ $# -ge 2 ] || { echo "usage: $0 BEFORE_BUILD_DIR AFTER_BUILD_DIR [ROUNDS]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
rounds=${3:-3}
for dir in "$1" "$2"; do
  [ -x "$dir/bench/bench_efficientnet_step" ] ||
    { echo "error: $dir/bench/bench_efficientnet_step not found (build with -DEMBER_BUILD_BENCH=ON)" >&2; exit 1; }
done
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
best_of_ember() {  # best img/s of 3 repetitions of cpu_step/32
  "$1/bench/bench_efficientnet_step" --benchmark_filter='cpu_step' --benchmark_repetitions=3 \
    2>/dev/null | grep -E "real_time +[0-9]" | grep -o "[0-9.]*/s" | tr -d '/s' | sort -n | tail -1
}
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg); $OMP_NUM_THREADS threads, OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
echo "round  before  after  pytorch   (img/s)"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
round=1
while [ "$round" -le "$rounds" ]; do
  b=$(best_of_ember "$1")
  a=$(best_of_ember "$2")
  t=$(/usr/bin/python3 "$here/torch_efficientnet_step.py" --batch 32 --threads "$OMP_NUM_THREADS" |
      awk '/^torch_step_img_per_s/ {print $2}')
  echo "$round $b $a $t" | tee -a "$results" | awk '{printf "%5d  %6.1f  %5.1f  %7.1f\n", $1, $2, $3, $4}'
  round=$((round + 1))
done
awk '{ if ($2 > b) b = $2; if ($3 > a) a = $3; if ($4 > t) t = $4 }
     END { printf "best   %6.1f  %5.1f  %7.1f\n", b, a, t
           printf "after / before = %.3f, after / PyTorch = %.2f (best rounds)\n", a / b, a / t }' "$results"
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/bin/sh
# Runs ember's and PyTorch's conditional-GAN CPU training steps (bench/bench_gan_step.cpp,
# bench/torch_gan_step.py: the default 64x64 networks, WGAN-GP critic step with the penalty's
# double backward, generator step, Adam) for each batch, interleaved in one run, and prints
# img/s per step, the seconds of one train_gan iteration (5 critic steps + 1 generator step) and
# both ratios of those seconds.
# Usage: bench/run_gan_step.sh [build dir, default ./build] [batches, default "16 64"]
# BEFORE=/path/to/another/bench_gan_step adds a column for that binary (an older build), run in
# the same rounds, so a change is compared under the same load.
# ember's figure is Google Benchmark's mean over >= 3 s of steps after 2 untimed ones; PyTorch's
# the median of 5 steps after 2 warm-ups. Timings use 2 threads and, unless the environment
# says otherwise, OMP_WAIT_POLICY=passive (docs/cpu_performance.md: spinning libgomp threads
# collapse both frameworks on a shared machine). Needs -DEMBER_BUILD_BENCH=ON and Debian's
# python3-torch for /usr/bin/python3.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
batches=${2:-16 64}
bin=$build/bench/bench_gan_step
[ -x "$bin" ] || { echo "error: $bin not found (configure with -DEMBER_BUILD_BENCH=ON and build)" >&2; exit 1; }
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
echo "OMP_WAIT_POLICY=$OMP_WAIT_POLICY, $OMP_NUM_THREADS threads, load: $(cut -d' ' -f1-3 /proc/loadavg)"
ember_img_s() {  # binary, which, batch -> img/s
  json=$(mktemp)
  "$1" --benchmark_filter="^cpu_$2_step/$3/" --benchmark_out="$json" \
    --benchmark_out_format=json >/dev/null 2>&1 || true
  /usr/bin/python3 -c '
import json, sys
b = json.load(open(sys.argv[1]))["benchmarks"]
print("%.3f" % b[0]["img/s"] if b and "img/s" in b[0] else "nan")' "$json"
  rm -f "$json"
}
torch_img_s() {  # which, batch -> img/s
  /usr/bin/python3 "$here/torch_gan_step.py" --device cpu --batch "$2" --threads "$OMP_NUM_THREADS" \
    --which "$1" --steps 5 --warmup 2 | awk '/^torch_gan_/ {print $2}'
}
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for batch in $batches; do
  for which in critic generator; do
    before=nan
    [ -n "${BEFORE:-}" ] && before=$(ember_img_s "$BEFORE" "$which" "$batch")
    ember=$(ember_img_s "$bin" "$which" "$batch")
    torch=$(torch_img_s "$which" "$batch")
    echo "$batch $which $before $ember $torch" >>"$results"
  done
done
echo
echo "GAN CPU steps, img/s (load now: $(cut -d' ' -f1-3 /proc/loadavg)):"
awk -v has_before="${BEFORE:+1}" '
  { b[$1, $2] = $3; e[$1, $2] = $4; t[$1, $2] = $5; if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 } }
  END {
    printf "batch  step        %s   ember  PyTorch\n", has_before ? "before" : ""
    for (i = 0; i < n; ++i) {
      N = order[i]
      split("critic generator", ws, " ")
      for (j = 1; j <= 2; ++j) {
        w = ws[j]
        if (has_before) printf "%5d  %-10s %7.2f %7.2f %8.2f\n", N, w, b[N, w], e[N, w], t[N, w]
        else printf "%5d  %-10s %7.2f %8.2f\n", N, w, e[N, w], t[N, w]
      }
    }
    print ""
    print "one train_gan iteration (5 critic steps + 1 generator step), seconds:"
    for (i = 0; i < n; ++i) {
      N = order[i]
      se = 5 * N / e[N, "critic"] + N / e[N, "generator"]
      st = 5 * N / t[N, "critic"] + N / t[N, "generator"]
      line = sprintf("  batch %d: ember %.2f s, PyTorch %.2f s, time ember / PyTorch = %.2f (speed ember / PyTorch = %.2f)", N, se, st, se / st, st / se)
      if (has_before) {
        sb = 5 * N / b[N, "critic"] + N / b[N, "generator"]
        line = line sprintf(" (before: %.2f s, %.2f)", sb, sb / st)
      }
      print line
    }
  }' "$results"

#!/usr/bin/env bash
# The GPU check: one command for a bare GPU machine (docs/gpu-check.md). Run THERE, from the
# project root, with .gpu-deps (scripts/stage-gpu-deps.sh) and .gpu-data
# (scripts/stage-gpu-data.sh) carried along:
#   device run  carry=[".gpu-deps", ".gpu-data"]  command="bash scripts/gpu-check.sh"
# Every step runs under its own timeout and inside one overall budget (GPU_CHECK_BUDGET_S,
# default 530 s, so the whole command ends within 9 minutes); a step that would start with too
# little time left is recorded as skipped. Without a GPU the GPU steps are skipped with the
# reason, so the same command rehearses here (scripts/rehearse-gpu-check.sh). Everything goes to
# $OUT (or ./gpu-check): logs/<step>.log, the raw results of each step, and summary.json (every
# step's status, seconds and figures, the card, the commit). Exit status: 0 when no step
# failed (skipped steps do not fail the check), 1 otherwise.
#   GPU_CHECK_STEPS="build gpu_tests ..." runs only the steps named (the build is still needed).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$PWD/gpu-check}
mkdir -p "$out/logs" "$out/steps"
budget=${GPU_CHECK_BUDGET_S:-530}
started=$(date +%s)
deadline=$((started + budget))
build=build-gpu
only=${GPU_CHECK_STEPS:-}
echo "gpu-check: budget $budget s, results in $out"

# record STEP STATUS SECONDS DETAIL: one JSON file per step, merged by gpu_check_summary.py.
order=0
record() {
  order=$((order + 1))
  python3 - "$out/steps/$1.json" "$1" "$2" "$3" "$4" "$order" <<'PY'
import json, sys
path, name, status, seconds, detail, order = sys.argv[1:]
json.dump({"step": name, "status": status, "seconds": int(seconds), "detail": detail,
           "order": int(order)}, open(path, "w"))
PY
  printf 'gpu-check: %-20s %-8s %4s s  %s\n' "$1" "$2" "$3" "$4"
}

wanted() { [ -z "$only" ] || [[ " $only " == *" $1 "* ]] || [ "$1" = build ] || [ "$1" = environment ]; }

gpu_reason=""
gpu_visible() {
  if ! command -v nvidia-smi >/dev/null 2>&1; then gpu_reason="no nvidia-smi on this machine"; return 1; fi
  if ! nvidia-smi -L >/dev/null 2>&1; then gpu_reason="nvidia-smi sees no GPU"; return 1; fi
  return 0
}

# step NAME LIMIT_S NEEDS_GPU COMMAND...: runs COMMAND (output to logs/NAME.log) under
# timeout min(LIMIT_S, time left); records passed, failed (with the exit status), timeout or
# skipped (with the reason).
failures=0
step() {
  local name=$1 limit=$2 needs_gpu=$3
  shift 3
  wanted "$name" || return 0
  local now left
  now=$(date +%s)
  left=$((deadline - now))
  if [ "$needs_gpu" = gpu ] && [ -n "$gpu_reason" ]; then
    record "$name" skipped 0 "$gpu_reason"; return 0
  fi
  if [ -n "${build_failed:-}" ] && [ "$name" != build ]; then
    record "$name" skipped 0 "the build failed"; return 0
  fi
  if ((left < 15)); then
    record "$name" skipped 0 "out of time: $left s of the $budget s budget left"; return 0
  fi
  ((limit > left)) && limit=$left
  timeout --kill-after=10 "$limit" "$@" >"$out/logs/$name.log" 2>&1
  local rc=$? took=$(($(date +%s) - now))
  if ((rc == 0)); then
    record "$name" passed "$took" ""
  elif ((rc == 124 || rc == 137)); then
    record "$name" timeout "$took" "stopped after $limit s (logs/$name.log)"
    failures=$((failures + 1))
  else
    record "$name" failed "$took" "exit $rc: $(grep -m1 -iE 'error|fail' "$out/logs/$name.log" | cut -c1-300)"
    failures=$((failures + 1))
  fi
  [ "$name" = build ] && ((rc != 0)) && build_failed=1
  return 0
}

# ---- environment: the card, the toolchain, the commit ----
gpu_visible || true
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || cat .gpu-deps/COMMIT 2>/dev/null || echo unknown)"
  echo "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "none ($gpu_reason)")"
  echo "nvcc: $(nvcc --version 2>/dev/null | grep -m1 release || echo 'not found')"
  echo "cmake: $(cmake --version 2>/dev/null | head -1)"
  echo "ninja: $(ninja --version 2>/dev/null || echo 'not found')"
  echo "python: $(python3 -c 'import sys; print(sys.version.split()[0])' 2>/dev/null)"
  echo "torch: $(python3 -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)' 2>/dev/null || echo 'not importable')"
  echo "cpus: $(nproc)"
} >"$out/environment.txt"
cat "$out/environment.txt"
record environment passed 0 ""

# ---- build: only the programs the steps below run (ninja, all cores) ----
targets=(ember_tests gpu_equivalence bench_efficientnet_step bench_gan_step train_classifier)
step build 240 any bash scripts/gpu-build.sh "$build" "${targets[@]}"
tests=$build/tests/ember_tests

# ---- correctness ----
# Every GPU test, directly (the CPU suite is CI's job).
step gpu_tests 90 gpu "$tests" --gtest_filter='Cuda*' --gtest_output="json:$out/gpu_tests.json"
# The training steps end to end: CPU against GPU (apps/gpu_equivalence.cpp).
step equivalence 90 gpu "$build/apps/gpu_equivalence" --batch 16 --json "$out/equivalence.json"

# ---- speed, ember and PyTorch side by side on this card ----
bench() {  # bench NAME BINARY FILTER [ENV...]: one Google Benchmark run, JSON kept
  local name=$1 binary=$2 filter=$3
  shift 3
  step "$name" 60 gpu env "$@" "$binary" --benchmark_filter="$filter" \
    --benchmark_out="$out/$name.json" --benchmark_out_format=json --benchmark_counters_tabular=true
}
# 'cuda_step' takes both the eager step (cuda_step) and the one replayed from a CUDA graph
# (cuda_step_graphed), the way the trainer runs it by default.
bench speed_ember_b2_fp32 "$build/bench/bench_efficientnet_step" 'cuda_step' EMBER_ALLOW_TF32=0
bench speed_ember_b2_tf32 "$build/bench/bench_efficientnet_step" 'cuda_step' EMBER_ALLOW_TF32=1
step speed_ember_b2_bf16 60 gpu "$build/bench/bench_efficientnet_step" --precision bf16 \
  --benchmark_filter='cuda_step' --benchmark_out="$out/speed_ember_b2_bf16.json" \
  --benchmark_out_format=json --benchmark_counters_tabular=true
step speed_torch_b2 150 gpu python3 bench/torch_efficientnet_step.py --device cuda \
  --configs fp32,tf32,bf16,compile --batches 64,256 --deadline 140 --json "$out/speed_torch_b2.json"
bench speed_ember_gan "$build/bench/bench_gan_step" 'cuda_' EMBER_ALLOW_TF32=0
for which in critic generator; do
  step "speed_torch_gan_$which" 45 gpu python3 bench/torch_gan_step.py --device cuda --batch 64 \
    --precision fp32 --which "$which" --json "$out/speed_torch_gan_$which.json"
done

# ---- a short real-data run: train_classifier on the carried part of EuroSAT ----
if [ -d .gpu-data/EuroSAT_RGB ]; then
  step train_real_data 90 gpu "$build/apps/train_classifier" --data .gpu-data --device cuda \
    --epochs 3 --batch 64 --out "$out/train_real_data"
else
  record train_real_data skipped 0 "no .gpu-data (run scripts/stage-gpu-data.sh and carry it)"
fi

# ---- the sanitizers and the allocator's one-stream rule (last: they take what time is left) ----
# compute-sanitizer memcheck with every tensor its own cudaMalloc (the caching allocator would
# hide out-of-bounds accesses inside its blocks), so the allocator's own tests are left out, and
# the two whole-network comparisons (minutes under the sanitizer; equivalence covers them).
step memcheck 120 gpu env EMBER_CUDA_ALLOCATOR=direct compute-sanitizer --tool memcheck \
  --error-exitcode 1 "$tests" --gtest_brief=1 \
  --gtest_filter='Cuda*-CudaMemory.*:CudaEfficientNet.B2MatchesCpuAt64x64:CudaEndToEnd.*'
# Shared-memory races and barrier misuse in the kernels that use them.
race_filter='CudaReduce.*:CudaNorm.*:CudaConv.EfficientNetDepthwiseShapes'
step racecheck 60 gpu compute-sanitizer --tool racecheck --error-exitcode 1 "$tests" \
  --gtest_brief=1 --gtest_filter="$race_filter"
step synccheck 45 gpu compute-sanitizer --tool synccheck --error-exitcode 1 "$tests" \
  --gtest_brief=1 --gtest_filter="$race_filter"
# The one-stream rule of the caching allocator: the GPU tests again with every freed block held
# back until the work queued before its free has finished (docs/memory.md, deferred mode).
step deferred_reuse 60 gpu env EMBER_CUDA_ALLOCATOR=deferred "$tests" --gtest_brief=1 \
  --gtest_filter='Cuda*-CudaEfficientNet.B2MatchesCpuAt64x64'

# ---- summary.json ----
python3 scripts/gpu_check_summary.py "$out" "$budget" "$(($(date +%s) - started))" ||
  { echo "gpu-check: could not write summary.json"; failures=$((failures + 1)); }
echo "gpu-check: done in $(($(date +%s) - started)) s, $failures step(s) failed; see $out/summary.json"
((failures == 0))

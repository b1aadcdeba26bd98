#!/usr/bin/env bash
# gpu_equivalence end to end (apps/gpu_equivalence.cpp) where no GPU is needed: the CPU against
# itself must agree in every bit (so the comparisons themselves are exercised), the JSON must
# say so, and bad flags exit 2. Usage: gpu_equivalence_smoke.sh <gpu_equivalence binary>
set -uo pipefail
app=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/smoke_lib.sh"

"$app" --device cpu --batch 2 --json "$work/eq.json" >"$work/log" 2>&1 ||
  fail "the CPU against itself exited $?: $(cat "$work/log")"
grep -q "every comparison passed" "$work/log" || fail "no pass line: $(cat "$work/log")"
/usr/bin/python3 - "$work/eq.json" <<'PY' || fail "the JSON report is wrong: $(cat "$work/eq.json")"
import json, sys
report = json.load(open(sys.argv[1]))
assert report["passed"] is True and report["device"] == "cpu", report
names = [s["name"] for s in report["steps"]]
assert names == ["efficientnet_b2", "wgan_gp_critic"], names
for step in report["steps"]:
    assert step["passed"], step
    assert step["loss_cpu"] == step["loss_device"], step
    for part in ("loss", "gradients", "parameters"):
        assert step[part]["worst"] == 0 and step[part]["tensors"] > 0, (step["name"], part, step[part])
assert report["steps"][0]["parameters"]["tensors"] > 300  # every B2 weight was compared
PY

expect_flag_error "--batch" --device cpu --batch 1
expect_flag_error "--speed" --device cpu --speed
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  expect_flag_error "cuda" --device cuda:0
fi
echo "gpu_equivalence smoke: ok"

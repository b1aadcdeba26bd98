#!/usr/bin/env bash
# End-to-end check of apps/experiment with the real apps on a tiny slice of the real data
# (1% of each split, 2 seeds, 1 epoch, a small GAN for one epoch, augmented2/4):
#   - bad flags and configurations exit 2 naming the problem (settings an app would refuse
#     when its unit starts, and device cuda without a GPU, before anything is written); a bad
#     data path exits 1 naming it
#   - kill -9 in the middle: no unit process survives the runner, the finished units stay
#     finished, and a rerun (--resume) completes without redoing them
#   - the report: results.csv (a row per run), summary.json (groups, pooled variance, Welch
#     tests, the browser check), figures as SVG and PNG, report.html, summary.md, screenshot
#   - a rerun of a finished experiment runs nothing
# Exit 77 (skip) without the data. Usage: experiment_smoke.sh <experiment>
set -uo pipefail
exe=$1 app=$1
work=$(mktemp -d)
trap 'pkill -9 -f "$work/" 2>/dev/null; rm -rf "$work"' EXIT
source "$(dirname "$0")/smoke_lib.sh"
py=/usr/bin/python3; [ -x "$py" ] || py=python3

tiny=(--set fraction=0.01 --set 'seeds=[0,1]' --set classifier.epochs=1 --set classifier.batch=16
      --set gan.epochs=1 --set gan.fraction=0.02 --set gan.batch=16 --set generation.batch=16
      --set generation.max_batches=1 --set 'augmented.sizes=[2,4]' --set quality.count=8
      --progress-seconds 5)

# Bad input.
expect_flag_error "--preset must be one of quick, full" --preset medium
expect_flag_error "unknown key 'classifier.epoch'" --set classifier.epoch=3
expect_flag_error "unknown stage 'train'" --stages train
expect_flag_error "'fraction' must be in (0, 1]" --set fraction=2
expect_flag_error "--stages: expected a comma-separated list, got ''" --stages ""
expect_flag_error "'classifier.epochs' has the wrong type (2.7)" --set classifier.epochs=2.7
# What an app would refuse when its unit starts is refused before anything is written.
expect_flag_error "config 'generation.classes' (generate in unit generate-full): --classes: unknown class 'Rivers'" \
  --out "$work/early" --set 'generation.classes=["Rivers"]'
[ ! -e "$work/early" ] || fail "a refused configuration left $work/early behind"
expect_flag_error "config 'classifier.optimizer'" --dry-run --set classifier.optimizer=adamx
if ! nvidia-smi -L >/dev/null 2>&1; then
  expect_flag_error "device cuda: no GPU is visible" --device cuda --out "$work/cuda"
  [ ! -e "$work/cuda" ] || fail "--device cuda without a GPU created $work/cuda"
fi
"$exe" --help | grep -q -- "--resume DIR" || fail "--help does not list the flags"
"$exe" --dry-run --out "$work/dry" "${tiny[@]}" >"$work/dry.out" 2>&1 || fail "--dry-run: $(cat "$work/dry.out")"
grep -q "classifier-augmented4-seed1 .*to run" "$work/dry.out" || fail "--dry-run does not list the units"
[ ! -e "$work/dry" ] || fail "--dry-run wrote $work/dry"
"$exe" --preset full --print-config | grep -q '"device": "cuda"' || fail "--print-config"
"$exe" --data "$work/nowhere" --out "$work/bad" "${tiny[@]}" >"$work/bad.out" 2>&1
[ $? -eq 1 ] && grep -q "$work/nowhere" "$work/bad.out" || fail "a bad --data: $(cat "$work/bad.out")"

# The data, or skip: exit 77 is the experiment's status for "no EuroSAT data found and no
# place named" (apps/data_root.h), and only that status skips.
"$exe" --out "$work/probe" "${tiny[@]}" --stages prepare >"$work/probe.out" 2>&1
probe=$?
if [ $probe -eq 77 ]; then
  echo "SKIP: no EuroSAT data found: $(tail -1 "$work/probe.out")"
  exit 77
fi
[ $probe -eq 0 ] || fail "the prepare stage failed (exit $probe): $(cat "$work/probe.out")"

# kill -9 in the middle of the run.
out=$work/exp
"$exe" --out "$out" "${tiny[@]}" >"$work/run1.out" 2>&1 &
runner=$!
done_units() { $py -c "import json,sys; u=json.load(open(sys.argv[1]))['units']; print(' '.join(sorted(k for k,v in u.items() if v['status']=='done')))" "$out/ledger.json" 2>/dev/null; }
for _ in $(seq 1 600); do
  n=$(done_units | wc -w)
  [ "${n:-0}" -ge 4 ] && break
  kill -0 $runner 2>/dev/null || fail "the runner ended before it could be killed: $(cat "$work/run1.out")"
  sleep 0.5
done
kill -9 $runner
wait $runner 2>/dev/null
sleep 1
pgrep -f "$out/units" >/dev/null && fail "a unit process outlived the killed runner: $(pgrep -af "$out/units")"
before=$(done_units)
[ "$(echo "$before" | wc -w)" -ge 4 ] || fail "the ledger lost finished units after kill -9: '$before'"
for id in $before; do
  [ "$id" = prepare ] || [ -e "$out/units/$id/log.txt" ] || fail "unit $id lost its folder"
done

"$exe" --resume "$out" --progress-seconds 5 >"$work/run2.out" 2>&1 || fail "the resumed run failed: $(tail -30 "$work/run2.out")"
for id in $before; do
  grep -q "start $id " "$work/run2.out" && fail "the resumed run redid the finished unit $id"
done
grep -q "ETA" "$work/run2.out" || fail "no progress lines with an ETA"
grep -q "^report: $out/report/report.html" "$work/run2.out" || fail "no report line: $(tail -5 "$work/run2.out")"
grep -q "| group |" "$work/run2.out" || fail "no Markdown summary table printed"

# The report's files.
r=$out/report
for f in report.html summary.md summary.json results.csv; do [ -s "$r/$f" ] || fail "no $r/$f"; done
[ "$(ls "$r"/figures/*.svg | wc -l)" -ge 6 ] || fail "too few SVG figures: $(ls "$r/figures")"
[ "$(ls "$r"/figures/*.svg | wc -l)" -eq "$(ls "$r"/figures/*.png | wc -l)" ] || fail "SVG and PNG counts differ"
# 2 seeds x (original, unbalanced, weighted, augmented2, augmented4) = 10 runs.
[ "$(tail -n +2 "$r/results.csv" | wc -l)" -eq 10 ] || fail "results.csv: $(cat "$r/results.csv")"
head -1 "$r/results.csv" | grep -q "^group,seed,accuracy,minority_accuracy,acc_AnnualCrop," || fail "results.csv header"
$py - "$r/summary.json" "$(command -v chromium || true)" <<'PY' || fail "summary.json: $(head -c 2000 "$r/summary.json")"
import json, math, sys
s = json.load(open(sys.argv[1]))
groups = {g["group"]: g for g in s["groups"]}
assert list(groups) == ["original", "unbalanced", "weighted", "augmented2", "augmented4"], list(groups)
for name, g in groups.items():
    assert g["overall"]["n"] == 2 and 0 <= g["overall"]["mean"] <= 1, g
    assert len(g["overall"]["ci95"]) == 2 or g["overall"]["sd"] == 0, g
    if name != "unbalanced":
        assert "welch_vs_unbalanced" in g, g
assert s["pooled_variance"]["overall"]["dof"] == 5, s["pooled_variance"]   # 5 groups x (2 - 1)
assert s["missing_units"] == [], s["missing_units"]
assert "full" in s["gan"] and "acceptance" in s["gan"]["full"] and "quality" in s["gan"]["full"]
assert len(s["comparisons"]) >= 4, s["comparisons"]
if sys.argv[2]:  # chromium installed: the check ran and passed
    b = s["browser_check"]
    assert b["ran"] and b["ok"] and b["figures_ok"] == b["figures_total"] > 0, b
PY
if command -v chromium >/dev/null; then
  [ -s "$r/screenshot.png" ] || fail "no screenshot.png"
fi
grep -q "http://\|https://" <(grep -v "www.w3.org" "$r/report.html") && fail "report.html refers to the network"

# A finished experiment: a rerun runs nothing.
"$exe" --resume "$out" >"$work/run3.out" 2>&1 || fail "the third run failed: $(tail -5 "$work/run3.out")"
grep -q "0 to run" "$work/run3.out" || fail "the third run found work: $(head -3 "$work/run3.out")"
grep -q "\[experiment\] start " "$work/run3.out" && fail "the third run started a unit"
echo "experiment smoke test passed"

#!/usr/bin/env bash
# End-to-end check of apps/train_classifier on the real EuroSAT data (a tiny stratified
# fraction, one epoch, so it runs in seconds): bad flags exit 2 with a message naming the flag;
# a run writes every promised file with a well-formed result; a second run into the same folder
# is refused without touching it, and so is one while another process holds the folder's lock;
# an error once train.log is open reaches it; --resume continues to a second epoch.
# Usage: train_classifier_smoke.sh <path to train_classifier>. Exit 77 (skip) when the app
# exits 77 (no EuroSAT data found, apps/data_root.h), and only then.
set -uo pipefail
app=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/smoke_lib.sh"
expect_training_flag_errors
expect_flag_error "--variant must be one of" --variant tiny
expect_flag_error "--variant generated needs --generated DIR" --variant generated
expect_flag_error "--weights: no such file" --weights "$work/none.safetensors"
"$app" --help | grep -q -- "--variant" || fail "--help does not list the flags"

# A named place without the data is an error (1), not a skip.
"$app" --epochs 1 --data "$work/nowhere" --out "$work/nodata" >"$work/nodata.out" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -qF "$work/nowhere" "$work/nodata.out" ||
  fail "a --data without the data exited $rc: $(cat "$work/nodata.out")"

run_or_skip "$work/probe.out" "$app" --fraction 0.004 --epochs 1 --out "$work/probe" \
  --data "${EMBER_DATA:-}" || fail "the first run failed: $(cat "$work/probe.out")"
run=$work/probe
for f in train.log config.json history.csv last.safetensors best.safetensors result.json \
         test_predictions.csv train_files.txt; do
  [ -s "$run/$f" ] || fail "missing or empty $f"
done
python3 - "$run/result.json" <<'PY' || fail "result.json is malformed"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["format"] == "ember.train_classifier.v1"
assert r["pretrained"] is False and "from scratch" in r["note"]
t = r["test"]
assert len(t["matrix"]) == 10 and all(len(row) == 10 for row in t["matrix"])
assert sum(map(sum, t["matrix"])) == t["total"] > 0
assert abs(t["accuracy"] - sum(t["matrix"][i][i] for i in range(10)) / t["total"]) < 1e-12
assert set(t["per_class_accuracy"]) == set(t["classes"])
assert r["epochs_run"] == 1 and len(r["history"]) == 1
assert r["train_counts"]["Highway"] < r["train_counts"]["Forest"]
PY
grep -q "trained from scratch" "$run/train.log" || fail "the log does not say it trained from scratch"

# A second run into the same folder is refused and changes nothing.
expect_rerun_refused "$run/last.safetensors" "$run/result.json" -- \
  --fraction 0.004 --epochs 1 --out "$run"

# While another process holds the folder's lock (flock(1) here) a run is refused, naming it.
expect_locked_out "$run" --fraction 0.004 --epochs 2 --out "$run" --resume
# An error once train.log is open (a resume with another seed) is written to train.log too.
"$app" --fraction 0.004 --epochs 2 --seed 9 --out "$run" --resume >"$work/other.out" 2>&1
[ $? -eq 1 ] && grep -q "error: .*another configuration" "$run/train.log" ||
  fail "the error did not reach train.log: $(cat "$work/other.out"; tail -2 "$run/train.log")"

# --resume continues from epoch 1 to 2.
"$app" --fraction 0.004 --epochs 2 --out "$run" --resume >"$work/resume.out" 2>&1 ||
  fail "resume failed: $(cat "$work/resume.out")"
grep -q "resumed from .* after epoch 1" "$work/resume.out" || fail "resume did not start at epoch 2"
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['epochs_run']==2" \
  "$run/result.json" || fail "result.json after resume does not hold 2 epochs"
# Fine-tuning from a weights file (the run's own best model stands in for converted ImageNet
# weights): the head is left out, and --freeze backbone leaves only the head's 1408*10+10.
"$app" --fraction 0.004 --epochs 1 --out "$work/finetune" --weights "$run/best.safetensors" \
  --freeze backbone >"$work/finetune.out" 2>&1 || fail "fine-tuning failed: $(cat "$work/finetune.out")"
grep -q "skipped from the file: predictions" "$work/finetune.out" ||
  fail "the weights' head was not skipped: $(cat "$work/finetune.out")"
grep -q "14090 trainable parameters, 184 of 185 layers frozen" "$work/finetune.out" ||
  fail "--freeze backbone did not leave only the head: $(cat "$work/finetune.out")"
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['pretrained'] is True" \
  "$work/finetune/result.json" || fail "result.json does not record the weights"
expect_flag_error "--freeze (a layer count or 'backbone'): expected an integer" --freeze some

echo "train_classifier smoke test passed"

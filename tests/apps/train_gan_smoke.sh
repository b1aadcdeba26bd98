#!/usr/bin/env bash
# End-to-end check of apps/train_gan on the real EuroSAT data (a tiny stratified fraction, small
# networks, one epoch, so it runs in seconds): bad flags exit 2 with a message naming the flag;
# a run writes every promised file (log, config, losses, grid, checkpoint pair, generator); a
# second run into the same folder is refused without touching it, and so is one while another
# process holds the folder's lock; --resume removes a killed writer's temporary files and
# continues to a second epoch, appending to losses.csv; an error reaches train.log.
# Usage: train_gan_smoke.sh <path to train_gan>. Exit 77 (skip) when the app exits 77 (no
# EuroSAT data found, apps/data_root.h), and only then.
set -uo pipefail
app=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/smoke_lib.sh"
expect_training_flag_errors
expect_flag_error "--variant must be one of" --variant weighted
expect_flag_error "--loss must be one of" --loss hinge
expect_flag_error "--g-widths: 3 stages make 32x32" --g-widths 64,32,16
expect_flag_error "--d-widths: expected an integer" --d-widths 8,x
expect_flag_error "--gp-weight is only used with --loss wgan-gp" --loss bce --gp-weight 5
"$app" --help | grep -q -- "--n-critic" || fail "--help does not list the flags"

small=(--fraction 0.004 --batch 8 --latent-dim 16 --embedding-dim 8 --g-base-channels 16
       --g-widths 16,8,8,4 --d-widths 4,8,8,16 --n-critic 2 --sample-cols 2 --ema 0.9
       --data "${EMBER_DATA:-}")
run_or_skip "$work/first.out" "$app" "${small[@]}" --epochs 1 --out "$work/run" ||
  fail "the first run failed: $(cat "$work/first.out")"
run=$work/run
for f in train.log config.json losses.csv checkpoint.json checkpoint_a/generator.safetensors \
         checkpoint_a/critic.safetensors samples/epoch_0001.png generator.safetensors; do
  [ -s "$run/$f" ] || fail "missing or empty $f"
done
grep -q "generator: .* parameters; critic: .* parameters" "$run/train.log" ||
  fail "the log does not give the parameter counts"
[ "$(wc -l <"$run/losses.csv")" -eq 2 ] || fail "losses.csv should hold a header and 1 epoch"

expect_rerun_refused "$run/checkpoint.json" "$run/generator.safetensors" -- \
  "${small[@]}" --epochs 1 --out "$run"

# One process at a time per folder: while another holds <out>.lock (here flock(1)), a run is
# refused, naming the folder, and writes nothing.
expect_locked_out "$run" "${small[@]}" --epochs 2 --out "$run" --resume
# Temporary files of a killed writer (its pid is gone) are removed on the next start, and the
# log says so; a live process's are kept.
dead=$(sh -c 'echo $$')
touch "$run/checkpoint_a/critic.safetensors.tmp.$dead.0" "$run/losses.csv.tmp.$dead.4" \
      "$run/live.csv.tmp.$$.1"
"$app" "${small[@]}" --epochs 2 --out "$run" --resume >"$work/resume.out" 2>&1 ||
  fail "resume failed: $(cat "$work/resume.out")"
grep -qF "removed $run/checkpoint_a/critic.safetensors.tmp.$dead.0, left by a killed writer" \
  "$work/resume.out" || fail "the leftovers' removal is not logged: $(cat "$work/resume.out")"
[ ! -e "$run/checkpoint_a/critic.safetensors.tmp.$dead.0" ] && [ ! -e "$run/losses.csv.tmp.$dead.4" ] ||
  fail "a killed writer's temporary file was left"
[ -e "$run/live.csv.tmp.$$.1" ] || fail "a live process's temporary file was removed"
[ ! -e "$run.lock" ] || fail "the lock file outlived the run"
grep -q "resumed from .* after epoch 1" "$work/resume.out" || fail "resume did not start at epoch 2"
[ "$(wc -l <"$run/losses.csv")" -eq 3 ] || fail "losses.csv should hold 2 epochs after resume"
[ -s "$run/samples/epoch_0002.png" ] || fail "no grid for epoch 2"
[ -s "$run/checkpoint_b/critic.safetensors" ] || fail "the second checkpoint slot is missing"
# Resuming with another configuration is refused.
"$app" "${small[@]}" --epochs 3 --seed 9 --out "$run" --resume >"$work/other.out" 2>&1
[ $? -eq 1 ] && grep -q "another configuration" "$work/other.out" ||
  fail "a resume with another seed was not refused: $(cat "$work/other.out")"
# The error that ended it is in train.log too, not only on stderr.
grep -q "error: .*another configuration" "$run/train.log" ||
  fail "the error did not reach train.log: $(tail -3 "$run/train.log")"

echo "train_gan smoke test passed"

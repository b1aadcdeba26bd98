# Shared by the apps' smoke tests (source it after setting $app and $work):
#   fail MESSAGE                       prints FAIL: MESSAGE and exits 1
#   expect_flag_error TEXT ARGS...     "$app" ARGS must exit 2 with TEXT in its output
#   run_or_skip OUT COMMAND...         runs COMMAND with its output in OUT and returns its status,
#                                      except that status 77 (the apps' "no EuroSAT data found",
#                                      apps/data_root.h) skips the whole test with exit 77
# For the training apps (train_classifier, train_gan), which run in an --out folder:
#   expect_training_flag_errors        the flag errors they give alike (unknown flag, a word
#                                      for --epochs, a negative --lr)
#   expect_rerun_refused FILE... -- ARGS...
#                                      "$app" ARGS (a run into a folder that holds one, without
#                                      --resume) exits 1 saying so, and leaves every FILE as it was
#   expect_locked_out RUN ARGS...      while this shell holds RUN.lock (flock(1)), "$app" ARGS
#                                      exits 1 naming RUN as in use by another process
fail() { echo "FAIL: $*"; exit 1; }

expect_flag_error() {
  local want=$1; shift
  "$app" "$@" >"$work/out" 2>&1
  local rc=$?
  [ $rc -eq 2 ] || fail "'$*' exited $rc, not 2: $(cat "$work/out")"
  grep -qF -- "$want" "$work/out" || fail "'$*' did not say '$want': $(cat "$work/out")"
}

run_or_skip() {
  local out=$1; shift
  "$@" >"$out" 2>&1
  local rc=$?
  if [ $rc -eq 77 ]; then
    echo "SKIP: no EuroSAT data found: $(tail -1 "$out")"
    exit 77
  fi
  return $rc
}

expect_training_flag_errors() {
  expect_flag_error "unknown flag '--bogus'" --bogus
  expect_flag_error "--epochs: expected an integer" --epochs ten
  expect_flag_error "--lr must be in" --lr -1
}

expect_rerun_refused() {
  local files=()
  while [ "$1" != "--" ]; do files+=("$1"); shift; done
  shift
  local before
  before=$(md5sum "${files[@]}")
  "$app" "$@" >"$work/again.out" 2>&1
  local rc=$?
  [ $rc -eq 1 ] || fail "rerun without --resume exited $rc, not 1"
  grep -q "already holds a run" "$work/again.out" || fail "rerun refusal not explained"
  [ "$before" = "$(md5sum "${files[@]}")" ] || fail "refused rerun changed files"
}

expect_locked_out() {
  local run=$1; shift
  exec 9>"$run.lock"
  flock -n 9 || fail "could not take $run.lock for the test"
  "$app" "$@" >"$work/locked.out" 2>&1
  local rc=$?
  [ $rc -eq 1 ] && grep -qF "the run folder $run is in use by another process" "$work/locked.out" ||
    fail "a run into a locked folder was not refused (exit $rc): $(cat "$work/locked.out")"
  exec 9>&-
}

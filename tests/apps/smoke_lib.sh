# Shared by the apps' smoke tests (source it after setting $app and $work):
#   fail MESSAGE                       prints FAIL: MESSAGE and exits 1
#   expect_flag_error TEXT ARGS...     "$app" ARGS must exit 2 with TEXT in its output
#   run_or_skip OUT COMMAND...         runs COMMAND with its output in OUT and returns its status,
#                                      except that status 77 (the apps' "no EuroSAT data found",
#                                      apps/data_root.h) skips the whole test with exit 77
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

# Shared by the apps' smoke tests (source it after setting $app and $work):
#   fail MESSAGE                       prints FAIL: MESSAGE and exits 1
#   expect_flag_error TEXT ARGS...     "$app" ARGS must exit 2 with TEXT in its output
fail() { echo "FAIL: $*"; exit 1; }

expect_flag_error() {
  local want=$1; shift
  "$app" "$@" >"$work/out" 2>&1
  local rc=$?
  [ $rc -eq 2 ] || fail "'$*' exited $rc, not 2: $(cat "$work/out")"
  grep -qF -- "$want" "$work/out" || fail "'$*' did not say '$want': $(cat "$work/out")"
}

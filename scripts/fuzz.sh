#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (CMake EMBER_FUZZ=ON, clang, ASan + UBSan) into
# ./build-fuzz and runs each for a fixed time from its committed seeds (fuzz/corpus/<target>),
# then prints per target the seconds, executions and findings. Non-zero exit on any finding.
#
#   bash scripts/fuzz.sh                       # every target, 60 s each
#   bash scripts/fuzz.sh -t 300 safetensors    # one target, 5 minutes
#
# Targets: safetensors image config ledger (fuzz/README.md). New inputs that reach new code go
# to build-fuzz/corpus/<target> (kept between runs, not committed); a finding is saved as
# build-fuzz/findings/<target>/{crash,leak,timeout,oom}-<sha1>: rerun it with
# build-fuzz/fuzz/fuzz_<target> <file>. Installs its missing Debian packages as scripts/setup.sh
# does. EMBER_FUZZ_BUILD_DIR overrides the build folder; EMBER_JOBS the build's parallel jobs.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
while getopts "t:" opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    *) echo "usage: $0 [-t seconds] [safetensors|image|config|ledger ...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
targets=("$@")
((${#targets[@]})) || targets=(safetensors image config ledger)
for t in "${targets[@]}"; do
  [ -d "fuzz/corpus/$t" ] || { echo "fuzz: unknown target '$t' (safetensors image config ledger)" >&2; exit 2; }
done

# clang with libFuzzer and its sanitizer runtimes (libclang-rt-14-dev), LLVM's OpenMP for clang
# (libomp-14-dev), llvm-symbolizer for file:line in reports (llvm), and the libraries' own
# build dependencies (scripts/setup.sh says why each is needed).
packages=(clang libclang-rt-14-dev libomp-14-dev llvm cmake pkg-config libopenblas-dev libstb-dev
          nlohmann-json3-dev libeigen3-dev libcairo2-dev fonts-dejavu-core)
# shellcheck source=lib/install-packages.sh
source scripts/lib/install-packages.sh
install_missing_packages fuzz "${packages[@]}"

build_dir=${EMBER_FUZZ_BUILD_DIR:-build-fuzz}
jobs=${EMBER_JOBS:-$(nproc)}
# -O1 and no -DNDEBUG, as scripts/sanitize.sh: a quicker build, and a failed assertion of
# nlohmann/json (a misuse that is undefined behaviour in a release build) is a finding too.
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1 \
      -DCMAKE_C_FLAGS_RELEASE=-O1 -DEMBER_FUZZ=ON -DEMBER_CUDA=OFF \
      -DEMBER_BUILD_TESTS=OFF -DEMBER_BUILD_BENCH=OFF \
      -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$build_dir" -j"$jobs" --target "${targets[@]/#/fuzz_}"

# One thread: the readers need none, and executions per second are what counts.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# max_malloc_fill_size: ASan fills every new allocation (not only its first 4 KiB) with 0xbe, so
# a read of memory nothing wrote (stb decoding with tables no DHT defined) gives the same wrong
# values on every run and a finding reproduces outside the fuzzing loop.
export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:max_malloc_fill_size=1048576:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
symbolizer=$(command -v llvm-symbolizer || true)
[ -n "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH=$symbolizer

# Input size caps: well above every seed, small enough for many executions per second.
declare -A max_len=([safetensors]=8192 [image]=16384 [config]=8192 [ledger]=8192)
summary=()
status=0
for t in "${targets[@]}"; do
  corpus=$build_dir/corpus/$t
  findings=$build_dir/findings/$t
  mkdir -p "$corpus" "$findings"
  before=$(find "$findings" -type f | wc -l)
  log=$build_dir/fuzz-$t.log
  echo "fuzz: $t for $seconds s (log $log)"
  # -fork=1 with -ignore_*: the fuzzing runs in a child process that is restarted after a
  # finding, so one finding does not end the run and every distinct input is kept.
  # -timeout: seconds one input may take; -rss_limit_mb/-malloc_limit_mb: a larger process or a
  # single larger allocation is a finding (a size taken from the input without a check).
  rc=0
  "$build_dir/fuzz/fuzz_$t" "$corpus" "fuzz/corpus/$t" -dict="fuzz/$t.dict" \
      -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=10 -rss_limit_mb=2048 \
      -malloc_limit_mb=1024 -artifact_prefix="$findings/" \
      -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 >"$log" 2>&1 || rc=$?
  # The parent's last status line: "#<executions>: cov: ... oom/timeout/crash: a/b/c ...".
  execs=$(grep -E '^#[0-9]+:' "$log" | tail -1 | sed -E 's/^#([0-9]+):.*/\1/')
  found=$(($(find "$findings" -type f | wc -l) - before))
  if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
    status=1
    echo "fuzz: $t FOUND something (exit $rc, $found new input(s) in $findings); distinct reports:"
    grep -hE 'SUMMARY: |FINDING: |runtime error: |ERROR: libFuzzer: ' "$log" |
      sed -E 's/==[0-9]+==//; s/0x[0-9a-f]+/0x../g; s/malloc\([0-9]+\)/malloc(N)/' |
      sort | uniq -c | sort -rn | head -20
  fi
  summary+=("$(printf '%-12s %6s s %12s executions %6s corpus files %3s findings' "$t" "$seconds" \
      "${execs:-?}" "$(find "$corpus" -type f | wc -l)" "$found")")
done
echo
echo "fuzz: summary (findings in $build_dir/findings/<target>/)"
printf '  %s\n' "${summary[@]}"
exit $status

#!/usr/bin/env bash
# Runs the thread-count determinism tests (CpuFastPaths.*ThreadCount*: GEMMs, and a small conv
# net's training step) under one OpenBLAS core type, so that the promise of kernels/cpu/blas.h
# (the same bits for any thread count) is checked for every kernel family this project may
# meet, whatever the machine's own OPENBLAS_CORETYPE is.
#   openblas_core_types.sh TEST_BINARY CORE     CORE: Haswell, Zen, SkylakeX, Sandybridge, or
#                                               default (the variable unset: OpenBLAS's own pick)
# Exits 77 (CTest's skip) naming the missing instructions when this CPU cannot run CORE's kernels.
set -euo pipefail
binary=$1 core=$2

needs=()
case $core in
  default) ;;
  Sandybridge) needs=(avx) ;;
  Haswell|Zen) needs=(avx2 fma) ;;
  SkylakeX) needs=(avx512f avx512bw avx512dq avx512vl) ;;
  *) echo "openblas_core_types.sh: unknown core type '$core'" >&2; exit 2 ;;
esac
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
missing=()
for f in "${needs[@]}"; do [[ $flags == *" $f "* ]] || missing+=("$f"); done
if ((${#missing[@]})); then
  echo "skipped: this CPU lacks ${missing[*]}, which OpenBLAS's $core kernels need"
  exit 77
fi

filter='CpuFastPaths.*ThreadCount*'
if [[ $core == default ]]; then
  exec env -u OPENBLAS_CORETYPE "$binary" --gtest_filter="$filter"
fi
# EMBER_EXPECT_OPENBLAS_CORE makes the test check that OpenBLAS really runs this core type.
exec env OPENBLAS_CORETYPE="$core" EMBER_EXPECT_OPENBLAS_CORE="$core" "$binary" \
  --gtest_filter="$filter"

#!/usr/bin/env bash
# Run HERE (the development machine, as root), from anywhere: rehearses, without a GPU, what the
# lent GPU machine does with `bash scripts/gpu-check.sh`, so that its build cannot fail for a
# reason findable here (docs/gpu-check.md, "The rehearsal").
#
#  1. root: a minimal Debian 12 root (debootstrap --variant=minbase) holding only what the GPU
#     machine holds: g++, make, cmake, ninja, python3, and none of the -dev packages the build
#     needs. Cached in build-rehearsal/root (git-ignored) and reused; delete it to rebuild.
#  2. copy: the working tree as the device tool carries it (tracked files and untracked files
#     that git does not ignore, plus .gpu-deps), into the root's /work/ember, fresh each time.
#     Prints its size against the tool's 64 MiB.
#  3. build: inside the root, with no network (unshare --net) and mounts private to this run
#     (unshare --mount: nothing is left mounted afterwards), `bash scripts/gpu-build.sh build-gpu
#     <targets>` (the targets of gpu-check.sh's targets=(...) line). /usr/local/cuda-13.0 is the
#     host's, read-only through an overlay in which cuDNN and cuBLAS are deleted: they are visible
#     only as pip wheels lay them out, in python3's site-packages (nvidia/cudnn/{include,lib},
#     nvidia/cu13/{include,lib}, versioned library names only), so the wheel discovery of
#     cmake/EmberCuda.cmake is what finds them.
#     Then checks that the programs find every library without LD_LIBRARY_PATH, and runs the GPU
#     tests, which must skip with their reason.
#  4. check: `bash scripts/gpu-check.sh` in the same root (no GPU there: its GPU steps must skip
#     or fail with their reason; the exit status is reported, not fatal). GPU_CHECK_STEPS passes
#     through; REHEARSAL_CHECK_TIMEOUT (seconds, default 1800) caps it.
# Prints each phase's time and the total. Phases can be picked: REHEARSAL_PHASES="root copy build
# check" (the default, all four); REHEARSAL_TARGETS overrides the targets.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$repo/build-rehearsal
root=$work/root
phases=${REHEARSAL_PHASES:-"root copy build check"}
# The programs gpu-check.sh builds: its targets=(...) line.
targets=${REHEARSAL_TARGETS:-$(sed -n 's/^targets=(\(.*\))$/\1/p' scripts/gpu-check.sh | head -1)}
[ -n "$targets" ] || { echo "rehearse: no targets=(...) line in scripts/gpu-check.sh" >&2; exit 1; }
# The GPU machine's tools, and nothing else a build could lean on.
root_packages=g++,make,cmake,ninja-build,python3
cuda_real=$(readlink -f /usr/local/cuda)
cuda_name=$(basename "$cuda_real")
status=0

[ "$(id -u)" -eq 0 ] || { echo "rehearse: run as root (debootstrap, chroot, mounts)" >&2; exit 1; }
[ -x "$cuda_real/bin/nvcc" ] || { echo "rehearse: no nvcc in $cuda_real" >&2; exit 1; }

start_all=$(date +%s)
timings=()
phase_start() { phase_t0=$(date +%s); echo "== rehearse: $1 ($(date -u +%H:%M:%S) UTC)"; }
phase_end() { timings+=("$1 $(($(date +%s) - phase_t0)) s${2:+ ($2)}"); }

if [[ $phases == *root* ]]; then
  phase_start root
  if [ -f "$root/.ember-rehearsal-root" ] && [ "$(cat "$root/.ember-rehearsal-root")" = "$root_packages" ]; then
    echo "rehearse: reusing $root"
    phase_end root "cached"
  else
    # shellcheck source=lib/install-packages.sh
    source scripts/lib/install-packages.sh
    install_missing_packages rehearse debootstrap
    rm -rf "$root"
    mkdir -p "$work"
    debootstrap --variant=minbase --include="$root_packages" bookworm "$root" \
        http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log"; exit 1; }
    rm -rf "$root"/var/cache/apt/archives/*.deb
    echo "$root_packages" >"$root/.ember-rehearsal-root"
    phase_end root "debootstrap, $(du -sh "$root" | cut -f1)"
  fi
fi

if [[ $phases == *copy* ]]; then
  phase_start copy
  [ -d .gpu-deps ] || { echo "rehearse: no .gpu-deps; run scripts/stage-gpu-deps.sh first" >&2; exit 1; }
  dest=$root/work/ember
  rm -rf "$dest"
  mkdir -p "$dest"
  # What the device tool carries: tracked and untracked-but-not-ignored files that exist, and
  # the carried ignored path .gpu-deps.
  { git ls-files -z --cached --others --exclude-standard; find .gpu-deps -type f -print0; } |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -xf - -C "$dest"
  carried=$(du -sm --apparent-size "$dest" | cut -f1)
  echo "rehearse: carried ${carried} MiB (limit 64 MiB)"
  ((carried < 64)) || { echo "rehearse: more than the device tool carries" >&2; status=1; }
  phase_end copy "${carried} MiB"
fi

# Runs "$@" (a command line for bash) inside the root, with no network, /proc and /dev, and the
# host's CUDA read-only with cuDNN and cuBLAS visible only as pip wheels.
in_root() {
  unshare --mount --net --propagation private bash -s "$root" "$cuda_real" "$cuda_name" "$1" <<'EOF'
set -euo pipefail
root=$1 cuda_real=$2 cuda_name=$3 command=$4
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
# The toolkit without cuDNN and cuBLAS: an overlay whose upper layer deletes them (whiteouts).
ov=$(mktemp -d /tmp/ember-rehearsal-overlay.XXXXXX)
mount -t tmpfs tmpfs "$ov"
mkdir -p "$ov/upper" "$ov/work" "$ov/upper/include" "$ov/upper/lib"
hidden=()
for d in include lib; do
  for f in "$cuda_real/$d"/cudnn* "$cuda_real/$d"/libcudnn* "$cuda_real/$d"/cublas* \
           "$cuda_real/$d"/libcublas* "$cuda_real/$d"/nvblas* "$cuda_real/$d"/libnvblas*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    mknod "$ov/upper/$d/$(basename "$f")" c 0 0
    hidden+=("$f")
  done
done
mkdir -p "$root/usr/local/$cuda_name"
mount -t overlay overlay -o "ro,lowerdir=$cuda_real,upperdir=$ov/upper,workdir=$ov/work" \
      "$root/usr/local/$cuda_name"
ln -sfn "$cuda_name" "$root/usr/local/cuda"
# The same files as wheels lay them out: nvidia/cudnn/{include,lib}, nvidia/cu13/{include,lib},
# libraries under their versioned names only (libcudnn.so.9, libcublas.so.13).
py=$(chroot "$root" python3 -c 'import sys; print("python%d.%d" % sys.version_info[:2])')
site=$root/usr/local/lib/$py/dist-packages/nvidia
for f in "${hidden[@]}"; do
  name=$(basename "$f")
  case $name in
    *.so) continue ;;          # the unversioned names are not in the wheels
    cudnn* | libcudnn*) pkg=cudnn ;;
    *) pkg=cu13 ;;
  esac
  sub=lib; [[ $f == */include/* ]] && sub=include
  mkdir -p "$site/$pkg/$sub"
  touch "$site/$pkg/$sub/$name"
  mount --bind -o ro "$(readlink -f "$f")" "$site/$pkg/$sub/$name"
done
echo "rehearse: cuDNN/cuBLAS hidden from /usr/local/$cuda_name, shown in ${site#"$root"}: ${#hidden[@]} files"
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/cuda/bin:/usr/local/bin:/usr/bin:/bin \
    LANG=C.UTF-8 bash -c "cd /work/ember && $command"
EOF
}

if [[ $phases == *build* ]]; then
  phase_start build
  # Then: the programs find every library without LD_LIBRARY_PATH (the root's environment has
  # none), and the GPU tests skip with their reason.
  if in_root "bash scripts/gpu-build.sh build-gpu $targets &&
              ! for t in $targets; do ldd \$(find build-gpu -type f -name \$t | head -1); done |
                grep 'not found' &&
              echo 'rehearse: every library found through RPATH' &&
              build-gpu/tests/ember_tests --gtest_filter='*Cuda*' --gtest_brief=1 | tail -3"; then
    phase_end build "ok"
  else
    phase_end build "FAILED"
    status=1
  fi
  # The logs, where a reader here can see them.
  rm -rf "$work/logs" && mkdir -p "$work/logs"
  cp -r "$root/work/ember/build-gpu/logs/." "$work/logs/" 2>/dev/null || true
fi

if [[ $phases == *check* ]]; then
  phase_start check
  # GPU_CHECK_STEPS passes through (gpu-check.sh's step list); REHEARSAL_CHECK_TIMEOUT (s) caps it.
  if in_root "${GPU_CHECK_STEPS+GPU_CHECK_STEPS='$GPU_CHECK_STEPS'} OUT=/work/ember/gpu-check-out \
              timeout ${REHEARSAL_CHECK_TIMEOUT:-1800} bash scripts/gpu-check.sh"; then
    phase_end check "exit 0"
  else
    phase_end check "exit $?"
  fi
  rm -rf "$work/gpu-check-out"
  cp -r "$root/work/ember/gpu-check-out" "$work/gpu-check-out" 2>/dev/null || true
fi

echo "== rehearse: times"
for t in "${timings[@]}"; do echo "  $t"; done
echo "  total $(($(date +%s) - start_all)) s"
[ -d "$work/logs" ] && echo "rehearse: build logs in $work/logs"
exit "$status"

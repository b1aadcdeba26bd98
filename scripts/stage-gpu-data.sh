#!/usr/bin/env bash
# Run HERE: copies a stratified part of EuroSAT into .gpu-data/ (git-ignored) for the GPU check's
# short real-data run (scripts/gpu-check.sh, step train_real_data), small enough to be carried
# to the GPU machine beside the source and .gpu-deps (64 MiB in all per command).
#   bash scripts/stage-gpu-data.sh [every-Nth, default 4] [data root]
# Keeps every N-th file of each class in each split list (so train/val/test and the class
# balance keep their shape: N = 4 keeps 25%, 4,050 / 1,350 / 1,350 images, about 22 MiB), and
# writes split lists naming only the kept files. The data root is found as the apps find it
# (argument, $EMBER_DATA, ./data, ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
every=${1:-4}
src=${2:-${EMBER_DATA:-}}
if [ -z "$src" ]; then
  for d in data ../shared/data; do [ -d "$d/EuroSAT_RGB" ] && { src=$d; break; }; done
fi
[ -n "$src" ] && [ -d "$src/EuroSAT_RGB" ] && [ -d "$src/splits" ] ||
  { echo "stage-gpu-data: no EuroSAT_RGB and splits/ under '${src:-(none found)}'" >&2; exit 2; }
[[ $every =~ ^[1-9][0-9]*$ ]] || { echo "stage-gpu-data: every-Nth must be a whole number >= 1, got '$every'" >&2; exit 2; }
rm -rf .gpu-data.partial
mkdir -p .gpu-data.partial/splits
for split in train val test; do
  list=$src/splits/eurosat-$split.txt
  [ -f "$list" ] || { echo "stage-gpu-data: missing $list" >&2; exit 2; }
  # Every N-th line per class (the class is the file name before its last '_').
  awk -v n="$every" '{ c = $0; sub(/_[^_]*$/, "", c); if (count[c]++ % n == 0) print }' "$list" \
    > ".gpu-data.partial/splits/eurosat-$split.txt"
done
# One tar pipe for all files (thousands of cp processes take minutes).
cat .gpu-data.partial/splits/*.txt | awk '{ c = $0; sub(/_[^_]*$/, "", c); print "EuroSAT_RGB/" c "/" $0 }' |
  (cd "$src" && tar cf - -T -) | (cd .gpu-data.partial && tar xf -)
rm -rf .gpu-data
mv .gpu-data.partial .gpu-data
echo "stage-gpu-data: $(find .gpu-data/EuroSAT_RGB -type f | wc -l) images," \
     "$(du -sb .gpu-data | cut -f1) bytes in .gpu-data (every $every-th of each class and split)"

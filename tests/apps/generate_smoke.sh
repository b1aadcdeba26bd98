#!/usr/bin/env bash
# End-to-end checks of apps/generate, apps/build_augmented and apps/gan_quality on fixtures from
# gan_fixtures: a small untrained generator and an EfficientNetB2 that predicts Highway for
# every image, so Highway's acceptance rate is 1 and River's 0.
#   generate  bad flags exit 2 naming the flag; a finished run writes the class-folder PNGs
#             (names in kept order), manifest.csv and summary.json, and no .partial folder; a
#             rerun into it is refused and changes nothing; a class the classifier never
#             accepts stops with "stopped: ..." (exit 1) and leaves only <out>.partial, which
#             the next run removes; a foreign <out>.partial and a non-generator file are
#             refused; a full disk (a file-size limit, and a real full tmpfs where one can be
#             mounted) is an error naming the image; a locked --out is refused.
#             build_augmented: the first N per class, and --per total split over two classes, a
#             shortfall named, an empty image named, a failed run's partial folder removed by
#             the next run, a foreign one refused. gan_quality: --out checked before any work.
#   quality   gan_quality on the real test split (fraction 0.01): acceptance 1 and 0, finite
#             Fréchet distances and diversities, the not-FID note; exit 77 (skip) when gan_quality
#             exits 77 (no EuroSAT data found, apps/data_root.h), and only then.
# Usage: generate_smoke.sh generate|quality <gan_fixtures> <generate> <build_augmented> <gan_quality>
set -uo pipefail
mode=$1 fixtures=$2 generate=$3 augment=$4 quality=$5
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/smoke_lib.sh"
py=/usr/bin/python3; [ -x "$py" ] || py=python3

"$fixtures" generator "$work/g.safetensors" 1 || fail "gan_fixtures generator"
"$fixtures" classifier "$work/c.safetensors" 3 || fail "gan_fixtures classifier (Highway)"
G=(--generator "$work/g.safetensors" --classifier "$work/c.safetensors")

expect_status() {  # <status> <text the output must hold> <program> <args...>
  local want_rc=$1 want=$2; shift 2
  "$@" >"$work/out" 2>&1
  local rc=$?
  [ $rc -eq "$want_rc" ] || fail "'$*' exited $rc, not $want_rc: $(cat "$work/out")"
  grep -qF -- "$want" "$work/out" || fail "'$*' did not say '$want': $(cat "$work/out")"
}

if [ "$mode" = generate ]; then
  expect_status 2 "unknown flag '--bogus'" "$generate" "${G[@]}" --bogus
  expect_status 2 "--generator FILE is required" "$generate" --classifier "$work/c.safetensors"
  expect_status 2 "--generator: no such file" "$generate" --generator "$work/none" --classifier "$work/c.safetensors"
  expect_status 2 "--keep must be in" "$generate" "${G[@]}" --keep 0
  expect_status 2 "--classes: unknown class 'Nowhere'" "$generate" "${G[@]}" --classes Highway,Nowhere
  expect_status 2 "--max-batches: expected an integer" "$generate" "${G[@]}" --max-batches lots
  "$generate" --help | grep -q -- "--max-batches" || fail "--help does not list the flags"

  # A finished run.
  out=$work/gen
  "$generate" "${G[@]}" --classes Highway --keep 6 --batch 4 --max-batches 3 --out "$out" \
    >"$work/run.out" 2>&1 || fail "generate failed: $(cat "$work/run.out")"
  grep -q "Highway: acceptance rate 1.0000 (8 of 8 candidates" "$work/run.out" ||
    fail "acceptance not reported: $(cat "$work/run.out")"
  [ ! -e "$out.partial" ] || fail "$out.partial left behind"
  [ ! -e "$out/GENERATING" ] || fail "the GENERATING marker is left in a finished folder"
  [ "$(ls "$out/Highway" | tr '\n' ' ')" = "gen_Highway_000000.png gen_Highway_000001.png gen_Highway_000002.png gen_Highway_000003.png gen_Highway_000004.png gen_Highway_000005.png " ] ||
    fail "unexpected files: $(ls "$out/Highway")"
  $py - "$out" <<'PY' || fail "manifest.csv or summary.json is malformed"
import csv, json, os, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(out, "manifest.csv"))))
assert len(rows) == 6, rows
for i, r in enumerate(rows):
    assert r["file"] == "Highway/gen_Highway_%06d.png" % i and r["class"] == "Highway"
    assert r["label"] == "3" and r["candidate"] == str(i) and r["noise_seed"] == "0"
    assert int(r["noise_offset"]) == ((3 << 40) + i) * 8
    assert abs(float(r["confidence"]) - 1.0) < 1e-6
    with open(os.path.join(out, r["file"]), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
s = json.load(open(os.path.join(out, "summary.json")))
assert s["complete"] is True and s["format"] == "ember.generate.v1"
assert s["acceptance"]["Highway"] == {"generated": 8, "accepted": 8, "rate": 1.0, "kept": 6, "batches": 2}
PY
  # A second run into it is refused and changes nothing.
  before=$(cd "$out" && md5sum manifest.csv Highway/*)
  expect_status 1 "already exists and is never overwritten" "$generate" "${G[@]}" --classes Highway --keep 6 --out "$out"
  [ "$before" = "$(cd "$out" && md5sum manifest.csv Highway/*)" ] || fail "refused rerun changed files"

  # River is never accepted: the run stops, says so, and leaves only the .partial folder.
  stop=$work/stop
  expect_status 1 "stopped: class River kept only 0 of 3 images after 2 batches" \
    "$generate" "${G[@]}" --classes Highway,River --keep 3 --batch 2 --max-batches 2 --out "$stop"
  grep -qF "incomplete output stays in $stop.partial" "$work/out" || fail "partial folder not named"
  [ ! -e "$stop" ] || fail "a stopped run created $stop"
  [ -e "$stop.partial/GENERATING" ] || fail "no marked partial folder"
  $py -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['complete'] is False and s['acceptance']['River']['rate'] == 0.0" \
    "$stop.partial/summary.json" || fail "the stopped run's summary.json"
  # --allow-short: River keeps what it reached (nothing), the run completes and says so.
  short=$work/short
  expect_status 0 "River: kept only 0 of 3 (--allow-short: going on)" \
    "$generate" "${G[@]}" --classes Highway,River --keep 3 --batch 2 --max-batches 2 --allow-short --out "$short"
  $py -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['complete'] is True and s['acceptance']['River']['short'] is True and s['acceptance']['Highway']['kept'] == 3" \
    "$short/summary.json" || fail "the short run's summary.json"
  expect_status 1 "class 'River' has no images" "$augment" --generated "$short" --out "$work/shortaug" --sizes 2 --classes Highway,River
  expect_status 0 "augmented5 (--per class): Highway 3 (SHORT: 5 wanted, --allow-short), River 0 (SHORT" \
    "$augment" --generated "$short" --out "$work/shortaug" --sizes 5 --classes Highway,River --allow-short
  [ "$(ls "$work/shortaug/augmented5/Highway" | wc -l)" -eq 3 ] || fail "--allow-short set size"
  [ ! -e "$work/shortaug/augmented5/River" ] || fail "--allow-short made an empty River folder"
  # The next run removes the incomplete folder and starts again.
  expect_status 0 "removed the incomplete" "$generate" "${G[@]}" --classes Highway --keep 2 --batch 2 --out "$stop"
  [ -e "$stop/Highway/gen_Highway_000001.png" ] && [ ! -e "$stop/River" ] || fail "restarted run output"
  # A file that is not a generator is named, and nothing is left behind.
  expect_status 1 "has no 'ember.gan.generator_config' metadata" "$generate" \
    --generator "$work/c.safetensors" --classifier "$work/c.safetensors" --out "$work/bad"
  [ ! -e "$work/bad" ] && [ ! -e "$work/bad.partial" ] || fail "a failed load left an output folder"
  # A .partial folder generate did not write is refused.
  mkdir -p "$work/foreign.partial"
  expect_status 1 "was not written by generate" "$generate" "${G[@]}" --out "$work/foreign"

  # A full disk stops the run with an error naming the image, never with empty images: a file-
  # size limit (SIGXFSZ ignored, so write() fails with EFBIG), and where this machine lets us
  # mount one in a private namespace, a real full tmpfs (ENOSPC).
  full=$work/full
  expect_status 1 "writing '$full.partial/Highway/gen_Highway_000000.png' failed: File too large" \
    bash -c 'trap "" XFSZ; ulimit -f 2; exec "$@"' _ "$generate" "${G[@]}" --classes Highway --keep 2 --batch 2 --out "$full"
  [ ! -e "$full" ] && [ -e "$full.partial/GENERATING" ] || fail "a failed run must leave only $full.partial"
  if unshare --mount true 2>/dev/null; then
    mkdir "$work/tmpfs"
    unshare --mount bash -c 'mount -t tmpfs -o size=32k tmpfs "$1" && shift && exec "$@"' _ \
      "$work/tmpfs" "$generate" "${G[@]}" --classes Highway --keep 8 --batch 4 --out "$work/tmpfs/gen" >"$work/out" 2>&1
    rc=$?
    [ $rc -eq 1 ] && grep -qE "writing '$work/tmpfs/gen.partial/Highway/gen_Highway_0000[0-9]{2}.png' failed: No space left on device" "$work/out" ||
      fail "generate on a full tmpfs exited $rc: $(cat "$work/out")"
  else
    echo "note: no private mount namespace here; the full disk was tested with a file-size limit only"
  fi
  # One process at a time per --out: refused while another holds <out>.lock (flock(1) here).
  exec 9>"$work/busy.lock"
  flock -n 9 || fail "could not take $work/busy.lock for the test"
  expect_status 1 "the output folder $work/busy is in use by another process" "$generate" "${G[@]}" --out "$work/busy"
  expect_status 1 "the output folder $work/busy is in use by another process" "$augment" --generated "$out" --out "$work/busy"
  exec 9>&-

  # build_augmented: the first N per class.
  expect_status 2 "--per must be one of" "$augment" --generated "$out" --out "$work/aug" --per half
  expect_status 2 "--generated: no such folder" "$augment" --generated "$work/none" --out "$work/aug"
  expect_status 0 "augmented2 (--per class): Highway 2" "$augment" --generated "$out" --out "$work/aug" --sizes 2,4
  [ "$(ls "$work/aug/augmented4/Highway" | tr '\n' ' ')" = "gen_Highway_000000.png gen_Highway_000001.png gen_Highway_000002.png gen_Highway_000003.png " ] ||
    fail "augmented4 holds $(ls "$work/aug/augmented4/Highway")"
  [ "$(wc -l <"$work/aug/augmented2/manifest.csv")" -eq 3 ] || fail "augmented2 manifest"
  cmp -s "$work/aug/augmented2/Highway/gen_Highway_000001.png" "$out/Highway/gen_Highway_000001.png" ||
    fail "augmented2 image differs from the source"
  expect_status 1 "already exists" "$augment" --generated "$out" --out "$work/aug"
  # An empty image (written by a generate that ignored a full disk) is named, not passed on;
  # the failed run's <out>.partial is removed by the next run, a foreign one is refused.
  cp -r "$out" "$work/cut" && : >"$work/cut/Highway/gen_Highway_000001.png"
  expect_status 1 "image $work/cut/Highway/gen_Highway_000001.png is empty" "$augment" --generated "$work/cut" --out "$work/cutaug" --sizes 2
  [ ! -e "$work/cutaug" ] && [ -e "$work/cutaug.partial/BUILDING" ] || fail "the failed build_augmented left no marked partial folder"
  cp "$out/Highway/gen_Highway_000001.png" "$work/cut/Highway/"
  expect_status 0 "removed the incomplete $work/cutaug.partial of an earlier run" "$augment" --generated "$work/cut" --out "$work/cutaug" --sizes 2
  [ -e "$work/cutaug/augmented2/manifest.csv" ] && [ ! -e "$work/cutaug/BUILDING" ] && [ ! -e "$work/cutaug.partial" ] ||
    fail "the rerun of build_augmented did not finish its output"
  mkdir -p "$work/mine.partial" && echo keep >"$work/mine.partial/precious"
  expect_status 1 "was not written by build_augmented" "$augment" --generated "$out" --out "$work/mine" --sizes 2
  [ "$(cat "$work/mine.partial/precious")" = keep ] || fail "a foreign partial folder was touched"
  # gan_quality checks --out before any work (here it would fail on the missing data next).
  touch "$work/afile"
  expect_status 1 "--out $work/afile/q.json: cannot make the folder $work/afile" "$quality" \
    --generator "$work/g.safetensors" --features-classifier "$work/c.safetensors" --data "$work/nodata" --out "$work/afile/q.json"
  expect_status 1 "names a folder" "$quality" --generator "$work/g.safetensors" \
    --features-classifier "$work/c.safetensors" --data "$work/nodata" --out "$work/qdir/"
  exec 9>"$work/q.json.lock"
  flock -n 9 || fail "could not take $work/q.json.lock for the test"
  expect_status 1 "the result file $work/q.json is in use by another process" "$quality" \
    --generator "$work/g.safetensors" --features-classifier "$work/c.safetensors" --data "$work/nodata" --out "$work/q.json"
  exec 9>&-
  expect_status 1 "needs 100 images of Highway but" "$augment" --generated "$out" --out "$work/aug100" --sizes 100
  # --per total over two classes: River from a run whose classifier favours River.
  "$fixtures" classifier "$work/river.safetensors" 8 || fail "gan_fixtures classifier (River)"
  "$generate" --generator "$work/g.safetensors" --classifier "$work/river.safetensors" \
    --classes River --keep 4 --batch 4 --out "$work/river" >"$work/out" 2>&1 || fail "River run: $(cat "$work/out")"
  both=$work/both
  mkdir -p "$both" && cp -r "$out/Highway" "$work/river/River" "$both/"
  { cat "$out/manifest.csv"; tail -n +2 "$work/river/manifest.csv"; } >"$both/manifest.csv"
  expect_status 0 "augmented5 (--per total): Highway 3, River 2" "$augment" --generated "$both" --out "$work/total" --sizes 5 --per total
  [ "$(ls "$work/total/augmented5/River" | wc -l)" -eq 2 ] || fail "--per total River count"
  echo "generate / build_augmented smoke test passed"
  exit 0
fi

# quality: gan_quality on the real test split.
q=$work/q.json
run_or_skip "$work/q.out" "$quality" --generator "$work/g.safetensors" \
  --features-classifier "$work/c.safetensors" --classes Highway,River --count 4 --batch 4 \
  --fraction 0.01 --baseline --out "$q" --data "${EMBER_DATA:-}" ||
  fail "gan_quality failed: $(cat "$work/q.out")"
grep -q "NOT the Inception-v3 FID" "$work/q.out" || fail "the output does not say it is not FID"
grep -qE "^Highway +4 +1.0000" "$work/q.out" || fail "no Highway row in the table: $(cat "$work/q.out")"
$py - "$q" <<'PY' || fail "gan_quality JSON is malformed: $(cat "$q")"
import json, math, sys
r = json.load(open(sys.argv[1]))
assert r["format"] == "ember.gan_quality.v1" and "NOT" in r["note"] and r["feature_dim"] == 1408
h, v = r["classes"]["Highway"], r["classes"]["River"]
assert h["acceptance_rate"] == 1.0 and v["acceptance_rate"] == 0.0
for c in (h, v):
    for k in ("frechet", "diversity_generated", "diversity_real", "frechet_real_val_vs_test"):
        assert math.isfinite(c[k]) and c[k] > -1e-6, (k, c[k])
    assert c["real_test_images"] >= 2 and c["generated"] == 4
PY
expect_status 1 "never overwritten" "$quality" --generator "$work/g.safetensors" --features-classifier "$work/c.safetensors" --out "$q"
expect_status 2 "--features-classifier FILE is required" "$quality" --generator "$work/g.safetensors"
echo "gan_quality smoke test passed"

#!/usr/bin/env bash
# Loom benchmarks, side by side with the tools a user would otherwise use, in ONE run so that the
# ratios compare like with like (same machine, same moment, same warm page cache):
#   a) find -printf              — the listing peer
#   b) loom-cli index --no-probe — listing + catalog write, fresh catalog each run
#   c) loom-cli index --no-probe — re-index of the unchanged tree
#   d) loom-cli index (probing)  — vs `file --mime-type` (serial and -P2), and vs exiftool on 2,000 files
#   e) bench_dataset_save        — 1,000,000-row dataset save vs `sqlite3 .import` of the same rows
#   f) thumbnails of 500 4000x3000 JPEGs to 256 px: a media.thumbnail flow vs vipsthumbnail on both cores
#   g) metadata of 2,000 mixed media files: loom-cli index vs exiftool, and vs one ffprobe per file
#   h) 10,000 model calls against the model-API test server (100 ms latency, 6,000 requests/min):
#      throughput as a ratio of the limit, Loom's CPU per call (bench/model_calls.sh)
#   i) listing a bucket of 100,000 objects on s3rver: loom-cli index vs `aws s3 ls --recursive` and
#      `rclone lsjson -R`, on loopback and with 50 ms per request added (bench/s3_list.sh)
#   k) a frame every 5 and 30 s from a 120 s 720p H.264 video: video.frames vs `ffmpeg -vf fps=1/N`
#      (bench/frames.sh; SKIP_FRAMES=1 to leave out)
#   j) near-duplicate search over 100,000 64-bit hashes: image.near_duplicates' multi-index grouping
#      vs comparing all pairs, in one process (bench_near_duplicates)
# Results go to bench/work/results/ and docs/BENCHMARKS.md. Takes ~5–10 minutes on 2 cores.
#
# Environment: RUNS (fast benchmarks, default 10), SLOW_RUNS (probing and saves, default 3),
# FOLDERS / PER_FOLDER (tree shape, default 1000 × 100), ROWS (dataset rows, default 1000000),
# BUILD_DIR (default build-bench), SKIP_BUILD=1 to reuse the binaries as they are,
# N_PHOTOS / N_MIXED (media fixtures, default 500 / 2000), SKIP_MEDIA=1 to leave out (f) and (g),
# N_CALLS (default 10000), SKIP_MODELS=1 to leave out (h), N_OBJECTS (default 100000) / S3_RUNS
# (default 3), SKIP_S3=1 to leave out (i); N_HASHES (default 100000), SKIP_NEAR_DUP=1 to leave out (j).
# Needs: cmake, ninja, a C++20 compiler, python3, find, file, sqlite3. Uses when present: hyperfine
# (else bench/timeit.py), exiftool, ImageMagick `convert` (JPEG templates), /usr/bin/time.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-bench}
WORK=$ROOT/bench/work
TREE=$WORK/tree
SUBSET=$WORK/subset
CATS=$WORK/catalogs
RES=$WORK/results
RUNS=${RUNS:-10}
SLOW_RUNS=${SLOW_RUNS:-3}
FOLDERS=${FOLDERS:-1000}
PER_FOLDER=${PER_FOLDER:-100}
ROWS=${ROWS:-1000000}
SUBSET_FOLDERS=20  # × PER_FOLDER files for the exiftool comparison
N_PHOTOS=${N_PHOTOS:-500}
N_MIXED=${N_MIXED:-2000}
MEDIA=$WORK/media

say() { printf '\n== %s\n' "$*" >&2; }
have() { command -v "$1" > /dev/null 2>&1; }
# One line per checkpoint: load average, plus the CPU time the whole machine used (/proc/stat) and
# the CPU time this script's finished children used, so report.py can tell how much CPU *other*
# processes (another build, a test run) took during each benchmark. Clock ticks, see CLK_TCK.
loadmark() {
  local busy self
  busy=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat)
  self=$(awk '{print $14+$15+$16+$17}' "/proc/$$/stat")
  printf '{"at": "%s", "when": "%s", "t": %s, "loadavg": "%s", "busy_ticks": %s, "self_ticks": %s}\n' "$1" \
    "$(date -u +%FT%TZ)" "$(date +%s.%N)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$busy" "$self" >> "$RES/load.jsonl"
}
clean() { rm -f "$CATS/$1.db" "$CATS/$1.db-wal" "$CATS/$1.db-shm"; }

for tool in cmake ninja python3 find file sqlite3; do
  have "$tool" || { echo "bench/run.sh: '$tool' is needed (see scripts/install-deps.sh)" >&2; exit 1; }
done
HYPERFINE=0; have hyperfine && HYPERFINE=1
TIMEV=0; [ -x /usr/bin/time ] && TIMEV=1
have hyperfine || echo "note: hyperfine not found (apt-get install hyperfine); timing with bench/timeit.py" >&2
have exiftool || echo "note: exiftool not found (apt-get install libimage-exiftool-perl); skipping that peer" >&2
[ "$TIMEV" = 1 ] || echo "note: /usr/bin/time not found (apt-get install time); peak RSS of peers not measured" >&2

mkdir -p "$WORK" "$CATS"
rm -rf "$RES"
mkdir -p "$RES"
STARTED=$(date +%s)
loadmark "build + tree"
# What was measured, for the report (which may be regenerated later from these results).
# Line 1: the commit; then the files of engine/, app/ and bench/ that differ from it.
{ git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo unknown
  git -C "$ROOT" status --porcelain -- engine app bench 2> /dev/null | cut -c4- || true
} > "$RES/commit.txt"

# ---------------------------------------------------------------------------------------------
say "build (Release, $BUILD)"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOOM_BUILD_GUI=OFF -DLOOM_BUILD_TESTS=OFF \
    > "$RES/cmake.log"
  ninja -C "$BUILD" -j2 loom-cli bench_dataset_save bench_near_duplicates
fi
LOOM=$BUILD/app/loom-cli
SAVE=$BUILD/bench/bench_dataset_save
[ -x "$LOOM" ] && [ -x "$SAVE" ] || { echo "bench/run.sh: binaries missing in $BUILD" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
say "tree: $FOLDERS folders × $PER_FOLDER files under $TREE"
STAMP="folders=$FOLDERS per_folder=$PER_FOLDER generator=$(sha1sum "$ROOT/bench/make_tree.py" | cut -c1-12)"
if [ -f "$WORK/tree.stamp" ] && [ "$(cat "$WORK/tree.stamp")" = "$STAMP" ] && [ -d "$TREE" ]; then
  echo "reusing the existing tree ($STAMP)" >&2
else
  rm -rf "$TREE" "$SUBSET" "$WORK/templates" "$WORK/tree.stamp"
  mkdir -p "$WORK/templates"
  if have convert; then
    for d in 64x48 120x90 320x240 90x120; do
      convert -size "$d" plasma:fractal -quality 80 -set comment "loom bench" "$WORK/templates/t_$d.jpg"
    done
    # One portrait JPEG with EXIF (orientation 6): the kind of header that probing has to read.
    have exiftool && exiftool -q -overwrite_original -Make=Loom -Model=Bench '-Orientation#=6' \
      "$WORK/templates/t_90x120.jpg"
  else
    echo "note: ImageMagick 'convert' not found; the tree gets PNG/GIF/BMP images but no JPEG" >&2
  fi
  python3 "$ROOT/bench/make_tree.py" "$TREE" --folders "$FOLDERS" --per-folder "$PER_FOLDER" \
    --templates "$WORK/templates"
  echo "$STAMP" > "$WORK/tree.stamp"
fi
if [ ! -d "$SUBSET" ]; then
  mkdir -p "$SUBSET"
  # Hard links: the same files, a separate folder that loom and exiftool can both be pointed at.
  for d in $(cd "$TREE" && ls | head -n "$SUBSET_FOLDERS"); do cp -al "$TREE/$d" "$SUBSET/"; done
fi
NFILES=$(find "$TREE" -type f | wc -l)
NSUBSET=$(find "$SUBSET" -type f | wc -l)
TREE_BYTES=$(du -sb "$TREE" | cut -f1)
echo "$NFILES files ($((TREE_BYTES / 1000000)) MB), subset $NSUBSET files" >&2
# Warm cache: every benchmark below reads from the page cache, none from the disk.
find "$TREE" -type f -print0 | xargs -0 cat > /dev/null

# ---------------------------------------------------------------------------------------------
# bench NAME RUNS WARMUP PREPARE CMD: times CMD (its stdout discarded) into $RES/NAME.json.
bench() {
  local name=$1 runs=$2 warmup=$3 prepare=$4 cmd=$5
  loadmark "$name"
  echo "-- $name: $cmd" >&2
  printf '%s\n' "${cmd//$ROOT\//}" > "$RES/$name.cmd"  # shown in the report, paths relative to the repo
  if [ "$HYPERFINE" = 1 ]; then
    local args=(--style basic --runs "$runs" --warmup "$warmup" --command-name "$name" --export-json "$RES/$name.json")
    [ -n "$prepare" ] && args+=(--prepare "$prepare")
    hyperfine "${args[@]}" "$cmd" 2>&1 | grep -E 'Time|Range' >&2
  else
    python3 "$ROOT/bench/timeit.py" --runs "$runs" --warmup "$warmup" --prepare "$prepare" --name "$name" \
      --export-json "$RES/$name.json" -- "$cmd"
  fi
}
# rss NAME CMD: one extra run under /usr/bin/time -v; stdout kept (loom's --json line), RSS recorded.
rss() {
  local name=$1 cmd=$2
  if [ "$TIMEV" = 1 ]; then
    /usr/bin/time -v -o "$RES/$name.time" bash -c "$cmd" > "$RES/$name.out"
  else
    bash -c "$cmd" > "$RES/$name.out"
  fi
}
# fresh NAME: the --prepare command that removes catalog NAME before each timed run.
fresh() { echo "rm -f $CATS/$1.db $CATS/$1.db-wal $CATS/$1.db-shm"; }

# ---------------------------------------------------------------------------------------------
say "a) listing: find -printf"
bench find "$RUNS" 2 "" "find $TREE -type f -printf '%p %s %T@\n' > /dev/null"
rss find "find $TREE -type f -printf '%p %s %T@\n' > /dev/null"

say "b) loom-cli index --no-probe, fresh catalog each run (listing + catalog write)"
bench loom_index "$RUNS" 1 "$(fresh new)" "$LOOM --catalog $CATS/new.db index $TREE --no-probe"
clean new
rss loom_index "$LOOM --catalog $CATS/new.db --json index $TREE --no-probe"

say "c) loom-cli index --no-probe, re-index of the unchanged tree"
clean re
"$LOOM" --catalog "$CATS/re.db" --json index "$TREE" --no-probe > /dev/null
bench loom_reindex "$RUNS" 1 "" "$LOOM --catalog $CATS/re.db index $TREE --no-probe"
rss loom_reindex "$LOOM --catalog $CATS/re.db --json index $TREE --no-probe"

say "d) content probing: loom-cli index (probe every file) vs file --mime-type"
bench loom_probe "$SLOW_RUNS" 0 "$(fresh probe)" "$LOOM --catalog $CATS/probe.db index $TREE"
clean probe
rss loom_probe "$LOOM --catalog $CATS/probe.db --json index $TREE"
bench file_serial "$SLOW_RUNS" 0 "" "find $TREE -type f -print0 | xargs -0 file --mime-type > /dev/null"
# xargs -P2: file on both cores, as loom probes on both; the fair peer on this machine.
bench file_p2 "$SLOW_RUNS" 0 "" "find $TREE -type f -print0 | xargs -0 -P2 -n 2000 file --mime-type > /dev/null"
rss file_p2 "find $TREE -type f -print0 | xargs -0 -P2 -n 2000 file --mime-type > /dev/null"

if have exiftool; then
  say "d2) $NSUBSET-file subset: loom-cli index vs exiftool (MIME type and image size)"
  bench loom_probe_subset "$RUNS" 1 "$(fresh sub)" "$LOOM --catalog $CATS/sub.db index $SUBSET"
  clean sub
  rss loom_probe_subset "$LOOM --catalog $CATS/sub.db --json index $SUBSET"
  bench exiftool_subset "$SLOW_RUNS" 1 "" "exiftool -q -q -r -MIMEType -ImageWidth -ImageHeight $SUBSET > /dev/null"
  rss exiftool_subset "exiftool -q -q -r -MIMEType -ImageWidth -ImageHeight $SUBSET > /dev/null"
fi

if [ "${SKIP_MEDIA:-0}" != 1 ]; then
  say "media fixtures: $N_PHOTOS photos, $N_MIXED mixed files under $MEDIA"
  "$ROOT/bench/make_media.sh" "$MEDIA" "$N_PHOTOS" "$N_MIXED"
  find "$MEDIA/photos" "$MEDIA/mixed" -type f -print0 | xargs -0 cat > /dev/null  # warm the page cache
  THUMBS=$WORK/thumbs

  say "f) $N_PHOTOS thumbnails of 4000x3000 JPEGs to 256 px: loom flow vs vipsthumbnail"
  # Loom's whole path: list, decode at reduced size, resize, encode, write blobs and the dataset,
  # with a fresh catalog and an empty thumbnail cache every run.
  LOOM_THUMBS="LOOM_THUMBNAIL_CACHE=$THUMBS/loom/cache $LOOM --catalog $THUMBS/loom/c.db run $ROOT/bench/thumbs.loomflow --param src.uri=$MEDIA/photos"
  bench loom_thumbs "$SLOW_RUNS" 1 "rm -rf $THUMBS/loom && mkdir -p $THUMBS/loom" "$LOOM_THUMBS"
  rm -rf "$THUMBS/loom" && mkdir -p "$THUMBS/loom"
  rss loom_thumbs "$LOOM_THUMBS --json"
  if have vipsthumbnail; then
    VIPS="find $MEDIA/photos -name '*.jpg' -print0 | xargs -0 -P2 -n 25 vipsthumbnail --size 256 -o $THUMBS/vips/%s.jpg"
    bench vips_thumbs "$SLOW_RUNS" 1 "rm -rf $THUMBS/vips && mkdir -p $THUMBS/vips" "$VIPS"
    rm -rf "$THUMBS/vips" && mkdir -p "$THUMBS/vips"
    rss vips_thumbs "$VIPS"
    ls "$THUMBS/vips" | wc -l > "$RES/vips_thumbs.count"
  else
    echo "note: vipsthumbnail not found (apt-get install libvips-tools); skipping that peer" >&2
  fi

  say "g) metadata of $N_MIXED mixed media files: loom-cli index vs exiftool and ffprobe"
  bench loom_media "$RUNS" 1 "$(fresh media)" "$LOOM --catalog $CATS/media.db index $MEDIA/mixed"
  clean media
  rss loom_media "$LOOM --catalog $CATS/media.db --json index $MEDIA/mixed"
  sqlite3 -json "$CATS/media.db" "SELECT substr(mime, 1, instr(mime, '/') - 1) AS kind, count(*) AS n,
    count(duration) AS with_duration, count(width) AS with_size, count(error) AS errors FROM objects GROUP BY 1" \
    > "$RES/loom_media.kinds.json"
  if have exiftool; then
    EXIF="exiftool -q -q -r -n -MIMEType -ImageWidth -ImageHeight -Duration -AudioSampleRate -PageCount $MEDIA/mixed > /dev/null"
    bench exiftool_media "$SLOW_RUNS" 1 "" "$EXIF"
    rss exiftool_media "$EXIF"
  fi
  if have ffprobe; then
    # One ffprobe per file, two at a time (both cores, as Loom uses). ffprobe fails on the PDFs, and
    # xargs then exits 123; that is the peer working as designed, not a failed benchmark.
    FFP="find $MEDIA/mixed -type f -print0 | xargs -0 -P2 -n 1 ffprobe -v quiet -show_format -show_streams -of json > /dev/null || [ \$? -eq 123 ]"
    # About a minute a run, and steady: two runs, no warm-up (the page cache is already warm), and
    # no extra run for peak RSS (one ffprobe process is small).
    bench ffprobe_media 2 0 "" "$FFP"
  fi
  rm -f "$CATS"/*.db "$CATS"/*.db-wal "$CATS"/*.db-shm
fi

say "e) save a $ROWS-row dataset: bench_dataset_save vs sqlite3 .import of the same rows"
CSV=$WORK/rows_$ROWS.csv
"$SAVE" --csv "$CSV" --rows "$ROWS"
loadmark dataset_save
: > "$RES/dataset_save.jsonl"
for i in $(seq 0 "$SLOW_RUNS"); do  # run 0 is the warm-up, not recorded
  clean save
  if [ "$i" = 0 ]; then "$SAVE" --catalog "$CATS/save.db" --rows "$ROWS" > /dev/null; continue; fi
  "$SAVE" --catalog "$CATS/save.db" --rows "$ROWS" | tee -a "$RES/dataset_save.jsonl" >&2
done
clean save
rss dataset_save "$SAVE --catalog $CATS/save.db --rows $ROWS"
SQLITE_SQL="CREATE TABLE objects(uri TEXT, name TEXT, etag TEXT, size INTEGER, mtime TEXT, mime TEXT, width INTEGER, height INTEGER);"
bench sqlite_import "$SLOW_RUNS" 1 "$(fresh sqlite)" \
  "sqlite3 $CATS/sqlite.db '$SQLITE_SQL' '.import --csv --skip 1 $CSV objects'"
clean sqlite
rss sqlite_import "sqlite3 $CATS/sqlite.db '$SQLITE_SQL' '.import --csv --skip 1 $CSV objects'"
[ "$(sqlite3 "$CATS/sqlite.db" 'SELECT count(*) FROM objects')" = "$ROWS" ] || {
  echo "bench/run.sh: sqlite3 imported the wrong number of rows" >&2; exit 1; }
rm -f "$CATS"/*.db "$CATS"/*.db-wal "$CATS"/*.db-shm

loadmark end
# ---------------------------------------------------------------------------------------------
if [ "${SKIP_MODELS:-0}" != 1 ]; then
  say "h) ${N_CALLS:-10000} model calls against the test server: 100 ms latency, 6,000 requests/min limit"
  "$ROOT/bench/model_calls.sh" "$LOOM" "$RES" "$WORK" "${N_CALLS:-10000}" > /dev/null
fi

if [ "${SKIP_S3:-0}" != 1 ]; then
  say "i) listing a bucket of ${N_OBJECTS:-100000} objects: loom-cli index vs aws s3 ls vs rclone lsjson, loopback and distant"
  RUNS=${S3_RUNS:-3} "$ROOT/bench/s3_list.sh" "$LOOM" "$RES" "$WORK" "${N_OBJECTS:-100000}" > /dev/null
fi

if [ "${SKIP_NEAR_DUP:-0}" != 1 ]; then
  say "j) near-duplicate search: ${N_HASHES:-100000} hashes, multi-index grouping vs all pairs"
  "$BUILD/bench/bench_near_duplicates" --hashes "${N_HASHES:-100000}" > "$RES/near_duplicates.json"
fi

if [ "${SKIP_FRAMES:-0}" != 1 ]; then
  say "k) frame extraction every 5 and 30 s from a 120 s 720p video: video.frames vs ffmpeg -vf fps"
  "$ROOT/bench/frames.sh" "$LOOM" "$RES" "$WORK" > /dev/null
fi

say "report"
REPORT_ARGS=(python3 "$ROOT/bench/report.py" --results "$RES" --root "$ROOT" --loom "$LOOM" --tree "$TREE"
  --files "$NFILES" --subset-files "$NSUBSET" --tree-bytes "$TREE_BYTES" --rows "$ROWS"
  --photos "$N_PHOTOS" --mixed "$N_MIXED" --media "$MEDIA"
  --runs "$RUNS" --slow-runs "$SLOW_RUNS" --seconds "$(( $(date +%s) - STARTED ))"
  --tool "$([ "$HYPERFINE" = 1 ] && hyperfine --version || echo 'bench/timeit.py')"
  --out "$ROOT/docs/BENCHMARKS.md")
# Kept as a script: after editing bench/analysis.md or bench/report.py, `bash bench/work/results/report.sh`
# regenerates docs/BENCHMARKS.md from these results without measuring again.
printf '%q ' "${REPORT_ARGS[@]}" > "$RES/report.sh"
echo >> "$RES/report.sh"
"${REPORT_ARGS[@]}"
echo "wrote docs/BENCHMARKS.md ($(( $(date +%s) - STARTED )) s)" >&2

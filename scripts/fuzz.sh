#!/usr/bin/env bash
# Builds Loom's libFuzzer targets with clang, AddressSanitizer and UndefinedBehaviorSanitizer, and
# runs them for a set time on seed corpora made here (nothing downloaded):
#
#   scripts/fuzz.sh [TARGET] [SECONDS]   # TARGET: probe (default), flow, listing, model, sql or all
#                                        # SECONDS per target, default 600
#
# Targets (tests/fuzz/README.md): probe (media probing), flow (.loomflow loading and validation),
# listing (S3 and Azure listing pages), model (model API answers), sql (filter/derive/sort SQL).
# Seeds: probe gets the demo assets (scripts/make-demo-assets.sh, cut to the maximum input length);
# the others get tests/fuzz/make_seeds.py's (flows from examples/ and the tests, listing pages and
# model answers shaped like the real services', SQL from the tests and docs), with a dictionary of
# the format's tokens. Every target also starts from its saved inputs in tests/fuzz/regressions/TARGET.
# The corpus grows in build-fuzz/corpus/TARGET and is kept between runs.
#
# A crash, leak, timeout, out-of-memory or broken property is copied to tests/fuzz/regressions/TARGET/
# (commit it with the fix: loom_engine_tests replays every file there, FuzzRegressions.*) and the
# script exits 1 once every asked-for target has run. The last line for each target is a summary:
#   fuzz.sh: TARGET seconds=… execs=… exec_per_s=… corpus=UNITS/SIZE cov=… ft=… peak_rss_mb=… result=clean|failed
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${1:-probe}
SECONDS_TO_RUN=${2:-600}
BUILD=${LOOM_FUZZ_BUILD_DIR:-build-fuzz}
ALL_TARGETS="probe flow listing model sql"
case " $ALL_TARGETS all " in
  *" $TARGET "*) ;;
  *) echo "fuzz.sh: unknown target '$TARGET'; use one of: $ALL_TARGETS, all" >&2; exit 2 ;;
esac
[ "$TARGET" = all ] && TARGETS=$ALL_TARGETS || TARGETS=$TARGET
command -v clang++-14 > /dev/null || { echo "fuzz.sh: clang++-14 is needed (scripts/install-deps.sh)" >&2; exit 1; }

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 \
  -DCMAKE_CXX_COMPILER=clang++-14 "-DCMAKE_CXX_FLAGS=$SAN -fsanitize=fuzzer-no-link" \
  "-DCMAKE_EXE_LINKER_FLAGS=$SAN" -DLOOM_FUZZ=ON -DLOOM_BUILD_GUI=OFF -DLOOM_BUILD_TESTS=OFF \
  -DLOOM_BUILD_BENCH=OFF > /dev/null
# shellcheck disable=SC2086
cmake --build "$BUILD" -j "$(nproc)" --target $(for t in $TARGETS; do echo "fuzz_$t"; done)

assets=""
trap '[ -n "$assets" ] && rm -rf "$assets"' EXIT

# Makes the seed corpus (and dictionary) of a target once; kept in $BUILD/seeds/TARGET.
make_seeds() {
  local target=$1 seeds=$2 max_len=$3
  [ -n "$(ls -A "$seeds" 2> /dev/null)" ] && return 0
  mkdir -p "$seeds"
  if [ "$target" != probe ]; then
    python3 tests/fuzz/make_seeds.py "$target" "$seeds" "$BUILD/seeds/$target.dict"
    return 0
  fi
  assets=$(mktemp -d)
  scripts/make-demo-assets.sh "$assets/a"
  # An input is one selector byte (which file name the target probes under, see fuzz_names.h) then
  # the bytes. The selector matches the file's own extension, so seeds start on the right path.
  python3 - "$assets/a" "$seeds" "$max_len" <<'PYEOF'
import os, re, sys
src, out, max_len = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = re.findall(r'"x\.(\w+)"', open("tests/fuzz/fuzz_names.h").read())
aliases = {"jpeg": "jpg", "tiff": "tif", "ogg": "opus", "md": "txt", "json": "txt"}
n = 0
for root, _, files in os.walk(src):
    for f in sorted(files):
        ext = f.rsplit(".", 1)[-1].lower() if "." in f else "bin"
        ext = aliases.get(ext, ext)
        sel = names.index(ext) if ext in names else names.index("bin")
        data = open(os.path.join(root, f), "rb").read()[: max_len - 1]
        open(os.path.join(out, f"seed{n:03d}_{f}"), "wb").write(bytes([sel]) + data); n += 1
print(f"fuzz.sh: {n} seed inputs in {out}", file=sys.stderr)
PYEOF
}

# Runs one target; prints its summary line; returns libFuzzer's exit status.
run_target() {
  local target=$1 max_len=65536 timeout=10 rss=2048
  case $target in
    probe) max_len=262144 timeout=30 ;;
    sql) max_len=4096 ;;
  esac
  local seeds=$BUILD/seeds/$target corpus=$BUILD/corpus/$target art=$BUILD/artifacts/$target
  local reg=tests/fuzz/regressions/$target log=$BUILD/fuzz_$target.log
  mkdir -p "$corpus" "$art" "$reg"
  make_seeds "$target" "$seeds" "$max_len"
  local dict=()
  [ -f "$BUILD/seeds/$target.dict" ] && dict=("-dict=$BUILD/seeds/$target.dict")
  echo "fuzz.sh: running fuzz_$target for $SECONDS_TO_RUN s (corpus $corpus)" >&2
  local start rc
  start=$(date +%s)
  set +e
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$BUILD/tests/fuzz/fuzz_$target" "$corpus" "$seeds" "$reg" "${dict[@]}" -max_total_time="$SECONDS_TO_RUN" \
    -max_len=$max_len -timeout=$timeout -rss_limit_mb=$rss -malloc_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="$art/" 2>&1 | tee "$log" | grep -aE '^#[0-9]+[[:space:]]+(INITED|DONE|pulse)|ERROR|SUMMARY|stat::|^fuzz: ' >&2
  rc=${PIPESTATUS[0]}
  set -e
  local seconds=$(( $(date +%s) - start ))
  local last execs rate cov ft corp rss_mb
  last=$(grep -aE '^#[0-9]+[[:space:]]' "$log" | tail -1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  rss_mb=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<< "$last")
  local result=clean
  if [ "$rc" -ne 0 ]; then
    result=failed
    for f in "$art"/*; do [ -f "$f" ] && cp "$f" "$reg/" && echo "fuzz.sh: kept $reg/$(basename "$f")" >&2; done
    rm -f "$art"/*
    echo "fuzz.sh: fuzz_$target failed (exit $rc); full log: $log" >&2
  fi
  echo "fuzz.sh: $target seconds=$seconds execs=${execs:-?} exec_per_s=${rate:-?} corpus=${corp:-?}" \
    "cov=${cov:-?} ft=${ft:-?} peak_rss_mb=${rss_mb:-?} result=$result"
  return "$rc"
}

failed=""
for t in $TARGETS; do
  run_target "$t" || failed="$failed $t"
done
if [ -n "$failed" ]; then
  echo "fuzz.sh: failed:$failed (inputs kept in tests/fuzz/regressions/)" >&2
  exit 1
fi
echo "fuzz.sh: $TARGETS ran $SECONDS_TO_RUN s each, clean" >&2

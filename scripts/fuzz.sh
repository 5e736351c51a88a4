#!/usr/bin/env bash
# Builds Loom's libFuzzer targets with clang, AddressSanitizer and UndefinedBehaviorSanitizer, and
# runs one for a set time on a seed corpus made here (nothing downloaded):
#
#   scripts/fuzz.sh [TARGET] [SECONDS]     # TARGET: probe (default); SECONDS default 600
#
# Seeds for `probe` are the demo assets (scripts/make-demo-assets.sh: every image, video, audio,
# PDF and text format Loom probes, plus broken files), cut to the fuzzer's maximum input length, and
# the saved crash inputs in tests/fuzz/regressions/probe. The corpus grows in build-fuzz/corpus/TARGET
# and is kept between runs. A crash, leak or timeout is copied to tests/fuzz/regressions/TARGET/
# (commit it: loom_engine_tests replays every file there, FuzzRegressions.*) and the script exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${1:-probe}
SECONDS_TO_RUN=${2:-600}
BUILD=${LOOM_FUZZ_BUILD_DIR:-build-fuzz}
MAX_LEN=262144
command -v clang++-14 > /dev/null || { echo "fuzz.sh: clang++-14 is needed (scripts/install-deps.sh)" >&2; exit 1; }

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 \
  -DCMAKE_CXX_COMPILER=clang++-14 "-DCMAKE_CXX_FLAGS=$SAN -fsanitize=fuzzer-no-link" \
  "-DCMAKE_EXE_LINKER_FLAGS=$SAN" -DLOOM_FUZZ=ON -DLOOM_BUILD_GUI=OFF -DLOOM_BUILD_TESTS=OFF \
  -DLOOM_BUILD_BENCH=OFF > /dev/null
cmake --build "$BUILD" --target "fuzz_$TARGET" -j "$(nproc)"

SEEDS=$BUILD/seeds/$TARGET
CORPUS=$BUILD/corpus/$TARGET
ART=$BUILD/artifacts/$TARGET
REG=tests/fuzz/regressions/$TARGET
mkdir -p "$SEEDS" "$CORPUS" "$ART" "$REG"
if [ "$TARGET" = probe ] && [ -z "$(ls -A "$SEEDS")" ]; then
  assets=$(mktemp -d)
  trap 'rm -rf "$assets"' EXIT
  scripts/make-demo-assets.sh "$assets/a"
  # An input is one selector byte (which file name the target probes under, see fuzz_names.h) then
  # the bytes. The selector matches the file's own extension, so seeds start on the right path.
  python3 - "$assets/a" "$SEEDS" "$MAX_LEN" <<'PYEOF'
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
fi

echo "fuzz.sh: running fuzz_$TARGET for $SECONDS_TO_RUN s (corpus $CORPUS)" >&2
set +e
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
  "$BUILD/tests/fuzz/fuzz_$TARGET" "$CORPUS" "$SEEDS" "$REG" -max_total_time="$SECONDS_TO_RUN" \
  -max_len=$MAX_LEN -timeout=30 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
  -artifact_prefix="$ART/" 2>&1 | tee "$BUILD/fuzz_$TARGET.log" | grep -E '^#[0-9]+ +(INITED|DONE|pulse)|ERROR|SUMMARY|stat::' >&2
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  for f in "$ART"/*; do [ -f "$f" ] && cp "$f" "$REG/" && echo "fuzz.sh: kept $REG/$(basename "$f")" >&2; done
  echo "fuzz.sh: fuzz_$TARGET failed (exit $rc); full log: $BUILD/fuzz_$TARGET.log" >&2
  exit 1
fi
echo "fuzz.sh: fuzz_$TARGET ran $SECONDS_TO_RUN s clean; log: $BUILD/fuzz_$TARGET.log" >&2

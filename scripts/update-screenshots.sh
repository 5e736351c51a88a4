#!/usr/bin/env bash
# Rebuilds the desktop app's window test and runs it offscreen so that it writes its screenshot(s)
# into docs/screenshots/ (main_window.png). Look at the PNGs, then commit them with the change that
# altered the UI.
#
#   scripts/update-screenshots.sh            # build dir: $LOOM_BUILD_DIR, else build-gui
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${LOOM_BUILD_DIR:-build-gui}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${LOOM_BUILD_TYPE:-Release} -DLOOM_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$BUILD_DIR" --target tst_main_window -j "$(nproc)"
mkdir -p docs/screenshots
LOOM_SCREENSHOT_DIR="$PWD/docs/screenshots" ctest --test-dir "$BUILD_DIR" -R '^tst_main_window$' --output-on-failure
echo "screenshots in docs/screenshots:"
ls -l docs/screenshots/*.png

#!/usr/bin/env bash
# Installs what is missing, builds Loom, generates the demo workspace and runs Loom on it: the desktop
# app when a display is available, the demo flow with loom-cli otherwise. No keys, no network.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
BUILD_DIR=${LOOM_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
scripts/make-demo-assets.sh demo/assets
CATALOG=demo/catalog.db
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x "$BUILD_DIR/app/desktop/loom" ]; then
  exec "$BUILD_DIR/app/desktop/loom" --catalog "$CATALOG" examples/demo.loomflow
fi
CLI="$BUILD_DIR/app/loom-cli"
"$CLI" --catalog "$CATALOG" run examples/demo.loomflow
cat <<EOT

No display found, so the demo flow ran headless. Look at the results:
  $CLI --catalog $CATALOG datasets
  $CLI --catalog $CATALOG show demo_assets --limit 50
  $CLI --catalog $CATALOG show demo_large_images
  $CLI --catalog $CATALOG lineage demo_large_images --row 1
  $CLI --catalog $CATALOG export demo_assets --format csv --out demo_assets.csv
With a display (or under xvfb-run), the same command opens the desktop app on this workspace.
EOT

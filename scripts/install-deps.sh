#!/usr/bin/env bash
# Installs every Debian 12 package Loom's build, tests, demo and benchmarks need. Idempotent and
# quiet when everything is present. Run as root or with sudo available.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config git
  # engine libraries
  libsqlite3-dev libcurl4-openssl-dev libssl-dev nlohmann-json3-dev libmagic-dev libmagic-mgc
  libre2-dev  # regular expressions in flows (linear-time matching)
  openssl  # certificates for the TLS tests
  libopencv-dev libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libswresample-dev
  libpoppler-cpp-dev
  # local models (model.onnx, model.faces, model.ocr): OpenCV DNN/objdetect come with libopencv-dev;
  # the stock Haar cascades; Tesseract and its English data (optional at build time: without it
  # model.ocr runs fail saying how to get it)
  opencv-data libtesseract-dev tesseract-ocr-eng
  # CLI and tests
  libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev sqlite3 python3 file
  # tests/support/make_onnx_model.py writes the local-model tests' ONNX models (nothing is downloaded)
  python3-onnx
  # desktop app
  qt6-base-dev qt6-svg-dev qt6-tools-dev qt6-tools-dev-tools qt6-l10n-tools libgl-dev fonts-dejavu-core
  # demo assets and GUI checks
  ffmpeg espeak-ng xvfb xauth
  # fuzzing (clang's libFuzzer)
  clang-14 libfuzzer-14-dev
  # benchmark peers
  hyperfine time libvips-tools libimage-exiftool-perl
  # cloud storage: the official AWS CLI fills test buckets and is a benchmark peer with rclone;
  # Node.js runs the S3 and Azure emulators (tests/support/node)
  awscli rclone nodejs
)

missing=()
for p in "${PACKAGES[@]}"; do
  # dpkg-query is quiet and fast; only ask apt when something is really missing.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The storage tests' protocol servers (s3rver, azurite), pinned by tests/support/node/package-lock.json
# and installed beside it; nothing here runs as a service.
NODE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/support/node"
if ! command -v npm >/dev/null; then
  # Debian's nodejs package ships without npm.
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
if [ ! -x "$NODE_DIR/node_modules/.bin/s3rver" ] || [ ! -x "$NODE_DIR/node_modules/.bin/azurite" ] ||
   [ "$NODE_DIR/package-lock.json" -nt "$NODE_DIR/node_modules/.package-lock.json" ]; then
  echo "install-deps: installing the storage test servers (npm ci in tests/support/node)" >&2
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

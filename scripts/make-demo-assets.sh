#!/usr/bin/env bash
# Generates the small demo asset folder that examples/demo.loomflow runs over: images of many
# formats and sizes, a short video in three containers, spoken audio, a two-page PDF, text files and
# a few broken files. Everything is made locally with ffmpeg, espeak-ng and python3; nothing is
# downloaded.
#
#   scripts/make-demo-assets.sh [DIR]      # DIR defaults to <repo>/demo/assets (git-ignored)
#
# Idempotent: when DIR holds the stamp of this script's version it does nothing. It refuses to
# overwrite a non-empty DIR that it did not make. Quiet: prints one summary line, errors on stderr.
#
# What is made (display sizes; the EXIF JPEG is stored 1200x800 with orientation 6):
#   photos/    6 JPEGs, 640x480 .. 4000x3000, one with an EXIF orientation tag
#   graphics/  PNG, PNG with alpha, WebP, animated GIF, BMP, TIFF
#   video/     3 s 640x360 MP4 (H.264 + AAC), WebM (VP9 + Opus, when libvpx/libopus exist), MKV
#   audio/     espeak-ng speech as WAV, plus MP3 / FLAC / Ogg-Opus when the encoders exist
#   docs/      a hand-written two-page PDF
#   text/      README.md, CSV, JSON, a Latin-1 encoded .txt
#   broken/    a JPEG cut inside its header, a JPEG cut in half (its header is intact), a zero-byte
#              .jpg, and a .png that is really text
# The stamp file DIR/.demo-assets-version is listed by storage.list like any other file.

set -euo pipefail

VERSION="loom-demo-assets 1"
STAMP_NAME=".demo-assets-version"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
dir="${1:-$repo/demo/assets}"

die() {
  echo "make-demo-assets: $*" >&2
  exit 1
}

if [[ -f "$dir/$STAMP_NAME" ]] && [[ "$(cat "$dir/$STAMP_NAME" 2>/dev/null)" == "$VERSION" ]]; then
  exit 0  # already made by this version
fi

missing=()
for tool in ffmpeg espeak-ng python3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  die "missing ${missing[*]}; install the dependencies with scripts/install-deps.sh (or your package manager) and run this again"
fi

if [[ -e "$dir" && ! -d "$dir" ]]; then
  die "$dir exists and is not a folder"
fi
if [[ -d "$dir" && ! -f "$dir/$STAMP_NAME" ]] && [[ -n "$(ls -A "$dir")" ]]; then
  die "$dir is not empty and was not made by this script; remove it or pass another folder"
fi

start_ns=$(date +%s%N)
work="$(mktemp -d "${TMPDIR:-/tmp}/loom-demo-assets.XXXXXX")"
trap 'rm -rf "$work"' EXIT

encoders="$(ffmpeg -hide_banner -encoders 2>/dev/null || true)"
have_encoder() { grep -qE "^ [A-Z.]{6} $1 " <<<"$encoders"; }

ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@" </dev/null; }
# One still frame from a lavfi source: still SOURCE OUT [encoder options...]
still() {
  local src="$1" out="$2"
  shift 2
  ff -f lavfi -i "$src" -frames:v 1 "$@" "$work/$out"
}

mkdir -p "$work"/{photos,graphics,video,audio,docs,text,broken}

# --- photos: JPEGs of varied sizes ------------------------------------------------------------
still "testsrc2=size=640x480" photos/testcard_640x480.jpg -q:v 4
still "mandelbrot=size=1600x1200:maxiter=200" photos/mandelbrot_1600x1200.jpg -q:v 5
still "smptehdbars=size=1920x1080" photos/hdbars_1920x1080.jpg -q:v 4
still "testsrc2=size=4000x3000" photos/testcard_4000x3000.jpg -q:v 6
still "life=size=256x192:ratio=0.25:seed=7:life_color=#7fdf7f:death_color=#1a1a33,scale=1024:768:flags=neighbor" \
  photos/life_1024x768.jpg -q:v 6
# Stored sideways (1200x800) with EXIF orientation 6 ("rotate 90 degrees clockwise to show"), so a
# viewer that honours EXIF shows an upright 800x1200 portrait.
still "testsrc2=size=800x1200,transpose=2" photos/portrait_exif6_800x1200.jpg -q:v 5

# --- graphics: the other image formats ---------------------------------------------------------
still "gradients=size=800x600:c0=0x1f4e79:c1=0xf4b183:seed=3" graphics/gradient_800x600.png
still "color=c=0x2e86de:size=512x512,format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='if(lt(hypot(X-256,Y-256),220),255,0)'" \
  graphics/badge_alpha_512x512.png
if have_encoder libwebp; then
  still "smptebars=size=1280x720" graphics/banner_1280x720.webp -c:v libwebp -quality 70
fi
ff -f lavfi -i "cellauto=size=320x240:rule=30:rate=10:seed=5" -frames:v 10 -loop 0 "$work/graphics/cellauto_320x240.gif"
still "testsrc2=size=256x256" graphics/icon_256x256.bmp
# Small and flat, so the whole file (ffmpeg writes the TIFF directory after the pixels) fits in the
# first 64 KiB that header probing reads.
still "smptebars=size=1200x900" graphics/scan_1200x900.tiff -pix_fmt rgb24 -compression_algo deflate

# --- video ---------------------------------------------------------------------------------------
vsrc=(-f lavfi -i "testsrc2=size=640x360:rate=25:duration=3" -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=3")
ff "${vsrc[@]}" -c:v libx264 -preset veryfast -crf 30 -pix_fmt yuv420p -c:a aac -b:a 64k -shortest \
  -movflags +faststart "$work/video/clip_640x360.mp4"
if have_encoder libvpx-vp9 && have_encoder libopus; then
  ff "${vsrc[@]}" -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 300k -c:a libopus -b:a 48k -shortest \
    "$work/video/clip_640x360.webm"
fi
ff "${vsrc[@]}" -c:v libx264 -preset veryfast -crf 32 -pix_fmt yuv420p -c:a flac -shortest \
  "$work/video/clip_640x360.mkv"

# --- audio -------------------------------------------------------------------------------------
espeak-ng -v en -s 150 -w "$work/audio/speech.wav" \
  "Welcome to Loom. This short sentence was spoken by e speak, for the demo flow." 2>/dev/null \
  || die "espeak-ng could not write $work/audio/speech.wav"
if have_encoder libmp3lame; then
  ff -i "$work/audio/speech.wav" -c:a libmp3lame -b:a 64k "$work/audio/speech.mp3"
fi
ff -i "$work/audio/speech.wav" -c:a flac "$work/audio/speech.flac"
if have_encoder libopus; then
  ff -i "$work/audio/speech.wav" -c:a libopus -b:a 32k "$work/audio/speech.opus"
fi

# --- docs, text, broken: written by python3 (stdlib only) -------------------------------------
python3 - "$work" <<'PY'
import os, struct, sys

root = sys.argv[1]

def write(rel, data, mode="wb"):
    with open(os.path.join(root, rel), mode) as f:
        f.write(data)

# A two-page PDF with correct xref offsets.
def pdf(pages):
    objs = []  # index i holds object i+1
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(None)  # pages tree, filled in below
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for title, lines in pages:
        ops = ["BT", "/F1 24 Tf", "72 720 Td", "(%s) Tj" % title, "/F1 12 Tf", "0 -36 Td"]
        for line in lines:
            ops += ["(%s) Tj" % line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)"), "0 -16 Td"]
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        content = len(objs)
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                    b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % content)
        kids.append(len(objs))
    objs[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)

write("docs/loom-demo.pdf", pdf([
    ("Loom demo document", ["Page one of two.", "This PDF was written by hand by scripts/make-demo-assets.sh,",
                            "with a correct cross-reference table."]),
    ("Second page", ["Page two of two.", "Probing reads only the first bytes of a file."]),
]))

write("text/README.md", """# Demo assets

Generated by `scripts/make-demo-assets.sh` for `examples/demo.loomflow`.

| folder    | what                                   |
|-----------|----------------------------------------|
| photos/   | JPEGs from 640x480 to 4000x3000        |
| graphics/ | PNG, WebP, GIF, BMP, TIFF              |
| video/    | a 3 second test pattern with a tone    |
| audio/    | a spoken sentence                      |
| docs/     | a two-page PDF                         |
| text/     | this file, a CSV, a JSON, Latin-1 text |
| broken/   | files that are cut short or mislabelled |
""", "w")

write("text/measurements.csv", "sample,temperature_c,humidity_pct,station\n"
      + "".join("%d,%.1f,%d,%s\n" % (i, 12.5 + i * 0.7, 40 + (i * 7) % 30, "north" if i % 2 else "south")
                for i in range(1, 21)), "w")

write("text/catalog.json", """{
  "name": "demo",
  "generated_by": "scripts/make-demo-assets.sh",
  "tags": ["images", "video", "audio", "documents"],
  "items": [
    {"path": "photos/testcard_640x480.jpg", "label": "test card"},
    {"path": "audio/speech.wav", "label": "speech", "language": "en"}
  ]
}
""", "w")

# Latin-1 bytes that are not valid UTF-8.
write("text/notes-latin1.txt", ("Notes de démonstration, encodées en Latin-1 (ISO-8859-1).\n"
                                "Café, crème brûlée, naïve façade, Zürich, Ångström, 25 °C, ½ £.\n").encode("latin-1"))

# Broken files.
with open(os.path.join(root, "photos/testcard_640x480.jpg"), "rb") as f:
    jpeg = f.read()
# Find the frame header (SOF0..SOF15, not DHT/JPG/DAC) and cut the file in the middle of it.
pos = 2
sof = None
while pos + 4 <= len(jpeg):
    assert jpeg[pos] == 0xFF, "unexpected JPEG layout"
    marker = jpeg[pos + 1]
    length = struct.unpack(">H", jpeg[pos + 2:pos + 4])[0]
    if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
        sof = pos
        break
    pos += 2 + length
assert sof is not None, "no SOF marker in the generated JPEG"
write("broken/truncated-header.jpg", jpeg[:sof + 6])   # ends inside the frame header
write("broken/truncated-half.jpg", jpeg[:len(jpeg) // 2])  # header intact, scan data cut
write("broken/empty.jpg", b"")
write("broken/not-really.png", "This is plain text, not a PNG image.\n", "w")

# EXIF orientation 6 in an APP1 segment, right after SOI (little-endian TIFF, one IFD entry).
path = os.path.join(root, "photos/portrait_exif6_800x1200.jpg")
with open(path, "rb") as f:
    img = f.read()
tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHIHH", 274, 3, 1, 6, 0) + struct.pack("<I", 0)
app1 = b"Exif\x00\x00" + tiff
write("photos/portrait_exif6_800x1200.jpg", img[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + img[2:])
PY

echo "$VERSION" >"$work/$STAMP_NAME"

# Move into place: DIR is empty, missing, or an older version made by this script.
if [[ -d "$dir" ]]; then
  if [[ -f "$dir/$STAMP_NAME" ]]; then
    others="$(find "$dir" -mindepth 1 -maxdepth 1 -not -name "$STAMP_NAME" \
      -not \( -type d \( -name photos -o -name graphics -o -name video -o -name audio -o -name docs -o -name text -o -name broken \) \))"
    [[ -z "$others" ]] || die "$dir holds files this script did not make ($(head -n1 <<<"$others")); remove them or pass another folder"
    rm -rf -- "${dir:?}"/{photos,graphics,video,audio,docs,text,broken} "${dir:?}/$STAMP_NAME"
  fi
  rmdir -- "$dir"
fi
mkdir -p "$(dirname "$dir")"
mv -- "$work" "$dir"
trap - EXIT
chmod 755 "$dir"

files=$(find "$dir" -type f | wc -l)
kib=$(du -sk "$dir" | cut -f1)
ms=$((($(date +%s%N) - start_ns) / 1000000))
echo "demo assets: $files files, ${kib} KiB in $dir ($((ms / 1000)).$(printf '%03d' $((ms % 1000))) s)"

#!/usr/bin/env bash
# Media fixtures for bench/run.sh, all made locally (ffmpeg, espeak-ng, python3):
#   DIR/photos/  N_PHOTOS 4000x3000 JPEGs that compress like photos (gradients + sensor-like noise)
#   DIR/mixed/   N_MIXED files: JPEG and PNG images, MP4 (index first and last), MKV, WebM, AVI,
#                WAV, MP3, FLAC, Ogg/Opus, M4A and PDFs, a dozen distinct files of each kind copied
#                (not linked) up to the count, so every file is a separate object to probe.
#   usage: bench/make_media.sh DIR [N_PHOTOS] [N_MIXED]   (idempotent: stamp files record what was made)
set -euo pipefail
DIR=${1:?usage: make_media.sh DIR [N_PHOTOS] [N_MIXED]}
NP=${2:-500}
NM=${3:-2000}
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@" < /dev/null; }
enc=$(ffmpeg -hide_banner -encoders 2> /dev/null)
has() { grep -qE "^ [A-Z.]{6} $1 " <<< "$enc"; }
# Each part has its own stamp (what was asked for + how it is made), so changing one remakes only it.
PHOTO_FILTER="gradients=s=4000x3000:n=5:speed=0.02:seed=11,noise=alls=6:all_seed=7:allf=t+u,gblur=sigma=1.5"
PSTAMP="photos=$NP filter=$PHOTO_FILTER q=6"
if [ "$(cat "$DIR/photos.stamp" 2> /dev/null)" = "$PSTAMP" ]; then
  echo "reusing $NP photos" >&2
else
  rm -rf "$DIR/photos" "$DIR/photos.stamp"
  mkdir -p "$DIR/photos"
  echo "making $NP photos of 4000x3000 (1–3 MB each, like a phone's) ..." >&2
  ff -f lavfi -i "$PHOTO_FILTER" -frames:v "$NP" -q:v 6 "$DIR/photos/photo_%04d.jpg"
  echo "$PSTAMP" > "$DIR/photos.stamp"
fi

MSTAMP="mixed=$NM generator=$(sed -n '/^# --- mixed/,$p' "$0" | sha1sum | cut -c1-12)"
if [ "$(cat "$DIR/mixed.stamp" 2> /dev/null)" = "$MSTAMP" ]; then
  echo "reusing $NM mixed files" >&2
  exit 0
fi
# --- mixed (everything below is hashed into the stamp) --------------------------------------------
rm -rf "$DIR/mixed" "$DIR/distinct" "$DIR/mixed.stamp"
mkdir -p "$DIR/mixed" "$DIR/distinct"
echo "making distinct mixed media ..." >&2
D=$DIR/distinct
for i in 0 1 2 3 4 5 6 7 8 9; do
  w=$((640 + 160 * i)); h=$((480 + 90 * i))
  ff -f lavfi -i "gradients=s=${w}x${h}:seed=$i,noise=alls=8:allf=t" -frames:v 1 -q:v 4 "$D/img$i.jpg"
  ff -f lavfi -i "testsrc2=s=$((w / 2))x$((h / 2))" -frames:v 1 "$D/img$i.png"
  v=(-f lavfi -i "testsrc2=s=320x240:r=25:d=$((2 + i % 3))" -f lavfi -i "sine=f=$((300 + 40 * i)):d=$((2 + i % 3))")
  ff "${v[@]}" -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest -movflags +faststart "$D/vid$i.mp4"
  ff "${v[@]}" -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$D/vidend$i.mp4"
  ff "${v[@]}" -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a flac -shortest "$D/vid$i.mkv"
  ff "${v[@]}" -c:v mpeg4 -c:a pcm_s16le -shortest "$D/vid$i.avi"
  if has libvpx-vp9 && has libopus; then
    ff "${v[@]}" -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 200k -c:a libopus -shortest "$D/vid$i.webm"
  fi
  a=(-f lavfi -i "sine=f=$((220 + 30 * i)):sample_rate=44100:d=$((3 + i))")
  ff "${a[@]}" "$D/aud$i.wav"
  has libmp3lame && ff "${a[@]}" -c:a libmp3lame -b:a 128k "$D/aud$i.mp3"
  ff "${a[@]}" -c:a flac "$D/aud$i.flac"
  has libopus && ff "${a[@]}" -c:a libopus -b:a 64k "$D/aud$i.opus"
  ff "${a[@]}" -c:a aac -b:a 96k "$D/aud$i.m4a"
done
python3 - "$D" <<'PYEOF'
import sys
def pdf(pages, w=595, h=842):
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(pages)) +
            b"] /Count %d >>" % pages]
    for i in range(pages):
        text = b"BT /F1 24 Tf 72 700 Td (Loom bench page %d) Tj ET" % (i + 1)
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R "
                    b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>"
                    % (w, h, 4 + 2 * i))
        objs.append(b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offs = []
    for n, o in enumerate(objs, 1):
        offs.append(len(out)); out += b"%d 0 obj\n" % n + o + b"\nendobj\n"
    x = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for o in offs: out += b"%010d 00000 n \n" % o
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, x)
    return bytes(out)
for i in range(10):
    open(f"{sys.argv[1]}/doc{i}.pdf", "wb").write(pdf(1 + i, 595 if i % 2 else 612, 842 if i % 2 else 792))
PYEOF
# Copies (not hard links) up to NM files, cycling through the distinct ones.
mapfile -t src < <(cd "$D" && ls | sort)
for ((k = 0; k < NM; k++)); do
  f=${src[$((k % ${#src[@]}))]}
  cp "$D/$f" "$DIR/mixed/$(printf '%05d' "$k")_$f"
done
echo "$MSTAMP" > "$DIR/mixed.stamp"
echo "made $NM mixed files (${#src[@]} distinct) in $DIR" >&2

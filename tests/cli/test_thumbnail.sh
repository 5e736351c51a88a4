#!/usr/bin/env bash
# End-to-end test of thumbnails: `loom-cli thumbnail` on generated files of every modality (and on
# broken ones), then a flow with media.thumbnail run twice and once more on a new catalog.
#
#   tests/cli/test_thumbnail.sh LOOM_CLI
#
# Needs ffmpeg, espeak-ng and python3 (stdlib only). Prints "thumbnail: N passed, M failed" last and
# exits non-zero when any check fails.

set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" thumbnail "$@"
export LOOM_HOME="$tmp/home"
export LOOM_THUMBNAIL_CACHE="$tmp/cache"
assets="$tmp/assets"
out="$tmp/out"
mkdir -p "$assets" "$out" "$tmp/bad"

field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# --- fixtures ----------------------------------------------------------------------------------
(
  cd "$assets"
  ffmpeg -v error -f lavfi -i testsrc2=size=1600x1200:rate=1 -frames:v 1 photo.jpg
  ffmpeg -v error -f lavfi -i 'color=c=blue@0.5:size=300x200,format=rgba' -frames:v 1 logo.png
  ffmpeg -v error -f lavfi -i color=c=black:size=320x240:duration=1:rate=25 \
    -f lavfi -i testsrc2=size=320x240:duration=2:rate=25 -filter_complex '[0][1]concat=n=2:v=1' \
    -pix_fmt yuv420p clip.mp4
  espeak-ng -w voice.wav 'loom makes thumbnails'
  printf 'first line\nsecond line\n' > readme.txt
  python3 - <<'PY'
c = b"BT /F1 24 Tf 72 700 Td (Hello) Tj ET"
objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(c) + c + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
out, offs = b"%PDF-1.4\n", []
for i, o in enumerate(objs):
    offs.append(len(out)); out += b"%d 0 obj\n" % (i + 1) + o + b"\nendobj\n"
x = len(out)
out += b"xref\n0 6\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offs)
out += b"trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % x
open("paper.pdf", "wb").write(out)
PY
) >"$tmp/fixtures.log" 2>&1 || { fail "could not generate fixtures:"; sed 's/^/     /' "$tmp/fixtures.log"; finish; }
head -c 20000 "$assets/photo.jpg" >"$tmp/bad/cut.jpg"
: >"$tmp/bad/empty.png"
head -c 50000 /dev/urandom >"$tmp/bad/noise.mp4"

# --- loom-cli thumbnail, every modality ---------------------------------------------------------
check() {  # check FILE KIND WIDTH HEIGHT [extra args]
  local file="$1" kind="$2" w="$3" h="$4"
  shift 4
  local rc=0
  "$cli" --json thumbnail "$assets/$file" --out "$out/$file.thumb" "$@" >"$tmp/t.json" 2>"$tmp/t.err" || rc=$?
  if [[ $rc -ne 0 ]]; then fail "thumbnail $file exits $rc: $(cat "$tmp/t.err")"; return; fi
  local got="$(field "$tmp/t.json" kind) $(field "$tmp/t.json" width)x$(field "$tmp/t.json" height)"
  if [[ "$got" == "$kind ${w}x${h}" && -s "$out/$file.thumb" ]]; then pass "thumbnail $file: $got"; else fail "thumbnail $file: $got, expected $kind ${w}x${h}"; fi
}
check photo.jpg image 256 192
check logo.png image 256 171
check clip.mp4 frame 256 192
check clip.mp4 strip 512 48 --kind strip --size 64 --frames 8
check voice.wav waveform 256 128
check paper.pdf page 198 256
check readme.txt text 256 256

if [[ "$(file -b --mime-type "$out/logo.png.thumb")" == image/png && "$(file -b --mime-type "$out/photo.jpg.thumb")" == image/jpeg ]]; then
  pass "alpha image gives a PNG, photo a JPEG"
else
  fail "thumbnail formats: $(file -b "$out/logo.png.thumb"), $(file -b "$out/photo.jpg.thumb")"
fi

"$cli" --json thumbnail "$assets/photo.jpg" --out "$out/again.jpg" >"$tmp/t.json"
if [[ "$(field "$tmp/t.json" cached)" == True ]] && cmp -s "$out/again.jpg" "$out/photo.jpg.thumb"; then
  pass "second thumbnail of the same file comes from the cache"
else
  fail "second thumbnail not from the cache: $(cat "$tmp/t.json")"
fi

for bad in cut.jpg empty.png noise.mp4 missing.jpg; do
  rc=0
  "$cli" thumbnail "$tmp/bad/$bad" --out "$out/bad.jpg" >/dev/null 2>"$tmp/t.err" || rc=$?
  if [[ $rc -eq 2 ]] && grep -q "$bad" "$tmp/t.err"; then pass "broken $bad: exit 2, $(cut -c1-100 "$tmp/t.err")"; else fail "broken $bad: exit $rc, $(cat "$tmp/t.err")"; fi
done
rc=0
"$cli" thumbnail "$assets/photo.jpg" --kind nonsense --out "$out/x.jpg" >/dev/null 2>&1 || rc=$?
if [[ $rc -eq 2 ]]; then pass "unknown --kind exits 2"; else fail "unknown --kind exits $rc"; fi

# --- a flow with media.thumbnail, twice ---------------------------------------------------------
cp "$tmp/bad/cut.jpg" "$assets/"
cat >"$tmp/thumbs.loomflow" <<JSON
{"format": "loom.flow/1", "name": "thumbs",
 "nodes": [{"id": "src", "type": "storage.list", "params": {"uri": "$assets"}},
           {"id": "meta", "type": "media.probe", "params": {}},
           {"id": "thumb", "type": "media.thumbnail", "params": {"size": 128}},
           {"id": "out", "type": "dataset.save", "params": {"name": "thumbs"}}],
 "edges": [{"from": "src", "to": "meta"}, {"from": "meta", "to": "thumb"}, {"from": "thumb", "to": "out"}]}
JSON
rm -rf "$LOOM_THUMBNAIL_CACHE"
for i in 1 2; do
  rc=0
  "$cli" --catalog "$tmp/catalog.db" run "$tmp/thumbs.loomflow" >"$tmp/run$i.txt" 2>"$tmp/run$i.err" || rc=$?
  if [[ $rc -eq 0 ]]; then pass "flow run $i exits 0"; else fail "flow run $i exits $rc:"; sed 's/^/     /' "$tmp/run$i.err"; finish; fi
done
if grep -Eq '^thumb +media.thumbnail +cached' "$tmp/run2.txt"; then pass "second run reuses the thumbnail node"; else fail "second run recomputed:"; sed 's/^/     /' "$tmp/run2.txt"; fi

"$cli" --catalog "$tmp/catalog.db" --json show thumbs --limit -1 >"$tmp/show.json"
python3 - "$tmp/show.json" "$tmp/catalog.data/blobs" <<'PY' >"$tmp/check.txt" 2>&1 && pass "dataset: $(cat "$tmp/check.txt")" || { fail "dataset blobs:"; sed 's/^/     /' "$tmp/check.txt"; }
import hashlib, json, os, sys
rows = json.load(open(sys.argv[1]))["rows"]
ok = [r for r in rows if r["thumbnail"]]
bad = [r for r in rows if r["error"]]
assert len(ok) == 6 and len(bad) == 1, (len(ok), len(bad))
assert "cut.jpg" in bad[0]["error"], bad[0]["error"]
for r in ok:
    h = r["thumbnail"]
    p = os.path.join(sys.argv[2], h[:2], h)
    assert hashlib.sha256(open(p, "rb").read()).hexdigest() == h, p
    assert max(r["thumb_width"], r["thumb_height"]) == 128, r
print("6 thumbnails as blobs with matching sha256, 1 row error naming cut.jpg")
PY

rc=0
"$cli" --catalog "$tmp/fresh.db" run "$tmp/thumbs.loomflow" >"$tmp/run3.txt" 2>"$tmp/run3.err" || rc=$?
if [[ $rc -eq 0 ]] && grep -q "0 thumbnails made, 6 from the cache" "$tmp/run3.err"; then
  pass "a new catalog gets every thumbnail from the cache"
else
  fail "new catalog (exit $rc):"; sed 's/^/     /' "$tmp/run3.err"
fi

finish

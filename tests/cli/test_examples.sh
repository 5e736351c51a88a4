#!/usr/bin/env bash
# End-to-end test of examples/curation.loomflow, the transform library's example: generates the
# demo assets into a temporary folder, plants a near-duplicate photo and a text file with personal
# data, runs the flow (twice) with loom-cli, and checks every dataset and the WebDataset shards the
# way a person would look at them.
#
#   tests/cli/test_examples.sh LOOM_CLI
#
# Needs ffmpeg, espeak-ng and python3 (stdlib only).

set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" examples "$@"
flow="$repo/examples/curation.loomflow"
assets="$tmp/assets"
catalog="$tmp/catalog.db"
shards="$tmp/shards"
export LOOM_HOME="$tmp/home"
export LOOM_EXPORT_ROOTS="$tmp"

mkdir "$assets"
if ! "$repo/scripts/make-demo-assets.sh" "$assets" >"$tmp/make.log" 2>&1; then
  fail "make-demo-assets.sh failed:"; sed 's/^/     /' "$tmp/make.log"; finish
fi
# A recompressed, slightly smaller copy of a photo: the same picture to a person.
ffmpeg -nostdin -hide_banner -loglevel error -y -i "$assets/photos/mandelbrot_1600x1200.jpg" \
  -vf scale=1440:1080 -q:v 12 "$assets/photos/mandelbrot_copy.jpg"
cat >"$assets/text/contact.txt" <<'TXT'
Questions about the dataset go to Jane Roe, jane.roe@example.com, or +44 20 7946 0958.
Refunds are paid to IBAN GB82 WEST 1234 5698 7654 32 within ten days.
TXT

run_flow() {  # run_flow OUT ERR -> rc
  rc=0
  "$cli" --catalog "$catalog" --json run "$flow" --param "src.uri=$assets" --param "shards.to=$shards" >"$1" 2>"$2" || rc=$?
}
run_flow "$tmp/run1.json" "$tmp/run1.err"
if [[ $rc -eq 0 ]]; then pass "first run exits 0"; else fail "first run exits $rc:"; sed 's/^/     /' "$tmp/run1.err"; finish; fi
run_flow "$tmp/run2.json" "$tmp/run2.err"
if [[ $rc -eq 0 ]]; then pass "second run exits 0"; else fail "second run exits $rc:"; sed 's/^/     /' "$tmp/run2.err"; fi

for ds in curation_inventory curation_rejected_images curation_images curation_video_frames curation_speech_segments curation_text_chunks; do
  "$cli" --catalog "$catalog" --json show "$ds" --limit 100000 >"$tmp/$ds.json" 2>"$tmp/$ds.err" || fail "show $ds: $(cat "$tmp/$ds.err")"
done
"$cli" --catalog "$catalog" --json lineage curation_text_chunks --row 1 >"$tmp/lineage.json" 2>"$tmp/lineage.err" || fail "lineage: $(cat "$tmp/lineage.err")"

python3 - "$tmp" "$shards" >"$tmp/checks.log" 2>&1 <<'PY' || true
import json, os, sys, tarfile
tmp, shards = sys.argv[1], sys.argv[2]

def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond or not detail else ": " + str(detail)[:400]))

def rows(name):
    with open(os.path.join(tmp, name + ".json")) as f:
        return json.load(f)["rows"]

run1 = json.load(open(os.path.join(tmp, "run1.json")))
run2 = json.load(open(os.path.join(tmp, "run2.json")))
check("first run saves six datasets", len(run1["outputs"]) == 6, run1["outputs"])
check("second run makes no new version", all(o["version"] == 1 for o in run2["outputs"]), run2["outputs"])

inv = {r["kind"]: r for r in rows("curation_inventory")}
check("inventory counts every kind", set(inv) >= {"image", "video", "audio", "text", "application"}, inv.keys())
check("inventory counts 15 images (6 photos, the copy, 6 graphics, 2 broken)", inv.get("image", {}).get("files") == 15, inv.get("image"))
check("inventory counts the probe failures", sum(r["failed"] for r in inv.values()) >= 2, inv)

rejected = {r["name"]: r["violations"] for r in rows("curation_rejected_images")}
check("GIF, BMP and TIFF are rejected with their reasons",
      set(rejected) == {"cellauto_320x240.gif", "icon_256x256.bmp", "scan_1200x900.tiff"}
      and "image/gif" in rejected.get("cellauto_320x240.gif", "") and "width 256 < 512" in rejected.get("icon_256x256.bmp", ""),
      rejected)

images = rows("curation_images")
names = {r["name"] for r in images}
check("the near-duplicate copy is dropped, the larger original kept",
      "mandelbrot_1600x1200.jpg" in names and "mandelbrot_copy.jpg" not in names, sorted(names))
check("the truncated JPEG is not in the curated images", "truncated-half.jpg" not in names, sorted(names))
check("9 curated images", len(images) == 9, sorted(names))
check("every curated image has a resized blob of at most 512 px",
      all(r.get("image") and max(r["image_width"], r["image_height"]) <= 512 for r in images),
      [(r["name"], r.get("image_width"), r.get("image_height")) for r in images])
check("blur and exposure scored", all(r.get("blur_score") is not None and r.get("exposure") in ("under", "ok", "over") for r in images))
check("split assigns train/val/test only", {r["split"] for r in images} <= {"train", "val", "test"} and
      "train" in {r["split"] for r in images}, [r["split"] for r in images])

frames = rows("curation_video_frames")
by_video = {}
for r in frames: by_video.setdefault(r["name"], []).append(r["frame_time"])
check("three videos give a frame every second of their 3 s", len(by_video) == 3 and all(len(t) == 3 for t in by_video.values()), by_video)
check("frames are at most 320 px", all(max(r["frame_width"], r["frame_height"]) <= 320 for r in frames))

segs = rows("curation_speech_segments")
check("speech is cut into several segments per file", len(segs) >= 4 and
      all(0 <= r["segment_start"] < r["segment_end"] for r in segs), [(r["name"], r["segment_start"], r["segment_end"]) for r in segs])

chunks = rows("curation_text_chunks")
text = " ".join(r["chunk"] or "" for r in chunks)
check("PDF pages and text files are both chunked", {r["origin"] for r in chunks} == {"a", "b"}, {r["origin"] for r in chunks})
check("the e-mail address, phone number and IBAN are redacted",
      "jane.roe@example.com" not in text and "7946 0958" not in text and "GB82" not in text
      and "[EMAIL]" in text and "[IBAN]" in text, [c["chunk"] for c in chunks if "Jane" in (c["chunk"] or "")])
lin = json.load(open(os.path.join(tmp, "lineage.json")))
labels = [s["label"] for s in lin.get("steps", [])]
check("a chunk's lineage goes through the union and pdf.text back to the PDF",
      lin.get("source", {}).get("uri", "").endswith("/docs/loom-demo.pdf") and "documents (table.union)" in labels
      and "pages (pdf.text)" in labels and labels[-1] == "src (storage.list)", labels)

tars = sorted(f for f in os.listdir(shards) if f.endswith(".tar"))
check("9 images in shards of at most 4 samples", len(tars) == 3, tars)
samples = {}
for t in tars:
    with tarfile.open(os.path.join(shards, t)) as tf:
        for m in tf.getmembers():
            key, _, ext = m.name.partition(".")
            samples.setdefault(key, set()).add(ext)
check("each sample has its image and its json", len(samples) == 9 and all(s == {"image.jpg", "json"} for s in samples.values()), samples)
PY
while IFS= read -r line; do
  case "$line" in
    "ok   "*) pass "${line#ok   }" ;;
    "FAIL "*) fail "${line#FAIL }" ;;
    *) echo "     $line" ;;
  esac
done <"$tmp/checks.log"
finish

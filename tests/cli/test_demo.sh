#!/usr/bin/env bash
# End-to-end test of the demo: generates the demo assets into a temporary folder, runs
# examples/demo.loomflow over them (overriding the storage.list node `src` with
# --param src.uri=<folder>) against a temporary catalog, and checks the two datasets it saves.
#
#   tests/cli/test_demo.sh LOOM_CLI
#
# Needs ffmpeg, espeak-ng and python3 (stdlib only). Prints "demo: N passed, M failed" last and
# exits non-zero when any check fails.

set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" demo "$@"
flow="$repo/examples/demo.loomflow"
assets="$tmp/assets"
catalog="$tmp/catalog.db"
export LOOM_HOME="$tmp/home"  # keep anything the CLI writes by default out of the user's data

# --- assets ----------------------------------------------------------------------------------
mkdir "$assets"
if "$repo/scripts/make-demo-assets.sh" "$assets" >"$tmp/make.log" 2>&1; then
  pass "make-demo-assets.sh generated $(find "$assets" -type f | wc -l) files"
else
  fail "make-demo-assets.sh failed:"; sed 's/^/     /' "$tmp/make.log"
  finish
fi
before="$(find "$assets" -type f -printf '%p %s %T@\n' | sort)"
"$repo/scripts/make-demo-assets.sh" "$assets" >/dev/null 2>&1 && after="$(find "$assets" -type f -printf '%p %s %T@\n' | sort)" || after="(failed)"
if [[ "$before" == "$after" ]]; then pass "make-demo-assets.sh run again changes nothing"; else fail "make-demo-assets.sh run again changed the assets"; fi

# --- run twice ---------------------------------------------------------------------------------
run_flow() {  # run_flow OUT_JSON ERR_LOG -> sets rc
  rc=0
  "$cli" --catalog "$catalog" --json run "$flow" --param "src.uri=$assets" >"$1" 2>"$2" || rc=$?
}
run_flow "$tmp/run1.json" "$tmp/run1.err"
if [[ $rc -eq 0 ]]; then pass "first run exits 0"; else fail "first run exits $rc:"; sed 's/^/     /' "$tmp/run1.err"; finish; fi
run_flow "$tmp/run2.json" "$tmp/run2.err"
if [[ $rc -eq 0 ]]; then pass "second run exits 0"; else fail "second run exits $rc:"; sed 's/^/     /' "$tmp/run2.err"; fi

for ds in demo_assets demo_large_images; do
  rc=0
  "$cli" --catalog "$catalog" --json show "$ds" --limit 100000 >"$tmp/$ds.json" 2>"$tmp/$ds.err" || rc=$?
  if [[ $rc -eq 0 ]]; then pass "show $ds exits 0"; else fail "show $ds exits $rc:"; sed 's/^/     /' "$tmp/$ds.err"; fi
done

# --- checks on the JSON ------------------------------------------------------------------------
# Each check prints "ok ..." or "FAIL ..."; the counts are taken from those lines.
py_rc=0
python3 - "$assets" "$tmp" >"$tmp/checks.log" 2>&1 <<'PY' || py_rc=$?
import json, os, re, struct, sys, traceback
from urllib.parse import unquote, urlparse

assets, tmp = sys.argv[1], sys.argv[2]

def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond or not detail else ": " + str(detail)))

def load(name, keys):
    """The JSON object in tmp/NAME, or None (a failed check) when it is missing or lacks KEYS."""
    try:
        with open(os.path.join(tmp, name)) as f:
            data = json.load(f)
    except Exception as e:
        check("parse " + name, False, e)
        return None
    ok = isinstance(data, dict) and all(k in data for k in keys)
    check("%s has %s" % (name, ", ".join(keys)), ok, str(data)[:300])
    return data if ok else None

def path_of(uri):
    p = urlparse(uri)
    return unquote(p.path) if p.scheme == "file" else uri

files = sorted(os.path.relpath(os.path.join(d, f), assets) for d, _, fs in os.walk(assets) for f in fs)

# A JPEG whose frame header (SOF) is cut short is corrupt as far as header probing can tell; one
# cut later keeps a readable header (probing does not decode pixels). An empty file named like
# media is an error (a failed copy); mislabelled text is text: a MIME type from its content, no error.
def jpeg_header_cut(data):
    if not data.startswith(b"\xff\xd8\xff"):
        return False
    pos = 2
    while True:
        while pos < len(data) and data[pos] != 0xFF: pos += 1
        while pos < len(data) and data[pos] == 0xFF: pos += 1
        if pos >= len(data): return True
        marker = data[pos]; pos += 1
        if marker in (0x00, 0x01, 0xD8) or 0xD0 <= marker <= 0xD7: continue
        if marker in (0xD9, 0xDA): return True
        if pos + 2 > len(data): return True
        length = struct.unpack(">H", data[pos:pos + 2])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return pos + 7 > len(data)
        pos += length

broken = [f for f in files if f.startswith("broken/")]
empty_media = sorted(f for f in broken if os.path.getsize(os.path.join(assets, f)) == 0
                     and re.search(r"\.(jpe?g|png|gif|webp|tiff?|bmp|mp4|mov|mkv|webm|avi|wav|mp3|flac|ogg|opus|m4a|pdf)$", f))
cut_header = sorted(f for f in broken if f not in empty_media and jpeg_header_cut(open(os.path.join(assets, f), "rb").read()))
really_broken = sorted(cut_header + empty_media)
check("assets include broken files, %d of %d with a cut header, %d empty" % (len(cut_header), len(broken), len(empty_media)),
      len(broken) >= 3 and len(cut_header) >= 1 and len(empty_media) >= 1, broken)

# Images and their display sizes, from the generator's names (NAME_WxH.ext).
images = {}
for f in files:
    m = re.search(r"_(\d+)x(\d+)\.[a-z]+$", f)
    if f.split("/")[0] in ("photos", "graphics") and m:
        images[f] = (int(m.group(1)), int(m.group(2)))
check("assets include at least 10 images", len(images) >= 10, len(images))

try:
    run_keys = ("run_id", "status", "outputs", "rows_failed", "calls", "calls_cached", "cost_usd")
    run1, run2 = load("run1.json", run_keys), load("run2.json", run_keys)
    if run1:
        outs = {o["dataset"]: o for o in run1.get("outputs", [])}
        check("run status is succeeded", run1.get("status") == "succeeded", run1.get("status"))
        check("both datasets are outputs", set(outs) == {"demo_assets", "demo_large_images"}, sorted(outs))
        check("demo_assets has one row per generated file (%d)" % len(files),
              outs.get("demo_assets", {}).get("rows") == len(files), outs.get("demo_assets"))
        check("rows_failed (%s) equals the broken files with a cut header or empty (%d)" % (run1.get("rows_failed"), len(really_broken)),
              run1.get("rows_failed") == len(really_broken))
        check("no model calls and no cost", run1.get("calls") == 0 and run1.get("cost_usd") == 0, run1)
    if run1 and run2:
        v1 = {o["dataset"]: (o["version"], o["rows"]) for o in run1.get("outputs", [])}
        v2 = {o["dataset"]: (o["version"], o["rows"]) for o in run2.get("outputs", [])}
        check("second run makes no new version", v1 == v2, "%s then %s" % (v1, v2))

    all_rows = load("demo_assets.json", ("dataset", "version", "columns", "rows"))
    if all_rows:
        rows = all_rows["rows"]
        by_file = {os.path.relpath(path_of(r["uri"]), assets): r for r in rows}
        check("show demo_assets lists every generated file once",
              sorted(by_file) == files and len(rows) == len(files), sorted(set(files) ^ set(by_file)))
        for col in ("uri", "size", "mime", "width", "height", "error", "kind", "megapixels"):
            check("demo_assets has column " + col, col in all_rows["columns"], all_rows["columns"])
        errored = sorted(f for f, r in by_file.items() if r.get("error"))
        check("exactly the files with a cut header or empty have an error", errored == really_broken,
              "errors on %s, expected %s" % (errored, really_broken))
        for f in cut_header:
            check("%s: error names the file and says the data ends early" % f,
                  "truncated" in str(by_file[f]["error"]) and f in unquote(str(by_file[f]["error"])), by_file[f]["error"])
        for f in empty_media:
            check("%s: error names the file and says it is empty" % f,
                  "empty (0 bytes)" in str(by_file[f]["error"]) and f in unquote(str(by_file[f]["error"])), by_file[f]["error"])
        wrong = {f: (r.get("mime"), r.get("width"), r.get("height"))
                 for f, r in by_file.items() if f in images
                 and (not str(r.get("mime", "")).startswith("image/") or (r.get("width"), r.get("height")) != images[f])}
        check("every image has an image/* mime and its display size (EXIF orientation applied)", not wrong, wrong)
        mp = {f: r.get("megapixels") for f, r in by_file.items() if f in images}
        bad_mp = {f: v for f, v in mp.items() if v != round(images[f][0] * images[f][1] / 1e6, 2)}
        check("megapixels = round(width * height / 1e6, 2)", not bad_mp, bad_mp)
        kinds = {f.split("/")[0]: set() for f in files}
        for f, r in by_file.items():
            kinds[f.split("/")[0]].add(r.get("kind"))
        for folder, kind in (("video", "video"), ("audio", "audio"), ("photos", "image"), ("graphics", "image")):
            check("%s/ rows have kind %s" % (folder, kind), kinds.get(folder) == {kind}, kinds.get(folder))
        check("the PDF is application/pdf",
              all(r.get("mime") == "application/pdf" for f, r in by_file.items() if f.endswith(".pdf")))
        for c in ("format", "duration", "fps", "video_codec", "audio_codec", "sample_rate", "channels", "frames",
                  "pages", "page_width", "page_height", "encoding", "lines"):
            check("demo_assets has column " + c, c in all_rows["columns"], all_rows["columns"])
        pdf = by_file.get("docs/loom-demo.pdf", {})
        check("the demo PDF has 2 pages of US Letter (612 x 792 pt)",
              (pdf.get("pages"), pdf.get("page_width"), pdf.get("page_height")) == (2, 612, 792), pdf)
        videos = {f: r for f, r in by_file.items() if f.startswith("video/")}
        check("there are videos to check", len(videos) >= 2, sorted(videos))
        for f, r in videos.items():
            got = (r.get("width"), r.get("height"), r.get("fps"), r.get("duration"), r.get("frames"))
            check("%s: 640x360, 25 fps, 3 s, 75 frames" % f,
                  got[:3] == (640, 360, 25) and abs((got[3] or 0) - 3.0) < 0.1 and abs((got[4] or 0) - 75) <= 2, got)
            check("%s: has a video codec and one audio stream at 48 kHz" % f,
                  r.get("video_codec") and r.get("audio_streams") == 1 and r.get("sample_rate") == 48000, r)
        formats = {f.rsplit(".", 1)[1]: r.get("format") for f, r in videos.items()}
        check("video containers are named as a person would", formats == {k: k for k in formats}, formats)
        speech = {f: r for f, r in by_file.items() if f.startswith("audio/")}
        wav = speech.get("audio/speech.wav", {})
        check("speech.wav has a duration of a few seconds, a sample rate and one channel",
              2 < (wav.get("duration") or 0) < 15 and (wav.get("sample_rate") or 0) > 0 and wav.get("channels") == 1, wav)
        off = {f: r.get("duration") for f, r in speech.items() if abs((r.get("duration") or 0) - (wav.get("duration") or 0)) > 0.15}
        check("every audio encoding of the speech has the WAV's duration (within 0.15 s)", not off, off)
        latin = by_file.get("text/notes-latin1.txt", {})
        check("the Latin-1 notes are read as iso-8859-1 with 2 lines",
              (latin.get("encoding"), latin.get("lines")) == ("iso-8859-1", 2), latin)
        csv = by_file.get("text/measurements.csv", {})
        check("the CSV has 21 lines (header + 20 rows)", csv.get("lines") == 21, csv)

    large = load("demo_large_images.json", ("dataset", "version", "columns", "rows"))
    if large:
        got = [os.path.relpath(path_of(r["uri"]), assets) for r in large["rows"]]
        want = {f for f, (w, h) in images.items() if w >= 1024}
        check("demo_large_images holds exactly the images >= 1024 wide (%d)" % len(want),
              sorted(got) == sorted(want), "got %s, want %s" % (sorted(got), sorted(want)))
        mps = [r.get("megapixels") for r in large["rows"]]
        check("demo_large_images is sorted by megapixels, largest first",
              all(isinstance(x, (int, float)) for x in mps) and mps == sorted(mps, reverse=True), mps)
except Exception:
    check("checks ran without an exception", False, traceback.format_exc())
PY
while IFS= read -r line; do
  case "$line" in
    "ok   "*) pass "${line#ok   }" ;;
    "FAIL "*) fail "${line#FAIL }" ;;
    *) echo "     $line" ;;
  esac
done <"$tmp/checks.log"
if [[ $py_rc -ne 0 ]] || ! grep -q '^ok ' "$tmp/checks.log"; then fail "the JSON checks did not run (python3 exit $py_rc)"; fi

finish

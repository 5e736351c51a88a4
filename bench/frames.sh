#!/usr/bin/env bash
# Frame extraction: one frame every N seconds from one 720p H.264 video (ffmpeg testsrc2, 25 fps, a
# keyframe every 9.6 s as encoders often place them), with Loom (a storage.list -> video.frames ->
# dataset.save flow, fresh catalog each run) and with the command a person would type:
#   ffmpeg -i in.mp4 -vf fps=1/N -q:v 2 out_%04d.jpg
# for N in $INTERVALS (default "5 30"). Both write JPEGs (Loom: quality 95, into its blob store).
# Wall time: median of RUNS (default 7) after one warm-up, the two tools taking turns; peak RSS and
# CPU from one extra run each under /usr/bin/time. Writes
# RESULTS_DIR/frames.json, which bench/report.py renders (bench/frames_report.py) into
# docs/BENCHMARKS.md's "Frame extraction" section.
#
#   bench/frames.sh LOOM_CLI RESULTS_DIR WORK_DIR

set -euo pipefail
LOOM=$(realpath "$1")
RES=$(realpath -m "$2")
WORK=$(realpath -m "$3")
RUNS=${RUNS:-7}
INTERVALS=${INTERVALS:-"5 30"}
LENGTH=${VIDEO_SECONDS:-120}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=$WORK/frames
mkdir -p "$RES" "$DIR/video"

VIDEO=$DIR/video/in.mp4
STAMP=$DIR/video.stamp-$LENGTH
if [ ! -f "$STAMP" ]; then
  echo "frames: writing a ${LENGTH}-second 720p test video (once)" >&2
  ffmpeg -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=25:duration=$LENGTH" -c:v libx264 -preset veryfast \
    -g 240 -pix_fmt yuv420p "$VIDEO"
  touch "$STAMP"
fi
cat "$VIDEO" > /dev/null  # warm the page cache: decoding is measured, not the disk

# Loom and ffmpeg run alternately, RUNS times each, so that whatever else the machine does weighs on
# both alike; one more run of each under /usr/bin/time gives CPU and peak RSS.
measure() {  # name prepare-loom cmd-loom prepare-ffmpeg cmd-ffmpeg -> $DIR/<name>.json
  python3 - "$DIR/$1.json" "$RUNS" "$2" "$3" "$4" "$5" <<'PY'
import json, subprocess, sys, time
out, runs, lp, lc, fp, fc = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
def once(prep, cmd):
    subprocess.run(prep, shell=True, check=True)
    t = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t
def usage(prep, cmd):
    subprocess.run(prep, shell=True, check=True)
    subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", out + ".time", "sh", "-c", cmd],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    e, u, s, m = open(out + ".time").read().split()
    return {"cpu_seconds": float(u) + float(s), "rss_mb": int(m) / 1024}
load0 = open("/proc/loadavg").read().split()[:3]
once(lp, lc), once(fp, fc)  # warm-up
loom, ff = [], []
for _ in range(runs):
    loom.append(once(lp, lc))
    ff.append(once(fp, fc))
json.dump({"loom_times": loom, "ffmpeg_times": ff, "loom_usage": usage(lp, lc), "ffmpeg_usage": usage(fp, fc),
           "loadavg": [load0, open("/proc/loadavg").read().split()[:3]]}, open(out, "w"))
PY
}

results=()
for N in $INTERVALS; do
  cat > "$DIR/frames_$N.loomflow" <<JSON
{"format": "loom.flow/1", "name": "bench-frames",
 "nodes": [
  {"id": "src", "type": "storage.list", "params": {"uri": "$DIR/video"}},
  {"id": "frames", "type": "video.frames", "params": {"mode": "interval", "interval": $N, "quality": 95, "max_frames": 100000}},
  {"id": "out", "type": "dataset.save", "params": {"name": "frames"}}],
 "edges": [{"from": "src", "to": "frames"}, {"from": "frames", "to": "out"}]}
JSON
  loom_prep="rm -rf '$DIR/loom.db' '$DIR/loom.db-wal' '$DIR/loom.db-shm' '$DIR/loom.data'"
  loom_cmd="'$LOOM' --catalog '$DIR/loom.db' run '$DIR/frames_$N.loomflow' --json"
  ff_prep="rm -rf '$DIR/ffmpeg' && mkdir -p '$DIR/ffmpeg'"
  ff_cmd="ffmpeg -v error -i '$VIDEO' -vf fps=1/$N -q:v 2 '$DIR/ffmpeg/out_%04d.jpg'"
  measure "run_$N" "$loom_prep" "$loom_cmd" "$ff_prep" "$ff_cmd"
  sh -c "$loom_prep"
  loom_rows=$(sh -c "$loom_cmd" | python3 -c 'import json,sys; print(json.load(sys.stdin)["outputs"][0]["rows"])')
  sh -c "$ff_prep" && sh -c "$ff_cmd"
  ff_files=$(find "$DIR/ffmpeg" -name 'out_*.jpg' | wc -l)
  results+=("$N|$loom_rows|$ff_files")
done

python3 - "$RES/frames.json" "$DIR" "$VIDEO" "$LENGTH" "$RUNS" "$ROOT" "${results[@]}" <<'PY'
import json, os, subprocess, sys, statistics, time
out, d, video, length, runs, root, *rows = sys.argv[1:]
def tool(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
    except Exception:
        return ""
res = {"video": {"seconds": int(length), "width": 1280, "height": 720, "fps": 25, "gop_seconds": 9.6,
                 "bytes": os.path.getsize(video), "codec": "h264 (libx264 veryfast)"},
       "runs": int(runs), "intervals": [],
       "ffmpeg_version": tool(["ffmpeg", "-version"]),
       "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
       "commit": subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
       "nproc": os.cpu_count()}
for r in rows:
    n, lrows, ffiles = r.split("|")
    m = json.load(open(os.path.join(d, f"run_{n}.json")))
    lt, ft = statistics.median(m["loom_times"]), statistics.median(m["ffmpeg_times"])
    res["intervals"].append({
        "interval": float(n), "loadavg": m["loadavg"],
        "loom": {"seconds": lt, "min": min(m["loom_times"]), "max": max(m["loom_times"]), "frames": int(lrows), **m["loom_usage"]},
        "ffmpeg": {"seconds": ft, "min": min(m["ffmpeg_times"]), "max": max(m["ffmpeg_times"]), "frames": int(ffiles), **m["ffmpeg_usage"]},
        "loom_vs_ffmpeg": ft / lt})
json.dump(res, open(out, "w"), indent=1)
PY
python3 "$ROOT/bench/frames_report.py" "$RES/frames.json"

#!/usr/bin/env python3
"""The "Frame extraction" section of docs/BENCHMARKS.md from bench/frames.sh's frames.json.

Used by bench/report.py; run alone it prints the section: frames_report.py RESULTS/frames.json
"""

import json
import sys


def section(fr):
    """Markdown lines for the section, from the parsed frames.json."""
    v = fr["video"]
    lines = ["## Frame extraction", ""]
    lines.append(
        f"`bench/frames.sh`: one frame every N seconds from one {v['seconds']}-second {v['width']}×{v['height']} "
        f"{v['codec']} video at {v['fps']} fps ({v['bytes'] / 1e6:.0f} MB, ffmpeg `testsrc2`, a keyframe every "
        f"{v['gop_seconds']} s). Loom runs `storage.list → video.frames (interval N, JPEG quality 95) → dataset.save` "
        "on a fresh catalog, so its time includes starting, listing, writing every frame to the blob store and the "
        "dataset; the peer is `ffmpeg -i in.mp4 -vf fps=1/N -q:v 2 out_%04d.jpg`. Both decode with libavcodec's "
        "frame threads on every core. Loom seeks to the keyframe before a wanted time when the index shows one "
        "after the frame it decoded last, and does not decode the B-frames no other frame refers to before a "
        "wanted time; ffmpeg decodes every frame. Median of "
        f"{fr['runs']} runs each after a warm-up, the two tools taking turns so that other work on the machine "
        "weighs on both alike; CPU (user + system) and peak RSS from one extra run each under `/usr/bin/time`."
        + (f" Measured {fr['measured_at']} at commit {fr.get('commit') or '?'}." if fr.get("measured_at") else ""))
    lines.append("")
    lines.append("| Every | Loom | ffmpeg | Loom vs ffmpeg | Frames Loom / ffmpeg | CPU Loom / ffmpeg | Peak RSS Loom / ffmpeg | Load average before / after |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for x in fr["intervals"]:
        lo, ff = x["loom"], x["ffmpeg"]
        lines.append(
            f"| {x['interval']:g} s | {lo['seconds']:.2f} s ({lo['min']:.2f}–{lo['max']:.2f}) | "
            f"{ff['seconds']:.2f} s ({ff['min']:.2f}–{ff['max']:.2f}) | **{x['loom_vs_ffmpeg']:.2f}×** | "
            f"{lo['frames']} / {ff['frames']} | {lo['cpu_seconds']:.1f} / {ff['cpu_seconds']:.1f} s | "
            f"{lo['rss_mb']:.0f} / {ff['rss_mb']:.0f} MB | {' '.join(x['loadavg'][0])} / {' '.join(x['loadavg'][1])} |")
    lines.append("")
    lines.append(
        "The frames differ in which one stands for a time: Loom takes the first frame at or after 0, N, 2N, … s "
        "(`frame_time` says which); ffmpeg's `fps` filter takes the frame nearest each output tick and may add one "
        "at the end. The saving depends on the keyframe spacing: with N well above it, most frames are skipped; with N "
        "below it, Loom decodes nearly everything, as ffmpeg does, and saves only the unreferenced B-frames. "
        "On a busy machine (see the load averages) wall times vary from run to run; the CPU column is the steadier "
        "comparison.")
    lines.append("")
    return lines


if __name__ == "__main__":
    print("\n".join(section(json.load(open(sys.argv[1])))))

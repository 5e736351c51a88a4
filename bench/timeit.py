#!/usr/bin/env python3
"""Fallback for hyperfine when it is not installed: runs a shell command RUNS times (after WARMUP
untimed runs and a PREPARE command before each), and writes hyperfine-shaped JSON so that
bench/report.py reads either. Wall time only, measured around the whole `sh -c` invocation.

Usage: timeit.py --runs N [--warmup N] [--prepare CMD] [--name NAME] --export-json FILE -- CMD
"""

import argparse
import json
import statistics
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--prepare", default="")
    ap.add_argument("--name", default="")
    ap.add_argument("--export-json", required=True)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = " ".join(c for c in a.command if c != "--")

    def once():
        if a.prepare:
            subprocess.run(a.prepare, shell=True, check=True)
        t = time.perf_counter()
        subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t

    for _ in range(a.warmup):
        once()
    times = [once() for _ in range(a.runs)]
    result = {
        "command": a.name or cmd,
        "mean": statistics.mean(times),
        "stddev": statistics.stdev(times) if len(times) > 1 else 0.0,
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "times": times,
    }
    with open(a.export_json, "w") as f:
        json.dump({"results": [result]}, f, indent=1)
    print(f"  {a.name or cmd}: median {result['median']:.3f} s (min {result['min']:.3f}, max {result['max']:.3f}, "
          f"{a.runs} runs)", file=sys.stderr)


if __name__ == "__main__":
    main()

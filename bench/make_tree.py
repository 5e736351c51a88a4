#!/usr/bin/env python3
"""Generates the benchmark tree: FOLDERS folders of FILES_PER_FOLDER small files of varied kinds and
sizes (JPEG, PNG, GIF, BMP, text, CSV, JSON, random binary), deterministic for a given seed.

Usage: make_tree.py DEST [--folders 1000] [--per-folder 100] [--templates DIR]

Real image headers matter because `loom-cli index` and `file` sniff content: JPEG templates come
from DIR (made by bench/run.sh with ImageMagick when it is installed); PNG, GIF and BMP are written
here. Written by hand rather than with an image library so the generator needs nothing beyond Python.
"""

import argparse
import json
import os
import random
import struct
import sys
import zlib


def png(width, height, seed):
    rnd = random.Random(seed)
    raw = b"".join(b"\x00" + bytes(rnd.getrandbits(8) for _ in range(width * 3)) for _ in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def gif(width, height):
    # 2-colour global palette, one image block of a single LZW clear/stop sequence.
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return header + image + b"\x3b"


def bmp(width, height, seed):
    rnd = random.Random(seed)
    row = (width * 3 + 3) & ~3
    pixels = bytes(rnd.getrandbits(8) for _ in range(row * height))
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + len(pixels), 0, 0, 54) + info + pixels


WORDS = ("loom catalog dataset node flow probe index image photo archive river mountain lake forest "
         "street night summer winter camera lens model prompt caption label train test sample").split()


def corpus(rnd, make_line, size=1 << 20):
    """A long run of lines; files take random slices of it so that 100,000 files stay fast to write."""
    out, n = [], 0
    while n < size:
        line = make_line(rnd, len(out))
        out.append(line)
        n += len(line)
    return "".join(out).encode()


def text_line(rnd, i):
    return " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 14))) + "\n"


def csv_line(rnd, i):
    return f"{i},{rnd.choice(WORDS)}_{i},{rnd.randint(16, 8000)},{rnd.randint(16, 8000)},{rnd.random():.4f}\n"


def json_line(rnd, i):
    return " " + json.dumps({"id": i, "label": rnd.choice(WORDS), "score": round(rnd.random(), 4)}) + ",\n"


def slice_lines(rnd, body, size):
    start = body.index(b"\n", rnd.randrange(0, len(body) - size - 1)) + 1
    end = body.find(b"\n", start + size)
    return body[start:end + 1 if end >= 0 else len(body)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dest")
    ap.add_argument("--folders", type=int, default=1000)
    ap.add_argument("--per-folder", type=int, default=100)
    ap.add_argument("--templates", default="")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    jpegs = []
    if a.templates and os.path.isdir(a.templates):
        for name in sorted(os.listdir(a.templates)):
            if name.endswith(".jpg"):
                with open(os.path.join(a.templates, name), "rb") as f:
                    jpegs.append(f.read())
    dims = [(16, 12), (32, 24), (40, 30), (24, 32), (48, 36), (64, 48)]
    pngs = [png(w, h, i) for i, (w, h) in enumerate(dims)]
    gifs = [gif(w * 10, h * 10) for (w, h) in dims]
    bmps = [bmp(w, h, i) for i, (w, h) in enumerate(dims)]

    rnd = random.Random(a.seed)
    texts = corpus(rnd, text_line)
    csvs = corpus(rnd, csv_line)
    jsons = corpus(rnd, json_line)
    # (extension, weight): a photo-heavy mix with the text and data files that sit beside photos.
    kinds = [("jpg", 30), ("png", 12), ("gif", 4), ("bmp", 4), ("txt", 20), ("csv", 10), ("json", 10), ("bin", 10)]
    if not jpegs:
        kinds = [(k, w) for k, w in kinds if k != "jpg"] + [("png", 30)]
    population = [k for k, w in kinds for _ in range(w)]
    total = 0
    os.makedirs(a.dest, exist_ok=True)
    for d in range(a.folders):
        folder = os.path.join(a.dest, f"d{d:04d}")
        os.makedirs(folder, exist_ok=True)
        for i in range(a.per_folder):
            kind = rnd.choice(population)
            # Log-uniform sizes from ~100 B to ~32 KiB: most files small, a tail of larger ones.
            size = int(2 ** rnd.uniform(6.6, 15))
            if kind == "jpg":
                data = rnd.choice(jpegs)
                data += b"\x00" * max(0, size - len(data))  # bytes after EOI: still a valid JPEG
            elif kind == "png":
                data = rnd.choice(pngs)
            elif kind == "gif":
                data = rnd.choice(gifs)
            elif kind == "bmp":
                data = rnd.choice(bmps)
            elif kind == "txt":
                data = slice_lines(rnd, texts, size)
            elif kind == "csv":
                data = b"id,name,width,height,score\n" + slice_lines(rnd, csvs, size)
            elif kind == "json":
                data = b'{"items": [\n' + slice_lines(rnd, jsons, size) + b' {}\n]}\n'
            else:
                data = rnd.randbytes(size)
            with open(os.path.join(folder, f"f{d:04d}_{i:03d}.{kind}"), "wb") as f:
                f.write(data)
            total += len(data)
    print(f"{a.folders * a.per_folder} files, {total / 1e6:.1f} MB in {a.dest}", file=sys.stderr)


if __name__ == "__main__":
    main()

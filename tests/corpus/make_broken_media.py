#!/usr/bin/env python3
"""Writes the broken-media corpus into a folder (standard library and ffmpeg; nothing downloaded).

    python3 tests/corpus/make_broken_media.py OUT_DIR

Every file is a way real media goes wrong: cut short by a failed copy, empty, mislabelled, garbage,
or a header that lies about what follows. tests/corpus/media.json says, per file, what probing must
report: an error naming what is wrong, or (for a mislabelled but intact file) its true type.
"""

from __future__ import annotations

import os
import pathlib
import random
import struct
import subprocess
import sys
import tempfile
import wave
import zlib


def png(width: int, height: int, rows: bytes | None = None) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    if rows is None:
        rows = b"".join(b"\x00" + b"".join(bytes([x * 9 & 255, y * 7 & 255, 128]) for x in range(width))
                        for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True,
                   stdin=subprocess.DEVNULL)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20240116)  # the same garbage every run

    def write(name: str, data: bytes) -> None:
        (out / name).write_bytes(data)

    with tempfile.TemporaryDirectory() as tmp:
        jpg, mp4, webm = (os.path.join(tmp, n) for n in ("a.jpg", "a.mp4", "a.mkv"))
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1", jpg)
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2", "-c:v", "libx264",
               "-preset", "ultrafast", "-pix_fmt", "yuv420p", mp4)  # index (moov) at the end
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2", "-c:v", "mpeg4", webm)
        jpeg, video, mkv = (pathlib.Path(p).read_bytes() for p in (jpg, mp4, webm))

    sof = jpeg.find(b"\xff\xc0")
    write("empty.jpg", b"")
    write("jpeg-cut-in-header.jpg", jpeg[:sof + 6])
    write("jpeg-cut-in-half.jpg", jpeg[:len(jpeg) // 2])
    write("jpeg-zero-size.jpg", jpeg[:sof + 5] + b"\x00\x00\x00\x00" + jpeg[sof + 9:])
    write("png-named-jpg.jpg", png(16, 8))
    write("text-named-png.png", b"This is plain text, not a PNG image.\n")
    write("png-bad-crc.png", png(16, 8)[:-5] + b"\x00" + png(16, 8)[-4:])
    write("png-cut-in-idat.png", png(64, 64)[:60])
    write("png-lies-about-size.png", png(100000, 100000, rows=b"\x00" * 16))
    write("garbage.mp4", bytes(rng.getrandbits(8) for _ in range(4096)))
    write("mp4-without-index.mp4", video[:len(video) // 2])
    write("mp4-header-only.mp4", video[:32])
    write("mkv-cut-short.mkv", mkv[:200])
    wav_path = out / "wav-header-only.wav"
    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(b"\x00\x00" * 2 * 4800)
    write("wav-header-only.wav", wav_path.read_bytes()[:44])
    write("pdf-cut-short.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pa")
    write("pdf-garbage.pdf", b"%PDF-1.7\n" + bytes(rng.getrandbits(8) for _ in range(2048)))
    write("zeros.gif", b"\x00" * 1024)
    print(f"make_broken_media.py: {len(list(out.iterdir()))} files in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

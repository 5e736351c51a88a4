#!/usr/bin/env python3
"""Writes a bucket of N small objects straight into an s3rver data directory (its on-disk layout:
KEY._S3rver_object, KEY._S3rver_object.md5, KEY._S3rver_metadata.json), for the listing benchmark.

Uploading 100,000 objects through any S3 client takes many minutes on 2 cores, and the benchmark
measures listing, not uploading; s3rver serves these files exactly as if they had been PUT.
Keys: p000/obj00000.jpg … spread over --prefixes prefixes.

Usage: make_s3_bucket.py DATA_DIR BUCKET [--objects 100000] [--prefixes 100]
"""
import argparse
import hashlib
import json
import os

p = argparse.ArgumentParser()
p.add_argument("data_dir")
p.add_argument("bucket")
p.add_argument("--objects", type=int, default=100000)
p.add_argument("--prefixes", type=int, default=100)
a = p.parse_args()
root = os.path.join(a.data_dir, a.bucket)
os.makedirs(root, exist_ok=True)
meta = json.dumps({"content-type": "image/jpeg"}, indent=2)
for i in range(a.objects):
    prefix = "p%03d" % (i % a.prefixes)
    d = os.path.join(root, prefix)
    if i < a.prefixes:
        os.makedirs(d, exist_ok=True)
    body = ("object %d\n" % i).encode()
    base = os.path.join(d, "obj%06d.jpg" % i)
    with open(base + "._S3rver_object", "wb") as f:
        f.write(body)
    with open(base + "._S3rver_object.md5", "w") as f:
        f.write(hashlib.md5(body).hexdigest())
    with open(base + "._S3rver_metadata.json", "w") as f:
        f.write(meta)

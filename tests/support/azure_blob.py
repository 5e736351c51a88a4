#!/usr/bin/env python3
"""A second, independent Azure Blob client for Loom's az:// tests (standard library only).

Written separately from engine/storage/azure_storage.cpp so the tests see the emulator's contents
through another client: it creates containers, uploads and downloads blobs with Shared Key
signing, and makes container SAS tokens.

  azure_blob.py --endpoint URL [--account A] [--key BASE64] COMMAND ...
    create-container NAME [--public container|blob]
    put CONTAINER BLOB FILE          FILE '-' reads stdin
    get CONTAINER BLOB               writes the blob's bytes to stdout
    sas CONTAINER --permissions rwl --expiry 2030-01-01T00:00:00Z [--start ...]   prints the token

Defaults: azurite's published development account and key.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import sys
import urllib.error
import urllib.parse
import urllib.request

DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
VERSION = "2021-12-02"


def sign(key, text):
    mac = hmac.new(base64.b64decode(key), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def request(args, method, container, blob=None, query=None, body=b"", headers=None):
    headers = dict(headers or {})
    query = query or {}
    path = urllib.parse.urlsplit(args.endpoint).path.rstrip("/") + "/" + container
    if blob is not None:
        path += "/" + urllib.parse.quote(blob, safe="/")
    headers["x-ms-version"] = VERSION
    headers["x-ms-date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
    if body:
        headers["Content-Length"] = str(len(body))
    if method in ("PUT", "POST"):
        headers.setdefault("Content-Type", "application/octet-stream")  # urllib would add a form type
    lower = {k.lower(): v for k, v in headers.items()}
    std = ["content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
           "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range"]
    lines = [method] + [lower.get(h, "") if not (h == "content-length" and lower.get(h) == "0") else "" for h in std]
    canon_headers = "".join(f"{k}:{lower[k].strip()}\n" for k in sorted(lower) if k.startswith("x-ms-"))
    canon_resource = f"/{args.account}{path}" + "".join(f"\n{k.lower()}:{query[k]}" for k in sorted(query))
    string_to_sign = "\n".join(lines) + "\n" + canon_headers + canon_resource
    headers["Authorization"] = f"SharedKey {args.account}:{sign(args.key, string_to_sign)}"
    base = urllib.parse.urlsplit(args.endpoint)
    url = f"{base.scheme}://{base.netloc}{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    req = urllib.request.Request(url, data=body if method in ("PUT", "POST") else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def check(status, body, ok, what):
    if status not in ok:
        sys.stderr.write(f"azure_blob.py: {what} failed with HTTP {status}: {body[:400]!r}\n")
        sys.exit(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--account", default=DEV_ACCOUNT)
    p.add_argument("--key", default=DEV_KEY)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create-container")
    c.add_argument("name")
    c.add_argument("--public", choices=["container", "blob"])
    c = sub.add_parser("put")
    c.add_argument("container")
    c.add_argument("blob")
    c.add_argument("file")
    c = sub.add_parser("get")
    c.add_argument("container")
    c.add_argument("blob")
    c = sub.add_parser("sas")
    c.add_argument("container")
    c.add_argument("--permissions", required=True)
    c.add_argument("--expiry", required=True)
    c.add_argument("--start", default="")
    args = p.parse_args()

    if args.cmd == "create-container":
        headers = {"x-ms-blob-public-access": args.public} if args.public else {}
        status, body = request(args, "PUT", args.name, query={"restype": "container"}, headers=headers)
        check(status, body, (201, 409), "Create Container")
    elif args.cmd == "put":
        data = sys.stdin.buffer.read() if args.file == "-" else open(args.file, "rb").read()
        status, body = request(args, "PUT", args.container, args.blob, body=data,
                               headers={"x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream"})
        check(status, body, (201,), "Put Blob")
    elif args.cmd == "get":
        status, body = request(args, "GET", args.container, args.blob)
        check(status, body, (200,), "Get Blob")
        sys.stdout.buffer.write(body)
    elif args.cmd == "sas":
        fields = [args.permissions, args.start, args.expiry, f"/blob/{args.account}/{args.container}", "", "", "",
                  VERSION, "c", "", "", "", "", "", "", ""]
        sig = sign(args.key, "\n".join(fields))
        token = {"sv": VERSION, "sr": "c", "sp": args.permissions, "se": args.expiry, "sig": sig}
        if args.start:
            token["st"] = args.start
        print(urllib.parse.urlencode(token, quote_via=urllib.parse.quote))


if __name__ == "__main__":
    main()

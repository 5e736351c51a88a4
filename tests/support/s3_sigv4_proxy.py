#!/usr/bin/env python3
"""A checking front for an S3 emulator: verifies AWS Signature V4 on every request, then forwards it.

s3rver (the S3 emulator the tests run) does not check signatures, so on its own it would accept a
client that signs wrongly. This proxy recomputes each request's signature from the raw request
line, headers and body with the secret key it was given, exactly as S3 does, and answers
403 SignatureDoesNotMatch when they differ. The official AWS CLI is run through it by the tests
too, which checks the checker.

It also plays the S3 behaviours an emulator lacks, on demand:
  --public-bucket B      anonymous requests are allowed only for bucket B (others: 403 AccessDenied)
  --expired-key K        requests signed with access key K get 400 ExpiredToken
  --bucket-region B=R    bucket B lives in region R: requests signed for another region get
                         400 AuthorizationHeaderMalformed naming R, as S3 answers
  --latency-ms N         every request waits N ms before it is forwarded: a distant server
                         (benchmarks use it to stand for S3 across a network)
  POST /_loom/faults     {"status": 503, "code": "SlowDown", "count": n, "match": "substring"}:
                         the next n matching requests fail so (status 0: the connection is reset)
  GET  /_loom/stats      {"requests": n, "by_method": {...}, "lists": n, "gets": n,
                         "bytes_out": n, "signature_failures": n, "faults_served": n}
  POST /_loom/reset      zeroes the counters and drops pending faults

Usage: s3_sigv4_proxy.py --upstream http://127.0.0.1:PORT --access-key K --secret-key S
       [--port 0] [--port-file PATH]
Listens on 127.0.0.1 only and prints "PORT <n>" once listening.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def uri_encode(raw: bytes) -> str:
    return "".join(chr(b) if b in UNRESERVED else "%%%02X" % b for b in raw)


def canonical_query(query: str) -> str:
    pairs = []
    if query:
        for part in query.split("&"):
            if part == "":
                continue
            k, _, v = part.partition("=")
            k = urllib.parse.unquote_to_bytes(k.replace("+", "%20"))
            v = urllib.parse.unquote_to_bytes(v.replace("+", "%20"))
            pairs.append((uri_encode(k), uri_encode(v)))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def hmac_sha256(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
    r"SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})$")


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.faults = []
        self.regions = dict(x.split("=", 1) for x in args.bucket_region)
        self.reset()

    def reset(self):
        with self.lock:
            self.stats = {"requests": 0, "by_method": {}, "lists": 0, "gets": 0, "bytes_out": 0,
                          "signature_failures": 0, "faults_served": 0}
            self.faults = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LoomS3Check/1"

    def log_message(self, fmt, *args):
        pass

    # --- plumbing -------------------------------------------------------------------------
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _answer(self, status, body=b"", headers=None, head=False):
        self.send_response(status)
        headers = headers or {}
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head:
            self.wfile.write(body)

    def _s3_error(self, status, code, message, extra=""):
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code><Message>%s</Message>%s"
                "<RequestId>loom-proxy</RequestId></Error>" % (code, message, extra)).encode()
        self._answer(status, body, {"Content-Type": "application/xml"}, head=self.command == "HEAD")

    # --- checks ---------------------------------------------------------------------------
    def _verify(self, body: bytes):
        """None when the request is acceptable, else (status, code, message, extra)."""
        st = self.server.state
        path, _, query = self.path.partition("?")
        bucket = urllib.parse.unquote(path.lstrip("/").split("/", 1)[0])
        auth = self.headers.get("Authorization")
        if not auth:
            if st.args.public_bucket and bucket == st.args.public_bucket:
                return None
            return (403, "AccessDenied", "Access Denied", "")
        m = AUTH_RE.match(auth.strip())
        if not m:
            return (400, "AuthorizationHeaderMalformed", "unparsable Authorization header", "")
        access_key, date, region, service, signed, signature = m.groups()
        if access_key != st.args.access_key:
            if access_key in st.args.expired_key:
                return (400, "ExpiredToken", "The provided token has expired.", "")
            return (403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", "")
        want_region = st.regions.get(bucket)
        if want_region and region != want_region:
            return (400, "AuthorizationHeaderMalformed",
                    "the region '%s' is wrong; expecting '%s'" % (region, want_region),
                    "<Region>%s</Region>" % want_region)
        signed_names = signed.split(";")
        present = {k.lower() for k in self.headers.keys()}
        for name in present:
            if name.startswith("x-amz-") and name not in signed_names:
                return (403, "AccessDenied", "header %s is not signed" % name, "")
        if "host" not in signed_names or "x-amz-date" not in signed_names:
            return (403, "AccessDenied", "host and x-amz-date must be signed", "")
        payload_hash = self.headers.get("x-amz-content-sha256")
        if payload_hash is None:
            return (400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256", "")
        if payload_hash not in ("UNSIGNED-PAYLOAD",) and not payload_hash.startswith("STREAMING-"):
            if payload_hash != hashlib.sha256(body).hexdigest():
                return (400, "XAmzContentSHA256Mismatch",
                        "The provided 'x-amz-content-sha256' header does not match what was computed.", "")
        canon_headers = ""
        for name in signed_names:
            values = self.headers.get_all(name) or []
            value = ",".join(re.sub(r"\s+", " ", v.strip()) for v in values)
            canon_headers += "%s:%s\n" % (name, value)
        canonical = "\n".join([self.command, path, canonical_query(query), canon_headers, signed, payload_hash])
        amz_date = self.headers.get("x-amz-date", "")
        scope = "%s/%s/%s/aws4_request" % (date, region, service)
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                             hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
        key = ("AWS4" + st.args.secret_key).encode()
        for part in (date, region, service, "aws4_request"):
            key = hmac_sha256(key, part)
        expected = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            with st.lock:
                st.stats["signature_failures"] += 1
            if st.args.verbose:
                sys.stderr.write("signature mismatch; canonical request was:\n%s\n" % canonical)
            return (403, "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you provided.", "")
        return None

    # --- control --------------------------------------------------------------------------
    def _control(self, body: bytes):
        st = self.server.state
        if self.path.startswith("/_loom/stats"):
            with st.lock:
                data = json.dumps(st.stats).encode()
            return self._answer(200, data, {"Content-Type": "application/json"})
        if self.path.startswith("/_loom/reset"):
            st.reset()
            return self._answer(200, b"{}", {"Content-Type": "application/json"})
        if self.path.startswith("/_loom/faults"):
            spec = json.loads(body or b"{}")
            with st.lock:
                st.faults.append({"status": int(spec.get("status", 503)), "code": spec.get("code", "SlowDown"),
                                  "count": int(spec.get("count", 1)), "match": spec.get("match", "")})
            return self._answer(200, b"{}", {"Content-Type": "application/json"})
        return self._answer(404, b"unknown control path")

    def _take_fault(self):
        st = self.server.state
        with st.lock:
            for f in st.faults:
                if f["count"] > 0 and f["match"] in self.command + " " + self.path:
                    f["count"] -= 1
                    st.stats["faults_served"] += 1
                    return dict(f)
        return None

    # --- forwarding -----------------------------------------------------------------------
    def _handle(self):
        body = self._body()
        if self.path.startswith("/_loom/"):
            return self._control(body)
        st = self.server.state
        with st.lock:
            st.stats["requests"] += 1
            st.stats["by_method"][self.command] = st.stats["by_method"].get(self.command, 0) + 1
            if self.command == "GET" and "list-type=2" in self.path:
                st.stats["lists"] += 1
            elif self.command == "GET":
                st.stats["gets"] += 1
        fault = self._take_fault()
        if fault:
            if fault["status"] == 0:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            return self._s3_error(fault["status"], fault["code"], "injected by the test")
        problem = self._verify(body)
        if problem:
            return self._s3_error(*problem)
        if st.args.latency_ms > 0:
            time.sleep(st.args.latency_ms / 1000.0)
        conn = getattr(self.server.local, "conn", None)
        for attempt in range(2):
            if conn is None:
                conn = http.client.HTTPConnection(self.server.upstream.hostname, self.server.upstream.port, timeout=60)
                self.server.local.conn = conn
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "transfer-encoding")}
            # s3rver knows only its own access key (and checks no signature): the request was
            # verified here, so it goes on under that key.
            for k in list(headers):
                if k.lower() == "authorization":
                    headers[k] = re.sub(r"Credential=[^/]+/", "Credential=S3RVER/", headers[k])
            headers["Content-Length"] = str(len(body))
            try:
                conn.request(self.command, self.path, body=body if body or self.command in ("PUT", "POST") else None,
                             headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = None
                self.server.local.conn = None
                if attempt == 1:
                    return self._answer(502, b"upstream unreachable")
        out_headers = {k: v for k, v in resp.getheaders()
                       if k.lower() not in ("content-length", "transfer-encoding", "connection", "keep-alive")}
        with st.lock:
            st.stats["bytes_out"] += len(data)
        self.send_response(resp.status)
        for k, v in out_headers.items():
            self.send_header(k, v)
        length = resp.getheader("Content-Length")
        if self.command == "HEAD" and length is not None:
            self.send_header("Content-Length", length)
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--public-bucket", default="")
    p.add_argument("--expired-key", action="append", default=[])
    p.add_argument("--bucket-region", action="append", default=[])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", default="")
    p.add_argument("--latency-ms", type=float, default=0)
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    server.upstream = urllib.parse.urlparse(args.upstream)
    server.local = threading.local()
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, args.port_file)
    print("PORT %d" % port, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A local HTTP server for testing Loom's http(s):// storage backend and URL lists.

Serves the files under --root on 127.0.0.1 only, the way static servers and CDNs do (HEAD, GET,
single byte ranges, strong ETags, Last-Modified, If-Match, If-None-Match, Content-Type), plus
routes that misbehave on purpose. Python 3 standard library only.

    python3 tests/support/http_fixture_server.py --root DIR [--port 0] [--port-file PATH] [--put]
        [--tls-cert PEM --tls-key PEM]

Once listening it prints `PORT <n>` on stdout (and writes `<n>` to --port-file, atomically);
SIGTERM or SIGINT stops it.

Fault routes. Prefixes compose, left to right: /slow/200/flaky/2/norange/a.jpg is served after
200 ms, answers 503 twice, then serves a.jpg ignoring Range.

    /status/<code>[/...]     answers <code> with a short text body (429 and 503 carry Retry-After: 0)
    /slow/<ms>/<path>        waits <ms> milliseconds before answering
    /redirect/<n>/<path>     302 to /redirect/<n-1>/<path>; /redirect/0/<path> is <path>
    /redirect-abs/<n>/<path> the same with absolute Location URLs
    /redirect-loop           302 to itself, forever
    /redirect-to?url=<url>   302 to <url> (any host: for tests of what a redirect may reach)
    /flaky/<k>/<path>        503 for the first k requests of this exact URL path, then serves
    /flakyreset/<k>/<path>   drops the connection for the first k requests, then serves
    /nohead/<path>           405 on HEAD (GET works)
    /norange/<path>          ignores Range: always 200 with the whole body
    /nolength/<path>         no Content-Length on HEAD or on whole-body GETs (chunked); ranges work
    /weaketag/<path>         a weak ETag (W/"...")
    /noetag/<path>           no ETag (Last-Modified only)
    /reset/<path>            closes the connection without answering

Control routes (not counted in the statistics):

    GET  /_stats   {"requests", "by_method", "by_path", "range_requests", "bytes_sent", "max_concurrent"}
    POST /_reset   clears the statistics and the flaky counters

With --tls-cert/--tls-key it speaks HTTPS (tests use a self-signed certificate to check that clients
refuse it). With --put, PUT <path> writes the body to <root>/<path> (folders created; 201 or 204); without it
PUT answers 405, like most static servers.
"""

import argparse
import email.utils
import hashlib
import json
import mimetypes
import os
import posixpath
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, root, allow_put):
        self.root = os.path.realpath(root)
        self.allow_put = allow_put
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.flaky = {}
            self.requests = 0
            self.by_method = {}
            self.by_path = {}
            self.range_requests = 0
            self.bytes_sent = 0
            self.concurrent = 0
            self.max_concurrent = 0


class Options:
    """What the fault prefixes of one request asked for."""

    def __init__(self):
        self.slow_ms = 0
        self.nohead = False
        self.norange = False
        self.nolength = False
        self.weak_etag = False
        self.no_etag = False
        self.reset = False
        self.flaky = None  # (k, kind)
        self.redirect = None  # (n, absolute)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LoomHttpFixture/1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms stalls

    def log_message(self, fmt, *args):  # quiet: tests read stdout for the PORT line only
        pass

    # --- plumbing -------------------------------------------------------------------------------

    @property
    def state(self):
        return self.server.state

    def count(self, path):
        s = self.state
        with s.lock:
            s.requests += 1
            s.by_method[self.command] = s.by_method.get(self.command, 0) + 1
            s.by_path[path] = s.by_path.get(path, 0) + 1
            if self.headers.get("Range"):
                s.range_requests += 1
            s.concurrent += 1
            s.max_concurrent = max(s.max_concurrent, s.concurrent)

    def uncount(self):
        with self.state.lock:
            self.state.concurrent -= 1

    def send_body(self, code, body, content_type="text/plain; charset=utf-8", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
            with self.state.lock:
                self.state.bytes_sent += len(body)

    def drop_connection(self):
        # RST instead of FIN: the client sees a reset, as with a crashed proxy.
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def parse(self, path):
        """Consumes fault prefixes; returns (Options, remaining path) or (None, None) for /status etc."""
        opts = Options()
        parts = [p for p in path.split("/") if p != ""]
        i = 0
        while i < len(parts):
            p = parts[i]
            if p == "slow" and i + 1 < len(parts):
                opts.slow_ms += int(parts[i + 1])
                i += 2
            elif p in ("redirect", "redirect-abs") and i + 1 < len(parts):
                opts.redirect = (int(parts[i + 1]), p == "redirect-abs", "/".join(parts[i + 2:]))
                return opts, None
            elif p in ("flaky", "flakyreset") and i + 1 < len(parts):
                opts.flaky = (int(parts[i + 1]), p)
                i += 2
            elif p == "nohead":
                opts.nohead = True
                i += 1
            elif p == "norange":
                opts.norange = True
                i += 1
            elif p == "nolength":
                opts.nolength = True
                i += 1
            elif p == "weaketag":
                opts.weak_etag = True
                i += 1
            elif p == "noetag":
                opts.no_etag = True
                i += 1
            elif p == "reset":
                opts.reset = True
                i += 1
            else:
                break
        return opts, "/".join(parts[i:])

    # --- methods --------------------------------------------------------------------------------

    def do_HEAD(self):
        self.handle_request()

    def do_GET(self):
        self.handle_request()

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if path == "/_reset":
            self.state.reset()
            return self.send_body(200, b"{}", "application/json")
        return self.send_body(405, b"method not allowed\n", extra={"Allow": "GET, HEAD"})

    def do_PUT(self):
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.count(path)
        try:
            if not self.state.allow_put:
                return self.send_body(405, b"PUT is not allowed here\n", extra={"Allow": "GET, HEAD"})
            target = self.local_path(path)
            if target is None:
                return self.send_body(403, b"outside the served folder\n")
            existed = os.path.exists(target)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            tmp = target + ".put-tmp"
            with open(tmp, "wb") as f:
                f.write(body)
            os.replace(tmp, target)
            self.send_response(204 if existed else 201)
            self.send_header("Content-Length", "0")
            self.end_headers()
        finally:
            self.uncount()

    def local_path(self, path):
        rel = posixpath.normpath("/" + path).lstrip("/")
        full = os.path.realpath(os.path.join(self.state.root, rel))
        if full != self.state.root and not full.startswith(self.state.root + os.sep):
            return None
        return full

    def handle_request(self):
        split = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(split.path)
        if path == "/_stats" and self.command == "GET":
            s = self.state
            with s.lock:
                body = json.dumps({"requests": s.requests, "by_method": s.by_method, "by_path": s.by_path,
                                   "range_requests": s.range_requests, "bytes_sent": s.bytes_sent,
                                   "max_concurrent": s.max_concurrent}).encode()
            return self.send_body(200, body, "application/json")
        self.count(path)
        try:
            self.route(path, split.query)
        finally:
            self.uncount()

    def route(self, path, query):
        if path.startswith("/status/"):
            code = int(path.split("/")[2])
            extra = {"Retry-After": "0"} if code in (429, 503) else {}
            return self.send_body(code, ("status %d\n" % code).encode(), extra=extra)
        if path == "/redirect-to":
            target = urllib.parse.parse_qs(query).get("url", [""])[0]
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            return self.end_headers()
        if path == "/redirect-loop":
            self.send_response(302)
            self.send_header("Location", "/redirect-loop")
            self.send_header("Content-Length", "0")
            return self.end_headers()

        opts, rest = self.parse(path)
        if opts.slow_ms:
            time.sleep(opts.slow_ms / 1000.0)
        if opts.reset:
            return self.drop_connection()
        if opts.flaky:
            k, kind = opts.flaky
            with self.state.lock:
                seen = self.state.flaky.get(path, 0)
                self.state.flaky[path] = seen + 1
            if seen < k:
                if kind == "flakyreset":
                    return self.drop_connection()
                return self.send_body(503, b"try again\n", extra={"Retry-After": "0"})
        if opts.redirect:
            n, absolute, target = opts.redirect
            nxt = ("/redirect-abs/%d/%s" if absolute else "/redirect/%d/%s") % (n - 1, target) if n > 1 else "/" + target
            nxt = urllib.parse.quote(nxt) + ("?" + query if query else "")
            if absolute:
                nxt = "http://127.0.0.1:%d%s" % (self.server.server_address[1], nxt)
            self.send_response(302)
            self.send_header("Location", nxt)
            self.send_header("Content-Length", "0")
            return self.end_headers()
        if opts.nohead and self.command == "HEAD":
            return self.send_body(405, b"", extra={"Allow": "GET"})
        self.serve_file(rest, opts)

    def serve_file(self, rel, opts):
        target = self.local_path(rel)
        if target is None:
            return self.send_body(403, b"outside the served folder\n")
        if not os.path.isfile(target):
            return self.send_body(404, ("not found: /%s\n" % rel).encode())
        try:
            st = os.stat(target)
            with open(target, "rb") as f:
                data = f.read()
        except PermissionError:
            return self.send_body(403, b"forbidden\n")
        size = len(data)
        tag = hashlib.sha1(("%d-%d" % (size, st.st_mtime_ns)).encode()).hexdigest()[:16]
        etag = None if opts.no_etag else ('W/"%s"' % tag if opts.weak_etag else '"%s"' % tag)
        last_modified = email.utils.formatdate(st.st_mtime, usegmt=True)
        ctype = mimetypes.guess_type(target)[0] or "application/octet-stream"

        def common():
            self.send_header("Content-Type", ctype)
            self.send_header("Last-Modified", last_modified)
            if etag:
                self.send_header("ETag", etag)
            if not opts.norange:
                self.send_header("Accept-Ranges", "bytes")

        # Preconditions (RFC 9110 section 13): If-Match uses strong comparison, so a weak tag never matches.
        if_match = self.headers.get("If-Match")
        if if_match and if_match.strip() != "*":
            tags = [t.strip() for t in if_match.split(",")]
            if not etag or etag.startswith("W/") or etag not in tags:
                return self.send_body(412, b"precondition failed\n")
        if_none = self.headers.get("If-None-Match")
        if if_none and etag and etag.replace("W/", "") in [t.strip().replace("W/", "") for t in if_none.split(",")]:
            self.send_response(304)
            if etag:
                self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            return self.end_headers()

        rng = None if opts.norange else self.headers.get("Range")
        if rng:
            span = parse_range(rng, size)
            if span == "unsatisfiable":
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % size)
                self.send_header("Content-Length", "0")
                return self.end_headers()
            if span is not None:
                a, b = span
                body = data[a:b + 1]
                self.send_response(206)
                common()
                self.send_header("Content-Range", "bytes %d-%d/%d" % (a, b, size))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                    with self.state.lock:
                        self.state.bytes_sent += len(body)
                return
        self.send_response(200)
        common()
        if opts.nolength:
            if self.command == "HEAD":
                return self.end_headers()
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, size, 65536):
                chunk = data[i:i + 65536]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if self.command == "HEAD":
                return
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client stopped reading early: fine
                return
        with self.state.lock:
            self.state.bytes_sent += size


def parse_range(header, size):
    """One byte range "bytes=a-b", "bytes=a-" or "bytes=-n"; None to ignore (several ranges, junk)."""
    if not header.startswith("bytes=") or "," in header:
        return None
    spec = header[len("bytes="):].strip()
    first, _, last = spec.partition("-")
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                return "unsatisfiable"
            return (max(0, size - n), size - 1) if size else "unsatisfiable"
        a = int(first)
        b = int(last) if last else size - 1
    except ValueError:
        return None
    if a >= size or b < a:
        return "unsatisfiable"
    return a, min(b, size - 1)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        # Clients that hang up early (a reader that has its bytes, a timeout) are normal here.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="folder whose files are served")
    ap.add_argument("--port", type=int, default=0, help="0: any free port")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--put", action="store_true", help="accept PUT into --root")
    ap.add_argument("--tls-cert", help="PEM certificate: serve HTTPS")
    ap.add_argument("--tls-key", help="PEM private key for --tls-cert")
    args = ap.parse_args()

    server = Server(("127.0.0.1", args.port), Handler)
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.state = State(args.root, args.put)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, args.port_file)
    print("PORT %d" % port, flush=True)

    def stop(signum, frame):
        os._exit(0)  # nothing to flush or save; tests want it gone at once

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.5)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Model-API test server for Loom's tests and benchmarks (Python standard library only).

It answers the OpenAI and Anthropic wire formats deterministically, with realistic usage
numbers and rate-limit headers, listens on 127.0.0.1 only, and injects faults on demand, so
Loom's model clients can be tested and benchmarked without a network or a real provider.

Command line
------------
    python3 tests/support/model_api_server.py [--port 0] [--latency-ms 0] [--rpm 0]
        [--tpm 0] [--api-key test-key] [--port-file PATH]

--port        port on 127.0.0.1; 0 picks a free one. Once listening, the server prints exactly
              "PORT <n>" on its own line to stdout (nothing else goes to stdout).
--port-file   also write "<n>" to this file, atomically (written beside it, then renamed),
              before the PORT line is printed.
--latency-ms  every admitted model request sleeps this long before it is answered.
--rpm, --tpm  when > 0, a sliding 60-second window of requests / tokens across all model
              endpoints; a request over a limit gets 429 with retry-after (whole seconds,
              at least 1), retry-after-ms and the provider's error body. Requests are counted
              at admission with their whole token count (prompt + completion, known in
              advance since answers are deterministic); refused requests are not counted.
--api-key     the only key accepted (default "test-key"); a received key is never echoed.
SIGTERM or SIGINT stops the server cleanly (exit status 0).

Each connection gets its own daemon thread (HTTP/1.1 keep-alive, a Content-Length on every
response, request bodies read by Content-Length; a chunked body gets 411), so latency sleeps
overlap: 32 keep-alive clients with --latency-ms 100 get about 310 answers a second.

Endpoints
---------
POST /v1/chat/completions  OpenAI. Needs "Authorization: Bearer <key>" (else 401
    invalid_api_key). Body: model, messages (content a string or parts "text" /
    "image_url" with a base64 data URL), optional response_format (text, json_object,
    json_schema), max_completion_tokens or max_tokens, temperature (0..2). "stream" is refused.
POST /v1/embeddings        OpenAI. input (a string or a list of strings), model, optional
    dimensions (default 8) and encoding_format ("float" or "base64"). Vectors come from
    sha256 of each text and are L2-normalised.
POST /v1/messages          Anthropic. Needs "x-api-key: <key>" (else 401
    authentication_error) and an anthropic-version header (else 400). Body: model,
    max_tokens (required), messages (content a string or "text" / "image" blocks with a
    base64 source), optional system (a string or text blocks), temperature (0..1).
GET  /_stats   {"requests", "by_status", "by_path", "model_calls_ok", "model_calls_ok_distinct",
               "max_concurrent", "attempts_by_fault"} -- see "Statistics" below.
POST /_reset   clears the counters, pending and per-body fault state, the rate window and the
               prompt-cache memory.
POST /_faults  {"kind": K, "count": n} (count defaults to 1): the next n model requests, on
               any endpoint and whatever their content, get fault K. Calls queue up in order.
Anything else gets a 404 JSON error (405 for a known path with the wrong method).

Answers
-------
Text: "Echo: " + the text of the last user message (its text parts joined by newlines), then
" [image <mime> <decoded bytes> bytes <W>x<H>]" per image, W x H read from the PNG IHDR or the
JPEG SOFn header ("?x?" for anything else). A data URL or base64 payload that does not decode
is a 400 naming the field. With response_format json_schema the content is a JSON object
satisfying the schema (properties, required, type string/number/integer/boolean/array/object/
null, enum, const, anyOf/oneOf, local $ref, min/max bounds), every value derived from sha256
of the messages; json_object gives {"echo": <text>}. Content longer than max_tokens x 4
characters is cut there, with finish_reason "length" (OpenAI) / stop_reason "max_tokens".

Token estimate: ceil(len(text) / 4) per text part, + 4 per message (an Anthropic system prompt
counts as one), + 85 per image; completion tokens ceil(len(content) / 4).
Prompt cache, OpenAI: when prompt_tokens >= 1024 and the same first message was answered
before in such a request, prompt_tokens_details.cached_tokens = floor(prompt_tokens / 128) * 128.
Prompt cache, Anthropic: when the system prompt alone is >= 1024 tokens, its tokens are
cache_creation_input_tokens the first time and cache_read_input_tokens afterwards; as with the
real API, input_tokens then counts only the rest, so the prompt estimate is
input_tokens + cache_creation_input_tokens + cache_read_input_tokens.

Headers on every model-endpoint response: OpenAI x-ratelimit-{limit,remaining,reset}-
{requests,tokens} (reset as an OpenAI duration: "120ms", "1s", "6m0s") and x-request-id;
Anthropic anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset} (reset as an RFC 3339
UTC time) and request-id. "reset" is when the oldest request in the window leaves it. Without
--rpm / --tpm the limits read 10000 requests and 10000000 tokens, always fully remaining.

Fault markers
-------------
"FAULT:<kind>" or "FAULT:<kind>:<n>" anywhere in a request body (say in the prompt text) makes
the first n attempts of that exact body (keyed by sha256 of the raw bytes) fail with <kind>;
later attempts succeed. Without ":<n>" every attempt fails. Only requests that pass
authentication, validation and rate-limit admission get a fault, and only once --latency-ms
has passed. Kinds:
    429        429 with retry-after: 1 and retry-after-ms: 300, provider error body
    500 503 408 529
               that status with the provider's error body (529 is Anthropic's overloaded)
    slow       sleeps 10 s more, then answers normally
    reset      closes the TCP connection without any response (an RST)
    malformed  200, Content-Type application/json, a body that is not JSON
    truncated  200 whose Content-Length promises more bytes than are sent, then closes
    nousage    a valid 200 answer without its "usage" object
    badshape   valid JSON 200 of the wrong shape: {"choices": []} (chat),
               {"object": "list", "data": []} (embeddings), {"type": "message",
               "content": []} (messages)
Faults queued with POST /_faults come before markers.

Statistics
----------
/_stats counts every request except those to /_stats, /_reset and /_faults:
requests       all of them (model endpoints and unknown paths)
by_status      {"200": n, "429": n, ...} by status sent; "reset" faults send none
by_path        {"/v1/messages": n, ...}
model_calls_ok successful model answers (normal, slow and nousage)
model_calls_ok_distinct
               how many different request bodies (by sha256 of the raw bytes) got a
               successful answer: model_calls_ok minus this is answers paid for again
max_concurrent peak number of model requests being handled at once (latency included)
attempts_by_fault
               per kind, every attempt of a body carrying that marker (the ones let through
               included) plus every request given a queued fault
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import contextlib
import dataclasses
import datetime
import hashlib
import http.server
import json
import math
import os
import re
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
import uuid
from typing import Any, Callable

FAULT_KINDS = ("429", "500", "503", "408", "529", "slow", "reset", "malformed",
               "truncated", "nousage", "badshape")
HTTP_FAULTS = frozenset({"429", "500", "503", "408", "529"})
FAULT_MARKER = re.compile(
    rb"FAULT:(" + b"|".join(kind.encode() for kind in FAULT_KINDS) + rb")(?::(\d+))?(?!\w)")
FAULT_RETRY_HEADERS = (("retry-after", "1"), ("retry-after-ms", "300"))
SLOW_FAULT_SECONDS = 10.0

WINDOW_SECONDS = 60.0
UNLIMITED_REQUESTS = 10_000
UNLIMITED_TOKENS = 10_000_000

CHARS_PER_TOKEN = 4
MESSAGE_TOKENS = 4
IMAGE_TOKENS = 85
CACHE_MIN_TOKENS = 1024
CACHE_BLOCK_TOKENS = 128

DEFAULT_EMBEDDING_DIMENSIONS = 8
MAX_EMBEDDING_DIMENSIONS = 16_384
MAX_BODY_BYTES = 64 * 1024 * 1024
REASON_PHRASES = {529: "Overloaded"}  # statuses Python's http module has no phrase for

OPENAI_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
ANTHROPIC_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)(?:;[\w.+-]+=[\w.+-]+)*;base64,(.*)", re.DOTALL)
JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
WORDS = ("amber", "birch", "cedar", "delta", "ember", "fjord",
         "grove", "harbor", "iris", "juniper", "kestrel", "lumen")


class RequestError(Exception):
    """A request the provider would refuse with 400; param names the offending field."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def sha256(data: str | bytes) -> bytes:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).digest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def openai_duration(seconds: float) -> str:
    """Formats a wait the way OpenAI's x-ratelimit-reset-* headers do: 120ms, 1s, 6m0s."""
    millis = max(0, math.ceil(seconds * 1000))
    if millis == 0:
        return "0s"
    if millis < 1000:
        return f"{millis}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def rfc3339_after(seconds: float) -> str:
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + datetime.timedelta(seconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def truncate(content: str, max_tokens: int | None) -> tuple[str, bool]:
    """Cuts content to max_tokens x 4 characters; says whether it was cut."""
    if max_tokens is not None and len(content) > max_tokens * CHARS_PER_TOKEN:
        return content[:max_tokens * CHARS_PER_TOKEN], True
    return content, False


# --- Images ---------------------------------------------------------------------------------

def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the first SOFn segment of a JPEG, or None."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # segments without a length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            return None
        if marker in JPEG_SOF_MARKERS:
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return None


def image_size(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return f"{width}x{height}"
    if data.startswith(b"\xff\xd8"):
        size = jpeg_size(data)
        if size:
            return f"{size[0]}x{size[1]}"
    return "?x?"


def describe_image(mime: str, data: bytes) -> str:
    return f" [image {mime} {len(data)} bytes {image_size(data)}]"


def decode_base64(text: Any, param: str) -> bytes:
    if not isinstance(text, str):
        raise RequestError(f"{param} must be a base64 string", param)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(f"{param} is not valid base64", param) from None


# --- JSON schema answers -------------------------------------------------------------------

class SchemaFiller:
    """Builds a value satisfying a JSON schema; each leaf comes from sha256(seed + its path)."""

    MAX_DEPTH = 16

    def __init__(self, root: dict, seed: bytes):
        self.root = root
        self.seed = seed

    def _digest(self, path: str) -> bytes:
        return sha256(self.seed + path.encode())

    def _unit(self, path: str) -> float:
        """A number in [0, 1) for this path."""
        return int.from_bytes(self._digest(path)[:8], "big") / 2**64

    def _resolve(self, ref: Any) -> Any:
        node: Any = self.root
        if not isinstance(ref, str) or not ref.startswith("#"):
            return {}
        for part in filter(None, ref[1:].split("/")):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node.get(part) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else {}

    @staticmethod
    def _type(schema: dict) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if isinstance(kind, str):
            return kind
        if "properties" in schema:
            return "object"
        return "array" if "items" in schema else "string"

    def value(self, schema: Any, path: str = "$", depth: int = 0) -> Any:
        if not isinstance(schema, dict) or depth > self.MAX_DEPTH:
            return None
        if "$ref" in schema:
            return self.value(self._resolve(schema["$ref"]), path, depth + 1)
        if "const" in schema:
            return schema["const"]
        choices = schema.get("enum")
        if isinstance(choices, list) and choices:
            return choices[int(self._unit(path) * len(choices))]
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                option = next((o for o in options
                               if isinstance(o, dict) and o.get("type") != "null"), options[0])
                return self.value(option, path, depth + 1)
        kind = self._type(schema)
        if kind == "object":
            return self._object(schema, path, depth)
        if kind == "array":
            return self._array(schema, path, depth)
        if kind == "number":
            return self._number(schema, path)
        if kind == "integer":
            return self._integer(schema, path)
        if kind == "boolean":
            return self._unit(path) < 0.5
        if kind == "null":
            return None
        return self._string(schema, path)

    def _object(self, schema: dict, path: str, depth: int) -> dict:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        result = {name: self.value(sub, f"{path}.{name}", depth + 1)
                  for name, sub in properties.items()}
        required = schema.get("required")
        for name in required if isinstance(required, list) else ():
            if isinstance(name, str) and name not in result:
                result[name] = self._string({}, f"{path}.{name}")
        return result

    def _array(self, schema: dict, path: str, depth: int) -> list:
        low = schema.get("minItems", 0)
        high = schema.get("maxItems", max(low, 2))
        count = min(max(2, low), high)
        return [self.value(schema.get("items", {}), f"{path}[{i}]", depth + 1)
                for i in range(count)]

    def _string(self, schema: dict, path: str) -> str:
        digest = self._digest(path).hex()
        text = f"{WORDS[int(digest[:8], 16) % len(WORDS)]}-{digest[8:16]}"
        min_length = schema.get("minLength", 0)
        if len(text) < min_length:
            text = (text + digest * (min_length // len(digest) + 1))[:min_length]
        max_length = schema.get("maxLength")
        return text[:max_length] if isinstance(max_length, int) else text

    def _number(self, schema: dict, path: str) -> float:
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0.0))
        high = schema.get("maximum", schema.get("exclusiveMaximum", low + 1.0))
        if schema.get("minimum") is None and schema.get("exclusiveMinimum") is None:
            low = min(low, high - 1.0)
        # Stay strictly inside the bounds, so exclusive ones hold too.
        return round(low + (high - low) * (0.05 + 0.9 * self._unit(path)), 4)

    def _integer(self, schema: dict, path: str) -> int:
        low = math.ceil(schema["minimum"]) if "minimum" in schema else (
            math.floor(schema["exclusiveMinimum"]) + 1 if "exclusiveMinimum" in schema else None)
        high = math.floor(schema["maximum"]) if "maximum" in schema else (
            math.ceil(schema["exclusiveMaximum"]) - 1 if "exclusiveMaximum" in schema else None)
        if low is None:
            low = 0 if high is None else min(0, high)
        if high is None or high < low:
            high = low + 100 if high is None else low
        return min(high, low + int(self._unit(path) * (high - low + 1)))


# --- Server state ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class RateSnapshot:
    requests_limit: int
    requests_remaining: int
    requests_reset: float
    tokens_limit: int
    tokens_remaining: int
    tokens_reset: float


@dataclasses.dataclass(frozen=True)
class RateDenial:
    limit: str  # "requests" or "tokens"
    wait: float  # seconds until the request would fit
    snapshot_limit: int
    used: int
    requested: int


class ServerState:
    """Counters, the rate window, fault state and prompt-cache memory, behind one lock."""

    def __init__(self, rpm: int, tpm: int):
        self.rpm = rpm
        self.tpm = tpm
        self.lock = threading.Lock()
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.requests = 0
            self.by_status: collections.Counter[str] = collections.Counter()
            self.by_path: collections.Counter[str] = collections.Counter()
            self.model_calls_ok = 0
            self.ok_by_body: collections.Counter[bytes] = collections.Counter()
            self.max_concurrent = self.in_flight
            self.attempts_by_fault: collections.Counter[str] = collections.Counter()
            self.attempts_by_body: collections.Counter[bytes] = collections.Counter()
            self.queued_faults: collections.deque[list] = collections.deque()
            self.window: collections.deque[tuple[float, int]] = collections.deque()
            self.window_tokens = 0
            self.cache_seen: set[tuple[str, bytes]] = set()

    def count_request(self, path: str) -> None:
        with self.lock:
            self.requests += 1
            self.by_path[path] += 1

    def count_status(self, status: int) -> None:
        with self.lock:
            self.by_status[str(status)] += 1

    def count_ok(self, body: bytes) -> None:
        with self.lock:
            self.model_calls_ok += 1
            self.ok_by_body[sha256(body)] += 1

    def stats(self) -> dict:
        with self.lock:
            return {
                "requests": self.requests,
                "by_status": dict(self.by_status),
                "by_path": dict(self.by_path),
                "model_calls_ok": self.model_calls_ok,
                "model_calls_ok_distinct": len(self.ok_by_body),
                "max_concurrent": self.max_concurrent,
                "attempts_by_fault": dict(self.attempts_by_fault),
            }

    @contextlib.contextmanager
    def model_call(self):
        with self.lock:
            self.in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self.in_flight)
        try:
            yield
        finally:
            with self.lock:
                self.in_flight -= 1

    # Rate window.

    def _prune(self, now: float) -> None:
        while self.window and self.window[0][0] <= now - WINDOW_SECONDS:
            self.window_tokens -= self.window.popleft()[1]

    def admit(self, tokens: int) -> RateDenial | None:
        """Counts a request into the window, or says which limit refuses it and for how long."""
        now = time.monotonic()
        with self.lock:
            self._prune(now)
            denial = None
            if self.rpm and len(self.window) >= self.rpm:
                frees_at = self.window[len(self.window) - self.rpm][0] + WINDOW_SECONDS
                denial = RateDenial("requests", frees_at - now, self.rpm, len(self.window), 1)
            if self.tpm and self.window_tokens + tokens > self.tpm:
                wait = self._token_wait(tokens, now)
                if denial is None or wait > denial.wait:
                    denial = RateDenial("tokens", wait, self.tpm, self.window_tokens, tokens)
            if denial is None:
                self.window.append((now, tokens))
                self.window_tokens += tokens
            return denial

    def _token_wait(self, tokens: int, now: float) -> float:
        if tokens > self.tpm:
            return WINDOW_SECONDS  # never fits; a full window is the honest answer
        excess = self.window_tokens + tokens - self.tpm
        for admitted_at, count in self.window:
            excess -= count
            if excess <= 0:
                return admitted_at + WINDOW_SECONDS - now
        return WINDOW_SECONDS

    def rate_snapshot(self) -> RateSnapshot:
        now = time.monotonic()
        with self.lock:
            self._prune(now)
            reset = self.window[0][0] + WINDOW_SECONDS - now if self.window else 0.0
            if self.rpm:
                requests = (self.rpm, max(0, self.rpm - len(self.window)), reset)
            else:
                requests = (UNLIMITED_REQUESTS, UNLIMITED_REQUESTS, 0.0)
            if self.tpm:
                tokens = (self.tpm, max(0, self.tpm - self.window_tokens), reset)
            else:
                tokens = (UNLIMITED_TOKENS, UNLIMITED_TOKENS, 0.0)
        return RateSnapshot(*requests, *tokens)

    # Faults.

    def queue_fault(self, kind: str, count: int) -> list[dict]:
        with self.lock:
            self.queued_faults.append([kind, count])
            return [{"kind": k, "count": n} for k, n in self.queued_faults]

    def take_fault(self, body: bytes) -> str | None:
        """The fault this attempt gets: a queued one first, else the body's marker."""
        with self.lock:
            if self.queued_faults:
                queued = self.queued_faults[0]
                queued[1] -= 1
                if queued[1] <= 0:
                    self.queued_faults.popleft()
                self.attempts_by_fault[queued[0]] += 1
                return queued[0]
        match = FAULT_MARKER.search(body)
        if match is None:
            return None
        kind = match.group(1).decode()
        key = sha256(body)
        with self.lock:
            self.attempts_by_fault[kind] += 1
            self.attempts_by_body[key] += 1
            attempt = self.attempts_by_body[key]
        if match.group(2) is None or attempt <= int(match.group(2)):
            return kind
        return None

    # Prompt cache.

    def seen_before(self, namespace: str, key: bytes) -> bool:
        """Whether this cache key was remembered before; remembers it from now on."""
        with self.lock:
            seen = (namespace, key) in self.cache_seen
            self.cache_seen.add((namespace, key))
            return seen


# --- Providers ------------------------------------------------------------------------------

@dataclasses.dataclass
class Prepared:
    """A validated model request: its tokens for the rate window and how to answer it."""
    tokens: int
    answer: Callable[[ServerState], dict]


class OpenAIDialect:
    """OpenAI's authentication, error bodies and rate-limit headers."""

    FAULT_ERRORS = {
        429: ("requests", "rate_limit_exceeded",
              "Rate limit reached for requests. Please try again in 1s."),
        500: ("server_error", None, "The server had an error while processing your request."),
        503: ("server_error", None, "The engine is currently overloaded, please try again later."),
        408: ("timeout", None, "Request timed out."),
        529: ("server_error", "overloaded", "The server is overloaded, please try again later."),
    }

    def __init__(self, api_key: str):
        self.api_key = api_key

    @staticmethod
    def error(message: str, kind: str = "invalid_request_error", param: str | None = None,
              code: str | None = None) -> dict:
        return {"error": {"message": message, "type": kind, "param": param, "code": code}}

    def check_auth(self, headers) -> tuple[int, dict] | None:
        if headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        return 401, self.error("Incorrect API key provided. Check the key this test server "
                               "was started with (--api-key).", code="invalid_api_key")

    def request_error(self, exc: RequestError) -> dict:
        return self.error(exc.message, param=exc.param)

    def fault_error(self, status: int) -> dict:
        kind, code, message = self.FAULT_ERRORS[status]
        return self.error(message, kind, code=code)

    def rate_limit_error(self, denial: RateDenial) -> dict:
        return self.error(
            f"Rate limit reached for {denial.limit} per min: Limit {denial.snapshot_limit}, "
            f"Used {denial.used}, Requested {denial.requested}. "
            f"Please try again in {openai_duration(denial.wait)}.",
            denial.limit, code="rate_limit_exceeded")

    @staticmethod
    def headers(rate: RateSnapshot) -> list[tuple[str, str]]:
        return [
            ("x-ratelimit-limit-requests", str(rate.requests_limit)),
            ("x-ratelimit-remaining-requests", str(rate.requests_remaining)),
            ("x-ratelimit-reset-requests", openai_duration(rate.requests_reset)),
            ("x-ratelimit-limit-tokens", str(rate.tokens_limit)),
            ("x-ratelimit-remaining-tokens", str(rate.tokens_remaining)),
            ("x-ratelimit-reset-tokens", openai_duration(rate.tokens_reset)),
            ("x-request-id", f"req_{uuid.uuid4().hex}"),
        ]


class AnthropicDialect:
    """Anthropic's authentication, error bodies and rate-limit headers."""

    ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                   408: "timeout_error", 429: "rate_limit_error", 500: "api_error",
                   503: "api_error", 529: "overloaded_error"}
    FAULT_MESSAGES = {429: "Rate limit exceeded (injected fault).", 500: "Internal server error",
                      503: "Service unavailable", 408: "Request timed out", 529: "Overloaded"}

    def __init__(self, api_key: str):
        self.api_key = api_key

    @classmethod
    def error(cls, status: int, message: str) -> dict:
        return {"type": "error", "error": {"type": cls.ERROR_TYPES[status], "message": message}}

    def check_auth(self, headers) -> tuple[int, dict] | None:
        if headers.get("x-api-key") != self.api_key:
            return 401, self.error(401, "invalid x-api-key")
        if not headers.get("anthropic-version"):
            return 400, self.error(400, "anthropic-version: header is required")
        return None

    def request_error(self, exc: RequestError) -> dict:
        return self.error(400, exc.message)

    def fault_error(self, status: int) -> dict:
        return self.error(status, self.FAULT_MESSAGES[status])

    def rate_limit_error(self, denial: RateDenial) -> dict:
        what = "requests" if denial.limit == "requests" else "request tokens"
        return self.error(429, f"Number of {what} has exceeded your per-minute rate limit "
                               f"({denial.snapshot_limit}); retry after "
                               f"{max(1, math.ceil(denial.wait))} s.")

    @staticmethod
    def headers(rate: RateSnapshot) -> list[tuple[str, str]]:
        return [
            ("anthropic-ratelimit-requests-limit", str(rate.requests_limit)),
            ("anthropic-ratelimit-requests-remaining", str(rate.requests_remaining)),
            ("anthropic-ratelimit-requests-reset", rfc3339_after(rate.requests_reset)),
            ("anthropic-ratelimit-tokens-limit", str(rate.tokens_limit)),
            ("anthropic-ratelimit-tokens-remaining", str(rate.tokens_remaining)),
            ("anthropic-ratelimit-tokens-reset", rfc3339_after(rate.tokens_reset)),
            ("request-id", f"req_{uuid.uuid4().hex[:24]}"),
        ]


def require_model(payload: dict) -> str:
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("model: a non-empty string is required", "model")
    return model


def optional_positive_int(payload: dict, field: str, required: bool = False) -> int | None:
    value = payload.get(field)
    if value is None:
        if required:
            raise RequestError(f"{field}: Field required", field)
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestError(f"{field}: must be a positive integer", field)
    return value


def check_temperature(payload: dict, highest: float) -> None:
    value = payload.get("temperature")
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= highest:
        raise RequestError(f"temperature: must be a number between 0 and {highest:g}",
                           "temperature")


def require_messages(payload: dict) -> list:
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages: a non-empty array is required", "messages")
    return messages


def echo(texts: list[str], images: list[str]) -> str:
    return "Echo: " + "\n".join(texts) + "".join(images)


class ChatCompletions:
    """POST /v1/chat/completions."""

    dialect_name = "openai"
    malformed_body = b'{"choices": ['
    badshape_body = {"choices": []}

    def prepare(self, payload: dict) -> Prepared:
        model = require_model(payload)
        messages = require_messages(payload)
        if payload.get("stream"):
            raise RequestError("stream: streaming is not supported by this test server",
                               "stream")
        max_tokens = (optional_positive_int(payload, "max_completion_tokens")
                      or optional_positive_int(payload, "max_tokens"))
        check_temperature(payload, 2.0)

        prompt_tokens = 0
        last_user: tuple[list[str], list[str]] = ([], [])
        for i, message in enumerate(messages):
            texts, images = self._read_message(message, f"messages[{i}]")
            prompt_tokens += (MESSAGE_TOKENS + sum(map(estimate_tokens, texts))
                              + IMAGE_TOKENS * len(images))
            if message["role"] == "user":
                last_user = (texts, images)

        content = self._content(payload.get("response_format"), echo(*last_user), messages)
        content, cut = truncate(content, max_tokens)
        completion_tokens = estimate_tokens(content)
        first_message = sha256(canonical_json(messages[0]))

        def answer(state: ServerState) -> dict:
            cached = 0
            if prompt_tokens >= CACHE_MIN_TOKENS and state.seen_before("openai", first_message):
                cached = prompt_tokens // CACHE_BLOCK_TOKENS * CACHE_BLOCK_TOKENS
            return {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "length" if cut else "stop",
                }],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                    "prompt_tokens_details": {"cached_tokens": cached},
                },
                "system_fingerprint": "fp_loom_test",
            }

        return Prepared(prompt_tokens + completion_tokens, answer)

    @staticmethod
    def _read_message(message: Any, where: str) -> tuple[list[str], list[str]]:
        """The message's text parts and image descriptions; raises RequestError if invalid."""
        if not isinstance(message, dict) or message.get("role") not in OPENAI_ROLES:
            raise RequestError(f"{where}.role: must be one of {sorted(OPENAI_ROLES)}",
                               f"{where}.role")
        content = message.get("content")
        if content is None and message["role"] == "assistant":
            return [], []
        if isinstance(content, str):
            return [content], []
        if not isinstance(content, list):
            raise RequestError(f"{where}.content: must be a string or an array of parts",
                               f"{where}.content")
        texts, images = [], []
        for j, part in enumerate(content):
            at = f"{where}.content[{j}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "image_url":
                url = part.get("image_url", {}).get("url") if isinstance(
                    part.get("image_url"), dict) else None
                match = DATA_URL.fullmatch(url) if isinstance(url, str) else None
                if match is None:
                    raise RequestError(f"{at}.image_url.url: must be a base64 data URL "
                                       "(data:<mime>;base64,...)", f"{at}.image_url.url")
                data = decode_base64(match.group(2), f"{at}.image_url.url")
                images.append(describe_image(match.group(1), data))
            else:
                raise RequestError(f"{at}: expected a 'text' part with text or an "
                                   "'image_url' part", at)
        return texts, images

    @staticmethod
    def _content(response_format: Any, text: str, messages: list) -> str:
        if response_format is None:
            return text
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind == "text":
            return text
        if kind == "json_object":
            return json.dumps({"echo": text})
        if kind == "json_schema":
            spec = response_format.get("json_schema")
            schema = spec.get("schema") if isinstance(spec, dict) else None
            if not isinstance(schema, dict):
                raise RequestError("response_format.json_schema.schema: an object is required",
                                   "response_format.json_schema.schema")
            filler = SchemaFiller(schema, sha256(canonical_json(messages)))
            return json.dumps(filler.value(schema))
        raise RequestError("response_format.type: must be text, json_object or json_schema",
                           "response_format.type")


class Embeddings:
    """POST /v1/embeddings."""

    dialect_name = "openai"
    malformed_body = b'{"data": ['
    badshape_body = {"object": "list", "data": []}

    def prepare(self, payload: dict) -> Prepared:
        model = require_model(payload)
        inputs = payload.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if (not isinstance(inputs, list) or not inputs
                or not all(isinstance(text, str) for text in inputs)):
            raise RequestError("input: a string or a non-empty array of strings is required",
                               "input")
        dimensions = optional_positive_int(payload, "dimensions") or DEFAULT_EMBEDDING_DIMENSIONS
        if dimensions > MAX_EMBEDDING_DIMENSIONS:
            raise RequestError(f"dimensions: at most {MAX_EMBEDDING_DIMENSIONS}", "dimensions")
        encoding = payload.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise RequestError("encoding_format: must be float or base64", "encoding_format")
        tokens = sum(map(estimate_tokens, inputs))

        def answer(_state: ServerState) -> dict:
            data = []
            for index, text in enumerate(inputs):
                vector = self.embed(text, dimensions)
                if encoding == "base64":
                    vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
                data.append({"object": "embedding", "index": index, "embedding": vector})
            return {"object": "list", "data": data, "model": model,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

        return Prepared(tokens, answer)

    @staticmethod
    def embed(text: str, dimensions: int) -> list[float]:
        values: list[float] = []
        block = 0
        while len(values) < dimensions:
            words = struct.unpack(">8I", sha256(f"{block}:{text}"))
            values.extend(word / 2**31 - 1.0 for word in words)
            block += 1
        del values[dimensions:]
        norm = math.sqrt(sum(v * v for v in values)) or 1.0
        return [v / norm for v in values]


class Messages:
    """POST /v1/messages (Anthropic)."""

    dialect_name = "anthropic"
    malformed_body = b'{"content": ['
    badshape_body = {"type": "message", "content": []}

    @staticmethod
    def _forced_tool(payload: dict) -> "tuple[str, dict] | None":
        """(name, input_schema) of the tool that tool_choice forces, if any."""
        choice = payload.get("tool_choice")
        if not isinstance(choice, dict) or choice.get("type") != "tool":
            return None
        name = choice.get("name")
        for tool in payload.get("tools") or []:
            if isinstance(tool, dict) and tool.get("name") == name:
                schema = tool.get("input_schema")
                if not isinstance(schema, dict):
                    raise RequestError(f"tools: {name}: input_schema must be an object",
                                       "tools.input_schema")
                return name, schema
        raise RequestError(f"tool_choice names the tool {name!r}, which is not in tools", "tool_choice")

    def prepare(self, payload: dict) -> Prepared:
        model = require_model(payload)
        max_tokens = optional_positive_int(payload, "max_tokens", required=True)
        messages = require_messages(payload)
        check_temperature(payload, 1.0)

        system_texts = self._system_texts(payload.get("system"))
        system_tokens = (MESSAGE_TOKENS + sum(map(estimate_tokens, system_texts))
                         if system_texts else 0)
        prompt_tokens = system_tokens
        last_user: tuple[list[str], list[str]] = ([], [])
        for i, message in enumerate(messages):
            texts, images = self._read_message(message, f"messages.{i}")
            prompt_tokens += (MESSAGE_TOKENS + sum(map(estimate_tokens, texts))
                              + IMAGE_TOKENS * len(images))
            if message["role"] == "user":
                last_user = (texts, images)

        content, cut = truncate(echo(*last_user), max_tokens)
        tool = self._forced_tool(payload)
        if tool is not None:
            # A forced tool (structured output): the answer is a tool_use block whose input follows
            # the tool's input_schema.
            name, schema = tool
            tool_input = SchemaFiller(schema, sha256(canonical_json(messages))).value(schema)
            blocks = [{"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": name,
                       "input": tool_input}]
            output_tokens = estimate_tokens(json.dumps(tool_input))
            stop_reason = "tool_use"
        else:
            blocks = [{"type": "text", "text": content}]
            output_tokens = estimate_tokens(content)
            stop_reason = "max_tokens" if cut else "end_turn"
        system_key = sha256("\n".join(system_texts))

        def answer(state: ServerState) -> dict:
            read = created = 0
            if system_tokens >= CACHE_MIN_TOKENS:
                if state.seen_before("anthropic", system_key):
                    read = system_tokens
                else:
                    created = system_tokens
            return {
                "id": f"msg_{uuid.uuid4().hex[:24]}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": blocks,
                "stop_reason": stop_reason,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": prompt_tokens - read - created,
                    "output_tokens": output_tokens,
                    "cache_read_input_tokens": read,
                    "cache_creation_input_tokens": created,
                },
            }

        return Prepared(prompt_tokens + output_tokens, answer)

    @staticmethod
    def _system_texts(system: Any) -> list[str]:
        if system is None:
            return []
        if isinstance(system, str):
            return [system]
        if isinstance(system, list) and all(
                isinstance(block, dict) and block.get("type") == "text"
                and isinstance(block.get("text"), str) for block in system):
            return [block["text"] for block in system]
        raise RequestError("system: must be a string or an array of text blocks", "system")

    @staticmethod
    def _read_message(message: Any, where: str) -> tuple[list[str], list[str]]:
        """The message's text blocks and image descriptions; raises RequestError if invalid."""
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise RequestError(f"{where}.role: must be 'user' or 'assistant'", f"{where}.role")
        content = message.get("content")
        if isinstance(content, str):
            return [content], []
        if not isinstance(content, list):
            raise RequestError(f"{where}.content: must be a string or an array of blocks",
                               f"{where}.content")
        texts, images = [], []
        for j, block in enumerate(content):
            at = f"{where}.content.{j}"
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif kind == "image":
                source = block.get("source")
                if not isinstance(source, dict) or source.get("type") != "base64":
                    raise RequestError(f"{at}.source: a base64 source is required",
                                       f"{at}.source")
                mime = source.get("media_type")
                if mime not in ANTHROPIC_IMAGE_TYPES:
                    raise RequestError(f"{at}.source.media_type: must be one of "
                                       f"{sorted(ANTHROPIC_IMAGE_TYPES)}",
                                       f"{at}.source.media_type")
                images.append(describe_image(mime, decode_base64(source.get("data"),
                                                                 f"{at}.source.data")))
            else:
                raise RequestError(f"{at}: expected a 'text' block with text or an 'image' "
                                   "block", at)
        return texts, images


# --- HTTP -----------------------------------------------------------------------------------

class ModelApiServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, port: int, args: argparse.Namespace):
        self.state = ServerState(args.rpm, args.tpm)
        self.latency = args.latency_ms / 1000.0
        self.dialects = {"openai": OpenAIDialect(args.api_key),
                         "anthropic": AnthropicDialect(args.api_key)}
        self.endpoints = {"/v1/chat/completions": ChatCompletions(),
                          "/v1/embeddings": Embeddings(),
                          "/v1/messages": Messages()}
        super().__init__(("127.0.0.1", port), Handler)

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LoomModelApiTestServer/1.0"
    disable_nagle_algorithm = True
    timeout = 300  # idle keep-alive connections are dropped after this long

    server: ModelApiServer
    CONTROL_ROUTES = {"/_stats": "GET", "/_reset": "POST", "/_faults": "POST"}

    def log_request(self, code="-", size="-") -> None:
        """Successful requests are not logged; errors still go to stderr."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # Sending.

    def _send(self, status: int, body: bytes, headers=(), declared_length: int | None = None,
              content_type: str = "application/json") -> None:
        if self._counted:
            self.server.state.count_status(status)
        self._responded = True
        self.send_response(status, REASON_PHRASES.get(status))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if declared_length is None
                                               else declared_length))
        if self._dialect is not None:
            for name, value in self._dialect.headers(self.server.state.rate_snapshot()):
                self.send_header(name, value)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, payload: Any, headers=()) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _plain_error(self, status: int, message: str, headers=()) -> None:
        self._send_json(status, {"error": {"message": message, "type": "invalid_request_error",
                                           "code": None}}, headers)

    # Dispatch.

    def _dispatch(self) -> None:
        path = self.path.split("?", 1)[0]
        self._counted = path not in self.CONTROL_ROUTES
        self._dialect = None
        self._responded = False
        if self._counted:
            self.server.state.count_request(path)
        try:
            body = self._read_body()
            if body is None:
                return
            endpoint = self.server.endpoints.get(path)
            method = "POST" if endpoint is not None else self.CONTROL_ROUTES.get(path)
            if method is None:
                self._plain_error(404, f"Unknown path {path}")
            elif self.command != method:
                self._plain_error(405, f"{path} takes {method}", [("Allow", method)])
            elif endpoint is not None:
                self._model_request(endpoint, body)
            else:
                getattr(self, "_control_" + path[2:])(body)
        except ConnectionError:
            self.close_connection = True
        except Exception:  # a bug here: say so to the client and on stderr
            traceback.print_exc()
            self.close_connection = True
            if not self._responded:
                self._plain_error(500, "test server error; see its stderr")

    def _read_body(self) -> bytes | None:
        """The request body by Content-Length, or None after answering an unreadable one."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._plain_error(411, "send the body with a Content-Length")
            return None
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit():
            self.close_connection = True
            self._plain_error(400, "invalid Content-Length")
            return None
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True
            self._plain_error(413, f"request body over {MAX_BODY_BYTES} bytes")
            return None
        return self.rfile.read(int(length))

    # Model endpoints.

    def _model_request(self, endpoint, body: bytes) -> None:
        dialect = self._dialect = self.server.dialects[endpoint.dialect_name]
        denied = dialect.check_auth(self.headers)
        if denied is not None:
            self._send_json(*denied)
            return
        try:
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise RequestError("the request body must be a JSON object")
            prepared = endpoint.prepare(payload)
        except ValueError:
            self._send_json(400, dialect.request_error(RequestError(
                "We could not parse the JSON body of your request.")))
            return
        except RequestError as exc:
            self._send_json(400, dialect.request_error(exc))
            return

        state = self.server.state
        with state.model_call():
            denial = state.admit(prepared.tokens)
            if denial is not None:
                wait_ms = max(1, math.ceil(denial.wait * 1000))
                self._send_json(429, dialect.rate_limit_error(denial), [
                    ("retry-after", str(max(1, math.ceil(denial.wait)))),
                    ("retry-after-ms", str(wait_ms))])
                return
            fault = state.take_fault(body)
            time.sleep(self.server.latency)
            if fault == "slow":
                time.sleep(SLOW_FAULT_SECONDS)
            self._answer(endpoint, dialect, prepared, fault, body)

    def _answer(self, endpoint, dialect, prepared: Prepared, fault: str | None, request: bytes) -> None:
        if fault in HTTP_FAULTS:
            self._send_json(int(fault), dialect.fault_error(int(fault)),
                            FAULT_RETRY_HEADERS if fault == "429" else ())
        elif fault == "reset":
            self._reset_connection()
        elif fault == "malformed":
            self._send(200, endpoint.malformed_body)
        elif fault == "badshape":
            self._send_json(200, endpoint.badshape_body)
        else:
            answer = prepared.answer(self.server.state)
            if fault == "nousage":
                del answer["usage"]
            body = json.dumps(answer).encode()
            if fault == "truncated":
                self.close_connection = True
                self._send(200, body[:len(body) // 2], declared_length=len(body))
            else:
                self.server.state.count_ok(request)
                self._send(200, body)

    def _reset_connection(self) -> None:
        """Drops the connection with an RST and no response at all."""
        self._responded = True
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # the socket closes for real only once its file objects are gone
        self.connection.close()

    # Control endpoints.

    def _control_stats(self, _body: bytes) -> None:
        self._send_json(200, self.server.state.stats())

    def _control_reset(self, _body: bytes) -> None:
        self.server.state.reset()
        self._send_json(200, {"ok": True})

    def _control_faults(self, body: bytes) -> None:
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        kind = request.get("kind") if isinstance(request, dict) else None
        count = request.get("count", 1) if isinstance(request, dict) else None
        if kind not in FAULT_KINDS or isinstance(count, bool) or not isinstance(count, int) \
                or count < 1:
            self._plain_error(400, 'expected {"kind": one of ' + ", ".join(FAULT_KINDS)
                              + ', "count": a positive integer}')
            return
        self._send_json(200, {"ok": True, "pending": self.server.state.queue_fault(kind, count)})


# --- Command line ---------------------------------------------------------------------------

def non_negative(kind: type) -> Callable[[str], Any]:
    def parse(text: str):
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="OpenAI/Anthropic-compatible model-API test server on 127.0.0.1 "
                    "(see the module docstring for endpoints and fault markers).")
    parser.add_argument("--port", type=non_negative(int), default=0,
                        help="port to listen on; 0 picks a free one (default 0)")
    parser.add_argument("--latency-ms", type=non_negative(float), default=0.0,
                        help="delay before every model answer, in ms (default 0)")
    parser.add_argument("--rpm", type=non_negative(int), default=0,
                        help="requests per sliding minute; 0 means no limit (default 0)")
    parser.add_argument("--tpm", type=non_negative(int), default=0,
                        help="tokens per sliding minute; 0 means no limit (default 0)")
    parser.add_argument("--api-key", default="test-key",
                        help="the API key clients must send (default test-key)")
    parser.add_argument("--port-file", help="also write the port number to this file")
    return parser.parse_args(argv)


def write_port_file(path: str, port: int) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".port-")
    try:
        with os.fdopen(fd, "w") as stream:
            stream.write(str(port))
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = ModelApiServer(args.port, args)

    def stop(_signum, _frame) -> None:
        # shutdown() waits for serve_forever(), which runs in this very thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = server.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    print(f"PORT {port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Seed corpora and dictionaries for Loom's fuzz targets (standard library only; nothing downloaded).

    python3 tests/fuzz/make_seeds.py TARGET OUT_DIR [DICT_FILE]

TARGET is flow, listing, model or sql (probe's seeds are the demo assets; scripts/fuzz.sh makes
them). Each seed is one file in OUT_DIR in the target's input format (tests/fuzz/fuzz_targets.h);
DICT_FILE, when given, receives a libFuzzer dictionary of the format's tokens.

  flow     examples/*.loomflow and every flow written in tests/ and docs/FLOWS.md
  listing  S3 ListObjectsV2 and Azure List Blobs pages like the services send: continuation
           tokens and markers, %-encoded and entity-laden names, folder markers, odd sizes and dates
  model    answers made by tests/support/model_api_server.py's own code (chat with usage and
           cached tokens, forced tool calls, embeddings, its fault bodies and error bodies)
  sql      the filter, derive and sort expressions used in tests/ and docs/FLOWS.md, plus SQL that
           the guard must refuse
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def text_files(*patterns: str) -> list[pathlib.Path]:
    out: list[pathlib.Path] = []
    for pattern in patterns:
        out.extend(sorted(p for p in ROOT.glob(pattern) if p.is_file() and "node_modules" not in p.parts))
    return out


def balanced_object(text: str, start: int) -> str | None:
    """The {...} starting at text[start], braces inside JSON strings ignored."""
    depth, i, in_string = 0, start, False
    while i < len(text):
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
        i += 1
    return None


# ---- flow ---------------------------------------------------------------------------------------

# Model nodes, which the tests build in C++ rather than write as text: one chain per node type.
MODEL_NODE_PARAMS = {
    "model.llm": {"provider": "anthropic", "model": "claude-3-5-haiku-latest", "prompt": "Describe {{name}}",
                  "system": "Be brief.", "max_tokens": 40, "temperature": 0.2, "output": "answer",
                  "json_schema": '{"type":"object","properties":{"label":{"type":"string"}}}'},
    "model.vision": {"model": "gpt-4o-mini", "prompt": "What is in {{name}}?", "image": "uri", "image_size": 512,
                     "base_url": "http://127.0.0.1:8080/v1", "api_key_env": "LOOM_TEST_KEY", "rpm": 60},
    "model.embed": {"model": "text-embedding-3-small", "input": "{{name}}", "dimensions": 8, "batch_size": 16},
    "model.onnx": {"model": "models/colour.onnx", "labels": "models/labels.txt", "width": 32, "height": 32,
                   "task": "classify", "mean": "0.5,0.5,0.5", "std": "0.25,0.25,0.25", "top_k": 3},
    "model.faces": {"cascade": "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml",
                    "scale_factor": 1.1, "min_neighbors": 3, "min_size": 24},
    "model.ocr": {"lang": "eng", "psm": 3, "cost_per_hour": 0.5},
}


def model_node_flows() -> list[bytes]:
    out = []
    for node_type, params in MODEL_NODE_PARAMS.items():
        flow = {"format": "loom.flow/1", "name": node_type.replace(".", "-"),
                "nodes": [{"id": "src", "type": "storage.list", "params": {"uri": "/tmp/loom-seed", "glob": "*.jpg"}},
                          {"id": "m", "type": node_type, "params": params, "ui": {"x": 1, "y": 2}},
                          {"id": "out", "type": "dataset.save", "params": {"name": "o"}}],
                "edges": [{"from": "src", "to": "m"}, {"from": "m.out", "to": "out"}]}
        out.append(json.dumps(flow, indent=1).encode())
    return out


def flow_seeds() -> list[bytes]:
    seeds: list[bytes] = [p.read_bytes() for p in text_files("examples/*.loomflow")] + model_node_flows()
    for path in text_files("tests/**/*.cpp", "tests/**/*.sh", "tests/**/*.py", "docs/*.md"):
        text = path.read_text(errors="replace")
        # C++ strings written with escapes ("{\"format\": ...") read as JSON once unescaped.
        for variant in (text, text.replace('\\"', '"').replace("\\n", "\n")):
            for m in re.finditer(r'"format"\s*:\s*"loom\.flow/1"', variant):
                start = variant.rfind("{", 0, m.start())
                obj = balanced_object(variant, start) if start >= 0 else None
                if obj:
                    # Shell heredocs fill in paths; any path will do for validation.
                    obj = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", "/tmp/loom-seed", obj)
                    seeds.append(obj.encode())
    return seeds


FLOW_TOKENS = ['"format"', '"loom.flow/1"', '"name"', '"nodes"', '"edges"', '"id"', '"type"', '"params"',
               '"from"', '"to"', '"ui"', '"x"', '"y"', "{", "}", "[", "]", ":", ",", "null", "true", "false",
               "1e308", "-1", "9223372036854775807", "18446744073709551616", '"\\u0000"', '"\\ud83d\\ude00"']


def flow_dict(seeds: list[bytes]) -> list[str]:
    tokens = set(FLOW_TOKENS)
    for s in seeds:
        for word in re.findall(rb'"([A-Za-z_][A-Za-z0-9_.]{1,40})"', s):
            tokens.add('"' + word.decode() + '"')
    return sorted(tokens)


# ---- listing ------------------------------------------------------------------------------------

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def s3_contents(key: str, size: str = "1024", modified: str = "2024-01-16T10:00:00.000Z",
                etag: str = "&quot;9b2cf535f27731c974343645a3985328&quot;") -> str:
    return (f"<Contents><Key>{key}</Key><LastModified>{modified}</LastModified><ETag>{etag}</ETag>"
            f"<Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>")


def s3_page(contents: list[str], prefixes: list[str] = (), truncated: bool = False, token: str | None = None,
            prefix: str = "", delimiter: str | None = None) -> str:
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="{S3_NS}">',
             "<Name>bucket</Name>", f"<Prefix>{prefix}</Prefix>",
             f"<KeyCount>{len(contents) + len(prefixes)}</KeyCount>", "<MaxKeys>1000</MaxKeys>"]
    if delimiter:
        parts.append(f"<Delimiter>{delimiter}</Delimiter>")
    parts.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
    parts.extend(contents)
    parts.extend(f"<CommonPrefixes><Prefix>{p}</Prefix></CommonPrefixes>" for p in prefixes)
    if token is not None:
        parts.append(f"<NextContinuationToken>{token}</NextContinuationToken>")
    parts.append("</ListBucketResult>")
    return "".join(parts)


def az_blob(name: str, size: str = "1024", encoded: bool = False, modified: str = "Tue, 16 Jan 2024 10:00:00 GMT",
            etag: str = "0x8DC1A2B3C4D5E6F") -> str:
    attr = ' Encoded="true"' if encoded else ""
    return (f"<Blob><Name{attr}>{name}</Name><Properties><Creation-Time>{modified}</Creation-Time>"
            f"<Last-Modified>{modified}</Last-Modified><Etag>{etag}</Etag><Content-Length>{size}</Content-Length>"
            "<Content-Type>image/jpeg</Content-Type><BlobType>BlockBlob</BlobType></Properties></Blob>")


def az_page(blobs: list[str], prefixes: list[str] = (), marker: str | None = None, prefix: str = "") -> str:
    parts = ['<?xml version="1.0" encoding="utf-8"?>',
             '<EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/devstoreaccount1" ContainerName="c">',
             f"<Prefix>{prefix}</Prefix><MaxResults>5000</MaxResults><Blobs>"]
    parts.extend(blobs)
    parts.extend(f"<BlobPrefix><Name>{p}</Name></BlobPrefix>" for p in prefixes)
    parts.append("</Blobs>")
    parts.append(f"<NextMarker>{marker}</NextMarker>" if marker else "<NextMarker />")
    parts.append("</EnumerationResults>")
    return "".join(parts)


def listing_seeds() -> list[bytes]:
    odd_keys = ["photos/a.jpg", "photos/with space.jpg", "photos/&#xE9;t&#xE9;.png", "r&amp;d/x&lt;y&gt;.txt",
                "caf\u00e9/\u65e5\u672c.jpg", "emoji/\U0001F600.gif", "q?a#b.jpg", "%41%2F.bin", "dir/",
                "a/b/c/d/e/f/g/h.jpg", "&#0;nul.bin", "&#x110000;big.bin", "&unknown;x.bin", "&amp", "a" * 300]
    s3 = [
        s3_page([]),
        s3_page([s3_contents(k) for k in odd_keys]),
        s3_page([s3_contents("dir/", "0"), s3_contents("dir/a.jpg")], prefix="dir/"),
        s3_page([s3_contents("a.jpg"), s3_contents("b.jpg")], truncated=True, token="1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="),
        s3_page([s3_contents("a.jpg")], truncated=True),  # no token: an error
        s3_page([], prefixes=["a/", "b/", "c d/", "&#xE9;/"], delimiter="/", truncated=True, token="tok%2Fen"),
        s3_page([s3_contents("big.mp4", "5497558138880"), s3_contents("neg.bin", "-5"), s3_contents("nan.bin", "x"),
                 s3_contents("huge.bin", "99999999999999999999999"), s3_contents("nosize.bin", "")]),
        s3_page([s3_contents("t1", modified="9999-12-31T23:59:59.999999999Z"),
                 s3_contents("t2", modified="1970-01-01T00:00:00+14:00"), s3_contents("t3", modified="2024-02-30"),
                 s3_contents("t4", modified="0000-01-01T00:00:00Z"), s3_contents("t5", modified="garbage")]),
        s3_page([s3_contents("x", etag='"abc-12"'), s3_contents("y", etag=""), s3_contents("z", etag='"')]),
        s3_page([s3_contents("k")]).replace("<Key>k</Key>", "<Key/>"),
        '<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>',
        "<html><body>Sign in to the hotel Wi-Fi</body></html>",
        s3_page([s3_contents("cut.jpg")])[:-40],
    ]
    az = [
        az_page([]),
        az_page([az_blob(k) for k in odd_keys]),
        az_page([az_blob("dir/"), az_blob("dir/a.jpg")], prefix="dir/"),
        az_page([az_blob("a.jpg"), az_blob("b.jpg")], marker="2!72!MDAwMDExIWMvYi5qcGchMDAwMDI4ITk5OTktMTItMzFUMjM6NTk6NTkuOTk5OTk5OVoh"),
        az_page([az_blob("bell%07.txt", encoded=True), az_blob("bad%zz", encoded=True), az_blob("%F0%9F%98%80.gif", encoded=True)]),
        az_page([], prefixes=["a/", "b c/", "&#xE9;/"], marker="m"),
        az_page([az_blob("big.mp4", "5497558138880"), az_blob("neg.bin", "-5"), az_blob("nan.bin", "x"),
                 az_blob("huge.bin", "99999999999999999999999")]),
        az_page([az_blob("t1", modified="Fri, 31 Dec 9999 23:59:59 GMT"), az_blob("t2", modified="Thu, 01 Jan 1970 00:00:00 GMT"),
                 az_blob("t3", modified="Mon, 30 Feb 2024 10:00:00 GMT"), az_blob("t4", modified="yesterday"),
                 az_blob("t5", modified="Sun, 06 Nov 1994 08:49:37 PST")]),
        az_page([az_blob("x")]).replace("<Name>x</Name>", "<Name/>"),
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>ContainerNotFound</Code><Message>The specified container does not exist.\nRequestId:1</Message></Error>',
        "<html><body>Sign in to the hotel Wi-Fi</body></html>",
        az_page([az_blob("cut.jpg")])[:-30],
    ]
    return [b"\x00" + s.encode() for s in s3] + [b"\x01" + s.encode() for s in az]


LISTING_TOKENS = ["<ListBucketResult>", "<EnumerationResults>", "<Contents>", "</Contents>", "<Key>", "</Key>",
                  "<Size>", "</Size>", "<ETag>", "<LastModified>", "<CommonPrefixes>", "<Prefix>", "</Prefix>",
                  "<IsTruncated>true</IsTruncated>", "<NextContinuationToken>", "</NextContinuationToken>",
                  "<Blobs>", "<Blob>", "</Blob>", "<Name>", "</Name>", '<Name Encoded="true">', "<BlobPrefix>",
                  "</BlobPrefix>", "<Properties>", "<Etag>", "<Content-Length>", "</Content-Length>",
                  "<Last-Modified>", "</Last-Modified>", "<NextMarker>", "</NextMarker>", "<NextMarker/>",
                  "&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#x", "&#", ";", "%", "/>", "GMT", "T00:00:00Z"]


# ---- model --------------------------------------------------------------------------------------

def load_model_server():
    path = ROOT / "tests/support/model_api_server.py"
    spec = importlib.util.spec_from_file_location("model_api_server", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["model_api_server"] = module
    spec.loader.exec_module(module)
    return module


def model_seeds() -> list[bytes]:
    m = load_model_server()
    state = m.ServerState(0, 0)
    long_system = "You describe product photos. " * 400  # past the prompt-cache threshold
    seeds: list[bytes] = []

    def add(selector: int, body, extra: bytes = b"") -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        seeds.append(bytes([selector]) + extra + raw)

    chats = [
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Describe the photo."}]},
        {"model": "gpt-4o-mini", "max_tokens": 3, "messages": [{"role": "user", "content": "A long answer please."}]},
        {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": long_system},
                                              {"role": "user", "content": "caf\u00e9 \U0001F600"}]},
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "json"}],
         "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {
             "type": "object", "properties": {"label": {"type": "string", "enum": ["cat", "dog"]},
                                              "score": {"type": "number", "minimum": 0, "maximum": 1},
                                              "tags": {"type": "array", "items": {"type": "string"}}},
             "required": ["label", "score"]}}}},
    ]
    for payload in chats:
        prepared = m.ChatCompletions().prepare(payload)
        add(0, prepared.answer(state))
        add(0, prepared.answer(state))  # the second time with cached tokens when the prompt is long
    # Shapes the server does not make but providers do: a refusal, a tool call, null usage.
    add(0, {"choices": [{"index": 0, "message": {"role": "assistant", "content": None,
                                                 "refusal": "I can't help with that."}, "finish_reason": "stop"}]})
    add(0, {"choices": [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "answer", "arguments": "{\"label\": \"cat\"}"}}]},
        "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 12, "completion_tokens": 5}})
    add(0, {"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": 9223372036854775807,
                                                                  "completion_tokens": -1,
                                                                  "prompt_tokens_details": {"cached_tokens": 1e30}}})
    messages = [
        {"model": "claude-3-5-haiku-latest", "max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}]},
        {"model": "claude-3-5-haiku-latest", "max_tokens": 2, "messages": [{"role": "user", "content": "A long one."}]},
        {"model": "claude-3-5-haiku-latest", "max_tokens": 100, "system": long_system,
         "messages": [{"role": "user", "content": "cached"}]},
        {"model": "claude-3-5-haiku-latest", "max_tokens": 100, "messages": [{"role": "user", "content": "tool"}],
         "tools": [{"name": "answer", "input_schema": {"type": "object", "properties": {
             "label": {"type": "string"}, "n": {"type": "integer", "minimum": 1}}, "required": ["label"]}}],
         "tool_choice": {"type": "tool", "name": "answer"}},
    ]
    for payload in messages:
        prepared = m.Messages().prepare(payload)
        add(1, prepared.answer(state))
        add(1, prepared.answer(state))
    add(1, {"type": "message", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            "usage": {"input_tokens": 9223372036854775807, "cache_read_input_tokens": 9223372036854775807,
                      "cache_creation_input_tokens": 1, "output_tokens": -3}})
    for payload in ({"model": "text-embedding-3-small", "input": "one text"},
                    {"model": "text-embedding-3-small", "input": ["a", "b", "c"], "dimensions": 4},
                    {"model": "text-embedding-3-small", "input": ["x"] * 8, "dimensions": 3}):
        inputs = payload["input"] if isinstance(payload["input"], list) else [payload["input"]]
        add(2, m.Embeddings().prepare(payload).answer(state), bytes([len(inputs) - 1]))
    add(2, {"data": [{"index": 1, "embedding": [1e39, -1e39]}, {"embedding": [0.5]}]}, b"\x01")
    add(2, {"data": [{"index": 0, "embedding": []}]}, b"\x00")
    # The fault bodies the server sends (malformed, badshape) on every endpoint, and its error bodies.
    for selector, endpoint in ((0, m.ChatCompletions), (1, m.Messages), (2, m.Embeddings)):
        add(selector, endpoint.malformed_body)
        add(selector, endpoint.badshape_body)
        add(selector, b"")
    for status in (408, 429, 500, 503, 529):
        add(3, m.OpenAIDialect("k").fault_error(status))
        add(3, m.AnthropicDialect("k").fault_error(status))
    add(3, m.OpenAIDialect.error("Incorrect API key provided: sk-proj-abcdefghijklmnop.", code="invalid_api_key"))
    add(3, {"error": "Bearer abcdefghijklmnopqrstuvwxyz was refused"})
    add(3, {"message": "plain message"})
    add(3, b"<html><body>502 Bad Gateway</body></html>\n" * 10)
    add(3, b"")
    return seeds


MODEL_TOKENS = ['"choices"', '"message"', '"content"', '"refusal"', '"finish_reason"', '"length"', '"usage"',
                '"prompt_tokens"', '"completion_tokens"', '"prompt_tokens_details"', '"cached_tokens"',
                '"type"', '"text"', '"tool_use"', '"input"', '"stop_reason"', '"max_tokens"', '"input_tokens"',
                '"output_tokens"', '"cache_read_input_tokens"', '"cache_creation_input_tokens"', '"data"',
                '"index"', '"embedding"', '"error"', '"tool_calls"', "null", "true", "-1", "1e39",
                "9223372036854775807", "18446744073709551615", '"sk-', '"Bearer ']


# ---- sql ----------------------------------------------------------------------------------------

EXTRA_SQL = [
    (0, "width >= 1024 AND mime LIKE 'image/%'"),
    (0, "error IS NOT NULL OR width < 800"),
    (0, "loom_hash(42, uri) % 10 = 0"),
    (0, "duration BETWEEN 1 AND 60 AND fps > 23.9"),
    (0, "name GLOB '*.jp*g' COLLATE NOCASE"),
    (0, "json_extract(label, '$.score') > 0.5"),
    (0, "CAST(size AS REAL) / 1e6 > 1.5"),
    (0, "uri IN (SELECT uri FROM input WHERE size > 0)"),
    (0, "EXISTS (SELECT 1 FROM sqlite_master)"),
    (0, "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c) > 0"),
    (0, "1) ; DROP TABLE input; --"),
    (0, "load_extension('x')"),
    (0, "abs(-9223372036854775808) > 0"),
    (0, "length(zeroblob(1000000)) > 0"),
    (0, "printf('%.*c', 100000, 'x') != ''"),
    (1, "width * height / 1e6"),
    (1, "lower(substr(name, instr(name, '.') + 1))"),
    (1, "CASE WHEN width > height THEN 'landscape' WHEN width < height THEN 'portrait' ELSE 'square' END"),
    (1, "hex(embedding)"),
    (1, "replace(uri, 'file://', '')"),
    (1, "round(duration * fps)"),
    (1, "coalesce(error, 'ok') || ' ' || typeof(label)"),
    (1, "(SELECT group_concat(name) FROM input)"),
    (1, "unicode(char(1114111))"),
    (2, "size DESC, name"),
    (2, "width * height DESC NULLS LAST"),
    (2, "random()"),
    (2, "2, 1"),
]


def sql_seeds() -> list[bytes]:
    pieces = {(k, s) for k, s in EXTRA_SQL}
    for path in text_files("tests/**/*.cpp", "tests/**/*.sh", "docs/*.md", "examples/*.loomflow"):
        text = path.read_text(errors="replace")
        for kind, key in ((0, "where"), (2, "by")):
            for m in re.finditer(r'"%s"\s*[:,]\s*"((?:[^"\\]|\\.)*)"' % key, text):
                pieces.add((kind, m.group(1).replace('\\"', '"')))
        for m in re.finditer(r'"columns"\s*[:,]\s*\{((?:[^{}]|\{[^{}]*\})*)\}', text):
            for v in re.finditer(r'"[A-Za-z_][A-Za-z0-9_]*"\s*[:,]\s*"((?:[^"\\]|\\.)*)"', m.group(1)):
                pieces.add((1, v.group(1).replace('\\"', '"')))
    return [bytes([kind]) + piece.encode() for kind, piece in sorted(pieces)]


SQL_TOKENS = ["SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IS", "NULL", "LIKE", "GLOB", "IN", "BETWEEN",
              "CASE", "WHEN", "THEN", "ELSE", "END", "CAST", "AS", "EXISTS", "WITH", "RECURSIVE", "UNION",
              "ALL", "ORDER BY", "DESC", "ASC", "NULLS", "LAST", "COLLATE", "NOCASE", "ESCAPE", "OVER",
              "PARTITION BY", "FILTER", "RAISE", "input", "sqlite_master", "pragma_table_info", "json_each",
              "loom_hash(", "abs(", "length(", "substr(", "instr(", "lower(", "upper(", "replace(",
              "printf(", "format(", "hex(", "unhex(", "zeroblob(", "randomblob(", "json(", "json_extract(",
              "json_object(", "json_array(", "group_concat(", "count(", "total(", "max(", "min(", "round(",
              "char(", "unicode(", "typeof(", "coalesce(", "iif(", "likelihood(", "load_extension(",
              "uri", "name", "mime", "size", "mtime", "width", "height", "duration", "fps", "embedding",
              "label", "error", "_row", "_src", "9223372036854775807", "-9223372036854775808", "1e308",
              "x'00'", "'%'", "||", "<<", ">>", "%", "/", ";", "--", "/*", "*/", "(", ")", ","]


# ---- main ---------------------------------------------------------------------------------------

def write_dict(path: str, tokens: list[str]) -> None:
    with open(path, "w") as f:
        for t in tokens:
            escaped = t.encode("unicode_escape").decode().replace('"', '\\"')
            f.write(f'"{escaped}"\n')


def main() -> int:
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in ("flow", "listing", "model", "sql"):
        print(__doc__, file=sys.stderr)
        return 2
    target, out = sys.argv[1], pathlib.Path(sys.argv[2])
    seeds = {"flow": flow_seeds, "listing": listing_seeds, "model": model_seeds, "sql": sql_seeds}[target]()
    out.mkdir(parents=True, exist_ok=True)
    unique = {hashlib.sha1(s).hexdigest(): s for s in seeds}
    for digest, seed in sorted(unique.items()):
        (out / f"seed_{digest[:16]}").write_bytes(seed)
    if len(sys.argv) == 4:
        tokens = {"flow": lambda: flow_dict(seeds), "listing": lambda: LISTING_TOKENS,
                  "model": lambda: MODEL_TOKENS, "sql": lambda: SQL_TOKENS}[target]()
        write_dict(sys.argv[3], tokens)
    print(f"make_seeds.py: {len(unique)} {target} seeds in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

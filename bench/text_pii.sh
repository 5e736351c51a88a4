#!/usr/bin/env bash
# pii.detect beside what a person would otherwise write: a Python script with `re` patterns for the
# same kinds (e-mail, phones, cards with Luhn, IBAN with mod-97, IPv4, US SSN), run on both cores
# (multiprocessing, 2 workers). Both read every file of a generated folder of text files. Loom's flow:
# storage.list -> text.read -> pii.detect -> dataset.save, a fresh catalog per run (nothing cached).
# Prints hyperfine's table; the ratio is the Python median over Loom's.
# Environment: BUILD_DIR (default build-bench), N_FILES (default 2000), KB (per file, default 20), RUNS (default 5).

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-bench}
WORK=$ROOT/bench/work/text_pii
N_FILES=${N_FILES:-2000}
KB=${KB:-20}
RUNS=${RUNS:-5}
mkdir -p "$WORK"

if [ ! -f "$WORK/texts/.complete2-$N_FILES-$KB" ]; then
  rm -rf "$WORK/texts"
  python3 - "$WORK/texts" "$N_FILES" "$KB" <<'PY'
import os, random, sys
out, n, kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out, exist_ok=True)
rng = random.Random(7)
words = ("the data set holds rows of photos and their captions while the model reads each one and "
         "writes an answer that we keep for later review in version 2.4.1 of the tool").split()
pii = ["jane.doe@example.com", "+49 30 1234567", "4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00",
       "192.168.10.20", "536-22-1234", "(415) 555-0100"]
for i in range(n):
    parts, size = [], 0
    while size < kb * 1024:
        s = " ".join(rng.choice(words) for _ in range(rng.randint(8, 20)))
        if rng.random() < 0.05:
            s += " " + rng.choice(pii)
        s = s[0].upper() + s[1:] + ". "
        parts.append(s)
        size += len(s)
        if rng.random() < 0.1:
            parts.append("\n\n")
    with open(os.path.join(out, "doc%05d.txt" % i), "w") as f:
        f.write("".join(parts))
open(os.path.join(out, ".complete2-%d-%d" % (n, kb)), "w").close()
PY
fi

cat > "$WORK/pii.loomflow" <<JSON
{"format": "loom.flow/1", "name": "pii-bench",
 "nodes": [{"id": "src", "type": "storage.list", "params": {"uri": "$WORK/texts", "glob": "*.txt"}},
           {"id": "read", "type": "text.read", "params": {}},
           {"id": "pii", "type": "pii.detect", "params": {}},
           {"id": "out", "type": "dataset.save", "params": {"name": "pii"}}],
 "edges": [{"from": "src", "to": "read"}, {"from": "read", "to": "pii"}, {"from": "pii", "to": "out"}]}
JSON

cat > "$WORK/pii_re.py" <<'PY'
import os, re, sys, json
from multiprocessing import Pool
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(r"\+[1-9][0-9 ().-]{7,20}[0-9]|\(?\b[2-9][0-9]{2}\)?[-. ][2-9][0-9]{2}[-.][0-9]{4}\b")
CARD = re.compile(r"\b(?:[0-9][ -]?){12,18}[0-9]\b")
IBAN = re.compile(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b")
IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\b")
SSN = re.compile(r"\b(?!000|666|9)[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}\b")
def luhn(d):
    s, dbl = 0, False
    for c in reversed(d):
        v = int(c) * (2 if dbl else 1)
        s += v - 9 if v > 9 else v
        dbl = not dbl
    return s % 10 == 0
def mod97(v):
    v = v[4:] + v[:4]
    return int("".join(str(int(c, 36)) for c in v)) % 97 == 1
def scan(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        t = f.read()
    found = []
    for m in EMAIL.finditer(t): found.append(("email", m.start(), m.end()))
    for m in PHONE.finditer(t): found.append(("phone", m.start(), m.end()))
    for m in CARD.finditer(t):
        d = re.sub(r"\D", "", m.group())
        if luhn(d): found.append(("credit_card", m.start(), m.end()))
    for m in IBAN.finditer(t):
        if mod97(m.group().replace(" ", "")): found.append(("iban", m.start(), m.end()))
    for m in IPV4.finditer(t): found.append(("ipv4", m.start(), m.end()))
    for m in SSN.finditer(t): found.append(("us_ssn", m.start(), m.end()))
    return path, len(found), json.dumps(found)
if __name__ == "__main__":
    root = sys.argv[1]
    files = sorted(os.path.join(root, n) for n in os.listdir(root) if n.endswith(".txt"))
    with Pool(2) as p:
        rows = p.map(scan, files, chunksize=16)
    print(sum(r[1] for r in rows), "findings in", len(rows), "files", file=sys.stderr)
PY

CAT=$WORK/catalog.db
hyperfine --runs "$RUNS" --export-json "$WORK/results.json" \
  --prepare "rm -f $CAT $CAT-wal $CAT-shm" \
  -n loom "$BUILD/app/loom-cli --catalog $CAT run $WORK/pii.loomflow" \
  -n python-re "python3 $WORK/pii_re.py $WORK/texts"
python3 - "$WORK/results.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print("pii.detect: loom %.2f s, python re (2 processes) %.2f s: %.2fx" % (r["loom"], r["python-re"], r["python-re"] / r["loom"]))
PY

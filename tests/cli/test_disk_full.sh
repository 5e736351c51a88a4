#!/usr/bin/env bash
# A full disk and a read-only catalog, on small tmpfs mounts:
#
#   1. The catalog's disk fills during a run with model calls (8 MiB): loom-cli exits 1 (no crash)
#      with a message naming the catalog and saying the disk is full; integrity_check is ok; a dataset
#      committed before is still readable; once the file system is made bigger, the same run completes
#      with every row exactly once, and no answer stored before the failure is paid for again.
#   1b. `index` of 9,000 files fills a 2 MiB catalog disk: the same, and after the remount the re-run
#      lists every object exactly once, probed.
#   2. The blob store (`<catalog>.data`, here its own 3 MiB file system, so the catalog itself still has
#      room) fills during a thumbnail run: the same, and no row keeps the failure as its error (a full
#      disk is the run's failure, never a row's, or the row would keep it for good).
#   3. The file system is remounted read-only: run and index exit 1 naming the catalog and saying it is
#      read-only; datasets, show, lineage, cost and export still work -- on a catalog its last writer
#      closed (no -wal file: opened immutable) and on one left by a killed run (-wal and -shm there).
#      Remounted read-write, the killed run resumes and completes.
#
#   tests/cli/test_disk_full.sh LOOM_CLI
#
# Mounting needs root (or CAP_SYS_ADMIN): without it the script prints why and exits 77, which ctest
# reports as skipped (SKIP_RETURN_CODE). Needs python3 (stdlib only) and curl.

set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" disk_full "$@"
export LOOM_HOME="$tmp/home"
export XDG_CONFIG_HOME="$tmp/config"
export LOOM_THUMBNAIL_CACHE="$tmp/thumbs"
export LOOM_TEST_KEY="loom-test-key-93d1e0b4"
export LOOM_TRUSTED_MODEL_HOSTS=127.0.0.1
unset LOOM_PRICING

mounts=()
unmount_all() {
  local m
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
}
trap 'unmount_all; cleanup' EXIT
mount_tmpfs() {  # DIR SIZE
  mkdir -p "$1"
  mount -t tmpfs -o "size=$2" tmpfs "$1" 2>"$tmp/mount.err" || return 1
  mounts+=("$1")
}
if ! mount_tmpfs "$tmp/m1" 8m; then
  echo "disk_full: skipped: cannot mount a tmpfs here ($(cat "$tmp/mount.err")); this test needs root or CAP_SYS_ADMIN"
  exit 77
fi
mount_tmpfs "$tmp/m3" 2m || { fail "the third tmpfs did not mount: $(cat "$tmp/mount.err")"; finish; }
mount_tmpfs "$tmp/c2/catalog.data" 3m || { fail "the second tmpfs did not mount: $(cat "$tmp/mount.err")"; finish; }

# A plain connection, like loom-cli's: a read-only one could not remove the -wal file it made on closing.
sql() { python3 - "$@" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print("|".join(str(v) for v in db.execute(sys.argv[2]).fetchone()))
PY
}
integrity() { [[ "$(sql "$1" 'pragma integrity_check')" == ok ]]; }

# --- fixtures ----------------------------------------------------------------------------------
python3 - "$tmp" <<'PY'
import os, struct, sys, zlib
root = sys.argv[1]
def png(w, h, rgb):
    raw = b"".join(b"\x00" + bytes(rgb) * w for _ in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
for d in ("text", "small", "img", "noise"):
    os.makedirs(f"{root}/{d}")
for d in range(30):
    os.makedirs(f"{root}/files/d{d:02d}")
    for i in range(300):
        open(f"{root}/files/d{d:02d}/f{i:03d}.txt", "w").write(f"{d} {i}\n")
for i in range(1500):
    open(f"{root}/text/item_{i:04d}.txt", "w").write(f"item {i}\n")
for i in range(20):
    open(f"{root}/small/s{i}.txt", "w").write(f"small {i}\n")
for i in range(2000):
    open(f"{root}/img/img_{i:04d}.png", "wb").write(png(8, 8, (i % 256, i // 256 * 30, 99)))
# Noise does not compress: 300 thumbnails of 128 x 128 take about 4 MB of blobs.
rnd = open("/dev/urandom", "rb")
for i in range(300):
    raw = b"".join(b"\x00" + rnd.read(128 * 3) for _ in range(128))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    open(f"{root}/noise/n_{i:03d}.png", "wb").write(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 128, 128, 8, 2, 0, 0, 0)) +
        chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))
PY

python3 "$repo/tests/support/model_api_server.py" --port 0 --latency-ms 2 --api-key "$LOOM_TEST_KEY" \
  --port-file "$tmp/port" > "$tmp/server.out" 2>&1 &
bg_pids+=($!)
for _ in $(seq 200); do [[ -s "$tmp/port" ]] && break; sleep 0.05; done
[[ -s "$tmp/port" ]] || { fail "the model test server did not start: $(cat "$tmp/server.out")"; finish; }
port="$(cat "$tmp/port")"
stats() { curl -s "http://127.0.0.1:$port/_stats"; }

CONCURRENCY=16
cat > "$tmp/before.loomflow" <<EOF
{"format": "loom.flow/1", "name": "before",
 "nodes": [{"id": "src", "type": "storage.list", "params": {"uri": "$tmp/small"}},
           {"id": "out", "type": "dataset.save", "params": {"name": "before"}}],
 "edges": [{"from": "src", "to": "out"}]}
EOF
# About 5 KB of catalog per row (a 1,000-character prompt echoed back, in the node table, the call
# cache and the ledger): 1,500 rows need more than the 8 MiB there are.
cat > "$tmp/fill.loomflow" <<EOF
{"format": "loom.flow/1", "name": "fill",
 "nodes": [
  {"id": "src", "type": "storage.list", "params": {"uri": "$tmp/text"}},
  {"id": "pad", "type": "table.derive", "params": {"columns": {"pad": "substr(hex(zeroblob(500)), 1, 1000)"}}},
  {"id": "ask", "type": "model.llm", "params": {"model": "gpt-4o-mini", "prompt": "Describe {{name}} {{pad}}",
     "base_url": "http://127.0.0.1:$port/v1", "api_key_env": "LOOM_TEST_KEY", "concurrency": $CONCURRENCY,
     "max_tokens": 1024}},
  {"id": "out", "type": "dataset.save", "params": {"name": "filled"}}],
 "edges": [{"from": "src", "to": "pad"}, {"from": "pad", "to": "ask"}, {"from": "ask", "to": "out"}]}
EOF
thumb_flow() {  # FOLDER SIZE: thumbnails of the PNGs in FOLDER into the dataset "thumbs"
  cat <<EOF
{"format": "loom.flow/1", "name": "thumbs",
 "nodes": [
  {"id": "src", "type": "storage.list", "params": {"uri": "$1", "glob": "*.png"}},
  {"id": "thumb", "type": "media.thumbnail", "params": {"size": $2}},
  {"id": "out", "type": "dataset.save", "params": {"name": "thumbs"}}],
 "edges": [{"from": "src", "to": "thumb"}, {"from": "thumb", "to": "out"}]}
EOF
}
thumb_flow "$tmp/noise" 128 > "$tmp/noise.loomflow"
thumb_flow "$tmp/img" 16 > "$tmp/thumbs.loomflow"

# --- 1. the catalog's disk fills during model calls --------------------------------------------
C1="$tmp/m1/catalog.db"
"$cli" --catalog "$C1" run "$tmp/before.loomflow" > /dev/null 2>&1 || { fail "the small run before filling the disk failed"; finish; }
"$cli" --catalog "$C1" export before --out "$tmp/before.jsonl" > /dev/null
rc=0
"$cli" --catalog "$C1" run "$tmp/fill.loomflow" > "$tmp/full.out" 2> "$tmp/full.err" || rc=$?
echo "     | $(grep error: "$tmp/full.err" | head -2)"
check "a run that fills the catalog's disk exits 1, not a crash (got $rc)" test "$rc" = 1
check "the message names the catalog" grep -qF "catalog $C1" "$tmp/full.err"
check "the message says the disk is full and what to do" grep -q "disk holding the catalog is full: free some space and run again" "$tmp/full.err"
check "integrity_check is ok on the full disk" integrity "$C1"
stored=$(sql "$C1" "select count(*) from call_cache")
check "answers received before the disk filled were stored ($stored)" test "$stored" -gt 0
"$cli" --catalog "$C1" datasets > "$tmp/ds.out" 2>&1 || true
check "datasets still lists the earlier dataset on the full disk" grep -q "^before " "$tmp/ds.out"
"$cli" --catalog "$C1" export before --out "$tmp/before2.jsonl" > /dev/null 2>&1 || true
check "the earlier dataset exports unchanged from the full disk" cmp -s "$tmp/before.jsonl" "$tmp/before2.jsonl"
python3 - "$C1" > "$tmp/stored.txt" <<'PY'
import sqlite3, sys
for (h,) in sqlite3.connect(sys.argv[1]).execute("select request_hash from call_cache"):
    print(h)
PY

mount -o remount,size=64m "$tmp/m1"
rc=0
"$cli" --catalog "$C1" run "$tmp/fill.loomflow" --json > "$tmp/resume.json" 2> "$tmp/resume.err" || rc=$?
check "with room again the run completes (exit $rc)" test "$rc" = 0
check "resumed: every row exactly once, each with its own answer" python3 - "$C1" "$tmp/stored.txt" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
t, rows = db.execute("select v.table_name, v.row_count from dataset_versions v join datasets d on d.id=v.dataset_id "
                     "where d.name='filled'").fetchone()
got = db.execute(f"select count(*), count(distinct uri), sum(error is null), "
                 f"sum(answer = substr('Echo: Describe ' || name || ' ' || pad, 1, 4096)) from {t}").fetchone()
assert rows == 1500 and got == (1500, 1500, 1500, 1500), (rows, got)
PY
check "integrity_check is ok after the resumed run" integrity "$C1"
check "no answer stored before the disk filled was paid for again" python3 - "$C1" "$tmp/stored.txt" <<'PY'
import sqlite3, sys
stored = set(open(sys.argv[2]).read().split())
db = sqlite3.connect(sys.argv[1])
last = db.execute("select max(id) from runs").fetchone()[0]
again = [h for (h,) in db.execute("select request_hash from model_calls where run_id=? and cache_hit=0", (last,)) if h in stored]
assert not again, f"{len(again)} stored answers paid again"
PY
served=$(stats | python3 -c "import json,sys; s=json.load(sys.stdin); print(s['model_calls_ok'] - s['model_calls_ok_distinct'])")
check "answers paid twice: $served, at most the $CONCURRENCY in flight when the disk filled" test "$served" -le "$CONCURRENCY"

# --- 1b. index fills the catalog's disk -------------------------------------------------------
C3="$tmp/m3/catalog.db"
rc=0
"$cli" --catalog "$C3" index "$tmp/files" > "$tmp/ifull.out" 2> "$tmp/ifull.err" || rc=$?
echo "     | $(grep error: "$tmp/ifull.err" | head -2)"
check "an index that fills the catalog's disk exits 1 (got $rc)" test "$rc" = 1
check "the message names the catalog and says the disk is full" \
  bash -c "grep -F 'catalog $C3' '$tmp/ifull.err' | grep -q 'disk holding the catalog is full: free some space'"
check "integrity_check is ok on the full disk" integrity "$C3"
mount -o remount,size=64m "$tmp/m3"
rc=0
"$cli" --catalog "$C3" index "$tmp/files" > "$tmp/iresume.out" 2>&1 || rc=$?
check "with room again the index completes (exit $rc)" test "$rc" = 0
check "every object listed exactly once and probed" python3 - "$C3" "$tmp/files" <<'PY'
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
expected = {"file://" + os.path.join(dp, f) for dp, _, fs in os.walk(sys.argv[2]) for f in fs}
uris = [u for (u,) in db.execute("select uri from objects")]
assert len(uris) == 9000 and set(uris) == expected, (len(uris), len(set(uris)))
assert db.execute("select count(*) from objects where probe_version is null or mime is null").fetchone()[0] == 0
assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
PY

# --- 2. the blob store fills during thumbnails -------------------------------------------------
C2="$tmp/c2/catalog.db"
rc=0
"$cli" --catalog "$C2" run "$tmp/noise.loomflow" > "$tmp/bfull.out" 2> "$tmp/bfull.err" || rc=$?
echo "     | $(grep error: "$tmp/bfull.err" | head -2)"
check "a thumbnail run that fills the disk exits 1 (got $rc)" test "$rc" = 1
check "the message names the blob file under the full mount and says the blob store's disk is full" \
  bash -c "grep -F 'cannot write $tmp/c2/catalog.data/blobs/' '$tmp/bfull.err' | grep -q 'blob store is full: free some space and run again'"
check "integrity_check is ok on the full disk" integrity "$C2"
mount -o remount,size=64m "$tmp/c2/catalog.data"
rc=0
"$cli" --catalog "$C2" run "$tmp/noise.loomflow" > "$tmp/bresume.out" 2>&1 || rc=$?
check "with room again the thumbnail run completes (exit $rc)" test "$rc" = 0
check "every row once with a recorded thumbnail and no error; every blob file recorded, none temporary" python3 - "$C2" <<'PY'
import glob, os, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
t, rows = db.execute("select table_name, row_count from dataset_versions").fetchone()
got = db.execute(f"select count(*), count(distinct uri), sum(error is null), "
                 f"sum(thumbnail in (select hash from blobs)) from {t}").fetchone()
assert rows == 300 and got == (300, 300, 300, 300), (rows, got)
files = [p for p in glob.glob(os.path.splitext(sys.argv[1])[0] + ".data/blobs/**/*", recursive=True) if os.path.isfile(p)]
recorded = {h for (h,) in db.execute("select hash from blobs")}
stray = [p for p in files if os.path.basename(p) not in recorded]
assert not stray, stray[:3]
PY
check "integrity_check is ok after the resumed thumbnail run" integrity "$C2"

# --- 3. read-only ------------------------------------------------------------------------------
mount -o remount,ro "$tmp/m1"
check "the cleanly closed catalog has no -wal file" test ! -e "$C1-wal"
rc=0
sed 's/"filled"/"filled_again"/' "$tmp/fill.loomflow" > "$tmp/again.loomflow"
"$cli" --catalog "$C1" run "$tmp/again.loomflow" > /dev/null 2> "$tmp/ro.err" || rc=$?
echo "     | $(head -1 "$tmp/ro.err")"
check "run on a read-only catalog exits 1 (got $rc)" test "$rc" = 1
check "the message names the catalog and says it is read-only" grep -qF "catalog $C1 is read-only: it is on a read-only file system" "$tmp/ro.err"
rc=0
"$cli" --catalog "$C1" index "$tmp/small" > /dev/null 2> "$tmp/ro.err" || rc=$?
check "index on a read-only catalog exits 1 with the same message (got $rc)" \
  bash -c "[ $rc = 1 ] && grep -qF 'catalog $C1 is read-only' '$tmp/ro.err'"
read_commands_work() {  # CATALOG: every read command works and sees the committed datasets
  local c=$1
  "$cli" --catalog "$c" datasets --json > "$tmp/r.json" &&
    python3 -c "import json,sys; d={x['name']: x['rows'] for x in json.load(open(sys.argv[1]))['datasets']}; assert d.get('before')==20 and d.get('filled')==1500, d" "$tmp/r.json" &&
    "$cli" --catalog "$c" show filled --limit 3 --json > /dev/null &&
    "$cli" --catalog "$c" lineage filled --json > /dev/null &&
    "$cli" --catalog "$c" lineage filled --row 7 > /dev/null &&
    "$cli" --catalog "$c" cost --json > /dev/null &&
    "$cli" --catalog "$c" export before --out "$tmp/before3.jsonl" > /dev/null &&
    cmp -s "$tmp/before.jsonl" "$tmp/before3.jsonl"
}
check "datasets, show, lineage, cost and export work on the read-only catalog" read_commands_work "$C1"

# A run killed mid-way leaves -wal and -shm; the file system then goes read-only.
mount -o remount,rw "$tmp/m1"
"$cli" --catalog "$C1" run "$tmp/thumbs.loomflow" > /dev/null 2>&1 &
pid=$!
sleep 0.4  # listing and the first thumbnails: the whole run takes over a second
rc=0
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || rc=$?
check "the kill landed during the run (exit $rc) and left its -wal and -shm files" test "$rc" = 137 -a -e "$C1-wal" -a -e "$C1-shm"
mount -o remount,ro "$tmp/m1"
check "the read commands work on the read-only catalog a killed run left" read_commands_work "$C1"
mount -o remount,rw "$tmp/m1"
rc=0
"$cli" --catalog "$C1" run "$tmp/thumbs.loomflow" --json > "$tmp/k.json" 2>&1 || rc=$?
check "read-write again, the killed run resumes and completes (exit $rc)" \
  bash -c "[ $rc = 0 ] && python3 -c \"import json,sys; j=json.load(open(sys.argv[1])); assert j['outputs'][0]['rows']==2000, j\" '$tmp/k.json'"
check "integrity_check is ok at the end" integrity "$C1"

finish

#!/usr/bin/env bash
# Kill trials: `loom-cli run`, `index` and `export` are killed with SIGKILL at random moments and run
# again; nothing committed may be lost, done twice or left half-written.
#
#   tests/cli/test_kill.sh LOOM_CLI
#
#   run      TRIALS (default 20) kills of a flow over 2,000 tiny PNGs: storage.list -> media.thumbnail
#            (blobs) -> model.llm (one call per row against tests/support/model_api_server.py) ->
#            dataset.save. After each kill the flow is run again to completion and: every row is in the
#            dataset exactly once with its own answer and thumbnail; PRAGMA integrity_check is ok (also
#            on the catalog exactly as the kill left it); no call whose answer was stored at the kill is
#            paid for again (the re-run's ledger against the call cache the kill left); the server
#            answered every distinct request, and at most `concurrency` (16) answers twice -- those in
#            flight at the kill; every blob file is recorded and no temporary file is left.
#   index    INDEX_TRIALS (default 8) kills of `loom-cli index` of 9,000 files (PNG and text; the
#            indexer commits 4,096 objects at a time): after the re-run every object is listed exactly
#            once, probed, and the catalog is intact.
#   export   EXPORT_TRIALS (default 8) kills of `loom-cli export` of a 20 MB dataset, jsonl and csv,
#            onto nothing or onto an earlier export: the file at the final path is always absent, the
#            earlier export or the complete new one, never a part; the re-run writes the full file and
#            no temporary file is left beside it.
#
# Each kill comes after a random delay drawn uniformly from [0, 1.05 x the time an uncut run of the
# same command took here], from a seeded RNG: SEED=N reproduces the delays of a failing run (the
# seed is printed first). Half the export trials instead kill when the temporary file has reached a
# random fraction of the export's size, so those kills land while it writes whatever the machine's
# speed. TRIALS=200 is the soak mode: index and export then get a quarter as many trials each,
# unless INDEX_TRIALS and EXPORT_TRIALS say otherwise. The last lines summarise where the kills landed, rows and calls per trial and the
# calls paid again. Needs python3 (stdlib only) and curl.
#
# Files and catalogs (about 300 MB at most) go under /dev/shm when TMPDIR is not set and it has a
# GiB free: a SIGKILL ends the process, not the machine, so what reached the kernel survives either
# way, and a memory file system keeps the trials quick on a busy disk.

set -euo pipefail
if [[ -z "${TMPDIR:-}" && -d /dev/shm && -w /dev/shm ]] &&
  [[ "$(df -Pk /dev/shm | awk 'NR == 2 {print $4}')" -gt 1048576 ]]; then
  export TMPDIR=/dev/shm
fi

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" kill "$@"
export LOOM_HOME="$tmp/home"
export XDG_CONFIG_HOME="$tmp/config"
export LOOM_THUMBNAIL_CACHE="$tmp/thumbs"
export LOOM_TEST_KEY="loom-test-key-0c6f2a91"
export LOOM_TRUSTED_MODEL_HOSTS=127.0.0.1
unset LOOM_PRICING

TRIALS=${TRIALS:-20}
INDEX_TRIALS=${INDEX_TRIALS:-$((TRIALS >= 40 ? TRIALS / 4 : 8))}
EXPORT_TRIALS=${EXPORT_TRIALS:-$((TRIALS >= 40 ? TRIALS / 4 : 8))}
SEED=${SEED:-$(( $(date +%s%N) % 1000000007 ))}
echo "kill: seed $SEED (reproduce the kill delays with SEED=$SEED TRIALS=$TRIALS INDEX_TRIALS=$INDEX_TRIALS EXPORT_TRIALS=$EXPORT_TRIALS)"
RANDOM=$((SEED % 32768))
started=$SECONDS
results="$tmp/results.jsonl"
: > "$results"

# A delay in seconds, uniform in [0, 1.05 x $1 seconds], from bash's seeded RANDOM.
draw_delay() {
  local r=$(( (RANDOM << 15) | RANDOM ))  # 0 .. 2^30-1
  python3 -c "import sys; print('%.3f' % (float(sys.argv[1]) * 1.05 * int(sys.argv[2]) / (1 << 30)))" "$1" "$r"
}

# Starts "$@" in the background, kills it with SIGKILL after $delay seconds and sets $killed_rc (137
# when the kill landed, the command's own status when it had ended first). With $grow_glob and
# $grow_bytes set, the kill comes instead once a file matching the glob holds that many bytes.
grow_glob=""
grow_bytes=0
kill_after() {
  local delay=$1
  shift
  "$@" > "$tmp/killed.out" 2>&1 &
  local pid=$!
  if [[ -n "$grow_glob" ]]; then
    local size=0 f
    while kill -0 "$pid" 2>/dev/null && [[ $size -lt $grow_bytes ]]; do
      size=0
      for f in $grow_glob; do [[ -e "$f" ]] && size=$(stat -c %s "$f" 2>/dev/null || echo 0); done
    done
  else
    sleep "$delay"
  fi
  kill -9 "$pid" 2>/dev/null || true
  killed_rc=0
  wait "$pid" 2>/dev/null || killed_rc=$?
}

# Copies a catalog exactly as a kill left it (database, -wal, -shm), so it can be inspected without
# opening the original before loom-cli does.
snapshot() {
  rm -rf "$tmp/snap" && mkdir -p "$tmp/snap"
  local f
  for f in "$1" "$1-wal" "$1-shm"; do [[ -e "$f" ]] && cp "$f" "$tmp/snap/"; done
  return 0
}

# --- fixtures ----------------------------------------------------------------------------------
python3 - "$tmp" <<'PY'
import os, random, struct, sys, zlib
root = sys.argv[1]
def png(w, h, rgb):
    raw = b"".join(b"\x00" + bytes(rgb) * w for _ in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
r = random.Random(7)
os.makedirs(f"{root}/img")
for i in range(2000):  # one colour each, so 2,000 different thumbnails (blobs)
    open(f"{root}/img/img_{i:05d}.png", "wb").write(png(8, 8, (i % 256, (i // 256) * 29 % 256, r.randrange(256))))
for d in range(30):
    os.makedirs(f"{root}/files/d{d}")
    for i in range(150):
        open(f"{root}/files/d{d}/p{i:03d}.png", "wb").write(png(4, 4, (d * 8, i, 7)))
        open(f"{root}/files/d{d}/t{i:03d}.txt", "w").write(f"line {i}\n" * (i % 7 + 1))
PY
NRUN=2000
NINDEX=9000

python3 "$repo/tests/support/model_api_server.py" --port 0 --latency-ms 5 --api-key "$LOOM_TEST_KEY" \
  --port-file "$tmp/port" > "$tmp/server.out" 2>&1 &
bg_pids+=($!)
for _ in $(seq 200); do [[ -s "$tmp/port" ]] && break; sleep 0.05; done
[[ -s "$tmp/port" ]] || { fail "the model test server did not start: $(cat "$tmp/server.out")"; finish; }
port="$(cat "$tmp/port")"
server() { curl -s -X "$1" "http://127.0.0.1:$port/$2"; }

CONCURRENCY=16
cat > "$tmp/describe.loomflow" <<EOF
{"format": "loom.flow/1", "name": "describe",
 "nodes": [
  {"id": "src", "type": "storage.list", "params": {"uri": "$tmp/img", "glob": "*.png"}},
  {"id": "thumb", "type": "media.thumbnail", "params": {"size": 16}},
  {"id": "ask", "type": "model.llm", "params": {"model": "gpt-4o-mini", "prompt": "Describe {{name}}",
     "base_url": "http://127.0.0.1:$port/v1", "api_key_env": "LOOM_TEST_KEY",
     "concurrency": $CONCURRENCY, "max_tokens": 40}},
  {"id": "out", "type": "dataset.save", "params": {"name": "described"}}],
 "edges": [{"from": "src", "to": "thumb"}, {"from": "thumb", "to": "ask"}, {"from": "ask", "to": "out"}]}
EOF

# Checks a run trial's catalog after the re-run; appends the trial's figures to $results.
check_run_trial() {  # TRIAL DELAY KILLED_RC RERUN_RC CATALOG STATS_JSON
  python3 - "$@" "$tmp/snap" "$NRUN" "$CONCURRENCY" "$results" <<'PY'
import glob, json, os, sqlite3, sys
trial, delay, killed_rc, rerun_rc, cat, stats, snapdir, n, conc, results = sys.argv[1:]
n, conc, stats = int(n), int(conc), json.loads(stats)
problems = []

# Where the kill landed, read from a copy of the catalog as the kill left it.
phase, at_kill, stored, killed_run = "before the catalog existed", 0, set(), None
snap = os.path.join(snapdir, os.path.basename(cat))
if os.path.exists(snap):
    s = sqlite3.connect(snap)
    if s.execute("pragma integrity_check").fetchone()[0] != "ok":
        problems.append("the catalog as the kill left it fails integrity_check")
    tables = {r[0] for r in s.execute("select name from sqlite_master where type='table'")}
    run = s.execute("select id, status from runs order by id limit 1").fetchone() if "runs" in tables else None
    if run is None:
        phase = "opening the catalog"
    else:
        killed_run = run[0]
        done = {r[0] for r in s.execute("select node_id from node_runs where run_id=?", (run[0],))}
        stored = {r[0] for r in s.execute("select request_hash from call_cache")}
        def partial(node_type):
            r = s.execute("select table_name from node_outputs where node_type=? and status='partial'", (node_type,)).fetchone()
            return s.execute(f"select count(*) from {r[0]}").fetchone()[0] if r else 0
        if "src" not in done:
            phase = "listing"
        elif "thumb" not in done:
            phase, at_kill = "thumbnails", partial("media.thumbnail")
        elif "ask" not in done:
            phase, at_kill = "model calls", len(stored)
        elif "out" not in done:
            phase = "saving"
        elif run[1] == "running":
            phase = "finishing"
        else:
            phase = "after it had finished"
    s.close()

db = sqlite3.connect(cat)
if rerun_rc != "0":
    problems.append(f"the re-run exited {rerun_rc}")
if db.execute("pragma integrity_check").fetchone()[0] != "ok":
    problems.append("integrity_check after the re-run is not ok")
versions = db.execute("select table_name, row_count from dataset_versions").fetchall()
if len(versions) != 1:
    problems.append(f"expected one dataset version, found {len(versions)}")
else:
    t, rows = versions[0]
    got = db.execute(f"select count(*), count(distinct uri), sum(error is null), "
                     f"sum(answer = 'Echo: Describe ' || name), sum(thumbnail in (select hash from blobs)) from {t}").fetchone()
    if rows != n or got != (n, n, n, n, n):
        problems.append(f"dataset rows {rows}; rows, distinct uris, without error, with their own answer, "
                        f"with a recorded thumbnail: {got}, expected {n} each")
killed_status = db.execute("select status from runs where id=?", (killed_run,)).fetchone() if killed_run else None
if killed_status and killed_status[0] == "running":
    problems.append(f"the killed run {killed_run} is still 'running' after the re-run")

# Calls: each distinct request paid once in the ledger; the re-run paid for nothing stored at the kill.
paid = db.execute("select count(*), count(distinct request_hash) from model_calls where cache_hit=0 and status='ok'").fetchone()
if paid != (n, n):
    problems.append(f"ledger: {paid[0]} paid calls for {paid[1]} distinct requests, expected {n} each")
rerun_paid = [r[0] for r in db.execute("select request_hash from model_calls where cache_hit=0 and run_id>?", (killed_run or 0,))]
repaid_stored = sum(1 for h in rerun_paid if h in stored)
if repaid_stored:
    problems.append(f"{repaid_stored} calls whose answers were stored at the kill were paid for again")
served, distinct = stats["model_calls_ok"], stats["model_calls_ok_distinct"]
repaid = served - distinct
if distinct != n:
    problems.append(f"the server answered {distinct} distinct requests, expected {n}")
if repaid > conc:
    problems.append(f"{repaid} answers were paid twice, more than the {conc} calls that can be in flight at a kill")

# Blobs: every file in the store is recorded; no temporary file is left.
blobdir = os.path.splitext(cat)[0] + ".data/blobs"
files = [p for p in glob.glob(blobdir + "/**/*", recursive=True) if os.path.isfile(p)]
temps = [p for p in files if os.path.basename(p).startswith(".tmp")]
recorded = {r[0] for r in db.execute("select hash from blobs")}
orphans = [p for p in files if p not in temps and os.path.basename(p) not in recorded]
if temps:
    problems.append(f"{len(temps)} temporary blob files left: {temps[:3]}")
if orphans:
    problems.append(f"{len(orphans)} blob files not recorded in the catalog: {orphans[:3]}")

rec = {"kind": "run", "trial": int(trial), "delay": float(delay), "killed": killed_rc == "137", "phase": phase,
       "progress_at_kill": at_kill, "stored_at_kill": len(stored), "served": served, "repaid": repaid,
       "rerun_paid": len(rerun_paid), "problems": problems}
open(results, "a").write(json.dumps(rec) + "\n")
where = phase + (f" ({at_kill} of {n} done)" if at_kill else "")
print(f"run trial {trial}: kill at {delay} s {'landed' if killed_rc == '137' else 'came after exit ' + killed_rc} "
      f"during {where}; {len(stored)} answers stored; re-run paid {len(rerun_paid)} calls; "
      f"server answered {served} ({repaid} twice)")
for p in problems:
    print("     " + p)
sys.exit(1 if problems else 0)
PY
}

# --- (a) loom-cli run --------------------------------------------------------------------------
t0=$(date +%s.%N)
"$cli" --catalog "$tmp/ref.db" run "$tmp/describe.loomflow" > "$tmp/ref.out" 2>&1 || { fail "the uncut run failed: $(tail -5 "$tmp/ref.out")"; finish; }
t_run=$(python3 -c "import sys,time; print('%.3f' % (time.time() - float(sys.argv[1])))" "$t0")
echo "an uncut run of $NRUN rows took $t_run s; kills fall in [0, $(python3 -c "print(round(1.05*$t_run, 2))")] s"
for trial in $(seq 1 "$TRIALS"); do
  cat="$tmp/run$trial/catalog.db"
  rm -rf "$tmp/thumbs"
  server POST _reset > /dev/null
  delay=$(draw_delay "$t_run")
  kill_after "$delay" "$cli" --catalog "$cat" run "$tmp/describe.loomflow"
  snapshot "$cat"
  rerun_rc=0
  "$cli" --catalog "$cat" run "$tmp/describe.loomflow" > "$tmp/rerun.out" 2>&1 || rerun_rc=$?
  [[ $rerun_rc -eq 0 ]] || sed 's/^/     | /' "$tmp/rerun.out" | tail -5
  if check_run_trial "$trial" "$delay" "$killed_rc" "$rerun_rc" "$cat" "$(server GET _stats)"; then
    pass "run trial $trial survived"
  else
    fail "run trial $trial (SEED=$SEED)"
  fi
  rm -rf "$tmp/run$trial"
done

# --- (b) loom-cli index ------------------------------------------------------------------------
check_index_trial() {  # TRIAL DELAY KILLED_RC RERUN_RC CATALOG
  python3 - "$@" "$tmp/snap" "$tmp/files" "$NINDEX" "$results" <<'PY'
import json, os, sqlite3, sys
trial, delay, killed_rc, rerun_rc, cat, snapdir, root, n, results = sys.argv[1:]
n = int(n)
problems = []
at_kill, phase = 0, "before the catalog existed"
snap = os.path.join(snapdir, os.path.basename(cat))
if os.path.exists(snap):
    s = sqlite3.connect(snap)
    if s.execute("pragma integrity_check").fetchone()[0] != "ok":
        problems.append("the catalog as the kill left it fails integrity_check")
    tables = {r[0] for r in s.execute("select name from sqlite_master where type='table'")}
    if "objects" not in tables:
        phase = "opening the catalog"
    else:
        at_kill = s.execute("select count(*) from objects").fetchone()[0]
        done = s.execute("select indexed_at is not null from sources").fetchone()
        phase = "after it had finished" if done and done[0] else "listing and probing"
    s.close()
expected = {"file://" + os.path.join(dp, f) for dp, _, fs in os.walk(root) for f in fs}
db = sqlite3.connect(cat)
if rerun_rc != "0":
    problems.append(f"the re-run exited {rerun_rc}")
if db.execute("pragma integrity_check").fetchone()[0] != "ok":
    problems.append("integrity_check after the re-run is not ok")
uris = [r[0] for r in db.execute("select uri from objects")]
if len(uris) != n or set(uris) != expected:
    problems.append(f"{len(uris)} object rows ({len(set(uris))} distinct), expected the {n} files each once")
unprobed = db.execute("select count(*) from objects where probe_version is null or mime is null or error is not null").fetchone()[0]
if unprobed:
    problems.append(f"{unprobed} objects not probed (or with an error)")
src = db.execute("select count(*), max(object_count) from sources").fetchone()
if src != (1, n):
    problems.append(f"sources: {src}, expected one source of {n} objects")
rec = {"kind": "index", "trial": int(trial), "delay": float(delay), "killed": killed_rc == "137", "phase": phase,
       "progress_at_kill": at_kill, "problems": problems}
open(results, "a").write(json.dumps(rec) + "\n")
print(f"index trial {trial}: kill at {delay} s {'landed' if killed_rc == '137' else 'came after exit ' + killed_rc} "
      f"during {phase}, {at_kill} of {n} objects in the catalog")
for p in problems:
    print("     " + p)
sys.exit(1 if problems else 0)
PY
}

t0=$(date +%s.%N)
"$cli" --catalog "$tmp/iref.db" index "$tmp/files" > "$tmp/iref.out" 2>&1 || { fail "the uncut index failed: $(tail -5 "$tmp/iref.out")"; finish; }
t_index=$(python3 -c "import sys,time; print('%.3f' % (time.time() - float(sys.argv[1])))" "$t0")
echo "an uncut index of $NINDEX files took $t_index s"
for trial in $(seq 1 "$INDEX_TRIALS"); do
  cat="$tmp/index$trial/catalog.db"
  delay=$(draw_delay "$t_index")
  kill_after "$delay" "$cli" --catalog "$cat" index "$tmp/files"
  snapshot "$cat"
  rerun_rc=0
  "$cli" --catalog "$cat" index "$tmp/files" > "$tmp/rerun.out" 2>&1 || rerun_rc=$?
  [[ $rerun_rc -eq 0 ]] || sed 's/^/     | /' "$tmp/rerun.out" | tail -5
  if check_index_trial "$trial" "$delay" "$killed_rc" "$rerun_rc" "$cat"; then
    pass "index trial $trial survived"
  else
    fail "index trial $trial (SEED=$SEED)"
  fi
  rm -rf "$tmp/index$trial"
done

# --- (c) loom-cli export -----------------------------------------------------------------------
# A 20 MB dataset in two versions (padding of 2,000 and 1,900 bytes per row), so an export takes long
# enough for kills to land while it writes.
for v in 1 2; do
  pad=$((2100 - 100 * v))
  cat > "$tmp/wide$v.loomflow" <<EOF
{"format": "loom.flow/1", "name": "wide",
 "nodes": [
  {"id": "src", "type": "storage.list", "params": {"uri": "$tmp/files"}},
  {"id": "pad", "type": "table.derive", "params": {"columns": {"pad": "substr(hex(zeroblob($pad)), 1, $pad)"}}},
  {"id": "out", "type": "dataset.save", "params": {"name": "wide"}}],
 "edges": [{"from": "src", "to": "pad"}, {"from": "pad", "to": "out"}]}
EOF
  "$cli" --catalog "$tmp/wide.db" run "$tmp/wide$v.loomflow" > /dev/null 2>&1 || { fail "could not make dataset wide@$v"; finish; }
done
mkdir -p "$tmp/ref"
for fmt in jsonl csv; do
  for v in 1 2; do
    "$cli" --catalog "$tmp/wide.db" export "wide@$v" --format "$fmt" --out "$tmp/ref/wide$v.$fmt" > /dev/null
  done
done
t_export=9
for _ in 1 2 3; do  # the quickest of three: an export is short, and kills after its end test nothing
  t0=$(date +%s.%N)
  "$cli" --catalog "$tmp/wide.db" export wide@2 --format jsonl --out "$tmp/ref/timed.jsonl" > /dev/null
  t_export=$(python3 -c "import sys,time; print('%.3f' % min(float(sys.argv[2]), time.time() - float(sys.argv[1])))" "$t0" "$t_export")
done
echo "an uncut export of wide@2 ($(stat -c %s "$tmp/ref/wide2.jsonl") bytes of jsonl) took $t_export s"

check_export_trial() {  # TRIAL DELAY KILLED_RC RERUN_RC FORMAT PREVIOUS(0/1) AFTER_KILL(file state)
  python3 - "$@" "$tmp/out" "$tmp/ref" "$results" <<'PY'
import filecmp, json, os, sys
trial, delay, killed_rc, rerun_rc, fmt, previous, after_kill, outdir, refdir, results = sys.argv[1:]
problems = []
if after_kill == "partial":
    problems.append("after the kill the final path held a file that is neither the earlier nor the complete export")
if after_kill == "absent" and previous == "1":
    problems.append("after the kill the earlier export was gone")
if rerun_rc != "0":
    problems.append(f"the re-run exited {rerun_rc}")
target = os.path.join(outdir, "wide." + fmt)
if not os.path.exists(target) or not filecmp.cmp(target, os.path.join(refdir, "wide2." + fmt), shallow=False):
    problems.append("after the re-run the export differs from an uncut one")
left = sorted(set(os.listdir(outdir)) - {"wide." + fmt})
if left:
    problems.append(f"files left beside the export: {left}")
rec = {"kind": "export", "trial": int(trial), "delay": float(delay), "killed": killed_rc == "137",
       "phase": after_kill, "format": fmt, "previous": previous == "1", "problems": problems}
open(results, "a").write(json.dumps(rec) + "\n")
when = f"once {float(delay):.0%} was written" if int(trial) % 4 >= 2 else f"at {delay} s"
print(f"export trial {trial} ({fmt}, {'onto an earlier export' if previous == '1' else 'new file'}): kill {when} "
      f"{'landed' if killed_rc == '137' else 'came after exit ' + killed_rc}; the final path then held {after_kill}")
for p in problems:
    print("     " + p)
sys.exit(1 if problems else 0)
PY
}

for trial in $(seq 1 "$EXPORT_TRIALS"); do
  fmt=$([[ $((trial % 2)) -eq 1 ]] && echo jsonl || echo csv)
  previous=$(( (trial / 4) % 2 ))
  rm -rf "$tmp/out" && mkdir -p "$tmp/out"
  target="$tmp/out/wide.$fmt"
  [[ $previous -eq 1 ]] && cp "$tmp/ref/wide1.$fmt" "$target"
  delay=$(draw_delay "$t_export")
  if [[ $((trial % 4)) -ge 2 ]]; then  # at a random share of the bytes written, drawn as a "delay" in [0, 1.05)
    delay=$(draw_delay 1)
    grow_glob="$target.part*"
    grow_bytes=$(python3 -c "import sys; print(int(float(sys.argv[1]) * int(sys.argv[2])))" "$delay" "$(stat -c %s "$tmp/ref/wide2.$fmt")")
  fi
  kill_after "$delay" "$cli" --catalog "$tmp/wide.db" export wide@2 --format "$fmt" --out "$target"
  grow_glob=""
  if [[ ! -e "$target" ]]; then after_kill=absent
  elif cmp -s "$target" "$tmp/ref/wide1.$fmt"; then after_kill=earlier
  elif cmp -s "$target" "$tmp/ref/wide2.$fmt"; then after_kill=complete
  else after_kill=partial
  fi
  rerun_rc=0
  "$cli" --catalog "$tmp/wide.db" export wide@2 --format "$fmt" --out "$target" > "$tmp/rerun.out" 2>&1 || rerun_rc=$?
  if check_export_trial "$trial" "$delay" "$killed_rc" "$rerun_rc" "$fmt" "$previous" "$after_kill"; then
    pass "export trial $trial survived"
  else
    fail "export trial $trial (SEED=$SEED)"
  fi
done

# --- summary -----------------------------------------------------------------------------------
python3 - "$results" "$((SECONDS - started))" "$SEED" <<'PY'
import collections, json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
print(f"kill summary (seed {sys.argv[3]}, {sys.argv[2]} s):")
for kind in ("run", "index", "export"):
    rs = [r for r in recs if r["kind"] == kind]
    if not rs:
        continue
    ok = sum(1 for r in rs if not r["problems"])
    landed = sum(1 for r in rs if r["killed"])
    phases = collections.Counter(r["phase"] for r in rs)
    line = f"  {kind}: {ok}/{len(rs)} trials survived, {landed} kills landed before the command ended; where: " + \
        ", ".join(f"{p} {c}" for p, c in phases.most_common())
    if kind == "run":
        repaid = [r["repaid"] for r in rs]
        line += (f"; answers stored at the kill {min(r['stored_at_kill'] for r in rs)}..{max(r['stored_at_kill'] for r in rs)}"
                 f", calls per trial {min(r['served'] for r in rs)}..{max(r['served'] for r in rs)} for 2000 rows"
                 f", paid twice (in flight at the kill) {sum(repaid)} in all, at most {max(repaid)} in a trial")
    print(line)
PY
finish

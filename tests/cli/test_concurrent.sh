#!/usr/bin/env bash
# Several processes on one catalog at once, as when the desktop app and loom-cli share it (the app
# opens the catalog through the same engine library and the same executor, so two loom-cli processes
# exercise the same code paths):
#
#   - two `run`s of one flow with 2,000 model calls: the second reaches the model node while the first
#     computes it, says on stderr that it waits, and reuses the result -- every call is paid once;
#   - a `run` of another flow that writes a 9,000-row dataset in big transactions;
#   - two `index`es of the same 9,000-file folder;
#   - readers (datasets, show, lineage, cost) in a loop the whole time.
#
# Every process exits 0, every write is there exactly once, integrity_check is ok.
#
#   tests/cli/test_concurrent.sh LOOM_CLI
#
# Needs python3 (stdlib only) and curl.

set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" concurrent "$@"
export LOOM_HOME="$tmp/home"
export XDG_CONFIG_HOME="$tmp/config"
export LOOM_THUMBNAIL_CACHE="$tmp/thumbs"
export LOOM_TEST_KEY="loom-test-key-5e0a77c2"
export LOOM_TRUSTED_MODEL_HOSTS=127.0.0.1
unset LOOM_PRICING
C="$tmp/catalog.db"

python3 - "$tmp" <<'PY'
import os, sys
root = sys.argv[1]
os.makedirs(f"{root}/items")
for i in range(2000):
    open(f"{root}/items/item_{i:04d}.txt", "w").write(f"item {i}\n")
for d in range(30):
    os.makedirs(f"{root}/files/d{d:02d}")
    for i in range(300):
        open(f"{root}/files/d{d:02d}/f{i:03d}.txt", "w").write("x" * (i % 40) + "\n")
os.makedirs(f"{root}/small")
for i in range(10):
    open(f"{root}/small/s{i}.txt", "w").write(f"small {i}\n")
PY

# 20 ms per answer at concurrency 8: the model node takes seconds, so the second run meets it half done.
python3 "$repo/tests/support/model_api_server.py" --port 0 --latency-ms 20 --api-key "$LOOM_TEST_KEY" \
  --port-file "$tmp/port" > "$tmp/server.out" 2>&1 &
bg_pids+=($!)
for _ in $(seq 200); do [[ -s "$tmp/port" ]] && break; sleep 0.05; done
[[ -s "$tmp/port" ]] || { fail "the model test server did not start: $(cat "$tmp/server.out")"; finish; }
port="$(cat "$tmp/port")"

cat > "$tmp/describe.loomflow" <<EOF
{"format": "loom.flow/1", "name": "describe",
 "nodes": [
  {"id": "src", "type": "storage.list", "params": {"uri": "$tmp/items"}},
  {"id": "ask", "type": "model.llm", "params": {"model": "gpt-4o-mini", "prompt": "Describe {{name}}",
     "base_url": "http://127.0.0.1:$port/v1", "api_key_env": "LOOM_TEST_KEY", "concurrency": 8, "max_tokens": 40}},
  {"id": "out", "type": "dataset.save", "params": {"name": "described"}}],
 "edges": [{"from": "src", "to": "ask"}, {"from": "ask", "to": "out"}]}
EOF
cat > "$tmp/wide.loomflow" <<EOF
{"format": "loom.flow/1", "name": "wide",
 "nodes": [
  {"id": "src", "type": "storage.list", "params": {"uri": "$tmp/files"}},
  {"id": "pad", "type": "table.derive", "params": {"columns": {"pad": "substr(hex(zeroblob(1000)), 1, 2000)"}}},
  {"id": "out", "type": "dataset.save", "params": {"name": "wide"}}],
 "edges": [{"from": "src", "to": "pad"}, {"from": "pad", "to": "out"}]}
EOF
cat > "$tmp/base.loomflow" <<EOF
{"format": "loom.flow/1", "name": "base",
 "nodes": [{"id": "src", "type": "storage.list", "params": {"uri": "$tmp/small"}},
           {"id": "out", "type": "dataset.save", "params": {"name": "base"}}],
 "edges": [{"from": "src", "to": "out"}]}
EOF
"$cli" --catalog "$C" run "$tmp/base.loomflow" > /dev/null 2>&1 || { fail "the first run failed"; finish; }

# Readers, until told to stop: each command must succeed while the writers work.
readers() {
  local n=0 bad=0 cmd
  while [[ ! -e "$tmp/stop" ]]; do
    for cmd in "datasets --json" "show base --limit 5 --json" "lineage base --json" "lineage base --row 3" "cost --json"; do
      # shellcheck disable=SC2086
      if "$cli" --catalog "$C" $cmd > "$tmp/reader.out" 2> "$tmp/reader.err"; then
        n=$((n + 1))
      else
        bad=$((bad + 1))
        echo "reader: loom-cli $cmd failed: $(head -3 "$tmp/reader.err")" >> "$tmp/reader.failures"
      fi
    done
  done
  echo "$n $bad" > "$tmp/readers.done"
}
readers &
reader_pid=$!

"$cli" --catalog "$C" run "$tmp/describe.loomflow" --json > "$tmp/a.json" 2> "$tmp/a.err" &
a=$!
# The second run starts once the first has answers stored, so it meets the model node half done.
for _ in $(seq 600); do
  [[ "$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from call_cache').fetchone()[0])" "$C" 2>/dev/null || echo 0)" -gt 0 ]] && break
  sleep 0.05
done
"$cli" --catalog "$C" run "$tmp/describe.loomflow" --json > "$tmp/b.json" 2> "$tmp/b.err" &
b=$!
"$cli" --catalog "$C" index "$tmp/files" --json > "$tmp/i1.json" 2> "$tmp/i1.err" &
i1=$!
"$cli" --catalog "$C" run "$tmp/wide.loomflow" --json > "$tmp/w.json" 2> "$tmp/w.err" &
w=$!
"$cli" --catalog "$C" index "$tmp/files" --json > "$tmp/i2.json" 2> "$tmp/i2.err" &
i2=$!

rc_a=0; wait $a || rc_a=$?
rc_b=0; wait $b || rc_b=$?
rc_i1=0; wait $i1 || rc_i1=$?
rc_w=0; wait $w || rc_w=$?
rc_i2=0; wait $i2 || rc_i2=$?
touch "$tmp/stop"
wait "$reader_pid" || true
for p in a b i1 w i2; do
  rc_var="rc_$p"
  check "writer $p exits 0 (got ${!rc_var})" test "${!rc_var}" = 0
  [[ "${!rc_var}" = 0 ]] || sed 's/^/     | /' "$tmp/$p.err" | tail -3
done
read -r nread nbad < "$tmp/readers.done"
[[ -e "$tmp/reader.failures" ]] && sed 's/^/     | /' "$tmp/reader.failures" | head -5
check "readers ran $nread commands beside the writers, none failed ($nbad)" test "$nbad" = 0 -a "$nread" -gt 0
check "the second run said on stderr that it waits for the first" grep -q "is being computed right now by run .* waiting for it" "$tmp/b.err"
check "every write is there exactly once, integrity_check ok" python3 - "$C" "$tmp" "$(curl -s "http://127.0.0.1:$port/_stats")" <<'PY'
import json, os, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
tmp, stats = sys.argv[2], json.loads(sys.argv[3])
assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
def latest(name):
    return db.execute("select v.table_name, v.row_count, (select count(*) from dataset_versions w where w.dataset_id=d.id)"
                      " from dataset_versions v join datasets d on d.id=v.dataset_id where d.name=?"
                      " order by v.version desc limit 1", (name,)).fetchone()
t, rows, versions = latest("described")
got = db.execute(f"select count(*), count(distinct uri), sum(answer = 'Echo: Describe ' || name) from {t}").fetchone()
assert (rows, versions, got) == (2000, 1, (2000, 2000, 2000)), ("described", rows, versions, got)
t, rows, versions = latest("wide")
assert rows == 9000 and db.execute(f"select count(distinct uri) from {t}").fetchone()[0] == 9000, ("wide", rows)
assert latest("base")[1] == 10
expected = {"file://" + os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(tmp, "files")) for f in fs}
uris = [u for (u,) in db.execute("select uri from objects where uri like ?", ("file://" + tmp + "/files/%",))]
assert len(uris) == 9000 and set(uris) == expected, ("objects", len(uris), len(set(uris)))
assert db.execute("select count(*) from objects where uri like ? and (probe_version is null or mime is null)",
                  ("file://" + tmp + "/files/%",)).fetchone()[0] == 0, "unprobed objects"
statuses = [s for (s,) in db.execute("select status from runs")]
assert statuses == ["succeeded"] * len(statuses), statuses
paid = db.execute("select count(*), count(distinct request_hash) from model_calls where cache_hit=0").fetchone()
assert paid == (2000, 2000), ("ledger", paid)
assert stats["model_calls_ok"] == stats["model_calls_ok_distinct"] == 2000, stats
PY

finish

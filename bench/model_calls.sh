#!/usr/bin/env bash
# Model-call throughput: N calls (default 10,000) of a model.llm flow against the model-API test
# server (tests/support/model_api_server.py) answering after 100 ms, with the node configured for
# 6,000 requests per minute. Reports the rate achieved as a ratio of that limit, and the CPU Loom
# spent per call (user + system of the loom-cli process, /usr/bin/time). Writes RESULTS_DIR/model_calls.json.
#
#   bench/model_calls.sh LOOM_CLI RESULTS_DIR WORK_DIR [N]

set -euo pipefail
LOOM=$1
RES=$2
WORK=$3
N=${4:-10000}
RPM=${RPM:-6000}
LATENCY_MS=${LATENCY_MS:-100}
CONCURRENCY=${CONCURRENCY:-32}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=$WORK/model_calls
mkdir -p "$RES"
rm -rf "$DIR" && mkdir -p "$DIR/rows"
python3 - "$DIR/rows" "$N" <<'PY'
import os, sys
for i in range(int(sys.argv[2])):
    open(os.path.join(sys.argv[1], f"row_{i:06d}.txt"), "w").close()
PY

export LOOM_BENCH_KEY=bench-key
export LOOM_TRUSTED_MODEL_HOSTS=127.0.0.1  # the test server may receive the key
python3 "$ROOT/tests/support/model_api_server.py" --port 0 --latency-ms "$LATENCY_MS" --rpm "$RPM" --api-key bench-key \
  --port-file "$DIR/port" > /dev/null &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 100); do [ -s "$DIR/port" ] && break; sleep 0.05; done
port=$(cat "$DIR/port")

cat > "$DIR/calls.loomflow" <<JSON
{"format": "loom.flow/1", "name": "bench-calls",
 "nodes": [
  {"id": "src", "type": "storage.list", "params": {"uri": "$DIR/rows"}},
  {"id": "ask", "type": "model.llm", "params": {"model": "gpt-4o-mini", "prompt": "Describe {{name}} in a word",
     "max_tokens": 16, "base_url": "http://127.0.0.1:$port/v1", "api_key_env": "LOOM_BENCH_KEY",
     "rpm": $RPM, "concurrency": $CONCURRENCY}},
  {"id": "out", "type": "dataset.save", "params": {"name": "calls"}}],
 "edges": [{"from": "src", "to": "ask"}, {"from": "ask", "to": "out"}]}
JSON

server_cpu() { awk '{print $14+$15}' "/proc/$server/stat"; }
cpu0=$(server_cpu)
/usr/bin/time -f '%U %S %e %M' -o "$DIR/time" "$LOOM" --catalog "$DIR/c.db" run "$DIR/calls.loomflow" --json > "$DIR/run.json"
cpu1=$(server_cpu)
stats=$(curl -s "http://127.0.0.1:$port/_stats")
python3 - "$DIR" "$N" "$RPM" "$LATENCY_MS" "$CONCURRENCY" "$((cpu1 - cpu0))" "$(getconf CLK_TCK)" "$stats" "$RES/model_calls.json" <<'PY'
import json, sqlite3, sys
d, n, rpm, latency, conc, sticks, tck, stats, out = sys.argv[1:]
n, rpm, sticks, tck = int(n), float(rpm), int(sticks), int(tck)
user, system, wall, rss_kb = open(f"{d}/time").read().split()
run = json.load(open(f"{d}/run.json"))
db = sqlite3.connect(f"{d}/c.db")
node_s = db.execute("SELECT seconds FROM node_runs WHERE node_id='ask' ORDER BY id DESC LIMIT 1").fetchone()[0]
ok = db.execute("SELECT count(*) FROM model_calls WHERE status='ok' AND cache_hit=0").fetchone()[0]
st = json.loads(stats)
rate_rpm = ok / node_s * 60
res = {"calls": n, "calls_ok": ok, "rows_failed": run["rows_failed"], "rpm_limit": rpm, "latency_ms": int(latency),
       "concurrency": int(conc), "node_seconds": node_s, "wall_seconds": float(wall), "achieved_rpm": rate_rpm,
       "ratio_of_limit": rate_rpm / rpm, "loom_cpu_seconds": float(user) + float(system),
       "loom_cpu_ms_per_call": (float(user) + float(system)) * 1000 / max(ok, 1), "loom_rss_mb": int(rss_kb) / 1024,
       "server_cpu_seconds": sticks / tck, "server_429": st["by_status"].get("429", 0),
       "server_max_concurrent": st["max_concurrent"], "cost_usd": run["cost_usd"],
       "measured_at": __import__("datetime").datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
       "commit": __import__("subprocess").run(["git", "-C", d, "rev-parse", "--short", "HEAD"],
                                              capture_output=True, text=True).stdout.strip()}
json.dump(res, open(out, "w"), indent=1)
print(json.dumps(res, indent=1))
PY

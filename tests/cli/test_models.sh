#!/usr/bin/env bash
# End-to-end test of model nodes through loom-cli against the model-API test server
# (tests/support/model_api_server.py) on loopback: a run killed with -9 mid-way and run again pays for
# no answer it had stored; --dry-run --sample estimates; --budget-usd stops with exit 3; `cost`
# summarises the ledger; the key never lands in the catalog or the output.
#
#   tests/cli/test_models.sh LOOM_CLI
#
# Needs python3 (stdlib only), curl and sqlite3. Prints "models: N passed, M failed" last and exits
# non-zero when any check fails.

set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" models "$@"
export LOOM_HOME="$tmp/home"
export XDG_CONFIG_HOME="$tmp/config"
export LOOM_TEST_KEY="loom-test-key-5b9e1d7c"
export LOOM_TRUSTED_MODEL_HOSTS=127.0.0.1  # the test server may receive the key
unset LOOM_PRICING

# The server answers after 150 ms, like a real API, so a run of 120 calls at concurrency 4 takes ~5 s.
python3 "$repo/tests/support/model_api_server.py" --port 0 --latency-ms 150 --api-key "$LOOM_TEST_KEY" \
  --port-file "$tmp/port" > "$tmp/server.out" &
bg_pids+=($!)
for _ in $(seq 100); do [[ -s "$tmp/port" ]] && break; sleep 0.05; done
port="$(cat "$tmp/port")"
stats() { curl -s "http://127.0.0.1:$port/_stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

mkdir -p "$tmp/data"
for i in $(seq 1 120); do echo "item $i" > "$tmp/data/item_$i.txt"; done
cat > "$tmp/describe.loomflow" <<EOF
{"format": "loom.flow/1", "name": "describe",
 "nodes": [
  {"id": "src", "type": "storage.list", "params": {"uri": "$tmp/data"}},
  {"id": "ask", "type": "model.llm", "params": {"model": "gpt-4o-mini", "prompt": "Describe {{name}}",
     "base_url": "http://127.0.0.1:$port/v1", "api_key_env": "LOOM_TEST_KEY", "concurrency": 4,
     "max_tokens": 40}},
  {"id": "out", "type": "dataset.save", "params": {"name": "described"}}],
 "edges": [{"from": "src", "to": "ask"}, {"from": "ask", "to": "out"}]}
EOF
db="$LOOM_HOME/catalog.db"

# 1. Dry run on 10 sampled rows: 10 calls made, 120 estimated, nothing saved.
"$cli" run "$tmp/describe.loomflow" --dry-run --sample 10 --json > "$tmp/dry.json"
est_calls=$(python3 -c "import json; print(json.load(open('$tmp/dry.json'))['estimate']['calls'])" )
check "dry run estimates 120 calls from a sample of 10 (got $est_calls)" test "$est_calls" = 120
check "dry run made only the sample's 10 calls" test "$(stats model_calls_ok)" = 10
check "dry run saved no dataset" test "$(sqlite3 "$db" 'SELECT count(*) FROM datasets')" = 0
python3 - "$tmp/dry.json" <<'PY' && pass "dry-run cost is the sample's cost x 12" || fail "dry-run cost is the sample's cost x 12"
import json, sys
e = json.load(open(sys.argv[1]))["estimate"]
assert abs(e["cost_usd"] - e["sample_cost_usd"] * 12) < 1e-12, e
assert e["seconds"] > 0 and e["input_tokens"] > 0 and e["output_tokens"] > 0, e
PY

# 2. kill -9 in the middle of the run, then run again.
"$cli" run "$tmp/describe.loomflow" > "$tmp/run1.out" 2>&1 &
run_pid=$!
for _ in $(seq 200); do
  [[ "$(stats model_calls_ok)" -ge 50 ]] && break
  sleep 0.05
done
kill -9 "$run_pid" 2>/dev/null || true
wait "$run_pid" 2>/dev/null || true
stored=$(sqlite3 "$db" 'SELECT count(*) FROM call_cache')
paid_before=$(stats model_calls_ok)
check "the killed run had stored answers (stored $stored, server answered $paid_before)" test "$stored" -ge 40
"$cli" run "$tmp/describe.loomflow" --json > "$tmp/run2.json"
cached2=$(python3 -c "import json; print(json.load(open('$tmp/run2.json'))['calls_cached'])")
check "the re-run took every stored answer from the cache ($cached2 of $stored)" test "$cached2" -ge "$stored"
check "the dataset has all 120 rows" test "$(sqlite3 "$db" "SELECT row_count FROM dataset_versions ORDER BY id DESC LIMIT 1")" = 120
twice=$(sqlite3 "$db" "SELECT count(*) FROM (SELECT request_hash FROM model_calls WHERE cache_hit=0 AND status='ok' GROUP BY request_hash HAVING count(*) > 1)")
check "no stored answer was paid for twice" test "$twice" = 0
paid_after=$(stats model_calls_ok)
lost=$((paid_after - 120))
check "only calls in flight at the kill were asked again ($lost, concurrency 4)" test "$lost" -le 4

# 3. Budget: exit 3, spent no more than the budget.
sed -e 's/"name": "describe"/"name": "budgeted"/' -e 's/Describe {{name}}/Summarise {{name}}/' \
  -e 's/"described"/"summaries"/' "$tmp/describe.loomflow" > "$tmp/budget.loomflow"
set +e
"$cli" run "$tmp/budget.loomflow" --budget-usd 0.0002 > "$tmp/budget.out" 2> "$tmp/budget.err"
code=$?
set -e
check "a run that reaches its budget exits 3 (got $code)" test "$code" = 3
check "the budget message says how to go on" grep -q -- "--budget-usd" "$tmp/budget.err"
spent=$(sqlite3 "$db" "SELECT printf('%.9f', sum(m.cost_usd)) FROM model_calls m JOIN runs r ON r.id=m.run_id WHERE r.flow_name='budgeted'")
check "the budgeted run spent \$$spent, no more than \$0.0002" python3 -c "import sys; sys.exit(0 if 0 < $spent <= 0.0002 else 1)"
check "the run record says budget" test "$(sqlite3 "$db" "SELECT status FROM runs WHERE flow_name='budgeted'")" = budget

# 4. The ledger summary.
"$cli" cost --json > "$tmp/cost.json"
python3 - "$tmp/cost.json" "$db" <<'PY' && pass "cost --json sums the ledger by run, node, model and day" || fail "cost --json sums the ledger by run, node, model and day"
import json, sqlite3, sys
c = json.load(open(sys.argv[1]))
db = sqlite3.connect(sys.argv[2])
total = db.execute("SELECT sum(cost_usd), count(*) FROM model_calls").fetchone()
assert abs(c["cost_usd"] - total[0]) < 1e-12 and c["calls"] == total[1], (c, total)
for key in ("by_run", "by_node", "by_model", "by_day"):
    assert abs(sum(x["cost_usd"] for x in c[key]) - total[0]) < 1e-12, key
assert {m["model"] for m in c["by_model"]} == {"gpt-4o-mini"}
assert {n["node"] for n in c["by_node"]} == {"ask"}
PY
"$cli" cost > "$tmp/cost.txt"
check "cost prints tables by model, node, run and day" grep -q "by day" "$tmp/cost.txt"

# 5. The key is nowhere in the catalog or the output.
leaks=$( (grep -rl "$LOOM_TEST_KEY" "$LOOM_HOME" "$tmp"/*.out "$tmp"/*.json "$tmp"/*.txt "$tmp"/*.err 2>/dev/null || true) | wc -l)
check "the API key is in no catalog file or output" test "$leaks" = 0

finish

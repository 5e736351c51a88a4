#!/usr/bin/env bash
# Keys never land anywhere Loom writes. With known fake keys in the environment (model keys that the
# model-API test server accepts or rejects, and storage credentials no flow uses), loom-cli runs model
# flows for OpenAI and Anthropic (answers, 401s, server faults), is killed with SIGKILL, SIGSEGV and
# SIGABRT mid-run, is given a key in a --param, validates, shows, exports (JSONL, CSV), and reports
# lineage and cost. Then every byte under the test's folder — catalog, WAL, blobs, read and thumbnail
# caches, temporary files, flow files, exports, stdout/stderr and crash output — is searched for
# every key: none may appear.
#
#   tests/cli/test_secrets.sh LOOM_CLI
#
# Prints "secrets: N passed, M failed" last and exits non-zero when any check fails.

set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" secrets "$@"
state="$tmp/state"
logs="$tmp/logs"
mkdir -p "$state" "$logs" "$tmp/data" "$state/tmp"
export LOOM_HOME="$state/home" XDG_CONFIG_HOME="$state/config" XDG_CACHE_HOME="$state/cache"
export LOOM_READ_CACHE_DIR="$state/objects" LOOM_THUMBNAIL_CACHE="$state/thumbs" TMPDIR="$state/tmp"
unset LOOM_PRICING OPENAI_API_KEY ANTHROPIC_API_KEY

# The keys. Each is long and unique, so a match anywhere is a leak and not a coincidence.
export LOOM_SECRET_KEY="sk-loomsecret-model-3f9a7c1e5b2d4a6f"
export LOOM_WRONG_KEY="sk-loomsecret-wrong-8e7d6c5b4a39281f"
export AWS_ACCESS_KEY_ID="AKIALOOMSECRET00001" AWS_SECRET_ACCESS_KEY="loomsecret-aws-5e4d3c2b1a09f8e7"
export AZURE_STORAGE_KEY="bG9vbXNlY3JldC1henVyZS0xMjM0NTY3ODkw"
export GS_SECRET_ACCESS_KEY="loomsecret-gcs-0a1b2c3d4e5f6a7b"
secrets=("$LOOM_SECRET_KEY" "$LOOM_WRONG_KEY" "$AWS_SECRET_ACCESS_KEY" "$AZURE_STORAGE_KEY" "$GS_SECRET_ACCESS_KEY")
export LOOM_TRUSTED_MODEL_HOSTS=127.0.0.1  # the test server may receive the model key

python3 "$repo/tests/support/model_api_server.py" --port 0 --latency-ms 20 --api-key "$LOOM_SECRET_KEY" \
  --port-file "$tmp/port" > "$logs/server.out" 2>&1 &
bg_pids+=($!)
for _ in $(seq 100); do [[ -s "$tmp/port" ]] && break; sleep 0.05; done
port="$(cat "$tmp/port")"
base="http://127.0.0.1:$port"

for i in $(seq 1 60); do echo "item $i" > "$tmp/data/item_$i.txt"; done
flow() {  # flow NAME KEY_ENV DATASET
  cat > "$tmp/$1.loomflow" <<EOF
{"format": "loom.flow/1", "name": "$1",
 "nodes": [
  {"id": "src", "type": "storage.list", "params": {"uri": "$tmp/data"}},
  {"id": "ask", "type": "model.llm", "params": {"model": "gpt-4o-mini", "prompt": "Describe {{name}} for $1",
     "base_url": "$base/v1", "api_key_env": "$2", "concurrency": 4, "max_tokens": 20, "retry_base_seconds": 0.05}},
  {"id": "claude", "type": "model.llm", "params": {"provider": "anthropic", "model": "claude-3-5-haiku-latest",
     "prompt": "Summarise {{name}} for $1", "output": "summary", "base_url": "$base/v1", "api_key_env": "$2",
     "concurrency": 4, "max_tokens": 20, "retry_base_seconds": 0.05}},
  {"id": "vec", "type": "model.embed", "params": {"model": "text-embedding-3-small", "input": "{{name}} for $1",
     "base_url": "$base/v1", "api_key_env": "$2"}},
  {"id": "out", "type": "dataset.save", "params": {"name": "$3"}}],
 "edges": [{"from": "src", "to": "ask"}, {"from": "ask", "to": "claude"}, {"from": "claude", "to": "vec"},
           {"from": "vec", "to": "out"}]}
EOF
}
n=0
cli_run() {  # cli_run ARGS...: runs loom-cli, keeping its stdout and stderr; returns its exit code
  n=$((n + 1))
  local rc=0
  "$cli" "$@" > "$logs/$n.out" 2> "$logs/$n.err" || rc=$?
  return $rc
}

flow good LOOM_SECRET_KEY described
flow wrong LOOM_WRONG_KEY rejected
rc=0; cli_run run "$tmp/good.loomflow" --json || rc=$?
check "a model flow with the right key runs (exit $rc)" test "$rc" = 0
rc=0; cli_run run "$tmp/wrong.loomflow" --json || rc=$?
check "a model flow with a wrong key runs, every row an HTTP 401 error (exit $rc)" \
  bash -c "test $rc = 0 && grep -q 'HTTP 401' <('$cli' --json show rejected --limit 5)"
# Server faults whose bodies are errors: their text reaches row errors, the key must not.
curl -s -X POST "$base/_faults" -d '{"kind": "500", "count": 3}' > /dev/null
curl -s -X POST "$base/_faults" -d '{"kind": "malformed", "count": 3}' > /dev/null
sed -i 's/Describe {{name}} for good/Describe {{name}} again/' "$tmp/good.loomflow"
cli_run run "$tmp/good.loomflow" --json || true
# Killed and crashed mid-run: whatever a crash prints goes to the logs searched below.
for sig in KILL SEGV ABRT; do
  sed -i "s/Describe {{name}}[^\"]*\"/Describe {{name}} $sig\"/" "$tmp/good.loomflow"
  n=$((n + 1))
  # Under a sanitizer build the signal must crash the process as it would anywhere, not become a report.
  ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_segv=0:handle_abort=0" "$cli" run "$tmp/good.loomflow" > "$logs/$n.out" 2> "$logs/$n.err" &
  pid=$!
  sleep 0.4
  kill -s "$sig" "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rc=0; cli_run run "$tmp/good.loomflow" || rc=$?
  check "after SIG$sig the re-run completes (exit $rc)" test "$rc" = 0
done
# The wrong key's calls were asked for (not answered from the cache) and refused.
check "the server refused the wrong key's calls" \
  test "$(curl -s "$base/_stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['by_status'].get('401', 0))")" -ge 60
# A key pasted into a --param is refused, and the refusal does not repeat it.
rc=0; cli_run run "$tmp/good.loomflow" --param "ask.prompt=use $LOOM_SECRET_KEY" || rc=$?
check "a key in --param is refused (exit $rc)" bash -c "test $rc -ne 0 && grep -qi 'key' '$logs/$n.err'"
cli_run validate "$tmp/good.loomflow" || true
cli_run --json show described --limit 100 || true
cli_run export described --format jsonl --out "$tmp/described.jsonl" || true
cli_run export rejected --format csv --out "$tmp/rejected.csv" || true
cli_run --json lineage described --row 3 || true
cli_run --json cost || true
cli_run datasets || true
check "the exports were written" test -s "$tmp/described.jsonl" -a -s "$tmp/rejected.csv"
check "the catalog holds the answers and the ledger" \
  test "$(sqlite3 "$LOOM_HOME/catalog.db" 'SELECT count(*) FROM model_calls')" -gt 100

# Every file under the test's folder, binary ones included, searched for every key.
leaks=""
for s in "${secrets[@]}"; do
  found=$(grep -rlaF -- "$s" "$tmp" 2>/dev/null || true)
  [[ -n "$found" ]] && leaks+="$s in: $found"$'\n'
done
files=$(find "$tmp" -type f | wc -l)
bytes=$(du -sb "$tmp" | cut -f1)
check "no key appears in any of $files files ($bytes bytes: catalog, caches, flows, exports, logs, crash output)" \
  test -z "$leaks"
[[ -z "$leaks" ]] || printf '     %s' "$leaks"
finish

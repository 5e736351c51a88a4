#!/usr/bin/env bash
# Listing a bucket of N objects (default 100,000 in 100 prefixes): `loom-cli index --no-probe s3://…`
# (listing + catalog write) vs `aws s3 ls --recursive` (the official AWS CLI) vs `rclone lsjson -R
# --no-mimetype --use-server-modtime` (listing only: without those flags rclone sends a HEAD per object),
# against the same s3rver, in two settings:
#   loopback  s3rver itself on 127.0.0.1: the server's own speed bounds everyone
#   distant   through tests/support/s3_sigv4_proxy.py with LATENCY_MS (default 50) added to every
#             request, standing for S3 across a network, where round trips dominate
# Each tool runs RUNS times (default 3) per setting; medians are reported. Loom's time to the first
# object visible in the catalog is taken from a reader polling the catalog while it indexes.
#
#   bench/s3_list.sh LOOM_CLI RESULTS_DIR WORK_DIR [N]
#
# Writes RESULTS_DIR/s3_list.json. Needs node + tests/support/node (scripts/install-deps.sh),
# /usr/bin/aws, rclone, python3, /usr/bin/time.

set -euo pipefail
LOOM=$1
RES=$2
WORK=$3
N=${4:-100000}
PREFIXES=${PREFIXES:-100}
RUNS=${RUNS:-3}
LATENCY_MS=${LATENCY_MS:-50}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
S3RVER=$ROOT/tests/support/node/node_modules/.bin/s3rver
for need in "$S3RVER" /usr/bin/aws /usr/bin/time; do
  [ -x "$need" ] || { echo "bench/s3_list.sh: $need is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
command -v rclone > /dev/null || { echo "bench/s3_list.sh: rclone is missing (scripts/install-deps.sh)" >&2; exit 1; }

DATA=$WORK/s3data
mkdir -p "$RES" "$WORK/s3tmp"
if [ "$(cat "$DATA/.made" 2>/dev/null)" != "$N $PREFIXES" ]; then
  rm -rf "$DATA"
  python3 "$ROOT/bench/make_s3_bucket.py" "$DATA" bench --objects "$N" --prefixes "$PREFIXES"
  echo "$N $PREFIXES" > "$DATA/.made"
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done; wait 2> /dev/null || true; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 300); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2)' "$1" 2> /dev/null && return 0
    sleep 0.05
  done
  echo "bench/s3_list.sh: nothing listens on $1" >&2; exit 1
}
UP=$(free_port)
NODE_OPTIONS=--openssl-legacy-provider node "$S3RVER" --directory "$DATA" --address 127.0.0.1 --port "$UP" --silent \
  > "$WORK/s3tmp/s3rver.log" 2>&1 &
pids+=($!)
wait_port "$UP"
PROXY_PORT=$(free_port)
python3 "$ROOT/tests/support/s3_sigv4_proxy.py" --upstream "http://127.0.0.1:$UP" --access-key S3RVER --secret-key S3RVER \
  --port "$PROXY_PORT" --latency-ms "$LATENCY_MS" > /dev/null 2>&1 &
pids+=($!)
wait_port "$PROXY_PORT"

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_CA_BUNDLE AWS_PROFILE  # rclone refuses a custom CA bundle for a plain-http endpoint
export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=S3RVER \
  RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=S3RVER RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true RCLONE_CONFIG=/dev/null
T=$WORK/s3tmp

# time_one NAME CMD: wall seconds and peak RSS (KB) of one run, appended to $T/NAME.runs
time_one() {
  /usr/bin/time -f '%e %M' -o "$T/time.out" bash -c "$2" > "$T/$1.stdout" 2> "$T/$1.stderr" || {
    echo "bench/s3_list.sh: $1 failed: $(tail -3 "$T/$1.stderr")" >&2; exit 1; }
  cat "$T/time.out" >> "$T/$1.runs"
}

for setting in loopback distant; do
  if [ $setting = loopback ]; then EP=http://127.0.0.1:$UP; else EP=http://127.0.0.1:$PROXY_PORT; fi
  export AWS_ENDPOINT_URL=$EP RCLONE_CONFIG_BENCH_ENDPOINT=$EP
  rm -f "$T/$setting".*.runs
  for run in $(seq 1 "$RUNS"); do
    rm -f "$T/cat.db" "$T/cat.db-wal" "$T/cat.db-shm"
    time_one "$setting.loom" "'$LOOM' --catalog '$T/cat.db' index --no-probe s3://bench"
    [ "$(sqlite3 "$T/cat.db" 'SELECT count(*) FROM objects')" = "$N" ] || { echo "loom listed the wrong count" >&2; exit 1; }
    time_one "$setting.aws" "/usr/bin/aws s3 ls --recursive s3://bench --endpoint-url '$EP'"
    [ "$(wc -l < "$T/$setting.aws.stdout")" = "$N" ] || { echo "aws listed the wrong count" >&2; exit 1; }
    time_one "$setting.rclone" "rclone lsjson -R --files-only --no-mimetype --use-server-modtime bench:bench"
    [ "$(grep -c '"Path"' "$T/$setting.rclone.stdout")" = "$N" ] || { echo "rclone listed the wrong count" >&2; exit 1; }
  done
  # Time to the first object a reader of the catalog can see (the GUI's view), one more Loom run.
  rm -f "$T/cat.db" "$T/cat.db-wal" "$T/cat.db-shm"
  python3 - "$LOOM" "$T/cat.db" > "$T/$setting.first" <<'EOF'
import sqlite3, subprocess, sys, time
loom, cat = sys.argv[1], sys.argv[2]
t0 = time.monotonic()
p = subprocess.Popen([loom, "--catalog", cat, "index", "--no-probe", "s3://bench"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
first = None
while first is None and p.poll() is None:
    try:
        db = sqlite3.connect("file:%s?mode=ro" % cat, uri=True, timeout=0.05)
        if db.execute("SELECT count(*) FROM objects").fetchone()[0] > 0:
            first = time.monotonic() - t0
        db.close()
    except sqlite3.Error:
        pass
    time.sleep(0.01)
p.wait()
print("%.3f" % (first if first is not None else time.monotonic() - t0))
EOF
done

python3 - "$T" "$RES/s3_list.json" "$N" "$PREFIXES" "$RUNS" "$LATENCY_MS" "$ROOT" <<'EOF'
import json, statistics, subprocess, sys, datetime
T, out, n, prefixes, runs, latency, root = sys.argv[1:8]
res = {"objects": int(n), "prefixes": int(prefixes), "runs": int(runs), "latency_ms": float(latency),
       "measured_at": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")}
try:
    res["commit"] = subprocess.check_output(["git", "-C", root, "rev-parse", "--short", "HEAD"], text=True).strip()
    res["aws_version"] = subprocess.check_output(["/usr/bin/aws", "--version"], text=True).split()[0]
    res["rclone_version"] = subprocess.check_output(["rclone", "version"], text=True).split("\n")[0]
except Exception:
    pass
for setting in ("loopback", "distant"):
    s = {}
    for tool in ("loom", "aws", "rclone"):
        rows = [l.split() for l in open("%s/%s.%s.runs" % (T, setting, tool)) if l.strip()]
        secs = [float(r[0]) for r in rows]
        s[tool] = {"seconds": statistics.median(secs), "all_seconds": secs,
                   "rss_mb": max(int(r[1]) for r in rows) / 1024.0}
    s["loom_first_object_seconds"] = float(open("%s/%s.first" % (T, setting)).read())
    s["loom_vs_aws"] = s["aws"]["seconds"] / s["loom"]["seconds"]
    s["loom_vs_rclone"] = s["rclone"]["seconds"] / s["loom"]["seconds"]
    res[setting] = s
json.dump(res, open(out, "w"), indent=2)
print(json.dumps(res, indent=2))
EOF

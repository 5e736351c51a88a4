#!/usr/bin/env bash
# loom-cli on az:// against azurite (Microsoft's Azure Storage emulator) on loopback: index a
# container of real media, run a flow storage.list az:// -> media.probe -> dataset.save, and check
# errors and the catalog for leaked secrets. azurite comes from scripts/install-deps.sh.
set -uo pipefail
CLI=${1:?usage: test_azure.sh path/to/loom-cli}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
AZURITE="$ROOT/tests/support/node/node_modules/.bin/azurite-blob"
if [ ! -x "$AZURITE" ]; then
  echo "FAIL: azurite is not installed ($AZURITE is missing): run scripts/install-deps.sh" >&2
  exit 1
fi
T=$(mktemp -d /tmp/loom-azure-test.XXXXXX)
AZ_PID=""
cleanup() {
  [ -n "$AZ_PID" ] && kill "$AZ_PID" 2>/dev/null && wait "$AZ_PID" 2>/dev/null
  [ -n "${LOOM_KEEP_TEST_DIR:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }
check() { local desc=$1; shift; if "$@"; then ok; else bad "$desc"; fi; }
py() { python3 -c "$@"; }

# ---- azurite on a port it picks itself (--blobPort 0 prints the port it got) ---------------------
"$AZURITE" --blobHost 127.0.0.1 --blobPort 0 --inMemoryPersistence --extentMemoryLimit 256 \
  --disableTelemetry --silent >"$T/azurite.log" 2>&1 &
AZ_PID=$!
PORT=""
for _ in $(seq 1 300); do
  PORT=$(grep -o 'listens on http://127.0.0.1:[0-9]*' "$T/azurite.log" 2>/dev/null | grep -o '[0-9]*$')
  [ -n "$PORT" ] && break
  kill -0 "$AZ_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$PORT" ]; then
  echo "FAIL: azurite did not start (run scripts/install-deps.sh to reinstall it):" >&2
  cat "$T/azurite.log" >&2
  exit 1
fi
ENDPOINT="http://127.0.0.1:$PORT/devstoreaccount1"
KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
blob() { python3 "$ROOT/tests/support/azure_blob.py" --endpoint "$ENDPOINT" "$@"; }
export LOOM_READ_CACHE_DIR="$T/cache"
unset AZURE_STORAGE_CONNECTION_STRING AZURE_STORAGE_ACCOUNT AZURE_STORAGE_KEY AZURE_STORAGE_SAS_TOKEN \
  AZURE_STORAGE_BLOB_ENDPOINT

# ---- real media, uploaded by another client ---------------------------------------------------------
M="$T/media"; mkdir -p "$M"
ffq() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@" </dev/null; }
ffq -f lavfi -i testsrc2=size=320x240:rate=1 -frames:v 1 "$M/frame.jpg"
ffq -f lavfi -i sine=frequency=440:sample_rate=22050:duration=1.5 "$M/tone.wav"
ffq -f lavfi -i testsrc2=size=160x120:rate=25:duration=2 -f lavfi -i sine=sample_rate=48000:duration=2 \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest -movflags +faststart "$M/clip.mp4"
blob create-container media >/dev/null
blob put media "photos/frame.jpg" "$M/frame.jpg"
blob put media "audio/tone.wav" "$M/tone.wav"
blob put media "clips/short clip #1.mp4" "$M/clip.mp4"
SIZES=$(stat -c '%s' "$M/frame.jpg" "$M/tone.wav" "$M/clip.mp4" | paste -sd, -)

export AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$KEY;BlobEndpoint=$ENDPOINT;"
C="$T/c.db"

# ---- index ------------------------------------------------------------------------------------------
out=$("$CLI" --catalog "$C" index az://media --json 2>"$T/err"); rc=$?
check "index az:// exits 0 ($(cat "$T/err"))" test $rc -eq 0
check "index az:// lists and probes the three blobs" py "
import json,sys; j=json.loads(sys.argv[1]); assert j['objects']==3 and j['errors']==0 and j['probed']==3, j" "$out"
check "index az:// stores sizes and probe columns a person would check" py "
import sqlite3
db = sqlite3.connect('$C')
rows = {r[0]: r for r in db.execute('select uri, name, size, width, height, duration, sample_rate, error from objects')}
jpg, wav, mp4 = (int(s) for s in '$SIZES'.split(','))
r = rows['az://media/photos/frame.jpg']; assert r[1:5] == ('frame.jpg', jpg, 320, 240) and r[7] is None, r
r = rows['az://media/audio/tone.wav']; assert r[2] == wav and abs(r[5] - 1.5) < 0.05 and r[6] == 22050 and r[7] is None, r
r = rows['az://media/clips/short%20clip%20%231.mp4']
assert r[1:5] == ('short clip #1.mp4', mp4, 160, 120) and abs(r[5] - 2.0) < 0.1 and r[7] is None, r
"
out=$("$CLI" --catalog "$C" index az://media --json 2>/dev/null)
check "re-index of az:// finds everything unchanged and probes nothing" py "
import json,sys; j=json.loads(sys.argv[1]); assert j['unchanged']==3 and j['probed']==0, j" "$out"
out=$("$CLI" --catalog "$C" index az://media/clips --json 2>/dev/null)
check "index of an az:// prefix takes only the blobs under it" py "
import json,sys; j=json.loads(sys.argv[1]); assert j['objects']==1, j" "$out"

# ---- a flow over az:// ------------------------------------------------------------------------------
cat > "$T/flow.loomflow" <<EOF
{"format": "loom.flow/1", "name": "azure-media",
 "nodes": [
  {"id": "src", "type": "storage.list", "params": {"uri": "az://media", "glob": "**/*.{jpg,mp4}"}},
  {"id": "meta", "type": "media.probe", "params": {}},
  {"id": "out", "type": "dataset.save", "params": {"name": "az_media"}}],
 "edges": [{"from": "src", "to": "meta"}, {"from": "meta", "to": "out"}]}
EOF
out=$("$CLI" --catalog "$C" run "$T/flow.loomflow" --json 2>"$T/err"); rc=$?
check "flow storage.list az:// -> media.probe -> dataset.save exits 0 ($(cat "$T/err"))" test $rc -eq 0
check "flow over az:// saves the two matching blobs" py "
import json,sys; j=json.loads(sys.argv[1])
assert j['status']=='succeeded' and j['rows_failed']==0 and j['outputs']==[{'dataset':'az_media','version':1,'rows':2}], j" "$out"
out=$("$CLI" --catalog "$C" show az_media --json 2>/dev/null)
check "show of the az:// dataset has uri, etag, size and probe columns" py "
import json,sys; j=json.loads(sys.argv[1])
rows = {r['uri']: r for r in j['rows']}
jpg, wav, mp4 = (int(s) for s in '$SIZES'.split(','))
r = rows['az://media/photos/frame.jpg']; assert (r['size'], r['width'], r['height']) == (jpg, 320, 240) and r['etag'], r
r = rows['az://media/clips/short%20clip%20%231.mp4']
assert (r['size'], r['width'], r['height']) == (mp4, 160, 120) and abs(r['duration'] - 2.0) < 0.1 and r['error'] is None, r
" "$out"

"$CLI" --catalog "$C" export az_media --format jsonl --out az://media/exports/az_media.jsonl >/dev/null 2>"$T/err"
check "export to az:// writes a blob the other client reads back ($(cat "$T/err"))" py "
import json,sys; rows=[json.loads(l) for l in sys.stdin]
assert len(rows)==2 and all(r['uri'].startswith('az://media/') for r in rows), rows" \
  < <(blob get media exports/az_media.jsonl)

# ---- SAS token instead of the key -------------------------------------------------------------------
SAS=$(blob sas media --permissions rl --expiry 2099-01-01T00:00:00Z)
SIG=$(py "import sys, urllib.parse; print(urllib.parse.parse_qs(sys.argv[1])['sig'][0])" "$SAS")
out=$(env -u AZURE_STORAGE_CONNECTION_STRING AZURE_STORAGE_BLOB_ENDPOINT="$ENDPOINT" AZURE_STORAGE_SAS_TOKEN="$SAS" \
  "$CLI" --catalog "$T/sas.db" index az://media --json 2>/dev/null)
check "index az:// with a read-only SAS token" py "
import json,sys; j=json.loads(sys.argv[1]); assert j['objects']==4 and j['errors']==0, j" "$out"

# ---- errors: clear, right exit code, no secrets -----------------------------------------------------
WRONG="V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc="
out=$(AZURE_STORAGE_CONNECTION_STRING="AccountName=devstoreaccount1;AccountKey=$WRONG;BlobEndpoint=$ENDPOINT" \
  "$CLI" --catalog "$T/wrong.db" index az://media --json 2>/dev/null); rc=$?
check "a wrong key exits 1 with permission_denied naming account, credential and action, not the key" py "
import json,sys; j=json.loads(sys.argv[1]); e=j['error']; m=e['message']
assert e['kind']=='permission_denied', j
assert 'devstoreaccount1' in m and 'AccountKey in AZURE_STORAGE_CONNECTION_STRING' in m and 'List Blobs' in m, m
assert sys.argv[2] not in m and sys.argv[3] not in m, m" "$out" "$WRONG" "$KEY"
check "wrong key exit code is 1" test $rc -eq 1
out=$(env -u AZURE_STORAGE_CONNECTION_STRING AZURE_STORAGE_BLOB_ENDPOINT="$ENDPOINT" \
  AZURE_STORAGE_SAS_TOKEN="$(blob sas media --permissions rl --expiry 2020-01-01T00:00:00Z)" \
  "$CLI" --catalog "$T/expired.db" index az://media --json 2>/dev/null)
check "an expired SAS token says it has expired" py "
import json,sys; m=json.loads(sys.argv[1])['error']['message']; assert 'SAS token has expired' in m and 'sig=' not in m, m" "$out"
out=$("$CLI" --catalog "$C" index az://no-such-container --json 2>/dev/null); rc=$?
check "a missing container is not_found (exit 2) naming container and account" py "
import json,sys; e=json.loads(sys.argv[1])['error']
assert e['kind']=='not_found' and \"container 'no-such-container' does not exist in account 'devstoreaccount1'\" in e['message'], e
assert $rc == 2, $rc" "$out"
check "neither the key nor the SAS signature is stored in the catalog or the flow" \
  bash -c "! grep -qaF -e '$KEY' -e '$SIG' '$C' '$T/sas.db' '$T/flow.loomflow'"

echo "test_azure: $pass passed, $fail failed"
[ $fail -eq 0 ]

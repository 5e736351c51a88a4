#!/usr/bin/env bash
# End-to-end test of s3:// through loom-cli, against s3rver behind the signature-checking proxy
# (tests/support/s3_sigv4_proxy.py): media uploaded with the official AWS CLI, credentials from an
# AWS profile with its own endpoint_url, `index`, a flow that reads a bucket and a local folder
# side by side, thumbnails, export to a bucket, and errors that name the problem and never the
# secret.
#
#   tests/cli/test_s3.sh LOOM_CLI
#
# Needs node (tests/support/node, from scripts/install-deps.sh), python3, ffmpeg and /usr/bin/aws.
# Prints "s3: N passed, M failed" last and exits non-zero when any check fails.

set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" s3 "$@"
s3rver="$repo/tests/support/node/node_modules/.bin/s3rver"
for need in "$s3rver" /usr/bin/aws; do
  [[ -x "$need" ]] || { echo "s3: $need is missing: run scripts/install-deps.sh" >&2; exit 1; }
done
export LOOM_HOME="$tmp/home"
export LOOM_THUMBNAIL_CACHE="$tmp/thumbs"
export LOOM_READ_CACHE_DIR="$tmp/readcache"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_REGION \
  AWS_DEFAULT_REGION AWS_PROFILE AWS_DEFAULT_PROFILE AWS_CA_BUNDLE
KEY_ID="AKIALOOMTEST0000001"
SECRET="loom-test-secret-9f8e7d6c5b4a"

# --- servers -----------------------------------------------------------------------------------
up=$(free_port)
NODE_OPTIONS=--openssl-legacy-provider node "$s3rver" --directory "$tmp/s3data" --address 127.0.0.1 --port "$up" \
  --configure-bucket media --configure-bucket exports --silent > "$tmp/s3rver.log" 2>&1 &
bg_pids+=($!)
wait_port "$up"
python3 "$repo/tests/support/s3_sigv4_proxy.py" --upstream "http://127.0.0.1:$up" --access-key "$KEY_ID" \
  --secret-key "$SECRET" --port 0 --port-file "$tmp/proxy.port" > /dev/null 2>&1 &
bg_pids+=($!)
for _ in $(seq 1 200); do [[ -s "$tmp/proxy.port" ]] && break; sleep 0.05; done
endpoint="http://127.0.0.1:$(cat "$tmp/proxy.port")"
stats() { curl -s "$endpoint/_loom/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# Credentials the way AWS users keep them: a named profile, with the endpoint in the config file.
mkdir -p "$tmp/aws"
printf '[loomtest]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$KEY_ID" "$SECRET" > "$tmp/aws/credentials"
printf '[profile loomtest]\nregion = us-east-1\ns3 =\n  endpoint_url = %s\n' "$endpoint" > "$tmp/aws/config"
export AWS_SHARED_CREDENTIALS_FILE="$tmp/aws/credentials" AWS_CONFIG_FILE="$tmp/aws/config" AWS_PROFILE=loomtest
aws() { /usr/bin/aws --endpoint-url "$endpoint" "$@"; }

# --- fixtures: real media, uploaded by the AWS CLI ---------------------------------------------------
assets="$tmp/assets"
mkdir -p "$assets/clips"
ffmpeg -v error -f lavfi -i testsrc2=size=640x480:rate=1 -frames:v 1 "$assets/photo one.jpg"
ffmpeg -v error -f lavfi -i testsrc2=size=320x240:rate=25 -t 2 -pix_fmt yuv420p "$assets/clips/clip.mp4"
ffmpeg -v error -f lavfi -i sine=frequency=440:duration=1.5 "$assets/clips/tone.wav"
head -c 3000 /dev/urandom > "$assets/broken.jpg"
if aws s3 cp --quiet --recursive "$assets" s3://media/raw/ 2> "$tmp/aws.err"; then
  pass "the AWS CLI uploads through the signature-checking proxy"
else
  fail "aws s3 cp: $(cat "$tmp/aws.err")"
fi

# --- index -------------------------------------------------------------------------------------
if "$cli" --json index s3://media/raw > "$tmp/index.json" 2> "$tmp/index.err"; then
  pass "index s3://media/raw"
else
  fail "index s3://media/raw: $(cat "$tmp/index.err")"
fi
python3 - "$tmp/index.json" <<'EOF' && pass "index found 4 objects and probed them" || fail "index result: $(cat "$tmp/index.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["objects"] == 4 and r["probed"] == 4, r
EOF

# --- a flow over a bucket and a local folder side by side --------------------------------------
cat > "$tmp/mixed.loomflow" <<EOF
{
  "format": "loom.flow/1",
  "nodes": [
    {"id": "bucket", "type": "storage.list", "params": {"uri": "s3://media/raw", "glob": "**/*.{jpg,mp4,wav}"}},
    {"id": "bmeta", "type": "media.probe", "params": {}},
    {"id": "bthumb", "type": "media.thumbnail", "params": {}},
    {"id": "bout", "type": "dataset.save", "params": {"name": "from_bucket"}},
    {"id": "local", "type": "storage.list", "params": {"uri": "file://$assets", "glob": "**/*.{jpg,mp4,wav}"}},
    {"id": "lmeta", "type": "media.probe", "params": {}},
    {"id": "lout", "type": "dataset.save", "params": {"name": "from_disk"}}
  ],
  "edges": [
    {"from": "bucket", "to": "bmeta"}, {"from": "bmeta", "to": "bthumb"}, {"from": "bthumb", "to": "bout"},
    {"from": "local", "to": "lmeta"}, {"from": "lmeta", "to": "lout"}
  ]
}
EOF
if "$cli" run "$tmp/mixed.loomflow" > "$tmp/run.out" 2> "$tmp/run.err"; then
  pass "a flow reading s3:// and file:// runs"
else
  fail "mixed flow: $(cat "$tmp/run.err")"
fi
"$cli" --json show from_bucket --limit 100 > "$tmp/bucket.json" 2>> "$tmp/run.err" || true
"$cli" --json show from_disk --limit 100 > "$tmp/disk.json" 2>> "$tmp/run.err" || true
python3 - "$tmp/bucket.json" "$tmp/disk.json" <<'EOF' && pass "bucket rows match the same files on disk (size, probe columns; broken file is a row error)" || fail "bucket vs disk rows differ"
import json, sys
b = {r["name"]: r for r in json.load(open(sys.argv[1]))["rows"]}
d = {r["name"]: r for r in json.load(open(sys.argv[2]))["rows"]}
assert set(b) == set(d) == {"photo one.jpg", "clip.mp4", "tone.wav", "broken.jpg"}, (set(b), set(d))
for name in b:
    for col in ("size", "mime", "width", "height", "duration", "sample_rate"):
        assert b[name].get(col) == d[name].get(col), (name, col, b[name].get(col), d[name].get(col))
assert b["photo one.jpg"]["uri"] == "s3://media/raw/photo%20one.jpg", b["photo one.jpg"]["uri"]
assert b["photo one.jpg"]["width"] == 640 and b["clip.mp4"]["height"] == 240
assert abs(b["tone.wav"]["duration"] - 1.5) < 0.05
assert b["broken.jpg"]["error"], b["broken.jpg"]
assert not b["photo one.jpg"]["error"] and not b["clip.mp4"]["error"]
for name in ("photo one.jpg", "clip.mp4", "tone.wav"):
    assert b[name].get("thumbnail"), (name, b[name])
EOF

# A second run of the unchanged flow reads nothing from the bucket but the listing.
before_gets=$(stats gets)
"$cli" run "$tmp/mixed.loomflow" > /dev/null 2> "$tmp/run2.err" || fail "second run: $(cat "$tmp/run2.err")"
after_gets=$(stats gets)
[[ "$after_gets" == "$before_gets" ]] && pass "re-running the unchanged flow downloads nothing ($before_gets GETs before and after)" \
  || fail "re-run sent $((after_gets - before_gets)) GETs"

# --- thumbnail of one object -------------------------------------------------------------------
if "$cli" thumbnail "s3://media/raw/photo%20one.jpg" --size 128 --out "$tmp/t.jpg" > /dev/null 2> "$tmp/thumb.err" &&
   [[ "$(ffprobe -v error -select_streams v -show_entries stream=width,height -of csv=p=0 "$tmp/t.jpg")" == "128,96" ]]
then pass "thumbnail of an s3:// photo is 128x96"; else fail "thumbnail: $(cat "$tmp/thumb.err")"; fi

# --- export to a bucket ------------------------------------------------------------------------
"$cli" export from_bucket --format jsonl --out "$tmp/local.jsonl" > /dev/null
if "$cli" export from_bucket --format jsonl --out s3://exports/runs/from_bucket.jsonl > /dev/null 2> "$tmp/exp.err" &&
   aws s3 cp --quiet s3://exports/runs/from_bucket.jsonl "$tmp/back.jsonl" && cmp -s "$tmp/local.jsonl" "$tmp/back.jsonl"; then
  pass "export to s3:// is byte-identical to a local export (read back with the AWS CLI)"
else
  fail "export to s3: $(cat "$tmp/exp.err" 2>/dev/null)"
fi

# --- errors ------------------------------------------------------------------------------------
if "$cli" index s3://nosuchbucket > /dev/null 2> "$tmp/nb.err"; then
  fail "indexing a missing bucket succeeded"
else
  grep -q "bucket 'nosuchbucket' does not exist" "$tmp/nb.err" && pass "a missing bucket is named" || fail "missing bucket: $(cat "$tmp/nb.err")"
fi
printf '[loomtest]\naws_access_key_id = %s\naws_secret_access_key = wrong-%s\n' "$KEY_ID" "$SECRET" > "$tmp/aws/credentials"
if "$cli" index s3://media/raw > /dev/null 2> "$tmp/bad.err"; then
  fail "a wrong secret key was accepted"
else
  grep -q "does not match the access key" "$tmp/bad.err" && grep -q "profile 'loomtest'" "$tmp/bad.err" &&
    pass "a wrong secret names the profile it came from" || fail "wrong secret: $(cat "$tmp/bad.err")"
fi
if grep -rqa -- "$SECRET" "$LOOM_HOME" "$tmp"/*.err "$tmp"/*.out "$tmp"/*.json "$tmp/mixed.loomflow"; then
  fail "the secret key appears in the catalog, a flow or the output"
else
  pass "the secret key is in no catalog, flow, output or error"
fi
[[ "$(stats signature_failures)" == "1" ]] && pass "every signed request verified except the one with the wrong secret" \
  || fail "signature failures: $(stats signature_failures)"

finish

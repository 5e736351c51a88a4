#!/usr/bin/env bash
# End-to-end test of http(s) URL lists through loom-cli against the local HTTP fixture server
# (tests/support/http_fixture_server.py) on loopback: a CSV and a JSONL of 200 URLs — real JPEGs and
# MP4s made with ffmpeg, some missing, forbidden, failing, dropped, redirecting, slow, one malformed —
# run through storage.urls -> media.probe -> dataset.save. The broken ones must be flagged with their
# status and error, the good ones probed (width, height, duration), and the run must succeed. Then
# `loom-cli index` of a single https-style URL.
#
#   tests/cli/test_urls.sh LOOM_CLI
#
# Needs python3 (stdlib only) and ffmpeg. Prints "urls: N passed, M failed" last and exits non-zero
# when any check fails.

set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" urls "$@"
export LOOM_HOME="$tmp/home"
export LOOM_READ_CACHE_DIR="$tmp/readcache"
export LOOM_THUMBNAIL_CACHE="$tmp/thumbcache"

# --- fixtures: 8 JPEGs of different sizes and 2 MP4s, copied under 150 + 10 names -----------------
www="$tmp/www"
mkdir -p "$www/photos" "$www/clips" "$tmp/src"
ffq() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@" </dev/null; }
sizes=(640x480 800x600 320x240 1024x768 480x640 1280x720 200x200 96x64)
for i in "${!sizes[@]}"; do ffq -f lavfi -i "testsrc2=size=${sizes[$i]}:rate=1" -frames:v 1 "$tmp/src/p$i.jpg"; done
ffq -f lavfi -i testsrc2=size=320x240:rate=25 -t 2 -pix_fmt yuv420p "$tmp/src/c0.mp4"
ffq -f lavfi -i testsrc2=size=256x144:rate=25 -f lavfi -i sine=frequency=440 -t 3 -pix_fmt yuv420p -shortest \
  "$tmp/src/c1.mp4"
for n in $(seq 0 149); do cp "$tmp/src/p$((n % 8)).jpg" "$www/photos/$(printf 'p%03d' "$n").jpg"; done
for n in $(seq 0 9); do cp "$tmp/src/c$((n % 2)).mp4" "$www/clips/c$n.mp4"; done

python3 "$repo/tests/support/http_fixture_server.py" --root "$www" --port 0 --port-file "$tmp/port" > "$tmp/server.out" &
bg_pids+=($!)
for _ in $(seq 100); do [[ -s "$tmp/port" ]] && break; sleep 0.05; done
port="$(cat "$tmp/port")"
base="http://127.0.0.1:$port"
# The fixture server is on loopback, which URLs from data may reach only where the person allows it.
export LOOM_ALLOW_PRIVATE_HOSTS="127.0.0.1:$port"

# The list: id, url, expect (what the row must show), sizes for the good ones.
python3 - "$base" "$tmp" <<'PY'
import csv, json, sys
base, tmp = sys.argv[1], sys.argv[2]
sizes = ["640x480", "800x600", "320x240", "1024x768", "480x640", "1280x720", "200x200", "96x64"]
rows = []
def add(url, expect, **kw):
    rows.append(dict(id=len(rows) + 1, url=url, expect=expect, **kw))
for n in range(150):
    path = "/photos/p%03d.jpg" % n
    w, h = sizes[n % 8].split("x")
    if n % 10 == 3:
        path = "/redirect/2" + path
    elif n % 10 == 7:
        path = "/slow/150" + path
    elif n == 11:
        path = "/nohead" + path
    elif n == 21:
        path = "/norange" + path
    elif n in (31, 41):
        path = "/flaky/1" + path
    add(base + path, "image", width=int(w), height=int(h))
    if n % 8 == 5:  # interleave the broken ones
        kind = len(rows) % 5
        if kind == 0:
            add(base + "/photos/gone_%d.jpg" % n, "404")
        elif kind == 1:
            add(base + "/status/403?sig=TOPSECRET", "403")
        elif kind == 2:
            add(base + "/status/500", "500")
        elif kind == 3:
            add(base + "/reset/photos/p000.jpg", "reset")
        else:
            add(base + "/photos/gone_%d.jpg" % n, "404")
for n in range(10):
    add(base + ("/redirect/1" if n % 3 == 0 else "") + "/clips/c%d.mp4" % n, "video",
        duration=2.0 if n % 2 == 0 else 3.0)
add("not a url at all", "malformed")
add("ftp://example.com/x.jpg", "malformed")
add(base + "/clips/missing.mp4", "404")
while len(rows) < 200:
    add(base + "/photos/nothing_%d.jpg" % len(rows), "404")
with open(tmp + "/urls.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "url", "label"])
    for r in rows:
        w.writerow([r["id"], r["url"], "item, %d" % r["id"]])
with open(tmp + "/urls.jsonl", "w") as f:
    for r in rows:
        f.write(json.dumps({"id": r["id"], "url": r["url"], "label": "item, %d" % r["id"]}) + "\n")
json.dump(rows, open(tmp + "/expect.json", "w"))
PY

flow() {  # flow NAME LIST DATASET
  cat > "$tmp/$1.loomflow" <<EOF
{"format": "loom.flow/1", "name": "$1",
 "nodes": [
  {"id": "src", "type": "storage.urls", "params": {"uri": "$2", "keep": "id, label", "concurrency": 16,
     "timeout": 5, "retries": 1}},
  {"id": "meta", "type": "media.probe", "params": {}},
  {"id": "out", "type": "dataset.save", "params": {"name": "$3"}}],
 "edges": [{"from": "src", "to": "meta"}, {"from": "meta", "to": "out"}]}
EOF
}

verify() {  # verify DATASET: the rows against expect.json
  python3 - "$tmp/$1.json" "$tmp/expect.json" <<'PY'
import json, sys
shown = json.load(open(sys.argv[1]))
expect = json.load(open(sys.argv[2]))
rows = shown["rows"]
problems = []
if len(rows) != len(expect):
    problems.append("%d rows, expected %d" % (len(rows), len(expect)))
for got, want in zip(rows, expect):
    where = "row %s (%s, %s)" % (got.get("id"), want["expect"], want["url"])
    if str(got.get("id")) != str(want["id"]):
        problems.append(where + ": out of order, id %s" % got.get("id"))
        continue
    if got.get("label") != "item, %d" % want["id"]:
        problems.append(where + ": label %r" % got.get("label"))
    e = want["expect"]
    err, status = got.get("error"), got.get("status")
    if e == "image":
        if err or status != 200 or got.get("width") != want["width"] or got.get("height") != want["height"] \
                or got.get("mime") != "image/jpeg" or not got.get("etag") or not got.get("size"):
            problems.append(where + ": %r" % {k: got.get(k) for k in ("error", "status", "width", "height", "mime")})
    elif e == "video":
        d = got.get("duration") or 0
        if err or status != 200 or abs(d - want["duration"]) > 0.2 or not got.get("width"):
            problems.append(where + ": %r" % {k: got.get(k) for k in ("error", "status", "duration", "width")})
    elif e in ("404", "403", "500"):
        if status != int(e) or not err or ("HTTP " + e) not in err:
            problems.append(where + ": status %r error %r" % (status, err))
        if "TOPSECRET" in (err or ""):
            problems.append(where + ": the query string reached the error")
    elif e == "reset":
        if status is not None or not err or "no answer" not in err:
            problems.append(where + ": status %r error %r" % (status, err))
    elif e == "malformed":
        if status is not None or not err or "URL" not in err:
            problems.append(where + ": status %r error %r" % (status, err))
for p in problems[:15]:
    print("     " + p)
sys.exit(1 if problems else 0)
PY
}

broken=$(python3 -c "import json; print(sum(r['expect'] not in ('image', 'video') for r in json.load(open('$tmp/expect.json'))))")
for kind in csv jsonl; do
  flow "check_$kind" "$tmp/urls.$kind" "urls_$kind"
  start=$(date +%s.%N)
  rc=0
  "$cli" run "$tmp/check_$kind.loomflow" --json > "$tmp/run_$kind.json" 2> "$tmp/run_$kind.err" || rc=$?
  secs=$(python3 -c "print('%.2f' % ($(date +%s.%N) - $start))")
  check "$kind: the run of 200 URLs succeeds despite $broken broken ones (exit $rc, ${secs}s)" test "$rc" = 0
  [[ $rc == 0 ]] || sed 's/^/     /' "$tmp/run_$kind.err" | tail -5
  status=$(python3 -c "import json; print(json.load(open('$tmp/run_$kind.json')).get('status'))" 2>/dev/null || echo "?")
  check "$kind: run --json says succeeded (got $status)" test "$status" = succeeded
  failed_rows=$(python3 -c "import json; print(json.load(open('$tmp/run_$kind.json')).get('rows_failed'))" 2>/dev/null || echo "?")
  check "$kind: rows_failed counts the $broken broken URLs (got $failed_rows)" test "$failed_rows" = "$broken"
  "$cli" --json show "urls_$kind" --limit 1000 > "$tmp/urls_$kind.json" 2> "$tmp/show_$kind.err" || true
  check "$kind: show --json has every row in input order, broken ones flagged with status and error, good ones probed" \
    verify "urls_$kind"
done

# The second run of an unchanged list checks the URLs again (they may have changed) but makes no new version.
rc=0
"$cli" run "$tmp/check_csv.loomflow" --json > "$tmp/rerun.json" 2>/dev/null || rc=$?
version=$(python3 -c "import json; print(json.load(open('$tmp/rerun.json'))['outputs'][0]['version'])" 2>/dev/null || echo "?")
check "re-running the unchanged list keeps version 1 (exit $rc, version $version)" test "$rc:$version" = "0:1"

# A single URL indexes like a single file.
rc=0
"$cli" --json index "$base/photos/p003.jpg" > "$tmp/index.json" 2> "$tmp/index.err" || rc=$?
check "index of one http URL exits 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || sed 's/^/     /' "$tmp/index.err" | tail -5
check "index of one http URL lists and probes that one object" python3 -c "
import json, sys
r = json.load(open('$tmp/index.json'))
sys.exit(0 if r['objects'] == 1 and r['probed'] == 1 and r['errors'] == 0 else 1)"
rc=0
"$cli" index "$base/photos/nothing.jpg" > /dev/null 2> "$tmp/index404.err" || rc=$?
check "index of a missing URL fails with a message naming it and the 404 (exit $rc)" \
  bash -c "test $rc -ne 0 && grep -q 'nothing.jpg' '$tmp/index404.err' && grep -q '404' '$tmp/index404.err'"

# URLs from data reach public addresses only: the metadata service in every spelling, the private
# network, loopback on a port the person did not allow, and a redirect from an allowed server to a
# disallowed one are refused without a byte sent to them; the error says how to allow a host.
stats() { curl -s "$base/_stats" > "$tmp/$1.stats"; }
stats before
{
  echo url
  echo "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
  echo "http://2852039166/latest/meta-data/"
  echo "http://0xa9.0xfe.0xa9.0xfe/latest/meta-data/"
  echo "http://[::ffff:169.254.169.254]/latest/meta-data/"
  echo "http://[fd00:ec2::254]/latest/meta-data/"
  echo "http://10.0.0.1/internal"
  echo "http://192.168.1.1/"
  echo "http://127.0.0.1:1/"
  echo "http://[::1]:$port/photos/p000.jpg"
  echo "$base/redirect-to?url=http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data%2F"
} > "$tmp/private.csv"
printf '%s\n' '{"format": "loom.flow/1", "name": "private",' \
  ' "nodes": [' \
  "  {\"id\": \"src\", \"type\": \"storage.urls\", \"params\": {\"uri\": \"$tmp/private.csv\", \"timeout\": 5, \"retries\": 1}}," \
  '  {"id": "out", "type": "dataset.save", "params": {"name": "private_urls"}}],' \
  ' "edges": [{"from": "src", "to": "out"}]}' > "$tmp/private.loomflow"
rc=0
"$cli" run "$tmp/private.loomflow" > /dev/null 2> "$tmp/private.err" || rc=$?
check "a list of private addresses runs, each URL an error row (exit $rc)" test "$rc" = 0
"$cli" --json show private_urls --limit 100 > "$tmp/private.json" 2>/dev/null || true
check "every private, loopback and link-local URL is refused and says how to allow it" \
  python3 - "$tmp/private.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
bad = [r for r in rows if "refused to connect" not in (r.get("error") or "")
       or "LOOM_ALLOW_PRIVATE_HOSTS" not in r["error"]]
for r in bad:
    print("     ", r.get("url"), r.get("status"), r.get("error"))
meta = [r for r in rows if "169.254.169.254" in (r.get("error") or "")]
if len(rows) != 10 or bad or len(meta) < 4:
    print("      rows %d, not refused %d, naming 169.254.169.254 %d" % (len(rows), len(bad), len(meta)))
    sys.exit(1)
PY
stats after
check "the allowed server answered the redirect and was asked nothing else" python3 - "$tmp" <<'PY'
import json, sys
before, after = (json.load(open("%s/%s.stats" % (sys.argv[1], n)))["by_path"] for n in ("before", "after"))
new = {p: after[p] - before.get(p, 0) for p in after if after[p] != before.get(p, 0) and p != "/_stats"}
print("      requests since the list started:", new)
sys.exit(0 if list(new) == ["/redirect-to"] else 1)
PY
rc=0
env -u LOOM_ALLOW_PRIVATE_HOSTS "$cli" index "$base/photos/p003.jpg" > /dev/null 2> "$tmp/noallow.err" || rc=$?
check "without the allowance a loopback URL is refused, naming the setting (exit $rc)" \
  bash -c "test $rc -ne 0 && grep -q 'refused to connect to 127.0.0.1' '$tmp/noallow.err' && grep -q 'LOOM_ALLOW_PRIVATE_HOSTS=127.0.0.1:$port' '$tmp/noallow.err'"

finish

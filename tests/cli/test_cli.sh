#!/usr/bin/env bash
# End-to-end tests of loom-cli on generated fixtures: index, run, show, export, lineage, error exits,
# and kill -9 during a run followed by a re-run that completes with every row exactly once.
set -uo pipefail
CLI=${1:?usage: test_cli.sh path/to/loom-cli}
T=$(mktemp -d /tmp/loom-cli-test.XXXXXX)
trap '[ -n "${LOOM_KEEP_TEST_DIR:-}" ] || rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }
check() { local desc=$1; shift; if "$@"; then ok; else bad "$desc"; fi; }
# py EXPR-FILE ARGS: evaluates a python assertion script; exit 0 when it holds.
py() { python3 -c "$@"; }

# ---- fixture: mixed files, nested folders, odd names ------------------------------------------
python3 - "$T/data" <<'PYEOF'
import os, struct, sys, zlib
root = sys.argv[1]
def png(w, h):
    ihdr = b'IHDR' + struct.pack('>II', w, h) + b'\x08\x02\x00\x00\x00'
    iend = b'IEND'
    return (b'\x89PNG\r\n\x1a\n' + struct.pack('>I', 13) + ihdr + struct.pack('>I', zlib.crc32(ihdr)) +
            struct.pack('>I', 0) + iend + struct.pack('>I', zlib.crc32(iend)))
n = 0
for d in range(20):
    for i in range(100):
        p = os.path.join(root, f'set{d:02d}', f'img{i:03d}.png')
        os.makedirs(os.path.dirname(p), exist_ok=True)
        open(p, 'wb').write(png(64 + 16 * i, 48 + d)); n += 1
for i in range(800):
    p = os.path.join(root, 'text', f'note{i:04d}.txt')
    os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p, 'w').write(f'note {i}\n' * (i % 7 + 1)); n += 1
os.makedirs(os.path.join(root, 'odd'), exist_ok=True)
open(os.path.join(root, 'odd', 'with space & #hash.png'), 'wb').write(png(2000, 1000)); n += 1
open(os.path.join(root.encode(), b'odd', b'caf\xe9.png'), 'wb').write(png(1500, 10)); n += 1
for i in range(3):
    open(os.path.join(root, 'odd', f'broken{i}.png'), 'wb').write(png(10, 10)[:12 + 4 * i]); n += 1
PYEOF
NFILES=$(find "$T/data" -type f | wc -l)
# Per set of 100, widths 64+16i reach 1000 from i=59 on (41 images); plus the two wide odd names.
NWIDE=$(( 20 * 41 + 2 ))

cat > "$T/flow.loomflow" <<EOF
{"format": "loom.flow/1", "name": "cli-test",
 "nodes": [
  {"id": "src", "type": "storage.list", "params": {"uri": "$T/data"}},
  {"id": "meta", "type": "media.probe", "params": {}},
  {"id": "wide", "type": "table.filter", "params": {"where": "width >= 1000"}},
  {"id": "out", "type": "dataset.save", "params": {"name": "wide"}}],
 "edges": [{"from": "src", "to": "meta"}, {"from": "meta", "to": "wide"}, {"from": "wide", "to": "out"}]}
EOF
C="$T/c.db"

# ---- index ----------------------------------------------------------------------------------------
out=$("$CLI" --catalog "$C" index "$T/data" --json 2>"$T/err")
check "index --json counts every file and the broken ones" py "
import json,sys; j=json.loads(sys.argv[1]); assert j['objects']==$NFILES, j; assert j['errors']==3, j; assert j['probed']==$NFILES, j" "$out"
out=$("$CLI" index "$T/data" --json --catalog "$C" 2>/dev/null)
check "re-index finds everything unchanged and probes nothing" py "
import json,sys; j=json.loads(sys.argv[1]); assert j['unchanged']==$NFILES and j['probed']==0, j" "$out"
check "progress bar stays off when stderr is not a terminal" bash -c "! grep -q $'\r' '$T/err'"

# ---- index a folder of media, good and broken ---------------------------------------------------
M="$T/media"; MC="$T/media.db"; mkdir -p "$M"
ffq() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@" </dev/null; }
ffq -f lavfi -i testsrc2=size=640x360:rate=25:duration=3 -f lavfi -i sine=sample_rate=48000:duration=3 \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest -movflags +faststart "$M/clip.mp4"
ffq -i "$M/clip.mp4" -c copy "$M/clip-index-at-end.mov"
ffq -f lavfi -i sine=sample_rate=44100:duration=2 "$M/tone.wav"
head -c $(( $(stat -c %s "$M/clip.mp4") / 2 )) "$M/clip.mp4" > "$M/cut.mp4"
: > "$M/empty.mp4"
head -c 4096 /dev/urandom > "$M/noise.mkv"
python3 - "$M" <<'PYEOF'
import struct, sys, zlib
root = sys.argv[1]
ihdr = b'IHDR' + struct.pack('>II', 50000, 50000) + b'\x08\x02\x00\x00\x00'
open(root + '/bomb.png', 'wb').write(b'\x89PNG\r\n\x1a\n' + struct.pack('>I', 13) + ihdr + struct.pack('>I', zlib.crc32(ihdr)))
objs = [b'<< /Type /Catalog /Pages 2 0 R >>', b'<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>',
        b'<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>', b'<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>']
out, offs = bytearray(b'%PDF-1.4\n'), []
for i, o in enumerate(objs, 1):
    offs.append(len(out)); out += b'%d 0 obj\n' % i + o + b'\nendobj\n'
x = len(out)
out += b'xref\n0 5\n0000000000 65535 f \n' + b''.join(b'%010d 00000 n \n' % o for o in offs)
out += b'trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n' % x
open(root + '/a4.pdf', 'wb').write(bytes(out))
open(root + '/notes.txt', 'wb').write('Café\nZürich\n'.encode('latin-1'))
PYEOF
out=$("$CLI" --catalog "$MC" index "$M" --json 2>/dev/null); rc=$?
check "index of a media folder with broken files exits 0" test $rc -eq 0
check "index counts the 4 broken media files as errors" py "
import json,sys; j=json.loads(sys.argv[1]); assert j['objects']==9 and j['errors']==4, j" "$out"
check "index reads durations, sizes, fps, pages and encodings a person would check" py "
import sqlite3, json
db = sqlite3.connect('$MC')
rows = {r[0]: r for r in db.execute('select name, duration, width, height, fps, sample_rate, channels, pages, format, probe_json, error from objects')}
def j(n): return json.loads(rows[n][9] or '{}')
for n in ('clip.mp4', 'clip-index-at-end.mov'):
    r = rows[n]; assert r[10] is None, r
    assert abs(r[1] - 3.0) < 0.1 and (r[2], r[3], r[4], r[5]) == (640, 360, 25.0, 48000), r
    assert abs(j(n)['frames'] - 75) <= 2 and j(n)['video_codec'] == 'h264' and j(n)['audio_codec'] == 'aac', j(n)
assert rows['clip-index-at-end.mov'][8] == 'mov', rows['clip-index-at-end.mov']
t = rows['tone.wav']; assert abs(t[1] - 2.0) < 0.05 and t[5] == 44100 and t[6] == 1 and t[2] is None, t
p = rows['a4.pdf']; assert p[7] == 2 and (j('a4.pdf')['page_width'], j('a4.pdf')['page_height']) == (595, 842), (p, j('a4.pdf'))
assert (j('notes.txt')['encoding'], j('notes.txt')['lines']) == ('iso-8859-1', 2), j('notes.txt')
"
check "each broken file has an error naming it and the reason" py "
import sqlite3
db = sqlite3.connect('$MC')
err = dict(db.execute('select name, error from objects where error is not null'))
assert sorted(err) == ['bomb.png', 'cut.mp4', 'empty.mp4', 'noise.mkv'], err
for name, why in (('bomb.png', '50000x50000'), ('cut.mp4', 'cut short'), ('empty.mp4', 'empty (0 bytes)'), ('noise.mkv', 'random or damaged')):
    assert name in err[name] and why in err[name], (name, err[name])
"
python3 -c "
import sqlite3; db = sqlite3.connect('$MC'); db.execute(\"update objects set probe_version = NULL where name = 'clip.mp4'\"); db.commit()"
out=$("$CLI" --catalog "$MC" index "$M" --json 2>/dev/null)
check "re-index probes again only the object an older prober probed" py "
import json,sys; j=json.loads(sys.argv[1]); assert j['probed']==1 and j['unchanged']==9, j" "$out"

# ---- run --------------------------------------------------------------------------------------------
out=$("$CLI" --catalog "$C" run "$T/flow.loomflow" --json 2>/dev/null); rc=$?
check "run exits 0" test $rc -eq 0
check "run --json has the fixed keys and counts" py "
import json,sys; j=json.loads(sys.argv[1])
assert set(j)>={'run_id','status','outputs','rows_failed','calls','calls_cached','cost_usd'}, j
assert j['status']=='succeeded' and j['rows_failed']==3 and j['calls']==0, j
assert j['outputs']==[{'dataset':'wide','version':1,'rows':$NWIDE}], j" "$out"
out=$("$CLI" --catalog "$C" run "$T/flow.loomflow" --json 2>/dev/null)
check "unchanged re-run makes no new version" py "
import json,sys; j=json.loads(sys.argv[1]); assert j['outputs'][0]['version']==1, j" "$out"
out=$("$CLI" --catalog "$C" run "$T/flow.loomflow" --param wide.where="width >= 1900" --json 2>/dev/null)
check "--param override makes version 2 with the new filter" py "
import json,sys; j=json.loads(sys.argv[1]); assert j['outputs']==[{'dataset':'wide','version':2,'rows':1}], j" "$out"
out=$("$CLI" --catalog "$C" run "$T/flow.loomflow" --dry-run --json 2>/dev/null)
check "dry run plans without running" py "
import json,sys; j=json.loads(sys.argv[1]); assert j['status']=='dry-run' and j['run_id'] is None, j
assert [p['node'] for p in j['plan']]==['src','meta','wide','out'], j" "$out"

# ---- datasets, show, export, lineage ----------------------------------------------------------------
out=$("$CLI" --catalog "$C" datasets --json)
check "datasets lists versions and rows" py "
import json,sys; j=json.loads(sys.argv[1]); d=j['datasets'][0]
assert d['name']=='wide' and d['versions']==2 and d['latest_version']==2 and d['rows']==1, j" "$out"
out=$("$CLI" --catalog "$C" show wide@1 --limit 5 --json)
check "show --json has dataset, version, columns and row objects" py "
import json,sys; j=json.loads(sys.argv[1])
assert j['dataset']=='wide' and j['version']==1 and len(j['rows'])==5, j.keys()
for c in ['uri','etag','size','mtime','mime','width','height','error']: assert c in j['columns'], c
r=j['rows'][0]; assert r['width']>=1000 and r['mime']=='image/png' and r['uri'].startswith('file:///'), r" "$out"
"$CLI" --catalog "$C" export wide@1 --format jsonl --out "$T/wide.jsonl" >/dev/null
check "export jsonl writes one row object per line" py "
import json; rows=[json.loads(l) for l in open('$T/wide.jsonl')]
assert len(rows)==$NWIDE; assert all(r['width']>=1000 for r in rows)
assert any(r['name']=='with space & #hash.png' and '%20' in r['uri'] for r in rows)
assert any(r['uri'].endswith('caf%E9.png') for r in rows), 'non-UTF-8 name kept losslessly in the uri'"
"$CLI" --catalog "$C" export wide@1 --format csv --out "$T/wide.csv" >/dev/null
check "export csv parses back with the same rows" py "
import csv; rows=list(csv.DictReader(open('$T/wide.csv', newline='')))
assert len(rows)==$NWIDE and 'uri' in rows[0] and 'width' in rows[0]
assert any(r['name']=='with space & #hash.png' for r in rows)"
out=$("$CLI" --catalog "$C" lineage wide@2 --row 1 --json)
check "row lineage ends at the source object" py "
import json,sys; j=json.loads(sys.argv[1])
assert j['source']['uri'].endswith('with%20space%20%26%20%23hash.png'), j['source']
assert [s['label'].split(' ')[0] for s in j['steps']]==['wide@2','wide','meta','src'], j['steps']" "$out"
out=$("$CLI" --catalog "$C" lineage wide --json)
check "dataset lineage names run, inputs and nodes" py "
import json,sys; j=json.loads(sys.argv[1])
assert j['run']['status']=='succeeded' and j['inputs'][0]['kind']=='source' and len(j['nodes'])==4, j" "$out"
out=$("$CLI" --catalog "$C" cost --json)
check "cost summary works on an empty ledger" py "
import json,sys; j=json.loads(sys.argv[1]); assert j['calls']==0 and j['cost_usd']==0, j" "$out"

# ---- errors: clear message, right exit code ---------------------------------------------------------
sed 's/width >= 1000/widht >= 1000/' "$T/flow.loomflow" > "$T/bad.loomflow"
"$CLI" --catalog "$C" run "$T/bad.loomflow" 2>"$T/err" >/dev/null; rc=$?
check "invalid flow exits 2" test $rc -eq 2
check "invalid flow names node, parameter and problem" grep -q "node 'wide', parameter 'where': no such column: widht" "$T/err"
echo '{"format": "loom.flow/7", "nodes": []}' > "$T/future.loomflow"
"$CLI" --catalog "$C" run "$T/future.loomflow" 2>"$T/err" >/dev/null; rc=$?
check "unknown format exits 2 with a clear refusal" bash -c "[ $rc -eq 2 ] && grep -q 'unknown format \"loom.flow/7\"' '$T/err'"
"$CLI" --catalog "$C" run "$T/nope.loomflow" 2>/dev/null >/dev/null; rc=$?
check "missing flow file exits 2" test $rc -eq 2
"$CLI" --catalog "$C" show nosuch 2>"$T/err" >/dev/null; rc=$?
check "unknown dataset exits 2 naming what exists" bash -c "[ $rc -eq 2 ] && grep -q 'datasets: wide' '$T/err'"
"$CLI" --catalog "$C" run "$T/flow.loomflow" --param nonsense 2>/dev/null >/dev/null; rc=$?
check "malformed --param exits 2" test $rc -eq 2
"$CLI" --catalog "$C" frobnicate 2>/dev/null >/dev/null; rc=$?
check "unknown subcommand exits 2" test $rc -eq 2
out=$("$CLI" --catalog "$C" show nosuch --json 2>/dev/null)
check "errors are JSON on stdout with --json" py "
import json,sys; j=json.loads(sys.argv[1]); assert j['error']['kind']=='not_found', j" "$out"

# ---- kill -9 during a run, then resume: every row exactly once ---------------------------------------
python3 - "$T/big" <<'PYEOF'
import os, sys
root = sys.argv[1]
for d in range(40):
    os.makedirs(os.path.join(root, f'd{d:02d}'), exist_ok=True)
    for i in range(250):
        open(os.path.join(root, f'd{d:02d}', f'f{i:03d}.txt'), 'w').write('x' * (i % 50))
PYEOF
NBIG=10000
sed "s|$T/data|$T/big|; s/width >= 1000/1/" "$T/flow.loomflow" > "$T/bigflow.loomflow"
TRIALS=${LOOM_KILL_TRIALS:-8}
for trial in $(seq 1 "$TRIALS"); do
  K="$T/kill$trial.db"
  "$CLI" --catalog "$K" --threads 2 run "$T/bigflow.loomflow" >/dev/null 2>&1 &
  pid=$!
  # Kill at a different point each trial: during listing, probing or saving.
  sleep "$(python3 -c "print(0.05 + 0.12 * $trial)")"
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  out=$("$CLI" --catalog "$K" run "$T/bigflow.loomflow" --json 2>/dev/null); rc=$?
  check "trial $trial: re-run after kill -9 succeeds" test $rc -eq 0
  check "trial $trial: every row exactly once" py "
import json,sqlite3,sys; j=json.loads(sys.argv[1]); assert j['outputs'][0]['rows']==$NBIG, j
db=sqlite3.connect('$K'); t=db.execute(\"select table_name from dataset_versions\").fetchall()
assert len(t)==1, t
n,d=db.execute(f'select count(*), count(distinct uri) from {t[0][0]}').fetchone(); assert n==d==$NBIG, (n,d)
assert db.execute('pragma integrity_check').fetchone()[0]=='ok'" "$out"
  resumed=$(python3 -c "
import sqlite3; db=sqlite3.connect('$K')
print(db.execute(\"select count(*) from node_runs where status='resumed'\").fetchone()[0])")
  [ "$resumed" -gt 0 ] && RESUMED=$(( ${RESUMED:-0} + 1 ))
done
echo "kill -9 trials: $TRIALS, of which the re-run resumed a half-done node in ${RESUMED:-0}" >&2

# ---- two processes, one catalog, the same flow at once: one waits for the other --------------------
for trial in 1 2 3; do
  K="$T/shared$trial.db"
  "$CLI" --catalog "$K" run "$T/bigflow.loomflow" --json >"$T/a.out" 2>"$T/a.err" &
  a=$!
  sleep "0.$((trial * 2))"
  "$CLI" --catalog "$K" run "$T/bigflow.loomflow" --json >"$T/b.out" 2>"$T/b.err" &
  b=$!
  wait $a; rca=$?
  wait $b; rcb=$?
  check "concurrent trial $trial: both runs succeed" test "$rca$rcb" = "00"
  check "concurrent trial $trial: both give the same single version, every row exactly once" py "
import json,sqlite3
a=json.load(open('$T/a.out')); b=json.load(open('$T/b.out'))
assert a['outputs']==b['outputs']==[{'dataset':'wide','version':1,'rows':$NBIG}], (a,b)
db=sqlite3.connect('$K'); t=db.execute('select table_name from dataset_versions').fetchall(); assert len(t)==1, t
n,d=db.execute(f'select count(*), count(distinct uri) from {t[0][0]}').fetchone(); assert n==d==$NBIG, (n,d)
for (tb,) in db.execute(\"select table_name from node_outputs where node_type='media.probe'\"):
    n,d=db.execute(f'select count(*), count(distinct _src) from {tb}').fetchone(); assert n==d==$NBIG, (tb,n,d)
assert db.execute('pragma integrity_check').fetchone()[0]=='ok'"
  # The later run waited when its probe node started before the earlier run's probe node ended and
  # then reused that output (cached) instead of computing it a second time.
  waited=$(python3 -c "
import sqlite3; db=sqlite3.connect('$K')
r=db.execute(\"select a.status, b.status from node_runs a join node_runs b on a.node_id=b.node_id and a.run_id<b.run_id \"
             \"where a.node_id='meta' and b.started_at < a.ended_at\").fetchall()
print(1 if r and r[0]==('done','cached') else 0)")
  WAITED=$(( ${WAITED:-0} + waited ))
done
echo "concurrent trials: 3, of which one run waited for the other in ${WAITED:-0}" >&2

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

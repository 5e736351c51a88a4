#!/usr/bin/env python3
"""The broken-input corpus, part one: broken flows and media through loom-cli, as a person meets them.

    python3 tests/corpus/run_corpus.py LOOM_CLI

Flows: `loom-cli run` on every file in tests/corpus/flows/ must exit 2 with an error that names the
file and holds every fragment tests/corpus/flows.json lists for it. Media: the files
make_broken_media.py writes are probed by a flow (media.probe) and thumbnailed one by one
(`loom-cli thumbnail`); tests/corpus/media.json says what each must give. Nothing may crash: no
signal, no sanitizer report, no uncaught exception. Prints one line per check and "corpus: N passed,
M failed" last; exits 1 when a check failed. (Model answers and listing pages are replayed to their
parsers in tests/engine/test_broken_inputs.cpp.)
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
CRASH_SIGNS = ("terminate called", "Sanitizer", "runtime error:", "Segmentation fault", "Aborted", "core dumped",
               "json.exception")

passed = failed = 0


def check(what: str, ok: bool, detail: str = "") -> None:
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}" + (f"\n     {detail}" if detail else ""))


def run(args: list[str], cwd: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, errors="replace", timeout=timeout,
                          stdin=subprocess.DEVNULL)


def crashed(p: subprocess.CompletedProcess) -> str:
    if p.returncode < 0:
        return f"killed by signal {-p.returncode}"
    for sign in CRASH_SIGNS:
        if sign in p.stderr:
            return f"stderr shows '{sign}'"
    return ""


def flows(cli: str, tmp: str) -> None:
    cases = json.loads((HERE / "flows.json").read_text())
    cases.pop("_doc")
    files = sorted(p.name for p in (HERE / "flows").iterdir())
    check("every broken flow has an expected error", sorted(cases) == files,
          f"without one: {sorted(set(files) - set(cases))}, without a file: {sorted(set(cases) - set(files))}")
    catalog = os.path.join(tmp, "flows.db")
    for name in files:
        path = str(HERE / "flows" / name)
        p = run([cli, "--catalog", catalog, "run", path], tmp)
        problems = []
        if crash := crashed(p):
            problems.append(crash)
        if p.returncode != 2:
            problems.append(f"exit {p.returncode}, not 2")
        if path not in p.stderr:
            problems.append("the error does not name the file")
        problems += [f"no '{f}'" for f in cases.get(name, []) if f not in p.stderr]
        check(f"flow {name}: exit 2, names the file, says what is wrong", not problems,
              "; ".join(problems) + "\n     stderr: " + p.stderr.strip()[:600])


def media(cli: str, tmp: str) -> None:
    cases = json.loads((HERE / "media.json").read_text())
    cases.pop("_doc")
    folder = os.path.join(tmp, "media")
    subprocess.run([sys.executable, str(HERE / "make_broken_media.py"), folder], check=True)
    files = sorted(os.listdir(folder))
    check("every broken media file has an expected outcome", sorted(cases) == files,
          f"without one: {sorted(set(files) - set(cases))}, without a file: {sorted(set(cases) - set(files))}")

    flow = os.path.join(tmp, "probe.loomflow")
    with open(flow, "w") as f:
        json.dump({"format": "loom.flow/1", "name": "broken-media", "nodes": [
            {"id": "src", "type": "storage.list", "params": {"uri": folder}},
            {"id": "meta", "type": "media.probe", "params": {}},
            {"id": "out", "type": "dataset.save", "params": {"name": "broken_media"}}],
            "edges": [{"from": "src", "to": "meta"}, {"from": "meta", "to": "out"}]}, f)
    catalog = os.path.join(tmp, "media.db")
    p = run([cli, "--catalog", catalog, "--json", "run", flow], tmp, timeout=300)
    check("probing the broken media runs to the end without crashing", p.returncode == 0 and not crashed(p),
          f"exit {p.returncode}: {crashed(p)} {p.stderr.strip()[-600:]}")
    if p.returncode != 0:
        return
    shown = run([cli, "--catalog", catalog, "show", "broken_media", "--json", "--limit", "-1"], tmp)
    rows = {r["name"]: r for r in json.loads(shown.stdout)["rows"]}
    for name in files:
        want = cases.get(name, {})
        row = rows.get(name)
        if row is None:
            check(f"media {name}: listed and probed", False)
            continue
        problems = []
        expected = want.get("probe", {})
        if expected.get("error") is None:
            if row["error"] is not None:
                problems.append(f"an error: {row['error']}")
        else:
            error = row["error"] or ""
            if row["uri"] not in error:
                problems.append("the error does not name the file")
            problems += [f"no '{f}'" for f in expected["error"] if f not in error]
        problems += [f"{k} is {row.get(k)!r}, not {v!r}" for k, v in expected.items() if k != "error" and row.get(k) != v]
        check(f"media {name}: probe gives " + ("an error saying what is wrong" if expected.get("error") else "its true type"),
              not problems, "; ".join(problems) + f"\n     error: {row['error']}")

        out = os.path.join(tmp, "thumb.jpg")
        t = run([cli, "thumbnail", os.path.join(folder, name), "--out", out], tmp)
        problems = []
        if crash := crashed(t):
            problems.append(crash)
        if want.get("thumbnail") == "ok":
            if t.returncode != 0 or not os.path.getsize(out):
                problems.append(f"exit {t.returncode}")
        else:
            if t.returncode != 2:
                problems.append(f"exit {t.returncode}, not 2")
            if name not in t.stderr:
                problems.append("the error does not name the file")
            problems += [f"no '{f}'" for f in want.get("thumbnail", []) if f not in t.stderr]
        check(f"media {name}: thumbnail " + ("is made" if want.get("thumbnail") == "ok" else "refused, saying why"),
              not problems, "; ".join(problems) + "\n     stderr: " + t.stderr.strip()[:600])


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    cli = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="loom-corpus-") as tmp:
        os.environ["LOOM_HOME"] = os.path.join(tmp, "home")
        flows(cli, tmp)
        media(cli, tmp)
    print(f"corpus: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Runs one test command of a LOOM_SANITIZE build and fails it when any process under it wrote a
# sanitizer report (tests/CMakeLists.txt wraps the CLI test scripts in it):
#
#   tests/support/sanitizer_reports.sh COMMAND [ARG]...
#
# A test script runs loom-cli many times and expects some runs to fail (exit 1, 2, 3, 4), often with
# stderr sent to a file: a report from one of them would pass for the expected failure, or be lost.
# So every sanitized process under COMMAND writes its reports to a folder (log_path) instead of stderr,
# and any report there fails the test and is printed, whatever COMMAND's own exit status.
set -uo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 COMMAND [ARG]..." >&2; exit 2; }
reports=$(mktemp -d "${TMPDIR:-/tmp}/loom-sanitizer-reports.XXXXXX")
trap 'rm -rf "$reports"' EXIT
for var in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS; do
  export "$var=${!var:+${!var}:}log_path=$reports/report"
done
"$@"
rc=$?
# A report, not the chatter that verbosity=1 in *_OPTIONS adds to the same files.
mapfile -t found < <(grep -lE '^==[0-9]+==ERROR: |runtime error: |Sanitizer has encountered a fatal error|Sanitizer CHECK failed' \
  "$reports"/report* 2>/dev/null)
if [[ ${#found[@]} -gt 0 ]]; then
  for f in "${found[@]}"; do
    echo "==== sanitizer report from process ${f##*.} (${#found[@]} report(s) in all) ====" >&2
    cat "$f" >&2
  done
  echo "sanitizer_reports.sh: a process of this test was stopped by a sanitizer; test exit status was $rc" >&2
  exit 1
fi
exit "$rc"

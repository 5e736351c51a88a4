# Shared by the loom-cli test scripts. Source it after `set -euo pipefail`:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" NAME "$@"
#
# It checks the LOOM_CLI argument and gives: $cli (loom-cli, absolute), $repo (the checkout), $tmp
# (a fresh folder, removed at exit after every pid in bg_pids is killed), pass/fail/check/finish
# (the last line reads "NAME: N passed, M failed"; finish exits non-zero when a check failed), and
# free_port/wait_port for servers a test starts on loopback.

test_name=$1
shift
if [[ $# -lt 1 ]]; then
  echo "usage: $0 LOOM_CLI" >&2
  exit 2
fi
cli="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
[[ -x "$cli" ]] || { echo "$test_name: $1 is not an executable" >&2; exit 2; }
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/loom-test-$test_name.XXXXXX")"
bg_pids=()
cleanup() {
  local p
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { local what="$1"; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
finish() {
  echo "$test_name: $passed passed, $failed failed"
  exit $((failed == 0 ? 0 : 1))
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits up to 10 s for something to listen on 127.0.0.1:PORT.
wait_port() {
  for _ in $(seq 1 200); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2)' "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "$test_name: nothing listens on port $1" >&2
  exit 1
}

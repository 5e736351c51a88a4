#!/usr/bin/env bash
# The broken-input corpus through loom-cli: broken flows (tests/corpus/flows/) must each exit 2 with
# an error naming the file and what is wrong; broken media (made by tests/corpus/make_broken_media.py)
# must probe and thumbnail to clear errors. Expectations: tests/corpus/flows.json and media.json.
#
#   tests/cli/test_broken_inputs.sh LOOM_CLI
#
# Needs python3 and ffmpeg. Prints "corpus: N passed, M failed" last; exits non-zero when a check failed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" broken_inputs "$@"
python3 "$repo/tests/corpus/run_corpus.py" "$cli"

#!/usr/bin/env bash
# Doc tests: every ```sh block of README.md, CONTRIBUTING.md, BENCHMARKS.md and docs/*.md runs as written
# against a live `tessera serve` (one bash session and one server per file, in a temporary
# directory; see tests/docs/doctest.py for the markers), after the runner's self-test
# (tests/docs/selftest.sh). Usage:
#   tests/docs/run.sh [path/to/tessera] [FILE.md ...]   (default: $CARGO_TARGET_DIR or target, /debug/tessera)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE/../.."
BIN="${1:-${CARGO_TARGET_DIR:-target}/debug/tessera}"
shift || true
"$HERE/selftest.sh" "$BIN"      # the runner catches failures at all
exec python3 "$HERE/doctest.py" --bin "$BIN" "$@"

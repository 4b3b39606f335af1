#!/usr/bin/env bash
# Self-test of the doc-test runner: tests/docs/selftest/pass.md must pass, each fail-*.md must
# fail (so a runner that silently passes everything is caught). Run by tests/docs/run.sh.
# Usage: tests/docs/selftest.sh path/to/tessera
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="$1"
out="$(python3 "$HERE/doctest.py" --bin "$BIN" "$HERE/selftest/pass.md" 2>&1)" ||
    { echo "$out" >&2; echo "doc-test self-test: pass.md failed" >&2; exit 1; }
grep -q '3 shell blocks run against a live server, 1 checked with bash -n only, 1 blocks written as files, 4 expected output lines checked' <<<"$out" ||
    { echo "$out" >&2; echo "doc-test self-test: pass.md counts differ" >&2; exit 1; }
for f in "$HERE"/selftest/fail-*.md; do
    if python3 "$HERE/doctest.py" --bin "$BIN" "$f" >/dev/null 2>&1; then
        echo "doc-test self-test: $(basename "$f") passed but must fail" >&2
        exit 1
    fi
done
echo "doc-test self-test: ok (pass.md passes, $(ls "$HERE"/selftest/fail-*.md | wc -l) fail-*.md fail)"

#!/usr/bin/env bash
# Checks deploy/tessera.service: `systemd-analyze verify` (any warning fails, unknown keys
# included) and `systemd-analyze security --offline` (exposure at most 2.0 of 10). Run by
# .ci/run. Usage: deploy/check-systemd.sh [path/to/tessera]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(realpath "${1:-target/debug/tessera}")"
if ! command -v systemd-analyze >/dev/null; then
    echo "check-systemd: skipped (systemd-analyze is not installed)"
    # In CI a skipped check is a failed check.
    [ -z "${CI:-}" ] || exit 1
    exit 0
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# The unit's ExecStart is /usr/local/bin/tessera, which CI has not installed.
sed "s#^ExecStart=/usr/local/bin/tessera#ExecStart=$BIN#" deploy/tessera.service >"$WORK/tessera.service"
out="$(systemd-analyze verify "$WORK/tessera.service" 2>&1)" || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then
    echo "check-systemd: systemd-analyze verify warns:" >&2
    echo "$out" >&2
    exit 1
fi
score="$(systemd-analyze security --offline=true --threshold=20 "$WORK/tessera.service" 2>&1 |
    sed -n 's/.*Overall exposure level for tessera.service: \([0-9.]*\).*/\1/p')"
[ -n "$score" ] || { echo "check-systemd: no exposure level from systemd-analyze security" >&2; exit 1; }
echo "check-systemd: deploy/tessera.service verified; exposure level $score (systemd-analyze security --offline)"

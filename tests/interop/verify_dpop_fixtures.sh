#!/usr/bin/env bash
# Regenerates verifier/tests/data/dpop_interop.json: DPoP proofs made by openid-client,
# oauth4webapi and panva/jose (pinned versions, installed into a temporary directory) and
# access tokens signed by a local key, read by the tessera-verify test `dpop_interop`.
# Usage: tests/interop/verify_dpop_fixtures.sh   (needs node >= 20 and npm)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="$HERE/../../verifier/tests/data/dpop_interop.json"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for tool in node npm; do
    command -v "$tool" >/dev/null || { echo "verify_dpop_fixtures: $tool is not installed" >&2; exit 1; }
done
npm install --silent --no-audit --no-fund --prefix "$WORK" \
    jose@5.10.0 oauth4webapi@3.8.9 openid-client@6.9.1 >/dev/null
cp "$HERE/verify_dpop_fixtures.mjs" "$WORK/"
node "$WORK/verify_dpop_fixtures.mjs" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "wrote $OUT"

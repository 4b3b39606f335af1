#!/usr/bin/env bash
# DPoP end to end, resource-server side: a real `tessera serve` (server nonces required)
# issues DPoP-bound tokens to stock openid-client; then
#  1. panva/oauth4webapi `validateJwtAccessToken` (requireDPoP) accepts the token with an
#     openid-client proof and refuses it as Bearer (verify_dpop_o4w.mjs);
#  2. the dashboard example built on tessera-verify accepts the token only with a fresh
#     proof and refuses it as Bearer (examples/dpop-client.mjs).
# Installs pinned npm packages into a temporary directory.
# Usage: tests/interop/verify_dpop_e2e.sh [path/to/tessera] [path/to/dashboard-poem]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$HERE/../.."
BIN="$(realpath "${1:-$ROOT/target/debug/tessera}")"
DASH="$(realpath "${2:-$ROOT/target/debug/dashboard-poem}")"
WORK="$(mktemp -d)"
trap 'kill ${SERVER:-} ${DASHBOARD:-} 2>/dev/null || true; rm -rf "$WORK"' EXIT
cd "$WORK"

for tool in python3 node npm curl; do
    command -v "$tool" >/dev/null || { echo "verify_dpop_e2e: skipped ($tool is not installed)"; [ -z "${CI:-}" ] || exit 1; exit 0; }
done
npm install --silent --no-audit --no-fund --prefix "$WORK" oauth4webapi@3.8.9 openid-client@6.9.1 >/dev/null
cp "$HERE/verify_dpop_o4w.mjs" "$ROOT/examples/dpop-client.mjs" "$WORK/"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(port)
ISSUER="http://127.0.0.1:$PORT"
export TESSERA_BIND="127.0.0.1:$PORT" TESSERA_ISSUER="$ISSUER" TESSERA_LOG=warn TESSERA_DPOP_NONCE=required
"$BIN" serve >serve.log 2>&1 &
SERVER=$!
# Wait for a process to answer on URL (at most 60 s), or fail with its log.
wait_for() {  # URL LOG PID
    for _ in $(seq 600); do
        curl -sf "$1" >/dev/null && return 0
        kill -0 "$3" 2>/dev/null || break
        sleep 0.1
    done
    echo "verify_dpop_e2e: $1 did not answer" >&2; cat "$2" >&2; exit 1
}
wait_for "$ISSUER/healthz" serve.log "$SERVER"

C=$("$BIN" clients create --name dpop-rs --scope dashboard:read --audience dashboard --dpop-bound --json)
ID=$(echo "$C" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
SECRET=$(echo "$C" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
node verify_dpop_o4w.mjs "$ISSUER" "$ID" "$SECRET" dashboard

DPORT=$(port)
TESSERA_ISSUER="$ISSUER" PORT="$DPORT" PUBLIC_URL="http://127.0.0.1:$DPORT" "$DASH" >dashboard.log 2>&1 &
DASHBOARD=$!
wait_for "http://127.0.0.1:$DPORT/healthz" dashboard.log "$DASHBOARD"
node dpop-client.mjs "$ISSUER" "$ID" "$SECRET" "http://127.0.0.1:$DPORT/api/dashboard"
echo "verify_dpop_e2e: OK"

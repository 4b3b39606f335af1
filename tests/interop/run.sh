#!/usr/bin/env bash
# Interoperability: tokens and discovery from a real `tessera serve` are accepted by
# PyJWT (PyJWKClient) and panva/jose without tweaks, and stock openid-client gets and uses
# DPoP-bound tokens (server nonces required; dpop_check.mjs). Installs them (PyPI, npm,
# pinned) into a temporary directory. Usage: tests/interop/run.sh [path/to/tessera]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="$(realpath "${1:-$HERE/../../target/debug/tessera}")"
WORK="$(mktemp -d)"
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
cd "$WORK"

for tool in python3 node npm curl; do
    command -v "$tool" >/dev/null || { echo "interop: skipped ($tool is not installed)"; [ -z "${CI:-}" ] || exit 1; exit 0; }
done
python3 -m venv venv >/dev/null 2>&1 && PY=venv/bin/python || PY=python3
$PY -m pip install --quiet --disable-pip-version-check 'pyjwt[crypto]>=2.8' >/dev/null
npm install --silent --no-audit --no-fund --prefix "$WORK" jose@5.10.0 openid-client@6.9.1 >/dev/null
cp "$HERE/jose_check.mjs" "$HERE/pyjwt_check.py" "$HERE/dpop_check.mjs" "$WORK/"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ISSUER="http://127.0.0.1:$PORT"
export TESSERA_BIND="127.0.0.1:$PORT" TESSERA_ISSUER="$ISSUER" TESSERA_LOG=warn
# Every DPoP proof must carry a server nonce (the other checks use bearer tokens).
export TESSERA_DPOP_NONCE=required
"$BIN" serve >serve.log 2>&1 &
SERVER=$!
for _ in $(seq 200); do curl -sf "$ISSUER/healthz" >/dev/null && break; sleep 0.05; done

AUD=https://orders.internal
tokens=()
for alg in ES256 RS256; do
    C=$("$BIN" clients create --name "interop-$alg" --scope orders:read --audience "$AUD" --alg "$alg" --json)
    ID=$(echo "$C" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
    SECRET=$(echo "$C" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
    T=$(curl -sf -u "$ID:$SECRET" -d grant_type=client_credentials "$ISSUER/oauth/token" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    tokens+=("$T")
done
$PY pyjwt_check.py "$ISSUER" "$AUD" "${tokens[@]}"
node jose_check.mjs "$ISSUER" "$AUD" "${tokens[@]}"

# DPoP with openid-client: a first-party client and a user for the password grant.
C=$("$BIN" clients create --name interop-dpop --grant password --grant refresh_token \
    --scope openid --audience "$AUD" --json)
ID=$(echo "$C" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
SECRET=$(echo "$C" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
echo 'interop dpop password' | "$BIN" users create --username dpop-user --password-stdin >/dev/null
node dpop_check.mjs "$ISSUER" "$ID" "$SECRET" dpop-user 'interop dpop password'
echo "interop: OK"

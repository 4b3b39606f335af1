#!/usr/bin/env bash
# Interoperability: tokens and discovery from a real `tessera serve` are accepted by
# PyJWT (PyJWKClient) and panva/jose without tweaks. Installs both (PyPI, npm) into a
# temporary directory. Usage: tests/interop/run.sh [path/to/tessera]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="$(realpath "${1:-$HERE/../../target/debug/tessera}")"
WORK="$(mktemp -d)"
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
cd "$WORK"

for tool in python3 node npm curl; do
    command -v "$tool" >/dev/null || { echo "interop: skipped ($tool is not installed)"; exit 0; }
done
python3 -m venv venv >/dev/null 2>&1 && PY=venv/bin/python || PY=python3
$PY -m pip install --quiet --disable-pip-version-check 'pyjwt[crypto]>=2.8' >/dev/null
npm install --silent --no-audit --no-fund --prefix "$WORK" jose@5 >/dev/null
cp "$HERE/jose_check.mjs" "$HERE/pyjwt_check.py" "$WORK/"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ISSUER="http://127.0.0.1:$PORT"
export TESSERA_BIND="127.0.0.1:$PORT" TESSERA_ISSUER="$ISSUER" TESSERA_LOG=warn
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
echo "interop: OK"

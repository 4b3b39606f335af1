#!/usr/bin/env bash
# Workload identity federation with independent libraries (tests/interop/federation_pyjwt.py):
# a Kubernetes-shaped token minted by PyJWT gets an access token that PyJWT verifies.
# PyJWT (pinned) goes into a temporary venv. Usage: tests/interop/federation.sh [path/to/tessera]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="$(realpath "${1:-$HERE/../../target/debug/tessera}")"
WORK="$(mktemp -d)"
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK"
for tool in python3 curl; do
    command -v "$tool" >/dev/null || { echo "federation interop: skipped ($tool is not installed)"; [ -z "${CI:-}" ] || exit 1; exit 0; }
done
python3 -m venv venv >/dev/null
venv/bin/pip install --quiet --disable-pip-version-check 'pyjwt[crypto]==2.10.1' >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ISSUER="http://127.0.0.1:$PORT"
# The fake issuer listens on 127.0.0.1: the development setting lets Tessera fetch from it.
export TESSERA_BIND="127.0.0.1:$PORT" TESSERA_ISSUER="$ISSUER" TESSERA_LOG=warn \
    TESSERA_REMOTE_JWKS_ALLOW_LOOPBACK=true
"$BIN" serve >serve.log 2>&1 &
SERVER=$!
for _ in $(seq 200); do curl -sf "$ISSUER/healthz" >/dev/null && break; sleep 0.05; done
venv/bin/python "$HERE/federation_pyjwt.py" "$BIN" "$ISSUER" || { cat serve.log; exit 1; }

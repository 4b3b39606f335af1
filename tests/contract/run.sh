#!/usr/bin/env bash
# Contract fuzzing: schemathesis (PyPI, pinned) generates requests for every operation of a
# running `tessera serve` from its own /openapi.json, authenticated with an admin token
# bootstrapped by `tessera clients create --admin`. It fails on any 5xx and on any
# response whose status, content type or body the document does not declare.
# Usage: tests/contract/run.sh [path/to/tessera]   (EXAMPLES=N examples per operation, default 25)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="$(realpath "${1:-$HERE/../../target/debug/tessera}")"
EXAMPLES="${EXAMPLES:-25}"
SCHEMATHESIS_VERSION=4.32.5
WORK="$(mktemp -d)"
SERVER=""
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK"

for tool in python3 curl; do
    command -v "$tool" >/dev/null || { echo "contract: $tool is required" >&2; exit 1; }
done
python3 -m venv venv
venv/bin/pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ISSUER="http://127.0.0.1:$PORT"
# Cheap password hashing: the fuzzer creates many users; the OWASP parameters are tested elsewhere.
export TESSERA_BIND="127.0.0.1:$PORT" TESSERA_ISSUER="$ISSUER" TESSERA_LOG=warn \
    TESSERA_ARGON2_MEMORY_KIB=1024 TESSERA_ARGON2_ITERATIONS=1
"$BIN" serve >serve.log 2>&1 &
SERVER=$!
for _ in $(seq 200); do curl -sf "$ISSUER/healthz" >/dev/null && break; sleep 0.05; done

C=$("$BIN" clients create --admin --name contract-fuzzer --json)
ID=$(echo "$C" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
SECRET=$(echo "$C" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
TOKEN=$(curl -sf -u "$ID:$SECRET" -d grant_type=client_credentials "$ISSUER/oauth/token" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
# Something for the read and update operations to find.
"$BIN" users create --username fuzz-target --role viewer >/dev/null

status=0
venv/bin/st run "$ISSUER/openapi.json" \
    --header "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$EXAMPLES" --seed 20261123 --workers 1 --request-timeout 20 \
    --output-truncate false || status=$?
if grep -q '"level":"ERROR"\|ERROR\|panicked' serve.log; then
    echo "contract: the server logged errors:" >&2
    grep 'ERROR\|panicked' serve.log | head -20 >&2
    status=1
fi
[ "$status" = 0 ] && echo "contract: OK"
exit "$status"

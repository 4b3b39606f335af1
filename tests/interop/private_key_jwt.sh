#!/usr/bin/env bash
# private_key_jwt interop (RFC 7523 §2.2) with stock client libraries against a real
# `tessera serve`, each library unmodified:
#  - panva/openid-client v6 `client.PrivateKeyJwt({ key, kid })` (ES256, aud = the issuer)
#    gets a client_credentials token;
#  - Authlib `PrivateKeyJWT(token_endpoint)` (RS256, aud = the token endpoint URL, exp one
#    hour ahead) is refused by default and gets a token from a server started with
#    client_assertion_accept_token_endpoint_audience = true. Both servers allow the hour
#    (client_assertion_max_lifetime = 1h), so the refusal is the audience's;
#  - PyJWT (PyJWKClient) verifies the tokens.
# Installs the libraries (PyPI, npm, pinned) into a temporary directory.
# Usage: tests/interop/private_key_jwt.sh [path/to/tessera]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="$(realpath "${1:-$HERE/../../target/debug/tessera}")"
WORK="$(mktemp -d)"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
cd "$WORK"

for tool in python3 node npm curl openssl; do
    command -v "$tool" >/dev/null || { echo "private_key_jwt interop: skipped ($tool is not installed)"; [ -z "${CI:-}" ] || exit 1; exit 0; }
done
python3 -m venv venv >/dev/null 2>&1 && PY=venv/bin/python || PY=python3
$PY -m pip install --quiet --disable-pip-version-check 'pyjwt[crypto]==2.10.1' 'authlib==1.6.5' 'requests==2.32.5' >/dev/null
npm install --silent --no-audit --no-fund --prefix "$WORK" openid-client@6.9.1 >/dev/null
cp "$HERE/pyjwt_check.py" "$HERE/pkjwt_openid_client.mjs" "$HERE/pkjwt_authlib.py" "$WORK/"

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# serve DIR [KEY=VALUE...]: a server with its own database in DIR; sets $ISSUER.
serve() {
    local dir=$1; shift
    local port; port=$(free_port)
    mkdir -p "$dir"
    (cd "$dir" && exec env TESSERA_BIND="127.0.0.1:$port" TESSERA_ISSUER="http://127.0.0.1:$port" \
        TESSERA_LOG=warn "$@" "$BIN" serve >serve.log 2>&1) </dev/null >/dev/null 2>&1 &
    PIDS+=($!)
    ISSUER="http://127.0.0.1:$port"
    for _ in $(seq 200); do curl -sf "$ISSUER/healthz" >/dev/null && return; sleep 0.05; done
    echo "tessera did not start:" >&2; cat "$dir/serve.log" >&2; exit 1
}

# register DIR ISSUER JWKS_FILE: a private_key_jwt client on that server; prints its id.
register() {
    (cd "$1" && env TESSERA_ISSUER="$2" "$BIN" clients create --name "interop-pkjwt" \
        --scope orders:read --audience "$AUD" --auth private_key_jwt --jwks-file "$3" --json) \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])'
}

AUD=https://orders.internal
# An EC P-256 key for openid-client, an RSA key for Authlib (its default alg is RS256).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem 2>/dev/null
openssl pkey -in ec.pem -pubout -outform DER | tail -c 64 > ec-xy.bin
printf '{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","kid":"ec-1","x":"%s","y":"%s"}]}' \
    "$(head -c 32 ec-xy.bin | b64url)" "$(tail -c 32 ec-xy.bin | b64url)" > ec-jwks.json
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null
printf '{"keys":[{"kty":"RSA","alg":"RS256","kid":"rsa-1","n":"%s","e":"AQAB"}]}' \
    "$(openssl pkey -in rsa.pem -pubout -outform DER | tail -c +34 | head -c 256 | b64url)" > rsa-jwks.json

# Authlib's assertions live an hour (exp = iat + 3600): the longest lifetime Tessera allows.
LIFETIME=TESSERA_CLIENT_ASSERTION_MAX_LIFETIME=1h
# 1. The default audience rule: openid-client gets a token; Authlib (aud = token endpoint)
#    is refused.
serve strict "$LIFETIME"; STRICT=$ISSUER
EC_ID=$(register strict "$STRICT" "$WORK/ec-jwks.json")
RSA_ID=$(register strict "$STRICT" "$WORK/rsa-jwks.json")
T1=$(node pkjwt_openid_client.mjs "$STRICT" "$EC_ID" ec.pem ec-1)
$PY pkjwt_authlib.py "$STRICT" "$RSA_ID" rsa.pem refused

# 2. With the compatibility setting: Authlib gets a token.
serve compat "$LIFETIME" TESSERA_CLIENT_ASSERTION_ACCEPT_TOKEN_ENDPOINT_AUDIENCE=true; COMPAT=$ISSUER
RSA_ID=$(register compat "$COMPAT" "$WORK/rsa-jwks.json")
T2=$($PY pkjwt_authlib.py "$COMPAT" "$RSA_ID" rsa.pem ok)

# 3. PyJWT verifies both tokens against each issuer's JWKS.
$PY pyjwt_check.py "$STRICT" "$AUD" "$T1"
$PY pyjwt_check.py "$COMPAT" "$AUD" "$T2"
echo "private_key_jwt interop: OK (openid-client PrivateKeyJwt, Authlib PrivateKeyJWT, PyJWT)"

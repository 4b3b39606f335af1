#!/usr/bin/env bash
# Browser sign-in end to end (e2e.mjs), the device flow through the verification page
# (device.mjs), token exchange (exchange.mjs) and, through pages.sh, the console and
# account pages (pages-*.mjs, with an axe-core accessibility scan): headless Debian Chromium (playwright-core),
# openid-client and jose
# against a real `tessera serve`. Installs Chromium (Debian packages) when missing and the
# pinned npm packages (package-lock.json) into a temporary directory.
# Usage: tests/browser/run.sh [path/to/tessera] [screenshot.png]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="$(realpath "${1:-$HERE/../../target/debug/tessera}")"
SHOT="${2:-}"
[ -n "$SHOT" ] && SHOT="$(realpath -m "$SHOT")"
WORK="$(mktemp -d)"
SERVER=""
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT

if [ ! -x /usr/bin/chromium ]; then
    echo "browser e2e: installing chromium (Debian)"
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi
for tool in node npm curl python3; do
    command -v "$tool" >/dev/null || { echo "browser e2e: $tool is required" >&2; exit 1; }
done
cp "$HERE/package.json" "$HERE/package-lock.json" "$HERE/e2e.mjs" "$HERE/exchange.mjs" "$HERE/device.mjs" "$WORK/"
cd "$WORK"
npm ci --silent --no-audit --no-fund >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
RP_PORT=$(free_port)
ISSUER="http://127.0.0.1:$PORT"
RP="http://127.0.0.1:$RP_PORT"
# Plain http on loopback: the session cookie cannot be Secure here.
export TESSERA_BIND="127.0.0.1:$PORT" TESSERA_ISSUER="$ISSUER" TESSERA_LOG=warn \
       TESSERA_SESSION_COOKIE_SECURE=false TESSERA_DATABASE_URL="sqlite://$WORK/tessera.db?mode=rwc" \
       TESSERA_KEK_FILE="$WORK/kek" TESSERA_DEVICE_POLL_INTERVAL=1
"$BIN" migrate >/dev/null
json() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
PASSWORD="browser-e2e-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "$PASSWORD" | "$BIN" users create --username alice --password-stdin >/dev/null
C=$("$BIN" clients create --name "Orders Web" --grant authorization_code --grant refresh_token \
    --scope "openid orders:read" --audience https://orders.internal \
    --redirect-uri "$RP/callback" --post-logout-redirect-uri "$RP/bye" --json)
P=$("$BIN" clients create --name "Orders SPA" --public --grant authorization_code --grant refresh_token \
    --scope "openid orders:read" --audience https://orders.internal \
    --redirect-uri "$RP/spa-callback" --post-logout-redirect-uri "$RP/bye" --json)
# Token exchange (exchange.mjs): gateway → orders → billing.
GW=$("$BIN" clients create --name gateway --grant password --grant token_exchange \
    --scope "orders:read billing:read" --audience https://gateway.internal \
    --exchange-audience https://orders.internal --json)
ORD=$("$BIN" clients create --name orders --grant token_exchange --scope "billing:read" \
    --audience https://orders.internal --exchange-audience https://billing.internal --json)
# Device flow (device.mjs): a CLI-style public client.
D=$("$BIN" clients create --name "Orders CLI" --public --grant device_code \
    --scope "openid orders:read" --audience https://orders.internal --json)
"$BIN" serve >serve.log 2>&1 &
SERVER=$!
for _ in $(seq 200); do curl -sf "$ISSUER/healthz" >/dev/null && break; sleep 0.05; done

ISSUER="$ISSUER" RP_PORT="$RP_PORT" PASSWORD="$PASSWORD" SCREENSHOT="$SHOT" \
CLIENT_ID=$(echo "$C" | json client_id) CLIENT_SECRET=$(echo "$C" | json client_secret) \
PUBLIC_ID=$(echo "$P" | json client_id) \
node e2e.mjs || { echo "--- tessera log"; cat serve.log; exit 1; }
ISSUER="$ISSUER" PASSWORD="$PASSWORD" \
GW_ID=$(echo "$GW" | json client_id) GW_SECRET=$(echo "$GW" | json client_secret) \
ORD_ID=$(echo "$ORD" | json client_id) ORD_SECRET=$(echo "$ORD" | json client_secret) \
node exchange.mjs || { echo "--- tessera log"; cat serve.log; exit 1; }
ISSUER="$ISSUER" PASSWORD="$PASSWORD" DEVICE_ID=$(echo "$D" | json client_id) \
node device.mjs || { echo "--- tessera log"; cat serve.log; exit 1; }
# The console and account pages (their own server and database): pages-*.mjs.
"$HERE/pages.sh" "$BIN"

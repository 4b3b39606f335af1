#!/usr/bin/env bash
# Regenerates docs/swagger-ui.png (Swagger UI, POST /oauth/token open), docs/login.png (the
# login page), docs/device-entry.png and docs/device-confirm.png (the device verification page),
# docs/console-overview.png (the admin console's overview), docs/account.png (the account page)
# from a `tessera serve` on the fixed port 18080 (PORT=... to change), rendered by
# headless Debian Chromium through playwright-core (the version pinned in
# tests/browser/package-lock.json). Usage: docs/screenshot.sh [path/to/tessera]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="$(realpath "${1:-$HERE/../target/debug/tessera}")"
PORT="${PORT:-18080}"
[ -x /usr/bin/chromium ] || { echo "install chromium first (apt-get install -y chromium)" >&2; exit 1; }
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "port $PORT is in use (the pictures show the port: PORT=... to pick another)" >&2
    exit 1
fi
WORK="$(mktemp -d)"
SERVER=""
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
cp "$HERE/../tests/browser/package.json" "$HERE/../tests/browser/package-lock.json" "$HERE/screenshot.mjs" "$WORK/"
cd "$WORK"
npm ci --silent --no-audit --no-fund >/dev/null
ISSUER="http://127.0.0.1:$PORT"
export TESSERA_BIND="127.0.0.1:$PORT" TESSERA_ISSUER="$ISSUER" TESSERA_LOG=warn NO_COLOR=1 \
       TESSERA_SESSION_COOKIE_SECURE=false   # plain http on loopback: the device page posts its CSRF cookie back
"$BIN" serve >serve.log 2>&1 &
SERVER=$!
for _ in $(seq 200); do curl -sf "$ISSUER/healthz" >/dev/null && break; sleep 0.05; done
REDIRECT_URI="http://127.0.0.1:3000/callback"
CLIENT_ID=$("$BIN" clients create --name "Orders Web" --grant authorization_code \
    --scope "openid orders:read" --audience https://orders.internal --redirect-uri "$REDIRECT_URI" --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
DEVICE_ID=$("$BIN" clients create --name "Orders CLI" --public --grant device_code \
    --scope "openid orders:read" --audience https://orders.internal --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
PASSWORD="screenshot-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "$PASSWORD" | "$BIN" users create --username alice --password-stdin >/dev/null
ADMIN_PASSWORD="screenshot-admin-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "$ADMIN_PASSWORD" | "$BIN" users create --username root --role tessera-admin --password-stdin >/dev/null
# Some activity for the console's charts: tokens, and a few refused client secrets.
SVC=$("$BIN" clients create --name "Orders worker" --scope orders:read --audience https://orders.internal --json)
SVC_ID=$(echo "$SVC" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
SVC_SECRET=$(echo "$SVC" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
for i in $(seq 40); do
    curl -s -o /dev/null -u "$SVC_ID:$SVC_SECRET" -d grant_type=client_credentials "$ISSUER/oauth/token"
    if [ $((i % 8)) = 0 ]; then
        curl -s -o /dev/null -u "$SVC_ID:wrong" -d grant_type=client_credentials "$ISSUER/oauth/token"
    fi
done
ISSUER="$ISSUER" CLIENT_ID="$CLIENT_ID" REDIRECT_URI="$REDIRECT_URI" OUT_DIR="$HERE" \
DEVICE_ID="$DEVICE_ID" PASSWORD="$PASSWORD" ADMIN_USER=root ADMIN_PASSWORD="$ADMIN_PASSWORD" node screenshot.mjs
echo "wrote $HERE/swagger-ui.png, login.png, device-entry.png, device-confirm.png, console-overview.png, console-client.png and account.png (server on port $PORT)"

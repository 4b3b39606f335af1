#!/usr/bin/env bash
# Regenerates docs/swagger-ui.png: Swagger UI of a running `tessera serve`, rendered by
# headless Chromium (Debian package `chromium`). Usage: docs/screenshot.sh [path/to/tessera]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="$(realpath "${1:-$HERE/../target/debug/tessera}")"
CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
[ -n "$CHROMIUM" ] || { echo "install chromium first (apt-get install -y chromium)" >&2; exit 1; }
WORK="$(mktemp -d)"
SERVER=""
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export TESSERA_BIND="127.0.0.1:$PORT" TESSERA_ISSUER="http://127.0.0.1:$PORT" TESSERA_LOG=warn
"$BIN" serve >serve.log 2>&1 &
SERVER=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.05; done
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$WORK/profile" --hide-scrollbars --window-size=1280,2000 \
    --virtual-time-budget=8000 --screenshot="$HERE/swagger-ui.png" \
    "http://127.0.0.1:$PORT/docs" 2>/dev/null
echo "wrote $HERE/swagger-ui.png"

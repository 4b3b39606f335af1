#!/usr/bin/env bash
# The console and account pages in headless Chromium (playwright-core): starts its own
# `tessera serve` (SQLite in a temporary directory, plain http on loopback so cookies are
# not Secure), creates an admin (`root`, role tessera-admin) and a user without the role
# (`bob`), then runs every tests/browser/pages-*.mjs in turn. Each script gets ISSUER, BIN
# (the tessera binary: scripts may run CLI commands on the same database with
# `execFileSync(process.env.BIN, [...], {env: process.env})`), ADMIN_USER/ADMIN_PASSWORD,
# USER_NAME/USER_PASSWORD, and the server's TESSERA_* settings; tests/browser/axe.mjs is the
# accessibility scan they share. Installs Chromium (Debian) when missing and the pinned npm
# packages (package-lock.json) into a temporary directory.
# Usage: tests/browser/pages.sh [path/to/tessera]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="$(realpath "${1:-$HERE/../../target/debug/tessera}")"
WORK="$(mktemp -d)"
SERVER=""
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT

if [ ! -x /usr/bin/chromium ]; then
    echo "pages: installing chromium (Debian)"
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi
for tool in node npm curl python3; do
    command -v "$tool" >/dev/null || { echo "pages: $tool is required" >&2; exit 1; }
done
shopt -s nullglob
SCRIPTS=("$HERE"/pages-*.mjs)
[ ${#SCRIPTS[@]} -gt 0 ] || { echo "pages: no tests/browser/pages-*.mjs found" >&2; exit 1; }
cp "$HERE/package.json" "$HERE/package-lock.json" "$HERE/axe.mjs" "${SCRIPTS[@]}" "$WORK/"
cd "$WORK"
npm ci --silent --no-audit --no-fund >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
export ISSUER="http://127.0.0.1:$PORT" BIN
export TESSERA_BIND="127.0.0.1:$PORT" TESSERA_ISSUER="$ISSUER" TESSERA_LOG=warn NO_COLOR=1 \
       TESSERA_SESSION_COOKIE_SECURE=false TESSERA_DATABASE_URL="sqlite://$WORK/tessera.db?mode=rwc" \
       TESSERA_KEK_FILE="$WORK/kek"
"$BIN" migrate >/dev/null
secret() { echo "pages-$1-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
export ADMIN_USER=root ADMIN_PASSWORD="$(secret admin)" USER_NAME=bob USER_PASSWORD="$(secret user)"
echo "$ADMIN_PASSWORD" | "$BIN" users create --username "$ADMIN_USER" --role tessera-admin --password-stdin >/dev/null
echo "$USER_PASSWORD" | "$BIN" users create --username "$USER_NAME" --password-stdin >/dev/null
"$BIN" serve >serve.log 2>&1 &
SERVER=$!
for _ in $(seq 200); do curl -sf "$ISSUER/readyz" >/dev/null && break; sleep 0.05; done

for script in "${SCRIPTS[@]}"; do
    name="$(basename "$script")"
    echo "pages: $name"
    node "$name" || { echo "--- tessera log"; cat serve.log; exit 1; }
done
echo "pages: ${#SCRIPTS[@]} scripts passed"

#!/usr/bin/env bash
# Server CPU per page render of the console (and the account page, when the build has it)
# at 1,000 clients / 10,000 users / 100,000 audit entries (issue #21: under 5 ms each).
#
#   bench/pages.sh [path/to/tessera]        # or TESSERA_BIN=...; default target/release/tessera
#
# Seeds a fresh SQLite database with `tessera dev seed` (bulk inserts through the storage
# layer; the audit entries spread over 30 days, 300 actors, every action), creates an admin,
# starts `tessera serve`, signs the admin in with curl exactly as a browser does (console →
# authorize → login form → callback), then for each page sends REQUESTS requests on one
# keep-alive connection and divides the server's CPU time (utime + stime from
# /proc/PID/stat, before and after) by REQUESTS. Pages that answer other than 200 (a build
# without them) are skipped. The periodic key refresh is slowed to 60 s so it does not run
# during a measurement. It builds nothing: pass a release binary for the real figures.
#
# Knobs: REQUESTS=200 WARMUP=20 CLIENTS=1000 USERS=10000 AUDIT=100000 PORT=18600
#        WORKDIR=<mktemp> KEEP_WORKDIR=0
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BIN="$(realpath "${1:-${TESSERA_BIN:-$ROOT/target/release/tessera}}")"
REQUESTS="${REQUESTS:-200}" WARMUP="${WARMUP:-20}"
CLIENTS="${CLIENTS:-1000}" USERS="${USERS:-10000}" AUDIT="${AUDIT:-100000}"
PORT="${PORT:-18600}"
WORKDIR="${WORKDIR:-$(mktemp -d)}"
[ -x "$BIN" ] || { echo "pages bench: no tessera binary at $BIN" >&2; exit 1; }
for tool in curl python3; do
    command -v "$tool" >/dev/null || { echo "pages bench: $tool is required" >&2; exit 1; }
done
SERVER=""
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    [ "${KEEP_WORKDIR:-0}" = 1 ] || rm -rf "$WORKDIR"
}
trap cleanup EXIT
cd "$WORKDIR"
ISSUER="http://127.0.0.1:$PORT"
export TESSERA_BIND="127.0.0.1:$PORT" TESSERA_ISSUER="$ISSUER" TESSERA_LOG=warn NO_COLOR=1 \
       TESSERA_SESSION_COOKIE_SECURE=false TESSERA_DATABASE_URL="sqlite://$WORKDIR/tessera.db?mode=rwc" \
       TESSERA_KEK_FILE="$WORKDIR/kek" TESSERA_KEY_REFRESH_INTERVAL=60s
"$BIN" migrate >/dev/null
PASSWORD="bench-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "$PASSWORD" | "$BIN" users create --username root --role tessera-admin --password-stdin >/dev/null
t0=$(date +%s.%N)
"$BIN" dev seed --clients "$CLIENTS" --users "$USERS" --revocations 0 --families 0 --audit "$AUDIT" >seed.json
echo "seeded $CLIENTS clients, $USERS users, $AUDIT audit entries in $(python3 -c "print(round($(date +%s.%N)-$t0,1))") s"
"$BIN" serve >serve.log 2>&1 &
SERVER=$!
for _ in $(seq 400); do curl -sf "$ISSUER/readyz" >/dev/null && break; sleep 0.05; done
curl -sf "$ISSUER/readyz" >/dev/null || { echo "server did not start"; cat serve.log; exit 1; }

# Sign in as a browser would: the console sends us to the login page, the form goes back.
JAR="$WORKDIR/jar.txt"
LOGIN=$(curl -s -c "$JAR" -b "$JAR" -o /dev/null -w '%{redirect_url}' "$ISSUER/console")
PAGE=$(curl -s -c "$JAR" -b "$JAR" "$LOGIN")
field() { echo "$PAGE" | sed -n "s/.*name=\"$1\" value=\"\([^\"]*\)\".*/\1/p"; }
CALLBACK=$(curl -s -c "$JAR" -b "$JAR" -o /dev/null -w '%{redirect_url}' \
    --data-urlencode "request=$(field request)" --data-urlencode "csrf=$(field csrf)" \
    -d username=root --data-urlencode "password=$PASSWORD" "$ISSUER/oauth/login")
curl -s -c "$JAR" -b "$JAR" -o /dev/null "$CALLBACK"
status=$(curl -s -b "$JAR" -o /dev/null -w '%{http_code}' "$ISSUER/console")
[ "$status" = 200 ] || { echo "sign-in failed (GET /console: $status)"; cat serve.log; exit 1; }

# An older page of the unfiltered audit log (its "Older entries" link).
OLDER=$(curl -s -b "$JAR" "$ISSUER/console/audit" | sed -n 's/.*href="\/console\/audit?\([^"]*\)">Older entries.*/\1/p' | sed 's/&amp;/\&/g; s/&#38;/\&/g' | sed -n 1p)
WEEK_AGO=$(python3 -c "import time; print(time.strftime('%Y-%m-%dT%H:%M', time.gmtime(time.time()-7*86400)))")
SIX_DAYS=$(python3 -c "import time; print(time.strftime('%Y-%m-%dT%H:%M', time.gmtime(time.time()-6*86400)))")
PAGES=(
    "/console"
    "/console/keys"
    "/console/audit"
    "/console/audit?$OLDER"
    "/console/audit?actor=user%3Aseed-admin7"
    "/console/audit?action=key.revoke"
    "/console/audit?actor=seed-client-4&action=client.update"
    "/console/audit?from=$WEEK_AGO&to=$SIX_DAYS"
    "/console/clients"
    "/console/users"
    "/account"
)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }
HZ=$(getconf CLK_TCK)
printf '\n%-62s %8s %10s %12s\n' "page" "requests" "bytes" "CPU ms/page"
for p in "${PAGES[@]}"; do
    code=$(curl -s -b "$JAR" -o body.html -w '%{http_code}' "$ISSUER$p")
    if [ "$code" != 200 ]; then
        printf '%-62s %8s\n' "$p" "skipped ($code)"
        continue
    fi
    bytes=$(wc -c <body.html)
    : >urls.txt
    for _ in $(seq "$WARMUP"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$ISSUER$p" >>urls.txt; done
    curl -s -b "$JAR" -K urls.txt
    : >urls.txt
    for _ in $(seq "$REQUESTS"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$ISSUER$p" >>urls.txt; done
    before=$(cpu_ticks)
    curl -s -b "$JAR" -K urls.txt
    after=$(cpu_ticks)
    ms=$(python3 -c "print(f'{($after - $before) * 1000 / $HZ / $REQUESTS:.3f}')")
    printf '%-62s %8s %10s %12s\n' "$p" "$REQUESTS" "$bytes" "$ms"
done
echo
echo "binary: $BIN ($("$BIN" --version 2>/dev/null || echo unknown)); server CPU per request from /proc/$SERVER/stat at ${HZ} Hz"

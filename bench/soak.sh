#!/usr/bin/env bash
# Soak: a steady load (client_credentials tokens and JWKS fetches, alternating) for
# SOAK_SECONDS (default 600), sampling the server's RSS every 10 s and counting non-2xx
# answers and socket errors. A benchmark, not a test: it prints figures (RSS as a ratio of
# the first sample after warm-up), it asserts nothing.
#
#   bench/soak.sh                         # 10 minutes on SQLite; needs wrk and jq
#   SOAK_SECONDS=120 bench/soak.sh        # shorter
#   SOAK_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test SOAK_DATABASE_SCHEMA=soak bench/soak.sh
#
# The rate is held steady by a fixed pause per request on each connection (wrk's
# `delay()`): CONNECTIONS / (PAUSE_MS + latency) requests per second.
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_SECONDS="${SOAK_SECONDS:-600}"
PORT="${PORT:-18090}"
CONNECTIONS="${CONNECTIONS:-8}"
PAUSE_MS="${PAUSE_MS:-10}"
BIN="${BENCH_TESSERA_BIN:-target/release/tessera}"
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq is required (apt-get install jq)" >&2; exit 1; }
[ -x "$BIN" ] || cargo build --release -p tessera
BIN="$(realpath "$BIN")"

WORK="$(mktemp -d)"
SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; cp "$WORK/serve.log" /tmp/soak-serve.log 2>/dev/null || true; rm -rf "$WORK"' EXIT
cd "$WORK"
export TESSERA_BIND="127.0.0.1:$PORT" TESSERA_ISSUER="http://127.0.0.1:$PORT" TESSERA_LOG=warn
# One load generator on one IP is not what the per-IP token limit is for: off by default.
export TESSERA_TOKEN_RATE_PER_IP="${TOKEN_RATE_PER_IP:-0}"
if [ -n "${SOAK_DATABASE_URL:-}" ]; then
    export TESSERA_DATABASE_URL="$SOAK_DATABASE_URL"
    if [ -n "${SOAK_DATABASE_SCHEMA:-}" ]; then
        export TESSERA_DATABASE_SCHEMA="$SOAK_DATABASE_SCHEMA"
        psql "$SOAK_DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $SOAK_DATABASE_SCHEMA CASCADE; CREATE SCHEMA $SOAK_DATABASE_SCHEMA"
    fi
fi
"$BIN" serve >serve.log 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

CC=$("$BIN" clients create --name soak --scope read --audience https://api --json)
BASIC=$(printf '%s:%s' "$(echo "$CC" | jq -r .client_id)" "$(echo "$CC" | jq -r .client_secret)" | base64 -w0)
cat >soak.lua <<LUA
local n = 0
request = function()
  n = n + 1
  if n % 2 == 0 then
    return wrk.format("GET", "/.well-known/jwks.json")
  end
  return wrk.format("POST", "/oauth/token",
    { ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = "Basic $BASIC" },
    "grant_type=client_credentials")
end
delay = function() return $PAUSE_MS end
LUA

rss() { awk '/VmRSS/ {print $2}' "/proc/$SERVER/status"; }
: >rss.txt
(
    while kill -0 "$SERVER" 2>/dev/null; do
        printf '%s %s\n' "$(date +%s)" "$(rss)" >>rss.txt
        sleep 10
    done
) &
SAMPLER=$!
wrk -t2 -c"$CONNECTIONS" -d"${SOAK_SECONDS}s" --latency -s soak.lua "http://127.0.0.1:$PORT" | tee wrk.txt
kill "$SAMPLER" 2>/dev/null || true
printf '%s %s\n' "$(date +%s)" "$(rss)" >>rss.txt

echo
echo "=== soak: ${SOAK_SECONDS}s, $CONNECTIONS connections, ${PAUSE_MS} ms pause per request"
REQS=$(awk '/requests in/ {print $1}' wrk.txt)
NON2XX=$(awk '/Non-2xx/ {print $NF}' wrk.txt)
SOCK=$(awk '/Socket errors/ {print}' wrk.txt)
echo "requests: $REQS ($(awk '/Requests\/sec/ {print $2}' wrk.txt) per second)"
echo "non-2xx: ${NON2XX:-0}   socket errors: ${SOCK:-none}"
echo "RSS samples (KiB, every 10 s): $(awk '{print $2}' rss.txt | tr '\n' ' ')"
# The first sample is taken before load; the reference is the second (after warm-up).
awk 'NR==2 {ref=$2} {last=$2; if ($2>max) max=$2}
     END { if (ref) printf "RSS last/warm = %.3f, max/warm = %.3f (warm %d KiB)\n", last/ref, max/ref, ref }' rss.txt
echo "server log lines with error/panic: $(grep -ci 'error\|panic' serve.log || true)"

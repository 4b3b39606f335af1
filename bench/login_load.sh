#!/usr/bin/env bash
# JWKS and client_credentials p99 while password grants saturate argon2, next to the same
# p99 without that load (issue: "100 concurrent logins never stall JWKS or
# client_credentials"). A benchmark, not a test: it prints figures, it asserts nothing.
#
#   bench/login_load.sh            # builds release if needed; needs wrk (apt-get install wrk)
#   DURATION=20 bench/login_load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10}"
PORT="${PORT:-18080}"
BIN="${BENCH_TESSERA_BIN:-target/release/tessera}"
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
[ -x "$BIN" ] || cargo build --release -p tessera
BIN="$(realpath "$BIN")"

WORK="$(mktemp -d)"
trap 'kill $SERVER 2>/dev/null || true; cp "$WORK/serve.log" /tmp/bench-serve.log 2>/dev/null || true; rm -rf "$WORK"' EXIT
cd "$WORK"
export TESSERA_BIND="127.0.0.1:$PORT" TESSERA_ISSUER="http://127.0.0.1:$PORT" TESSERA_LOG=warn
"$BIN" serve >serve.log 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

CC=$("$BIN" clients create --name svc --scope read --audience https://api --json)
APP=$("$BIN" clients create --name app --grant password --scope read --audience https://api --json)
echo 'correct horse battery' | "$BIN" users create --username alice --password-stdin >/dev/null
basic() { printf '%s:%s' "$(echo "$1" | jq -r .client_id)" "$(echo "$1" | jq -r .client_secret)" | base64 -w0; }

cat >cc.lua <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(basic "$CC")"
LUA
cat >login.lua <<LUA
wrk.method = "POST"
wrk.body = "grant_type=password&username=alice&password=correct+horse+battery"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(basic "$APP")"
LUA

# p99 in milliseconds and requests/s of one wrk run.
measure() { # url [script]
    local out
    out=$(wrk -t1 -c8 -d"${DURATION}s" --latency ${2:+-s "$2"} "$1")
    local p99 rps
    p99=$(echo "$out" | awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')
    rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
    echo "$p99 $rps"
}
JWKS="http://127.0.0.1:$PORT/.well-known/jwks.json"
TOKEN="http://127.0.0.1:$PORT/oauth/token"

read -r jwks_p99 jwks_rps < <(measure "$JWKS")
read -r cc_p99 cc_rps < <(measure "$TOKEN" cc.lua)

# Saturate argon2 with 100 concurrent logins for the whole measurement.
wrk -t1 -c100 -d"$((2 * DURATION + 10))s" -s login.lua "$TOKEN" >login.out &
LOAD=$!
sleep 3
read -r jwks_p99_l jwks_rps_l < <(measure "$JWKS")
read -r cc_p99_l cc_rps_l < <(measure "$TOKEN" cc.lua)
wait $LOAD || true
logins=$(awk '/Requests\/sec/{print $2}' login.out)

printf '\n%-28s %12s %12s %12s %12s %8s\n' case "p99 idle ms" "p99 load ms" "req/s idle" "req/s load" "p99 x"
printf '%-28s %12s %12s %12s %12s %8.2f\n' "JWKS GET" "$jwks_p99" "$jwks_p99_l" "$jwks_rps" "$jwks_rps_l" "$(echo "$jwks_p99_l / $jwks_p99" | bc -l)"
printf '%-28s %12s %12s %12s %12s %8.2f\n' "client_credentials" "$cc_p99" "$cc_p99_l" "$cc_rps" "$cc_rps_l" "$(echo "$cc_p99_l / $cc_p99" | bc -l)"
echo "password grants during the load phase: $logins req/s (100 connections, argon2id 19 MiB t=2)"
echo "machine: $(nproc) CPUs; $(uname -sr); $("$BIN" --version)"

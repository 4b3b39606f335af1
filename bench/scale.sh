#!/usr/bin/env bash
# Tessera at scale: the same binary and the same database, measured empty, then seeded with a
# large registry, every ratio from one run (issue #22; results in BENCHMARKS.md "Scale").
#
#   bench/scale.sh                     # SQLite and PostgreSQL; ~10 min plus the release build
#   SKIP_PG=1 bench/scale.sh           # SQLite only
#
# For each database (SQLite file; PostgreSQL schema tessera_scale_<pid> at PG_URL, dropped after):
#   1. an empty registry: the bench clients (client_credentials ES256, password, admin, feed
#      reader) and one user; measure (below);
#   2. `tessera dev seed` (hidden developer command, straight through the storage layer, bulk
#      inserts in transactions, one precomputed argon2 hash for every user): CLIENTS clients,
#      USERS users, REVOCATIONS live revoked jtis, FAMILIES refresh families with a live token;
#   3. measure again, with the same server settings (key_refresh_interval 2 s: the periodic
#      refresh runs during every load run).
# Measured (server on CPU 0 with one worker thread, load on CPU 1, as bench/run.sh):
#   client_credentials ES256 req/s and p99 (wrk -c CONNS), password grant p99 (wrk -c LOGIN_CONNS,
#   argon2-bound), introspection req/s and p99, one feed page (1000) and a full first sync of the
#   feed (server CPU from /proc/<pid>/stat, bytes on the wire with gzip, limit=1000 and 10000),
#   admin client list first and deep page (median time to first byte of REPEAT requests),
#   idle RSS (VmRSS 2 s after start), server CPU while idle for IDLE_S=10 s (the periodic work),
#   server CPU per request of each load run, peak RSS (VmHWM after the load), and, seeded, the memory a
#   tessera-verify verifier holds after syncing the feed (`tessera dev feed-memory`).
#
# Knobs: DURATION=6 WARMUP=1 CONNS=16 LOGIN_CONNS=4 REPEAT=21 CLIENTS=100000 USERS=1000000
#        REVOCATIONS=100000 FAMILIES=100000 PG_URL=postgres://postgres@127.0.0.1:5432/test SKIP_PG=0
#        TESSERA_BIN=<path> (else builds target/release; SKIP_BUILD=1 uses it as it is)
#        DBS=sqlite|postgres (one of them only; default both)
#        PORT=18500 WORKDIR=<mktemp> KEEP_WORKDIR=0 MD=BENCHMARKS.md (WRITE_MD=0: print only)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
DURATION="${DURATION:-6}" WARMUP="${WARMUP:-1}" CONNS="${CONNS:-16}" LOGIN_CONNS="${LOGIN_CONNS:-4}"
REPEAT="${REPEAT:-21}"
CLIENTS="${CLIENTS:-100000}" USERS="${USERS:-1000000}" REVOCATIONS="${REVOCATIONS:-100000}" FAMILIES="${FAMILIES:-100000}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
PORT="${PORT:-18500}"
MD="${MD:-$ROOT/BENCHMARKS.md}"
LUA="$HERE/peer/post-form-basic.lua"
log() { printf '\n== %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
NCPU="$(nproc)"
[ "$NCPU" -ge 2 ] || { echo "needs at least 2 CPUs (server on CPU 0, load on CPU 1)" >&2; exit 1; }
for t in wrk curl python3; do have "$t" || { echo "needs $t (apt-get install wrk curl python3)" >&2; exit 1; }; done

WORKDIR="${WORKDIR:-$(mktemp -d /tmp/tessera-scale.XXXXXX)}"
mkdir -p "$WORKDIR"
RESULTS="$WORKDIR/results.txt"; : > "$RESULTS"
SERVER_PID="" PG_SCHEMA=""
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
cleanup() {
  set +e
  stop_server
  [ -z "$PG_SCHEMA" ] || psql -q "$PG_URL" -c "DROP SCHEMA IF EXISTS $PG_SCHEMA CASCADE" >/dev/null 2>&1
  if [ "${KEEP_WORKDIR:-0}" != 1 ]; then rm -rf "$WORKDIR"; else echo "raw logs kept in $WORKDIR" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- binary
if [ -n "${TESSERA_BIN:-}" ]; then
  BIN="$TESSERA_BIN"
else
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/tessera"
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "cargo build --release -p tessera --bin tessera"
    (cd "$ROOT" && cargo build --release -p tessera --bin tessera) > "$WORKDIR/build.log" 2>&1 \
      || { tail -40 "$WORKDIR/build.log" >&2; exit 1; }
  fi
fi
BIN="$(realpath "$BIN")"; [ -x "$BIN" ] || { echo "no tessera binary at $BIN" >&2; exit 1; }
taskset -pc 1 $$ >/dev/null

record() { echo "$*" | tee -a "$RESULTS" >&2; }
HZ="$(getconf CLK_TCK)"
cpu_ticks() { local l; read -r l < "/proc/$SERVER_PID/stat"; l="${l##*) }"; set -- $l; echo $(( ${12} + ${13} )); }
kib() { awk -v k="$1:" '$1==k {print $2}' "/proc/$SERVER_PID/status"; }
jf() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[sys.argv[1]])' "$1"; }

tessera_env() { # tessera_env DIR DB_URL [SCHEMA]
  printf '%s\n' "TESSERA_BIND=127.0.0.1:$PORT" "TESSERA_ISSUER=http://127.0.0.1:$PORT" \
    "TESSERA_DATABASE_URL=$2" "TESSERA_KEK_FILE=$1/kek" TESSERA_WORKERS=1 TESSERA_LOG=warn \
    TESSERA_TOKEN_RATE_PER_IP=0 TESSERA_TOKEN_RATE_PER_CLIENT=0
  [ -z "${3:-}" ] || echo "TESSERA_DATABASE_SCHEMA=$3"
}
tcli() { local envf="$1" e; shift; mapfile -t e < "$envf"; (cd "$WORKDIR" && env "${e[@]}" "$BIN" "$@"); }
start_server() { # start_server ENVFILE LOG
  local e; mapfile -t e < "$1"
  (cd "$WORKDIR" && exec env "${e[@]}" taskset -c 0 "$BIN" serve) >> "$2" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$2" >&2; return 1; }
    sleep 0.1
  done
  echo "no answer from tessera" >&2; return 1
}

wrk_run() { # wrk_run LABEL PATH CONNS ENV=VAL... -> RESULT line, with the server's CPU per request
  local label="$1" path="$2" conns="$3" t0 t1; shift 3
  env "$@" WRK_LABEL=warmup timeout $((WARMUP + 10)) wrk -t1 -c"$conns" -d"${WARMUP}s" -s "$LUA" "http://127.0.0.1:$PORT$path" >/dev/null 2>&1 || true
  t0="$(cpu_ticks)"
  env "$@" WRK_LABEL="$label" timeout $((DURATION + 15)) wrk -t1 -c"$conns" -d"${DURATION}s" --timeout 5s --latency -s "$LUA" \
    "http://127.0.0.1:$PORT$path" > "$WORKDIR/wrk-$label.log" 2>&1 || true
  t1="$(cpu_ticks)"
  # Server CPU per request (µs): on a shared machine, the work per request even when the
  # latency percentiles carry other processes' noise.
  grep '^RESULT' "$WORKDIR/wrk-$label.log" | awk -v t="$(( t1 - t0 ))" -v hz="$HZ" \
    '{ for (i = 1; i <= NF; i++) if ($i ~ /^reqs=/) { split($i, r, "="); n = r[2] }
       printf "%s server_cpu_us_per_req=%.1f\n", $0, (n > 0 ? 1e6 * t / hz / n : 0) }' \
    | tee -a "$RESULTS" >&2 || record "RESULT label=$label FAILED"
}

ttfb_ms() { # ttfb_ms URL CURL_ARGS... : median time to first byte of REPEAT requests, ms
  local url="$1"; shift
  for _ in $(seq 1 "$REPEAT"); do curl -s -o /dev/null -w '%{time_starttransfer}\n' "$@" "$url"; done \
    | sort -n | awk '{a[NR]=$1} END {printf "%.2f", 1000*a[int((NR+1)/2)]}'
}

feed_sync() { # feed_sync LABEL LIMIT : a full first sync, gzip accepted; server CPU ms, bytes, pages
  local label="$1" limit="$2" t0 t1 out
  t0="$(cpu_ticks)"
  out="$(python3 - "http://127.0.0.1:$PORT/oauth/revocations" "$FEED_ID" "$FEED_SECRET" "$limit" <<'PY'
import base64, gzip, json, sys, urllib.request
url, cid, secret, limit = sys.argv[1:]
auth = "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()
since, pages, wire, plain, entries = None, 0, 0, 0, 0
while True:
    q = f"?limit={limit}" + (f"&since={since}" if since else "")
    req = urllib.request.Request(url + q, headers={"Authorization": auth, "Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req) as r:
        body = r.read(); wire += len(body)
        if r.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
    plain += len(body); pages += 1
    d = json.loads(body); entries += len(d["revoked"]) + len(d["subjects"]); since = d["cursor"]
    if not d["more"]:
        break
print(f"pages={pages} entries={entries} wire_bytes={wire} json_bytes={plain}")
PY
)"
  t1="$(cpu_ticks)"
  record "FEED label=$label limit=$limit $out server_cpu_ms=$(( (t1 - t0) * 1000 / HZ ))"
}

measure() { # measure DB PHASE ENVFILE
  local db="$1" phase="$2" envf="$3" base="http://127.0.0.1:$PORT" tok cursor t0 t1
  log "$db / $phase: measuring"
  start_server "$envf" "$WORKDIR/$db-serve.log"
  sleep 2
  record "RSS db=$db phase=$phase what=idle vmrss_kib=$(kib VmRSS)"
  # Periodic work with no requests (key and discovery refresh every 2 s, the clean-ups):
  # server CPU over IDLE_S seconds.
  t0="$(cpu_ticks)"; sleep "${IDLE_S:-10}"; t1="$(cpu_ticks)"
  record "IDLECPU db=$db phase=$phase secs=${IDLE_S:-10} server_cpu_ms=$(( (t1 - t0) * 1000 / HZ ))"
  wrk_run "$db-$phase-cc" /oauth/token "$CONNS" CLIENT_ID="$CC_ID" CLIENT_SECRET="$CC_SECRET" FORM_BODY='grant_type=client_credentials&scope=api%3Aread'
  wrk_run "$db-$phase-password" /oauth/token "$LOGIN_CONNS" CLIENT_ID="$PW_ID" CLIENT_SECRET="$PW_SECRET" \
    FORM_BODY='grant_type=password&username=alice&password=correct+horse+battery'
  tok="$(curl -s -u "$CC_ID:$CC_SECRET" -d 'grant_type=client_credentials&scope=api%3Aread' "$base/oauth/token" | jf access_token)"
  wrk_run "$db-$phase-introspect" /oauth/introspect "$CONNS" CLIENT_ID="$CC_ID" CLIENT_SECRET="$CC_SECRET" FORM_BODY="token=$tok"
  record "FEEDPAGE db=$db phase=$phase ms=$(ttfb_ms "$base/oauth/revocations" -u "$FEED_ID:$FEED_SECRET" -H 'Accept-Encoding: gzip')"
  feed_sync "$db-$phase" 1000
  feed_sync "$db-$phase" 10000
  tok="$(curl -s -u "$ADMIN_ID:$ADMIN_SECRET" -d 'grant_type=client_credentials&scope=tessera%3Aclients&resource=urn%3Atessera%3Aadmin' "$base/oauth/token" | jf access_token)"
  record "ADMIN db=$db phase=$phase page=first ms=$(ttfb_ms "$base/admin/v1/clients?limit=50" -H "Authorization: Bearer $tok")"
  if [ "$phase" = seeded ]; then cursor="$DEEP_CURSOR"; else
    cursor="$(curl -s -H "Authorization: Bearer $tok" "$base/admin/v1/clients?limit=2" | jf next_cursor)"; fi
  record "ADMIN db=$db phase=$phase page=deep ms=$(ttfb_ms "$base/admin/v1/clients?limit=50&cursor=$cursor" -H "Authorization: Bearer $tok")"
  curl -sf -o /dev/null -H "Authorization: Bearer $tok" "$base/admin/v1/clients?limit=50&cursor=$cursor" || record "ADMIN deep page FAILED"
  if [ "$phase" = seeded ]; then
    record "VERIFIER db=$db $(TESSERA_DEV_CLIENT_SECRET="$FEED_SECRET" "$BIN" dev feed-memory --issuer "$base" --client-id="$FEED_ID" \
      | python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(f"{k}={v}" for k,v in d.items()))')"
  fi
  record "RSS db=$db phase=$phase what=peak vmhwm_kib=$(kib VmHWM)"
  stop_server
}

run_db() { # run_db NAME DB_URL [SCHEMA]
  local db="$1" dir="$WORKDIR/$1" seeded
  mkdir -p "$dir"; tessera_env "$dir" "$2" "${3:-}" > "$dir/env"
  log "$db: empty registry (bench clients and one user)"
  start_server "$dir/env" "$WORKDIR/$db-serve.log"; stop_server   # keys
  tcli "$dir/env" clients create --name cc --scope api:read --audience https://api.example --alg ES256 --json > "$dir/cc.json"
  tcli "$dir/env" clients create --name login --grant password --scope api:read --audience https://api.example --json > "$dir/pw.json"
  tcli "$dir/env" clients create --name feed --audience https://api.example --json > "$dir/feed.json"
  tcli "$dir/env" clients create --name admin --admin --json > "$dir/admin.json"
  echo 'correct horse battery' | tcli "$dir/env" users create --username alice --password-stdin > /dev/null
  CC_ID="$(jf client_id < "$dir/cc.json")" CC_SECRET="$(jf client_secret < "$dir/cc.json")"
  PW_ID="$(jf client_id < "$dir/pw.json")" PW_SECRET="$(jf client_secret < "$dir/pw.json")"
  FEED_ID="$(jf client_id < "$dir/feed.json")" FEED_SECRET="$(jf client_secret < "$dir/feed.json")"
  ADMIN_ID="$(jf client_id < "$dir/admin.json")" ADMIN_SECRET="$(jf client_secret < "$dir/admin.json")"
  measure "$db" empty "$dir/env"
  log "$db: seeding $CLIENTS clients, $USERS users, $REVOCATIONS revocations, $FAMILIES refresh families"
  seeded="$(tcli "$dir/env" dev seed --clients "$CLIENTS" --users "$USERS" --revocations "$REVOCATIONS" --families "$FAMILIES")"
  record "SEED db=$db $(echo "$seeded" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("secs=%.1f" % d["secs"])')"
  # A database that grew over months has been vacuumed: do it now rather than let autovacuum
  # (on the same two cores) run during the seeded measurement.
  [ -z "${3:-}" ] || psql -q "$PG_URL" -c "SET search_path TO $3" -c "VACUUM ANALYZE" >/dev/null
  sleep 3
  DEEP_CURSOR="$(echo "$seeded" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seeded"]["deep_client_cursor"])')"
  measure "$db" seeded "$dir/env"
}

{
  echo "META tessera=$("$BIN" --version | awk '{print $2}') git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "META cpu=$(lscpu | sed -n 's/^Model name: *//p' | tr ' ' '_') cpus=$NCPU date=$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "META settings=DURATION=${DURATION}s,CONNS=$CONNS,LOGIN_CONNS=$LOGIN_CONNS,clients=$CLIENTS,users=$USERS,revocations=$REVOCATIONS,families=$FAMILIES"
} | tee -a "$RESULTS" >&2

[ "${DBS:-}" = postgres ] || run_db sqlite "sqlite://$WORKDIR/sqlite/tessera.db?mode=rwc"
if [ "${SKIP_PG:-0}" != 1 ] && [ "${DBS:-}" != sqlite ]; then
  if psql -q "$PG_URL" -c 'select 1' >/dev/null 2>&1; then
    PG_SCHEMA="tessera_scale_$$"
    psql -q "$PG_URL" -c "CREATE SCHEMA $PG_SCHEMA" >/dev/null
    run_db postgres "$PG_URL" "$PG_SCHEMA"
    psql -q "$PG_URL" -c "DROP SCHEMA $PG_SCHEMA CASCADE" >/dev/null && PG_SCHEMA=""
  else
    echo "PostgreSQL not reachable at $PG_URL: skipped" >&2
  fi
fi

log "report"
python3 "$HERE/scale_report.py" "$RESULTS" "$MD" "${WRITE_MD:-1}"

#!/usr/bin/env bash
# Tessera side-by-side benchmark: one command, every ratio measured in the same run.
#
#   bench/run.sh            # from the repository root or anywhere; ~11 min from a clean clone
#                           # (the release build, ~7.5 min on 2 cores, overlaps the installs)
#
# What it does (loopback only, 127.0.0.1):
#   - installs what is missing: wrk + nginx-light (apt-get), postgresql-client (apt-get, for the
#     PostgreSQL case), the node-oidc-provider peer (`npm ci` from bench/peer/, pinned versions),
#     matplotlib (pip --user) for the chart;
#   - builds `tessera` in release (`cargo build --release -p tessera --bin tessera`) in the
#     background while those installs run;
#   - pins every server (Tessera with ONE worker thread, nginx with one worker, node) to CPU 0 and
#     runs itself and the load generator (wrk -t1) on CPU 1;
#   - measures each case for DURATION seconds after WARMUP seconds, each load run bounded by
#     `timeout`; before each run waits (up to QUIET_WAIT_S) for the box to be quiet and records the
#     CPU used meanwhile by processes that are not ours (foreign_cpu_pct, % of one core);
#   - writes bench/results.json, BENCHMARKS.md (table: machine, versions, every ratio, goal met or
#     not) and bench/chart.png; stops every process it started (trap on EXIT).
#
# Cases (goal):
#   client_credentials ES256 / `openssl speed ecdsap256` sign/s on CPU 0      (>= 0.60)
#   client_credentials RS256 / `openssl speed rsa2048` sign/s on CPU 0        (>= 0.90)
#   client_credentials ES256 with an ES256 DPoP proof / the plain ES256 case  (>= 0.45)
#   token exchange ES256 (RFC 8693) / the plain ES256 case                     (report)
#   client_credentials ES256 authenticated with private_key_jwt (a fresh ES256 client
#     assertion per request) / the plain ES256 case (client_secret_basic), SQLite and
#     PostgreSQL                                                               (>= 0.45)
#   JWKS GET / nginx serving the same bytes, same pinning                      (>= 0.90)
#   client_credentials ES256 / RS256 / node-oidc-provider, same pinning        (>= 10x / >= 1.7x)
#   refresh grant (a DB write each) on SQLite and PostgreSQL: req/s, p99       (SQLite >= 3000/s)
#   JWKS and client_credentials p99 while password grants saturate argon2,
#     over the same p99 measured just before without that load                 (<= 2x)
#   RSS idle / peak (VmRSS after start, VmHWM after all load)                  (<= 20 / 64 MiB)
#   start to first 200 on /healthz, SQLite, keys present (median of STARTS)    (<= 200 ms)
#   client_credentials ES256 (and RS256) with the keys in SoftHSM2 (pkcs11) / the same request
#     with local keys, measured back to back in the same run                  (>= 0.5)
#
# Knobs (environment, defaults):
#   DURATION=6 WARMUP=1 CONNS=16 (wrk connections) LOGIN_CONNS=100 STARTS=3
#   REFRESH_POOL=48 (refresh tokens in circulation; keep it above CONNS)
#   DPOP_POOL=200000 (pre-generated DPoP proofs, and private_key_jwt assertions, for the
#          measured DPoP and private_key_jwt runs; keep it above
#          rate x DURATION, unused ones are simply left)
#   NICE=0 (e.g. -10 on a box shared with niced compiles; needs root)
#   QUIET_MAX_PCT=15 QUIET_WAIT_S=10
#   PG_URL=postgres://postgres@127.0.0.1:5432/test   (a schema tessera_bench_<pid> is created and
#          dropped there); SKIP_PG=1 skips PostgreSQL; SKIP_PEER=1 skips node-oidc-provider;
#          SKIP_NGINX=1 skips nginx
#   TESSERA_BIN=<path>   use this binary instead of building (SKIP_BUILD=1 uses target/release)
#   CASES="cc te jwks refresh argon2 nginx peer pg hsm" (default: all) runs only those groups, e.g.
#          CASES=refresh while working on the refresh path; the report then shows those rows
#   PORT_BASE=18400 (Tessera SQLite, +1 Tessera PostgreSQL, +2 nginx, +3 node)
#   WORKDIR=<mktemp>  KEEP_WORKDIR=0   OUT_DIR=bench (results.json, chart.png) MD=BENCHMARKS.md
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
DURATION="${DURATION:-6}"
WARMUP="${WARMUP:-1}"
CONNS="${CONNS:-16}"
LOGIN_CONNS="${LOGIN_CONNS:-100}"
REFRESH_POOL="${REFRESH_POOL:-48}"
DPOP_POOL="${DPOP_POOL:-200000}"
STARTS="${STARTS:-3}"
NICE="${NICE:-0}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
OUT_DIR="${OUT_DIR:-$HERE}"
MD="${MD:-$ROOT/BENCHMARKS.md}"
PORT_BASE="${PORT_BASE:-18400}"
export QUIET_MAX_PCT="${QUIET_MAX_PCT:-15}" QUIET_WAIT_S="${QUIET_WAIT_S:-10}"
T_START="$EPOCHREALTIME"

log() { printf '\n== %s\n' "$*" >&2; }
CASES=" ${CASES:-all} "
want() { [[ "$CASES" == *" all "* || "$CASES" == *" $1 "* ]]; }
have() { command -v "$1" >/dev/null 2>&1; }
NCPU="$(nproc)"   # before this script pins itself to CPU 1
[ "$NCPU" -ge 2 ] || { echo "needs at least 2 CPUs (server on CPU 0, load generator on CPU 1)" >&2; exit 1; }

WORKDIR="${WORKDIR:-$(mktemp -d /tmp/tessera-bench.XXXXXX)}"
mkdir -p "$WORKDIR"
chmod 755 "$WORKDIR"
RESULTS="$WORKDIR/results.txt"
: > "$RESULTS"
LUA="$HERE/peer/post-form-basic.lua"

# ---------------------------------------------------------------- process bookkeeping
SERVER_PID=""      # the server under test (its children and threads are counted with it)
SERVER_STOP=TERM   # QUIT for nginx (graceful stop of our master; its worker follows)
EXTRA_PIDS=""      # our background load (argon2 login storm), counted as ours, not foreign
PG_SCHEMA=""
BUILD_PID=""       # the background release build, while it runs
stop_pid() { # stop_pid PID [SIGNAL]  (only processes this script started)
  local pid="$1" sig="${2:-TERM}"
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -"$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}
stop_server() {
  local kids=""
  [ -n "$SERVER_PID" ] && kids="$(pgrep -P "$SERVER_PID" 2>/dev/null || true)"
  stop_pid "$SERVER_PID" "$SERVER_STOP"
  for k in $kids; do kill -0 "$k" 2>/dev/null && kill -KILL "$k" 2>/dev/null || true; done
  SERVER_PID=""; SERVER_STOP=TERM
}
cleanup() {
  set +e
  [ -z "$BUILD_PID" ] || { kill "$BUILD_PID" 2>/dev/null; wait "$BUILD_PID" 2>/dev/null; }
  for p in $EXTRA_PIDS; do stop_pid "$p"; done
  stop_server
  if [ -n "$PG_SCHEMA" ]; then psql -q "$PG_URL" -c "DROP SCHEMA IF EXISTS $PG_SCHEMA CASCADE" >/dev/null 2>&1; fi
  if [ "${KEEP_WORKDIR:-0}" != 1 ]; then rm -rf "$WORKDIR"; else echo "raw logs kept in $WORKDIR" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- build (background)
# The release build is most of a clean-clone run (~7.5 min on 2 cores, of which ~3 min is the
# single-threaded fat-LTO link): the installs below run meanwhile instead of after it.
if [ -n "${TESSERA_BIN:-}" ]; then
  BIN="$TESSERA_BIN"
else
  TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
  BIN="$TARGET/release/tessera"
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "cargo build --release -p tessera --bin tessera (in the background; log: $WORKDIR/build.log)"
    (cd "$ROOT" && exec cargo build --release -p tessera --bin tessera) > "$WORKDIR/build.log" 2>&1 &
    BUILD_PID=$!
  fi
fi

# ---------------------------------------------------------------- dependencies
apt_install() { # apt_install PKG...  (only when missing; root or sudo)
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  log "apt-get install $*"
  $sudo apt-get install -y -qq "$@" >/dev/null 2>&1 || { $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq "$@" >/dev/null; }
}
need_pkgs=()
have wrk || need_pkgs+=(wrk)
have nginx || [ -x /usr/sbin/nginx ] || [ "${SKIP_NGINX:-0}" = 1 ] || need_pkgs+=(nginx-light)
have psql || [ "${SKIP_PG:-0}" = 1 ] || need_pkgs+=(postgresql-client)
have openssl || need_pkgs+=(openssl)
have curl || need_pkgs+=(curl)
{ have softhsm2-util && [ -e /usr/lib/softhsm/libsofthsm2.so ]; } || ! want hsm || need_pkgs+=(softhsm2)
[ ${#need_pkgs[@]} -eq 0 ] || apt_install "${need_pkgs[@]}"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
if [ "${SKIP_PEER:-0}" != 1 ] && ! have npm; then apt_install nodejs npm || true; fi
if [ "${SKIP_PEER:-0}" != 1 ] && ! { have npm && [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -ge 20 ]; }; then
  echo "node >= 20 and npm not found: the node-oidc-provider peer is skipped (oidc-provider 9 needs node 20+)" >&2
  SKIP_PEER=1
fi
if ! python3 -c 'import matplotlib' 2>/dev/null; then
  log "pip install matplotlib (for the chart)"
  python3 -m pip install --quiet --user matplotlib 2>/dev/null || python3 -m pip install --quiet matplotlib
fi
P="$WORKDIR/node"
if [ "${SKIP_PEER:-0}" != 1 ] && want peer; then
  log "node-oidc-provider peer: npm ci (pinned versions from bench/peer/)"
  mkdir -p "$P"
  cp "$HERE/peer/package.json" "$HERE/peer/package-lock.json" "$HERE/peer/server-oidc-provider.mjs" "$P/"
  (cd "$P" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1)
fi

if [ -n "$BUILD_PID" ]; then
  log "waiting for the release build"
  if ! wait "$BUILD_PID"; then BUILD_PID=""; tail -40 "$WORKDIR/build.log" >&2; echo "release build failed" >&2; exit 1; fi
  BUILD_PID=""
fi
BIN="$(realpath "$BIN")"
[ -x "$BIN" ] || { echo "no tessera binary at $BIN" >&2; exit 1; }

# From here on this script, curl and the load generator run on CPU 1; servers are started
# with `taskset -c 0` explicitly.
taskset -pc 1 $$ >/dev/null

# ---------------------------------------------------------------- foreign-CPU accounting
# foreign = (user+nice+system ticks of all CPUs, /proc/stat) - (our server's ticks)
#           - (load generator's CPU via bash `times`), as % of one core (method of the peer
# scripts in bench/peer/). irq/softirq ticks are left out (loopback traffic is ours).
HZ="$(getconf CLK_TCK)"
sys_busy() { awk '/^cpu / {print $2+$3+$4; exit}' /proc/stat; }
our_ticks() { # "TOTAL SYSTEM" CPU ticks of our processes (utime + stime, and stime alone)
  local p t=0 k=0 line rest
  for p in ${SERVER_PID:-} $(pgrep -P "${SERVER_PID:-0}" 2>/dev/null) $EXTRA_PIDS $(for x in $EXTRA_PIDS; do pgrep -P "$x"; done 2>/dev/null); do
    read -r line < "/proc/$p/stat" 2>/dev/null || continue
    rest="${line##*) }"; set -- $rest; t=$(( t + ${12} + ${13} )); k=$(( k + ${13} ))
  done
  echo "$t $k"
}
# Ticks the hypervisor gave CPU 0's vCPU to someone else (/proc/stat "steal"): a slow phase
# of the host that no process here can see.
cpu0_steal() { awk '/^cpu0 / {print $9; exit}' /proc/stat; }
# "BUSY OURS TIME OURS_SYSTEM CPU0_STEAL" (the field order the awk below reads)
snap() { local o; o="$(our_ticks)"; echo "$(sys_busy) ${o% *} $EPOCHREALTIME ${o#* } $(cpu0_steal)"; }
foreign_pct() { # foreign_pct SNAP_BEFORE SNAP_AFTER EXTRA_OWN_SECONDS
  awk -v hz="$HZ" -v own="$3" -v a="$1" -v b="$2" 'BEGIN {split(a,x," "); split(b,y," ");
    f=((y[1]-x[1])-(y[2]-x[2]))/hz-own; if (f<0) f=0; printf "%.0f", 100*f/(y[3]-x[3])}'
}
server_pct() { # server_pct SNAP_BEFORE SNAP_AFTER [FIELD: 2 all CPU (default), 4 kernel only, 5 CPU 0 steal]
  awk -v hz="$HZ" -v a="$1" -v b="$2" -v f="${3:-2}" 'BEGIN {split(a,x," "); split(b,y," "); printf "%.1f", 100*((y[f]-x[f])/hz)/(y[3]-x[3])}'
}
wait_quiet() {
  local deadline=$(( ${EPOCHREALTIME%.*} + QUIET_WAIT_S )) fc a
  while :; do
    a="$(snap)"; sleep 1; fc="$(foreign_pct "$a" "$(snap)" 0)"
    [ "$fc" -lt "$QUIET_MAX_PCT" ] && return 0
    [ "${EPOCHREALTIME%.*}" -ge "$deadline" ] && { echo "  (box not quiet: foreign ${fc}% of a core; measuring anyway)" >&2; return 0; }
  done
}

# wrk_run LABEL URL [ENV=VAL...] : one measured run; appends a RESULT line with the CPU split.
wrk_run() {
  local label="$1" url="$2"; shift 2
  local logf="$WORKDIR/wrk-$label.log" script="${WRK_SCRIPT:-$LUA}" before after lgcpu
  # warm-up (unrecorded)
  env "$@" ${WARM_ENV:-} WRK_LABEL=warmup timeout $((WARMUP + 10)) nice -n "$NICE" wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$script" "$url" >/dev/null 2>&1 || true
  [ "${NO_QUIET_WAIT:-0}" = 1 ] || wait_quiet
  before="$(snap)"
  lgcpu="$( { env "$@" WRK_LABEL="$label" timeout $((DURATION + 15)) nice -n "$NICE" \
                wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 5s --latency -s "$script" "$url" > "$logf" 2>&1 || true
              times > "$WORKDIR/times.txt"
              awk 'NR==2 {split($1,u,"m"); split($2,s,"m"); print (u[1]*60+u[2])+(s[1]*60+s[2])}' "$WORKDIR/times.txt"; } )"
  after="$(snap)"
  local fc sc ssc stl lgp
  fc="$(foreign_pct "$before" "$after" "${lgcpu:-0}")"
  sc="$(server_pct "$before" "$after")"
  ssc="$(server_pct "$before" "$after" 4)"
  stl="$(server_pct "$before" "$after" 5)"
  lgp="$(awk -v c="${lgcpu:-0}" -v a="$before" -v b="$after" 'BEGIN{split(a,x," ");split(b,y," ");printf "%.0f",100*c/(y[3]-x[3])}')"
  if grep -q '^RESULT' "$logf"; then
    grep '^RESULT' "$logf" | sed "s/\$/ server_cpu_pct=$sc server_sys_pct=$ssc loadgen_cpu_pct=$lgp foreign_cpu_pct=$fc cpu0_steal_pct=$stl/" | tee -a "$RESULTS" >&2
  else
    echo "RESULT label=$label FAILED" | tee -a "$RESULTS" >&2; cat "$logf" >&2
  fi
}
record() { echo "$*" | tee -a "$RESULTS" >&2; }   # record KEY=VAL... as one line

calib() { # one-core crypto speed right now, on CPU 0 where the servers run
  local e r
  e=$(nice -n "$NICE" taskset -c 0 openssl speed -seconds 2 -mr ecdsap256 2>/dev/null | awk -F: '/^\+F4/ {printf "%.0f", $4}')
  r=$(nice -n "$NICE" taskset -c 0 openssl speed -seconds 2 -mr rsa2048 2>/dev/null | awk -F: '/^\+F2/ {printf "%.0f", $4}')
  record "CALIB label=$1 openssl_p256_sign_per_s=${e:-0} openssl_rsa2048_sign_per_s=${r:-0}"
}

wait_http() { # wait_http URL [tries of 0.05 s]
  for _ in $(seq 1 "${2:-400}"); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done
  echo "no answer from $1" >&2; return 1
}
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
rss_kib() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }
rss_record() { # rss_record LABEL : VmRSS (of which anonymous / file-backed) and VmHWM of the server
  record "RSS label=$1 vmrss_kib=$(rss_kib "$SERVER_PID" VmRSS) rssanon_kib=$(rss_kib "$SERVER_PID" RssAnon) rssfile_kib=$(rss_kib "$SERVER_PID" RssFile) vmhwm_kib=$(rss_kib "$SERVER_PID" VmHWM)"
}

# ---------------------------------------------------------------- Tessera
# tessera_env DIR PORT [DB_URL] [SCHEMA]: the environment of one Tessera instance
# (one VAR=value per line; read back with mapfile, so no word splitting or globbing)
tessera_env() {
  local dir="$1" port="$2" url="${3:-sqlite://$1/tessera.db?mode=rwc}" schema="${4:-}"
  printf '%s\n' "TESSERA_BIND=127.0.0.1:$port" "TESSERA_ISSUER=http://127.0.0.1:$port" \
    "TESSERA_DATABASE_URL=$url" "TESSERA_KEK_FILE=$dir/kek" TESSERA_WORKERS=1 TESSERA_LOG=warn \
    TESSERA_TOKEN_RATE_PER_IP=0 TESSERA_TOKEN_RATE_PER_CLIENT=0   # one load generator, one client: measure, do not throttle
  [ -z "$schema" ] || echo "TESSERA_DATABASE_SCHEMA=$schema"
}
tcli() { # tcli ENVFILE ARGS...
  local envf="$1" e; shift
  mapfile -t e < "$envf"
  (cd "$WORKDIR" && env "${e[@]}" "$BIN" "$@")
}
STARTUP_MS=""
start_tessera() { # start_tessera ENVFILE LOG -> SERVER_PID, STARTUP_MS (spawn to first 200 on /healthz)
  local envf="$1" logf="$2" port t0 t1="" line e
  mapfile -t e < "$envf"
  port="$(sed -n 's/^TESSERA_BIND=127.0.0.1:\([0-9]*\)$/\1/p' "$envf")"
  t0="$EPOCHREALTIME"
  (cd "$WORKDIR" && exec env "${e[@]}" nice -n "$NICE" taskset -c 0 "$BIN" serve) >> "$logf" 2>&1 &
  SERVER_PID=$!
  # Poll with bash's /dev/tcp (no fork per attempt) from CPU 1.
  for _ in $(seq 1 4000); do
    if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
      printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
      line=""; read -r -t 5 line <&3 || true
      exec 3<&- 3>&-
      if [[ "$line" == *" 200 "* ]]; then t1="$EPOCHREALTIME"; break; fi
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "tessera exited; log:" >&2; cat "$logf" >&2; return 1; }
    sleep 0.002
  done
  [ -n "$t1" ] || { echo "tessera did not answer /healthz" >&2; return 1; }
  STARTUP_MS="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b-a)*1000}')"
}
login_tokens() { # login_tokens BASE_URL APP_ID APP_SECRET N -> N refresh tokens, one per line
  local i
  for i in $(seq 1 "$4"); do
    curl -s -u "$2:$3" -d 'grant_type=password&username=alice&password=correct+horse+battery' "$1/oauth/token"
    echo
  done | python3 -c 'import json, sys; [print(json.loads(l)["refresh_token"]) for l in sys.stdin if l.strip()]'
}
mint_pools() { # mint_pools BASE_URL CLIENT NAME : refresh tokens for the warm-up and for the measured run
  login_tokens "$1" "$(cid "$2")" "$(csecret "$2")" $((CONNS + 8)) > "$WORKDIR/refresh-$3-warm.txt"
  login_tokens "$1" "$(cid "$2")" "$(csecret "$2")" "$REFRESH_POOL" > "$WORKDIR/refresh-$3.txt"
}
setup_clients() { # setup_clients ENVFILE PREFIX : registers the bench clients and user alice
  local envf="$1" p="$2"
  tcli "$envf" clients create --name cc-es256 --scope api:read --audience https://api.example --alg ES256 --json > "$WORKDIR/$p-cc-es256.json"
  tcli "$envf" clients create --name cc-rs256 --scope api:read --audience https://api.example --alg RS256 --json > "$WORKDIR/$p-cc-rs256.json"
  tcli "$envf" clients create --name app --grant password --grant refresh_token --scope api:read --audience https://api.example --json > "$WORKDIR/$p-app.json"
  tcli "$envf" clients create --name login --grant password --scope api:read --audience https://api.example --json > "$WORKDIR/$p-login.json"
  tcli "$envf" clients create --name te --grant client_credentials --grant token_exchange --scope api:read --audience https://api.example --exchange-audience https://orders.example --json > "$WORKDIR/$p-te.json"
  echo 'correct horse battery' | tcli "$envf" users create --username alice --password-stdin > /dev/null
  # private_key_jwt: an EC P-256 key whose public half is registered (no secret).
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORKDIR/$p-pkjwt.pem" 2>/dev/null
  local xy="$WORKDIR/$p-pkjwt-xy.bin"
  openssl pkey -in "$WORKDIR/$p-pkjwt.pem" -pubout -outform DER | tail -c 64 > "$xy"
  printf '{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","kid":"k1","x":"%s","y":"%s"}]}' \
    "$(head -c 32 "$xy" | b64url)" "$(tail -c 32 "$xy" | b64url)" > "$WORKDIR/$p-pkjwt-jwks.json"
  tcli "$envf" clients create --name cc-pkjwt --scope api:read --audience https://api.example --alg ES256 \
    --auth private_key_jwt --jwks-file "$WORKDIR/$p-pkjwt-jwks.json" --json > "$WORKDIR/$p-cc-pkjwt.json"
}
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
# pkjwt_run LABEL BASE_URL PREFIX: client_credentials with a fresh ES256 client assertion per
# request (one more P-256 verification and a group-committed replay record than the plain
# case). Assertions are single use and made just before each run.
pkjwt_run() {
  local label="$1" base="$2" p="$3"
  node "$HERE/client_assertions.mjs" $((DPOP_POOL / 5)) "$(cid "$p-cc-pkjwt")" "$base" "$WORKDIR/$p-pkjwt.pem" k1 > "$WORKDIR/pkjwt-warm.txt"
  node "$HERE/client_assertions.mjs" "$DPOP_POOL" "$(cid "$p-cc-pkjwt")" "$base" "$WORKDIR/$p-pkjwt.pem" k1 > "$WORKDIR/pkjwt.txt"
  WARM_ENV="ASSERTIONS_FILE=$WORKDIR/pkjwt-warm.txt" WRK_SCRIPT="$HERE/private_key_jwt.lua" wrk_run "$label" "$base/oauth/token" \
    CLIENT_SECRET=unused FORM_BODY="$CC_BODY" ASSERTIONS_FILE="$WORKDIR/pkjwt.txt"
}
cid() { json_field client_id < "$WORKDIR/$1.json"; }
csecret() { json_field client_secret < "$WORKDIR/$1.json"; }
CC_BODY='grant_type=client_credentials&scope=api%3Aread'

# ================================================================= versions / machine
{
  echo "META tessera=$("$BIN" --version | awk '{print $2}') git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "META rustc=$(rustc --version 2>/dev/null | awk '{print $2}' || echo '?')"
  echo "META cpu=$(lscpu | sed -n 's/^Model name: *//p' | tr ' ' '_') cpus=$NCPU kernel=$(uname -r)"
  echo "META wrk=$(dpkg-query -W -f='${Version}' wrk 2>/dev/null || echo '?') nginx=$("$NGINX" -v 2>&1 | sed 's|.*/||') openssl=$(openssl version | awk '{print $2}')"
  echo "META settings=DURATION=${DURATION}s,WARMUP=${WARMUP}s,CONNS=$CONNS,LOGIN_CONNS=$LOGIN_CONNS,NICE=$NICE,wrk_-t1"
  echo "META date=$(date -u +%Y-%m-%dT%H:%MZ)"
} | tee -a "$RESULTS" >&2

# ================================================================= SQLite instance
log "Tessera on SQLite: keys, clients, users"
S="$WORKDIR/sqlite"; mkdir -p "$S"; PORT=$PORT_BASE; BASE="http://127.0.0.1:$PORT"
tessera_env "$S" "$PORT" > "$S/env"
start_tessera "$S/env" "$S/serve.log"    # first start: generates the ES256 + RS256 keys
stop_server
setup_clients "$S/env" s

log "start to first 200 on /healthz (keys present), $STARTS starts"
for i in $(seq 1 "$STARTS"); do
  start_tessera "$S/env" "$S/serve.log"
  record "STARTUP label=sqlite run=$i ms=$STARTUP_MS"
  [ "$i" = "$STARTS" ] || stop_server
done
sleep 1
rss_record idle
# a token issued by the running server, verified by an independent check below
curl -s -u "$(cid s-cc-es256):$(csecret s-cc-es256)" -d "$CC_BODY" "$BASE/oauth/token" > "$WORKDIR/token-es256.json"
python3 - "$WORKDIR/token-es256.json" <<'PY' >&2
import json, sys, base64
t = json.load(open(sys.argv[1]))["access_token"]
h, p, s = t.split(".")
d = lambda x: json.loads(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))
print("token header", d(h), "claims", sorted(d(p)), "sig bytes", len(base64.urlsafe_b64decode(s + "==")))
PY

CLIENT_ID="$(cid s-cc-es256)" CLIENT_SECRET="$(csecret s-cc-es256)"
curl -s "$BASE/.well-known/jwks.json" > "$WORKDIR/jwks.json"
if want cc; then
  log "client_credentials"
  calib cc-es256
  wrk_run tessera-cc-es256 "$BASE/oauth/token" CLIENT_ID="$CLIENT_ID" CLIENT_SECRET="$CLIENT_SECRET" FORM_BODY="$CC_BODY"
  # The same grant with an ES256 DPoP proof per request: one more P-256 verification and a
  # replay record (group-committed). Proofs are single use and made just before each run.
  node "$HERE/dpop_proofs.mjs" $((DPOP_POOL / 5)) "$BASE/oauth/token" > "$WORKDIR/dpop-warm.txt"
  node "$HERE/dpop_proofs.mjs" "$DPOP_POOL" "$BASE/oauth/token" > "$WORKDIR/dpop.txt"
  WARM_ENV="DPOP_PROOFS_FILE=$WORKDIR/dpop-warm.txt" WRK_SCRIPT="$HERE/dpop.lua" wrk_run tessera-cc-es256-dpop "$BASE/oauth/token" \
    CLIENT_ID="$CLIENT_ID" CLIENT_SECRET="$CLIENT_SECRET" FORM_BODY="$CC_BODY" DPOP_PROOFS_FILE="$WORKDIR/dpop.txt"
  pkjwt_run tessera-cc-es256-pkjwt "$BASE" s
  calib cc-rs256
  wrk_run tessera-cc-rs256 "$BASE/oauth/token" CLIENT_ID="$(cid s-cc-rs256)" CLIENT_SECRET="$(csecret s-cc-rs256)" FORM_BODY="$CC_BODY"
fi
if want te; then
  # Token exchange (RFC 8693) of the client's own ES256 token for another audience: one ES256
  # verification (plus the revocation and client checks, from memory) and one signature per
  # request. The subject token is not spent, so one serves the whole run (15 min lifetime).
  log "token exchange"
  TE_SUBJECT="$(curl -s -u "$(cid s-te):$(csecret s-te)" -d "$CC_BODY" "$BASE/oauth/token" | json_field access_token)"
  TE_BODY="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=$TE_SUBJECT"
  TE_BODY="$TE_BODY&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&audience=https%3A%2F%2Forders.example"
  wrk_run tessera-te-es256 "$BASE/oauth/token" CLIENT_ID="$(cid s-te)" CLIENT_SECRET="$(csecret s-te)" FORM_BODY="$TE_BODY"
fi
if want jwks; then
  log "JWKS"
  wrk_run tessera-jwks "$BASE/.well-known/jwks.json" WRK_METHOD=GET
fi

if want refresh; then
  log "refresh grant on SQLite ($REFRESH_POOL tokens from password logins)"
  mint_pools "$BASE" s-app sqlite
  WARM_ENV="REFRESH_TOKENS_FILE=$WORKDIR/refresh-sqlite-warm.txt" WRK_SCRIPT="$HERE/refresh.lua" wrk_run tessera-refresh-sqlite "$BASE/oauth/token" \
    CLIENT_ID="$(cid s-app)" CLIENT_SECRET="$(csecret s-app)" REFRESH_TOKENS_FILE="$WORKDIR/refresh-sqlite.txt"
fi

if want argon2; then
log "p99 without, then with, password grants saturating argon2 ($LOGIN_CONNS connections)"
wrk_run base-jwks "$BASE/.well-known/jwks.json" WRK_METHOD=GET
wrk_run base-cc-es256 "$BASE/oauth/token" CLIENT_ID="$CLIENT_ID" CLIENT_SECRET="$CLIENT_SECRET" FORM_BODY="$CC_BODY"
LOGIN_S=$(( 2 * (DURATION + WARMUP) + 20 ))
CLIENT_ID="$(cid s-login)" CLIENT_SECRET="$(csecret s-login)" FORM_BODY='grant_type=password&username=alice&password=correct+horse+battery' WRK_LABEL=login \
  timeout $((LOGIN_S + 10)) nice -n "$NICE" wrk -t1 -c"$LOGIN_CONNS" -d"${LOGIN_S}s" --timeout 10s -s "$LUA" "$BASE/oauth/token" > "$WORKDIR/wrk-login.log" 2>&1 &
EXTRA_PIDS="$!"
sleep 3
NO_QUIET_WAIT=1 wrk_run login-jwks "$BASE/.well-known/jwks.json" WRK_METHOD=GET
NO_QUIET_WAIT=1 wrk_run login-cc-es256 "$BASE/oauth/token" CLIENT_ID="$CLIENT_ID" CLIENT_SECRET="$CLIENT_SECRET" FORM_BODY="$CC_BODY"
stop_pid "$EXTRA_PIDS" INT; EXTRA_PIDS=""
grep '^RESULT' "$WORKDIR/wrk-login.log" | sed 's/label=login/label=login-password/' | tee -a "$RESULTS" >&2 || true
fi
rss_record after-load
stop_server

# ================================================================= keys in SoftHSM2 (pkcs11)
if want hsm; then
  log "client_credentials with the signing keys in SoftHSM2 (pkcs11) next to local keys"
  # Local keys first, on the SQLite instance above, then a second instance whose keys live in
  # a throw-away SoftHSM2 token: same binary, same pinning, measured back to back.
  start_tessera "$S/env" "$S/serve.log"
  calib hsm-local
  wrk_run hsm-local-cc-es256 "$BASE/oauth/token" CLIENT_ID="$(cid s-cc-es256)" CLIENT_SECRET="$(csecret s-cc-es256)" FORM_BODY="$CC_BODY"
  wrk_run hsm-local-cc-rs256 "$BASE/oauth/token" CLIENT_ID="$(cid s-cc-rs256)" CLIENT_SECRET="$(csecret s-cc-rs256)" FORM_BODY="$CC_BODY"
  stop_server
  H="$WORKDIR/hsm"; mkdir -p "$H/tokens"; HPORT=$((PORT_BASE + 4)); HBASE="http://127.0.0.1:$HPORT"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$H/tokens" > "$H/softhsm2.conf"
  SOFTHSM2_CONF="$H/softhsm2.conf" softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 12345678 >/dev/null
  (umask 077 && echo 1234 > "$H/pin")
  { tessera_env "$H" "$HPORT"
    printf '%s\n' "SOFTHSM2_CONF=$H/softhsm2.conf" TESSERA_KEY_BACKEND=pkcs11 \
      TESSERA_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so TESSERA_PKCS11_TOKEN_LABEL=bench "TESSERA_PKCS11_PIN_FILE=$H/pin"
  } > "$H/env"
  start_tessera "$H/env" "$H/serve.log"   # first start: the keys are generated in the token
  stop_server
  setup_clients "$H/env" h
  start_tessera "$H/env" "$H/serve.log"
  tcli "$H/env" keys list | awk 'NR > 1 && $NF != "pkcs11" { bad=1 } END { exit bad }' \
    || { echo "the HSM instance has keys outside the token" >&2; exit 1; }
  wrk_run hsm-pkcs11-cc-es256 "$HBASE/oauth/token" CLIENT_ID="$(cid h-cc-es256)" CLIENT_SECRET="$(csecret h-cc-es256)" FORM_BODY="$CC_BODY"
  wrk_run hsm-pkcs11-cc-rs256 "$HBASE/oauth/token" CLIENT_ID="$(cid h-cc-rs256)" CLIENT_SECRET="$(csecret h-cc-rs256)" FORM_BODY="$CC_BODY"
  record "META softhsm2=$(softhsm2-util --version)"
  stop_server
fi

# ================================================================= nginx, same bytes
if [ "${SKIP_NGINX:-0}" != 1 ] && want nginx; then
  log "nginx serving the same JWKS bytes (one worker, CPU 0)"
  N="$WORKDIR/nginx"; mkdir -p "$N/html" "$N/logs" "$N/tmp"; chmod 755 "$N" "$N/html"
  cp "$WORKDIR/jwks.json" "$N/html/jwks.json"; chmod 644 "$N/html/jwks.json"
  NPORT=$((PORT_BASE + 2))
  cat > "$N/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $N/nginx.pid;
error_log $N/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  client_body_temp_path $N/tmp/body;
  proxy_temp_path $N/tmp/proxy;
  fastcgi_temp_path $N/tmp/fastcgi;
  uwsgi_temp_path $N/tmp/uwsgi;
  scgi_temp_path $N/tmp/scgi;
  server {
    listen 127.0.0.1:$NPORT;
    root $N/html;
    location = /.well-known/jwks.json { default_type application/json; try_files /jwks.json =404; }
  }
}
EOF
  nice -n "$NICE" taskset -c 0 "$NGINX" -p "$N" -c "$N/nginx.conf" > "$N/logs/stdout.log" 2>&1 &
  SERVER_PID=$! SERVER_STOP=QUIT
  wait_http "http://127.0.0.1:$NPORT/.well-known/jwks.json"
  cmp -s <(curl -s "http://127.0.0.1:$NPORT/.well-known/jwks.json") "$WORKDIR/jwks.json" || { echo "nginx serves different bytes" >&2; exit 1; }
  wrk_run nginx-jwks "http://127.0.0.1:$NPORT/.well-known/jwks.json" WRK_METHOD=GET
  stop_server
fi

# ================================================================= node-oidc-provider peer
if [ "${SKIP_PEER:-0}" != 1 ] && want peer; then
  log "node-oidc-provider peer (installed in $P above)"
  record "META node=$(node --version) oidc-provider=$(node -p "require('$P/node_modules/oidc-provider/package.json').version") jose=$(node -p "require('$P/node_modules/jose/package.json').version")"
  NODE_PORT=$((PORT_BASE + 3))
  PEER_SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
  for alg in ES256 RS256; do
    a="$(echo "$alg" | tr 'A-Z' 'a-z')"
    (cd "$P" && NODE_ENV=production ALG=$alg PORT=$NODE_PORT WORKERS=1 CLIENT_SECRET="$PEER_SECRET" \
       exec nice -n "$NICE" taskset -c 0 node server-oidc-provider.mjs) > "$P/server-$a.log" 2>&1 &
    SERVER_PID=$!
    wait_http "http://127.0.0.1:$NODE_PORT/jwks"
    curl -sf -u "bench:$PEER_SECRET" -d "$CC_BODY" "http://127.0.0.1:$NODE_PORT/token" | json_field access_token > /dev/null \
      || { echo "peer did not issue a token" >&2; exit 1; }
    calib "node-cc-$a"
    wrk_run "node-cc-$a" "http://127.0.0.1:$NODE_PORT/token" CLIENT_ID=bench CLIENT_SECRET="$PEER_SECRET" FORM_BODY="$CC_BODY"
    stop_server
  done
fi

# ================================================================= PostgreSQL instance
if [ "${SKIP_PG:-0}" != 1 ] && want pg; then
  if psql -q "$PG_URL" -c 'select 1' >/dev/null 2>&1; then
    log "Tessera on PostgreSQL: refresh grant"
    PG_SCHEMA="tessera_bench_$$"
    psql -q "$PG_URL" -c "CREATE SCHEMA $PG_SCHEMA" >/dev/null
    record "META postgres=$(psql -tA "$PG_URL" -c 'show server_version' | awk '{print $1}')"
    G="$WORKDIR/pg"; mkdir -p "$G"; GPORT=$((PORT_BASE + 1))
    tessera_env "$G" "$GPORT" "$PG_URL" "$PG_SCHEMA" > "$G/env"
    start_tessera "$G/env" "$G/serve.log"
    stop_server
    setup_clients "$G/env" g
    start_tessera "$G/env" "$G/serve.log"
    record "STARTUP label=postgres run=1 ms=$STARTUP_MS"
    # client_secret_basic, then private_key_jwt (its replay records in PostgreSQL), same run.
    wrk_run tessera-cc-es256-postgres "http://127.0.0.1:$GPORT/oauth/token" \
      CLIENT_ID="$(cid g-cc-es256)" CLIENT_SECRET="$(csecret g-cc-es256)" FORM_BODY="$CC_BODY"
    pkjwt_run tessera-cc-es256-pkjwt-postgres "http://127.0.0.1:$GPORT" g
    mint_pools "http://127.0.0.1:$GPORT" g-app pg
    WARM_ENV="REFRESH_TOKENS_FILE=$WORKDIR/refresh-pg-warm.txt" WRK_SCRIPT="$HERE/refresh.lua" wrk_run tessera-refresh-postgres "http://127.0.0.1:$GPORT/oauth/token" \
      CLIENT_ID="$(cid g-app)" CLIENT_SECRET="$(csecret g-app)" REFRESH_TOKENS_FILE="$WORKDIR/refresh-pg.txt"
    stop_server
    psql -q "$PG_URL" -c "DROP SCHEMA $PG_SCHEMA CASCADE" >/dev/null && PG_SCHEMA=""
  else
    echo "PostgreSQL not reachable at $PG_URL: the PostgreSQL case is skipped" >&2
  fi
fi

record "META total_s=$(awk -v a="$T_START" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f", b-a}')"
log "report"
if [[ "$CASES" != *" all "* ]]; then
  # A partial run must not replace the committed full report: it goes to the work dir.
  OUT_DIR="$WORKDIR/report"; MD="$OUT_DIR/BENCHMARKS.md"; KEEP_WORKDIR=1; mkdir -p "$OUT_DIR"
  echo "partial run (CASES=$CASES): report in $OUT_DIR" >&2
fi
# Keep every run's raw lines: on a shared machine, runs differ; the report lists them all.
mkdir -p "$OUT_DIR/runs"
cp "$RESULTS" "$OUT_DIR/runs/$(date -u +%Y%m%dT%H%MZ).txt"
python3 "$HERE/report.py" "$RESULTS" "$OUT_DIR/results.json" "$MD" "$OUT_DIR/chart.png"

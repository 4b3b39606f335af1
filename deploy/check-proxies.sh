#!/usr/bin/env bash
# Checks the reverse-proxy snippets of docs/operations.md ("Behind a reverse proxy"):
#   nginx: `nginx -t`, then a live run in front of `tessera serve` (the snippet's certificate paths
#          swapped for the test certificate in tests/fixtures/tls, its port for a free one):
#          discovery and a client_credentials token through the proxy;
#   Caddy: `caddy validate` of the Caddyfile snippet.
# Installs nginx-light and caddy with apt-get when missing (as root); a proxy still missing is
# skipped (reported). Usage: deploy/check-proxies.sh [tessera]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
BIN="$(realpath "${1:-target/debug/tessera}")"
WORK="$(mktemp -d)"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# The fenced block of language $1 in the "Behind a reverse proxy" section.
snippet() {
    python3 - "$1" <<'PY'
import re, sys
text = open("docs/operations.md", encoding="utf-8").read()
section = text.split("## Behind a reverse proxy", 1)[1].split("\n## ", 1)[0]
blocks = re.findall(r"^```" + re.escape(sys.argv[1]) + r"\n(.*?)^```", section, re.S | re.M)
assert len(blocks) == 1, f"expected one {sys.argv[1]} block, found {len(blocks)}"
print(blocks[0], end="")
PY
}
checked=()
# Like tests/browser/run.sh with Chromium: install the Debian packages when missing and possible.
if { ! command -v nginx >/dev/null || ! command -v caddy >/dev/null; } && [ "$(id -u)" = 0 ] &&
    command -v apt-get >/dev/null; then
    echo "check-proxies: installing nginx-light and caddy (Debian)"
    apt-get update -qq >/dev/null && apt-get install -y -qq nginx-light caddy >/dev/null 2>&1 || true
fi

if command -v caddy >/dev/null; then
    snippet caddyfile >"$WORK/Caddyfile"
    HOME="$WORK" XDG_DATA_HOME="$WORK/caddy" XDG_CONFIG_HOME="$WORK/caddy" \
        caddy validate --config "$WORK/Caddyfile" --adapter caddyfile >"$WORK/caddy.log" 2>&1 ||
        { cat "$WORK/caddy.log" >&2; echo "check-proxies: caddy validate failed" >&2; exit 1; }
    checked+=("Caddyfile valid")
else
    [ -z "${CI:-}" ] || { echo "check-proxies: caddy is not installed" >&2; exit 1; }
    checked+=("Caddy skipped (not installed)")
fi

if command -v nginx >/dev/null; then
    T=$(free_port)
    P=$(free_port)
    mkdir -p "$WORK/tessera" "$WORK/nginx/logs"
    (cd "$WORK/tessera" && exec env TESSERA_BIND="127.0.0.1:$T" TESSERA_ISSUER=https://auth.example.com \
        TESSERA_TRUSTED_PROXIES="127.0.0.1/32, ::1/128" TESSERA_LOG=warn NO_COLOR=1 "$BIN" serve) \
        >"$WORK/tessera.log" 2>&1 &
    PIDS+=($!)
    snippet nginx | sed -e "s#listen 443 ssl;#listen 127.0.0.1:$P ssl;#" \
        -e "s#ssl_certificate .*#ssl_certificate $ROOT/tests/fixtures/tls/cert.pem;#" \
        -e "s#ssl_certificate_key .*#ssl_certificate_key $ROOT/tests/fixtures/tls/key.pem;#" \
        -e "s#127.0.0.1:8080#127.0.0.1:$T#" >"$WORK/nginx/tessera.conf"
    grep -q "listen 127.0.0.1:$P ssl;" "$WORK/nginx/tessera.conf" || { echo "check-proxies: no listen line" >&2; exit 1; }
    cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    include $WORK/nginx/tessera.conf;
}
CONF
    nginx -t -q -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' 2>"$WORK/nginx-t.log" ||
        { cat "$WORK/nginx-t.log" >&2; echo "check-proxies: nginx -t failed" >&2; exit 1; }
    nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' 2>>"$WORK/nginx/logs/error.log" &
    PIDS+=($!)
    URL="https://auth.example.com:$P"
    curl_p() { curl -sf --resolve "auth.example.com:$P:127.0.0.1" -k "$@"; }   # the test certificate is for 127.0.0.1
    for _ in $(seq 200); do curl_p "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
    issuer=$(curl_p "$URL/.well-known/openid-configuration" | python3 -c 'import json,sys; print(json.load(sys.stdin)["issuer"])')
    [ "$issuer" = https://auth.example.com ] || { echo "check-proxies: issuer through nginx is $issuer" >&2; exit 1; }
    C=$(cd "$WORK/tessera" && "$BIN" clients create --name proxied --scope a --audience https://a --json)
    ID=$(echo "$C" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
    SECRET=$(echo "$C" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
    curl_p -u "$ID:$SECRET" -d grant_type=client_credentials "$URL/oauth/token" | grep -q access_token ||
        { echo "check-proxies: no token through nginx" >&2; cat "$WORK/nginx/logs/error.log" "$WORK/tessera.log" >&2; exit 1; }
    checked+=("nginx -t ok, discovery and a token through nginx $(nginx -v 2>&1 | sed 's/.*nginx\///')")
else
    [ -z "${CI:-}" ] || { echo "check-proxies: nginx is not installed" >&2; exit 1; }
    checked+=("nginx skipped (not installed)")
fi
echo "check-proxies: $(IFS=';'; echo "${checked[*]}")"

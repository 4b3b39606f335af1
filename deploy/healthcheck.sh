#!/usr/bin/env bash
# Container health check: GET /healthz on the port of TESSERA_BIND, exit 0 on HTTP 200.
# Installed as /usr/local/bin/tessera-healthcheck in the image. Uses bash's /dev/tcp so the
# runtime image needs no curl or wget; bounded to 2 seconds so a hung server counts as
# unhealthy instead of stalling the probe.
set -u
port="${TESSERA_BIND:-0.0.0.0:8080}"
port="${port##*:}"
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 2 status <&3 || exit 1
case "$status" in
    "HTTP/1."?" 200"*) exit 0 ;;
    *) echo "unhealthy: ${status%$'\r'}" >&2; exit 1 ;;
esac

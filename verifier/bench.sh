#!/usr/bin/env bash
# Full-verification benchmark (strict parse + signature + claims) next to the raw
# primitive measured by `openssl speed` in the same run, and the ratio of the two.
# Goal: ratio >= 0.8 for RS256 and ES256, and for DPoP-ES256 (a DPoP-bound ES256 token with
# an ES256 proof) against half the openssl P-256 verify rate (two verifications).
# Usage: verifier/bench.sh [criterion args]
set -euo pipefail
cd "$(dirname "$0")"
command -v openssl >/dev/null || { echo "openssl (the CLI) is needed for the reference figures" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== cargo bench -p tessera-verify --bench verify"
cargo bench -p tessera-verify --bench verify -- --warm-up-time 2 --measurement-time 5 "$@" 2>&1 | tee "$log"

echo "== openssl speed -seconds 2 rsa2048 ecdsap256 ($(openssl version))"
ssl=$(openssl speed -seconds 2 rsa2048 ecdsap256 2>/dev/null | grep -E '^rsa 2048 bits|ecdsa \(nistp256\)')
echo "$ssl"

# ops/s from criterion's median time ("time:   [low median high]", unit ns/µs/us/ms/s).
ops() {
    awk -v name="verify/$1" '
        index($0, name) { found = 1 }
        found && /time:/ {
            sub(/.*time:[ \t]*\[/, ""); split($0, f, " ");
            v = f[3]; u = f[4];
            m = (u == "ns") ? 1e-9 : (u == "µs" || u == "us") ? 1e-6 : (u == "ms") ? 1e-3 : 1;
            printf "%.0f", 1 / (v * m); exit
        }' "$log"
}
# verify/s of openssl: the last number of its line (OpenSSL 3.0 layout: sign/s verify/s).
ssl_verify() { echo "$ssl" | grep -E "$1" | awk '{ print $NF }'; }

rs=$(ops RS256); es=$(ops ES256); dpop=$(ops DPoP-ES256)
ssl_rs=$(ssl_verify '^rsa 2048'); ssl_es=$(ssl_verify 'nistp256')
ssl_es2=$(awk -v a="$ssl_es" 'BEGIN { printf "%.0f", a / 2 }')
echo
printf '%-10s %14s %16s %8s\n' alg "verify/s" "openssl verify/s" ratio
for row in "RS256 $rs $ssl_rs" "ES256 $es $ssl_es" "DPoP-ES256 $dpop $ssl_es2"; do
    set -- $row
    printf '%-10s %14s %16s %8s\n' "$1" "$2" "$3" "$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", a / b }')"
done

#!/usr/bin/env python3
"""Client-authentication timing (docs/security.md T2): interleaved client_credentials
requests with a wrong secret for a known client, an unknown (fixed) client id, and fresh
random unknown ids (a database read each, as every unknown id cost before the negative
cache). Prints median / p90 in microseconds.

Usage: bench/client_auth_timing.py HOST PORT KNOWN_CLIENT_ID [ROUNDS=300], against a server with
the token-endpoint rate limits off (TESSERA_TOKEN_RATE_PER_IP=0 TESSERA_TOKEN_RATE_PER_CLIENT=0)."""
import base64, http.client, os, statistics, sys, time, secrets

host, port, known_id = sys.argv[1], int(sys.argv[2]), sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 300
conn = http.client.HTTPConnection(host, port)
body = "grant_type=client_credentials"

def once(cid):
    auth = base64.b64encode(f"{cid}:wrong-secret".encode()).decode()
    t = time.perf_counter_ns()
    conn.request("POST", "/oauth/token", body, {"Authorization": "Basic " + auth,
                 "Content-Type": "application/x-www-form-urlencoded"})
    r = conn.getresponse(); r.read()
    dt = (time.perf_counter_ns() - t) / 1000
    assert r.status == 401, r.status
    return dt

kinds = {"known, wrong secret": lambda: known_id,
         "unknown id (same id again)": lambda: "unknown-client-id-probe",
         "unknown id (fresh each time)": lambda: "fresh-" + secrets.token_hex(8)}
for k in kinds.values():
    for _ in range(20): once(k())  # warm up
res = {k: [] for k in kinds}
for _ in range(n):
    for name, k in kinds.items():
        res[name].append(once(k()))
for name, xs in res.items():
    xs.sort()
    print(f"{name:30} n={len(xs)} median={statistics.median(xs):7.1f} us  p90={xs[int(len(xs)*0.9)]:7.1f} us")

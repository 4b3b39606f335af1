#!/usr/bin/env python3
"""Turns the raw lines of one bench/run.sh run into results.json, BENCHMARKS.md and a chart.

usage: report.py RESULTS_TXT RESULTS_JSON BENCHMARKS_MD CHART_PNG

Every ratio is computed from figures of the same run (the reference was measured minutes
apart at most, on the same pinned core). bench/analysis.md, if present, is appended to the
Markdown verbatim (the hand-written profile notes).
"""

import functools
import json
import os
import statistics
import sys


def parse(path):
    meta, runs, calib, startup, rss = {}, {}, {}, {}, {}
    for line in open(path, encoding="utf-8"):
        parts = line.split()
        if not parts:
            continue
        kind, kv = parts[0], {}
        for p in parts[1:]:
            if "=" in p:
                k, v = p.split("=", 1)
                kv[k] = v
        if kind == "META":
            meta.update(kv)
        elif kind == "RESULT" and "FAILED" not in parts:
            runs[kv["label"]] = {k: num(v) for k, v in kv.items()}
        elif kind == "RESULT":
            runs[kv["label"]] = {"label": kv["label"], "failed": True}
        elif kind == "CALIB":
            calib[kv["label"]] = {k: num(v) for k, v in kv.items()}
        elif kind == "STARTUP":
            startup.setdefault(kv["label"], []).append(float(kv["ms"]))
        elif kind == "RSS":
            rss[kv["label"]] = {k: num(v) for k, v in kv.items()}
    return meta, runs, calib, startup, rss


def num(v):
    try:
        f = float(v)
        return int(f) if f.is_integer() and "." not in v else f
    except ValueError:
        return v


def goals(runs, calib, startup, rss):
    """One row per goal of the issue: value, reference, ratio, goal, met."""
    rows = []

    def rps(label):
        r = runs.get(label)
        return None if not r or r.get("failed") else r["rps"]

    def p99(label):
        r = runs.get(label)
        return None if not r or r.get("failed") else r["p99_ms"]

    def add(case, value, unit, ref_name, ref, ratio, goal_text, met, note=""):
        rows.append(
            {
                "case": case,
                "value": value,
                "unit": unit,
                "reference": ref_name,
                "reference_value": ref,
                "ratio": ratio,
                "goal": goal_text,
                "met": met,
                "note": note,
            }
        )

    def per_cpu(label):
        """req/s per fully used server core (server CPU from /proc), None if unknown."""
        us = cpu_us_per_request(runs, label)
        return 1e6 / us if us else None

    def ratio_row(case, value, unit, ref_name, ref, op, bound, cpu_ratio=None):
        if value is None or not ref:
            add(case, value, unit, ref_name, ref, None, f"{op} {bound}", None, "not measured")
            return
        r = value / ref
        met = r >= bound if op == ">=" else r <= bound
        add(case, value, unit, ref_name, ref, round(r, 3), f"{op} {bound}", met)
        if cpu_ratio is not None:
            rows[-1]["ratio_per_server_cpu"] = round(cpu_ratio, 3)

    def cpu_ratio(label, ref_label=None, ref_value=None):
        a = per_cpu(label)
        b = per_cpu(ref_label) if ref_label else ref_value
        return a / b if a and b else None

    es_ssl = calib.get("cc-es256", {}).get("openssl_p256_sign_per_s")
    rs_ssl = calib.get("cc-rs256", {}).get("openssl_rsa2048_sign_per_s")
    ratio_row("client_credentials ES256 / openssl ecdsap256 sign", rps("tessera-cc-es256"), "req/s",
              "openssl speed ecdsap256 (sign/s, CPU 0)", es_ssl, ">=", 0.60,
              cpu_ratio("tessera-cc-es256", ref_value=es_ssl))
    ratio_row("client_credentials RS256 / openssl rsa2048 sign", rps("tessera-cc-rs256"), "req/s",
              "openssl speed rsa2048 (sign/s, CPU 0)", rs_ssl, ">=", 0.90,
              cpu_ratio("tessera-cc-rs256", ref_value=rs_ssl))
    ratio_row("client_credentials ES256 with DPoP / without", rps("tessera-cc-es256-dpop"), "req/s",
              "the plain ES256 case, same run (req/s)", rps("tessera-cc-es256"), ">=", 0.45,
              cpu_ratio("tessera-cc-es256-dpop", "tessera-cc-es256"))
    # RFC 8693: one verification and one signature per request; reported, no goal.
    v, ref = rps("tessera-te-es256"), rps("tessera-cc-es256")
    add("token exchange ES256 / client_credentials ES256", v, "req/s",
        "the plain ES256 case, same run (req/s)", ref,
        round(v / ref, 3) if v and ref else None, "report", None,
        "not measured" if v is None or not ref else "one ES256 verification + one signature each")
    te_cpu = cpu_ratio("tessera-te-es256", "tessera-cc-es256")
    if te_cpu is not None:
        rows[-1]["ratio_per_server_cpu"] = round(te_cpu, 3)
    # One P-256 verification per request (~64 µs) on top of ~45 µs of plain request CPU
    # (docs/dpop.md "Speed") puts the ceiling of this ratio near 0.41 on this machine.
    ratio_row("client_credentials ES256 with private_key_jwt / client_secret_basic", rps("tessera-cc-es256-pkjwt"), "req/s",
              "the plain ES256 case, same run (req/s)", rps("tessera-cc-es256"), ">=", 0.45,
              cpu_ratio("tessera-cc-es256-pkjwt", "tessera-cc-es256"))
    ratio_row("private_key_jwt / client_secret_basic on PostgreSQL", rps("tessera-cc-es256-pkjwt-postgres"), "req/s",
              "the plain ES256 case on PostgreSQL, same run (req/s)", rps("tessera-cc-es256-postgres"), ">=", 0.45,
              cpu_ratio("tessera-cc-es256-pkjwt-postgres", "tessera-cc-es256-postgres"))
    ratio_row("JWKS GET / nginx, same bytes", rps("tessera-jwks"), "req/s",
              "nginx 1 worker (req/s)", rps("nginx-jwks"), ">=", 0.90, cpu_ratio("tessera-jwks", "nginx-jwks"))
    ratio_row("client_credentials ES256 / node-oidc-provider", rps("tessera-cc-es256"), "req/s",
              "node-oidc-provider ES256 (req/s)", rps("node-cc-es256"), ">=", 10,
              cpu_ratio("tessera-cc-es256", "node-cc-es256"))
    ratio_row("client_credentials RS256 / node-oidc-provider", rps("tessera-cc-rs256"), "req/s",
              "node-oidc-provider RS256 (req/s)", rps("node-cc-rs256"), ">=", 1.7,
              cpu_ratio("tessera-cc-rs256", "node-cc-rs256"))
    ratio_row("client_credentials ES256, keys in SoftHSM2 (pkcs11) / local keys",
              rps("hsm-pkcs11-cc-es256"), "req/s", "local keys, same run (req/s)",
              rps("hsm-local-cc-es256"), ">=", 0.5,
              cpu_ratio("hsm-pkcs11-cc-es256", "hsm-local-cc-es256"))
    # RS256 is reported without a goal (issue #20): SoftHSM2's own RSA signature costs several
    # times aws-lc-rs's, so the ratio measures the token's RSA more than the call path.
    v, ref = rps("hsm-pkcs11-cc-rs256"), rps("hsm-local-cc-rs256")
    add("client_credentials RS256, keys in SoftHSM2 (pkcs11) / local keys", v, "req/s",
        "local keys, same run (req/s)", ref, round(v / ref, 3) if v and ref else None, "report", None,
        "" if v and ref else "not measured")
    v = rps("tessera-refresh-sqlite")
    add("refresh grant, SQLite", v, "req/s", "goal", 3000, None, ">= 3000 req/s",
        None if v is None else v >= 3000,
        "not measured" if v is None else f"p99 {p99('tessera-refresh-sqlite')} ms")
    v = rps("tessera-refresh-postgres")
    add("refresh grant, PostgreSQL", v, "req/s", "-", None, None, "report", None,
        "not measured" if v is None else f"p99 {p99('tessera-refresh-postgres')} ms")
    ratio_row("JWKS p99 under argon2 login load / without", p99("login-jwks"), "ms p99",
              "same p99 without the load", p99("base-jwks"), "<=", 2)
    ratio_row("client_credentials p99 under argon2 login load / without", p99("login-cc-es256"), "ms p99",
              "same p99 without the load", p99("base-cc-es256"), "<=", 2)
    idle = rss.get("idle", {}).get("vmrss_kib")
    peak = rss.get("after-load", {}).get("vmhwm_kib")
    add("RSS idle (VmRSS after start)", None if idle is None else round(idle / 1024, 1), "MiB",
        "goal", 20, None, "<= 20 MiB", None if idle is None else idle / 1024 <= 20)
    add("RSS peak under load (VmHWM)", None if peak is None else round(peak / 1024, 1), "MiB",
        "goal", 64, None, "<= 64 MiB", None if peak is None else peak / 1024 <= 64)
    st = startup.get("sqlite")
    med = round(statistics.median(st), 1) if st else None
    add("start to first 200 on /healthz (SQLite, keys present)", med, "ms", "goal", 200, None,
        "<= 200 ms", None if med is None else med <= 200,
        f"median of {len(st)} starts: {', '.join(str(x) for x in st)} ms" if st else "")
    return rows


def fmt(v):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def cpu_us_per_request(runs, label, key="server_cpu_pct"):
    """Server CPU (`key`: all of it, or `server_sys_pct` for the kernel's part) per request of
    one run, in microseconds; None when the run failed or did not record it."""
    r = runs.get(label)
    if not r or r.get("failed") or not r.get("rps") or r.get(key) is None:
        return None
    return r[key] / 100 / r["rps"] * 1e6


def cost_per_request(runs, calib):
    """Where a client_credentials request's server CPU goes, in microseconds, from this run.

    total: server CPU (utime + stime, /proc) per request; kernel: its stime part; signature:
    one `openssl speed` signature on the same core just before the case; floor: the server CPU
    of one JWKS GET (the lightest request: HTTP parsing, routing, loopback TCP both ways, no
    work of its own); rest: what remains (reading the form, client authentication, claims,
    base64, the token JSON, the crypto library's own overhead). `ceiling` is the best ratio
    to `openssl speed` a token request could reach on this machine if it cost no more than
    the signature plus that floor: a goal above it cannot be met over HTTP/1.1 on loopback here.
    """

    per_req = functools.partial(cpu_us_per_request, runs)
    floor = per_req("tessera-jwks")
    out = {}
    for alg, label, key in (("ES256", "tessera-cc-es256", "openssl_p256_sign_per_s"),
                            ("RS256", "tessera-cc-rs256", "openssl_rsa2048_sign_per_s")):
        total, rate = per_req(label), calib.get(label.replace("tessera-", ""), {}).get(key)
        if total is None or not rate:
            continue
        sign = 1e6 / rate
        row = {"total_us": round(total, 1), "kernel_us": None, "signature_us": round(sign, 1),
               "floor_us": None if floor is None else round(floor, 1), "rest_us": None, "ceiling": None}
        k = per_req(label, "server_sys_pct")
        if k is not None:
            row["kernel_us"] = round(k, 1)
        if floor is not None:
            row["rest_us"] = round(total - sign - floor, 1)
            row["ceiling"] = round(sign / (sign + floor), 3)
        out[alg] = row
    return out


def markdown(meta, runs, calib, startup, rss, rows, chart_name):
    m = meta
    out = ["# Benchmarks", ""]
    out += [
        "Generated by `bench/run.sh` (one command; see the script header for the knobs). Every ratio is "
        "measured in the same run against its reference: Tessera, nginx and node-oidc-provider each run "
        "pinned to CPU 0 (Tessera with one worker thread), the load generator (`wrk -t1`) on CPU 1, loopback. "
        "`openssl speed` runs on CPU 0 right before the case it calibrates.",
        "",
        f"- **Run**: {m.get('date', '?')}, {m.get('settings', '?')}, total {m.get('total_s', '?')} s",
        f"- **Machine**: {m.get('cpu', '?').replace('_', ' ')}, {m.get('cpus', '?')} CPUs, Linux {m.get('kernel', '?')}",
        f"- **Versions**: tessera {m.get('tessera', '?')} ({m.get('git', '?')}), rustc {m.get('rustc', '?')}, "
        f"wrk {m.get('wrk', '?')}, nginx {m.get('nginx', '?')}, OpenSSL {m.get('openssl', '?')}, "
        f"node {m.get('node', '–')}, oidc-provider {m.get('oidc-provider', '–')}, jose {m.get('jose', '–')}, "
        f"PostgreSQL {m.get('postgres', '–')}",
        "",
        "## Goals",
        "",
        "| case | Tessera | reference | ratio | goal | met | ratio per server CPU |",
        "|---|---:|---|---:|---|:---:|---:|",
    ]
    for r in rows:
        ref = r["reference"] if r["reference_value"] is None else f"{r['reference']}: {fmt(r['reference_value'])}"
        met = "–" if r["met"] is None else ("yes" if r["met"] else "**no**")
        val = f"{fmt(r['value'])} {r['unit']}"
        note = f" ({r['note']})" if r["note"] else ""
        out.append(f"| {r['case']}{note} | {val} | {ref} | {fmt(r['ratio'])} | {r['goal']} | {met} | "
                   f"{fmt(r.get('ratio_per_server_cpu'))} |")
    out += ["", f"![throughput and p99 per case against its reference]({chart_name})", ""]
    out += [
        "`ratio per server CPU` divides each throughput by the CPU its server actually got (from `/proc`; "
        "`openssl speed` counts as one full core): on a shared machine it shows the efficiency even when other "
        "work took part of CPU 0. The goals are judged on the plain ratio.",
        "",
    ]
    costs = cost_per_request(runs, calib)
    if costs:
        out += [
            "## Where a token request's CPU goes (this run)",
            "",
            "Server CPU per client_credentials request, in µs: `signature` is one `openssl speed` signature on "
            "the same core just before the case; `floor` is the server CPU of one JWKS GET (HTTP parsing, routing, "
            "loopback TCP both ways, nothing of its own); `rest` is the remainder (form, client authentication, "
            "claims, base64, token JSON, the crypto library's own overhead). `ceiling` = signature / (signature + "
            "floor): the best ratio to `openssl speed` a token request could reach on this machine even if it cost "
            "no more than the signature plus the lightest request. A goal above the ceiling cannot be met over "
            "HTTP/1.1 on loopback here.",
            "",
            "| alg | total | of which kernel | signature | floor (JWKS GET) | rest | ceiling ratio |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for alg, c in costs.items():
            out.append(f"| {alg} | {fmt(c['total_us'])} | {fmt(c['kernel_us'])} | {fmt(c['signature_us'])} | "
                       f"{fmt(c['floor_us'])} | {fmt(c['rest_us'])} | {fmt(c['ceiling'])} |")
        out.append("")
    out += [
        "## Every run",
        "",
        "CPU in % of one core over the run: the server (all its threads), the load generator, and everything "
        "else on the box (`foreign`; other work on a shared machine — rows above ~15% are contaminated), and "
        "the time the hypervisor took CPU 0's vCPU away (`steal`, from `/proc/stat`; invisible to every "
        "process here, it slows the server and its reference alike only if they ran at the same moment).",
        "",
        "| run | req/s | p50 ms | p99 ms | max ms | non-2xx | errors | server CPU | wrk CPU | foreign CPU | CPU 0 steal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in runs.items():
        if r.get("failed"):
            out.append(f"| {label} | FAILED | | | | | | | | | |")
            continue
        errs = sum(r.get(k, 0) for k in ("err_connect", "err_read", "err_write", "err_timeout"))
        out.append(
            f"| {label} | {fmt(r['rps'])} | {fmt(r['p50_ms'])} | {fmt(r['p99_ms'])} | {fmt(r['max_ms'])} | "
            f"{r['non2xx']} | {errs} | {r.get('server_cpu_pct', '–')}% | {r.get('loadgen_cpu_pct', '–')}% | "
            f"{r.get('foreign_cpu_pct', '–')}% | {r.get('cpu0_steal_pct', '–')}% |"
        )
    out += ["", "OpenSSL on CPU 0 (sign/s): " + "; ".join(
        f"before {k}: P-256 {fmt(v.get('openssl_p256_sign_per_s'))}, RSA-2048 {fmt(v.get('openssl_rsa2048_sign_per_s'))}"
        for k, v in calib.items())]
    out += ["", "Start to first 200 (ms): " + "; ".join(f"{k}: {', '.join(str(x) for x in v)}" for k, v in startup.items())]
    out += ["", "Memory (KiB): " + "; ".join(
        f"{k}: VmRSS {v.get('vmrss_kib')} (anonymous {v.get('rssanon_kib', '?')}, file-backed {v.get('rssfile_kib', '?')}), "
        f"VmHWM {v.get('vmhwm_kib')}" for k, v in rss.items())]
    out += [
        "",
        "Notes: `base-*` and `login-*` are the p99 pair of the login-load case, measured back to back "
        "(`login-*` while `wrk -c100` drives password grants, argon2id 19 MiB t=2 on SCHED_IDLE hashing threads "
        "pinned to the same core); `login-password` is that login load itself. The refresh runs spend one "
        "refresh token per request (a database write each) from a pool made by password logins.",
        "",
    ]
    out += earlier_runs()
    analysis = os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis.md")
    if os.path.exists(analysis):
        out += [open(analysis, encoding="utf-8").read().rstrip(), ""]
    return "\n".join(out)


def earlier_runs():
    """One line per run kept in bench/runs/ (this one included): the ratios and the foreign CPU."""
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs")
    # `scale-*.txt` are bench/scale.sh runs (another format, their own section).
    files = sorted(f for f in os.listdir(d) if f.endswith(".txt") and not f.startswith("scale-")) \
        if os.path.isdir(d) else []
    if not files:
        return []
    short = ["ES256/openssl", "RS256/openssl", "JWKS/nginx", "ES256/node", "RS256/node", "refresh SQLite",
             "refresh PG", "JWKS p99 x", "cc p99 x", "RSS idle", "RSS peak", "start ms"]
    out = ["## All runs kept", "",
           "Raw lines in `bench/runs/` (ratios as in the goals table; refresh in req/s, RSS in MiB, start-up in ms). "
           "`foreign`: the foreign CPU during that run's Tessera client_credentials ES256 case, as a hint of how "
           "contaminated the run was (per-case figures are in each file).", "",
           "| run | " + " | ".join(short) + " | foreign |", "|---|" + "---:|" * (len(short) + 1)]
    for f in files:
        meta, runs, calib, startup, rss = parse(os.path.join(d, f))
        rows = goals(runs, calib, startup, rss)
        cells = [fmt(r["ratio"] if r["ratio"] is not None else r["value"]) for r in rows]
        foreign = runs.get("tessera-cc-es256", {}).get("foreign_cpu_pct", "?")
        out.append(f"| {f[:-4]} | " + " | ".join(cells) + f" | {foreign}% |")
    return out + [""]


def chart(runs, calib, rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def r(label, key):
        x = runs.get(label)
        return None if not x or x.get("failed") else x.get(key)

    es_ssl = calib.get("cc-es256", {}).get("openssl_p256_sign_per_s")
    rs_ssl = calib.get("cc-rs256", {}).get("openssl_rsa2048_sign_per_s")
    # (case, tessera label, [(reference name, rps, p99)])
    cases = [
        ("cc ES256", "tessera-cc-es256",
         [("openssl sign/s", es_ssl, None), ("node-oidc-provider", r("node-cc-es256", "rps"), r("node-cc-es256", "p99_ms"))]),
        ("cc RS256", "tessera-cc-rs256",
         [("openssl sign/s", rs_ssl, None), ("node-oidc-provider", r("node-cc-rs256", "rps"), r("node-cc-rs256", "p99_ms"))]),
        ("JWKS GET", "tessera-jwks", [("nginx", r("nginx-jwks", "rps"), r("nginx-jwks", "p99_ms"))]),
        ("refresh SQLite", "tessera-refresh-sqlite", [("goal 3000/s", 3000, None)]),
        ("refresh PostgreSQL", "tessera-refresh-postgres", []),
        ("JWKS + argon2 load", "login-jwks", [("without load", r("base-jwks", "rps"), r("base-jwks", "p99_ms"))]),
        ("cc ES256 + argon2 load", "login-cc-es256",
         [("without load", r("base-cc-es256", "rps"), r("base-cc-es256", "p99_ms"))]),
    ]
    colors = {"Tessera": "#2b6cb0", "openssl sign/s": "#a0aec0", "node-oidc-provider": "#dd6b20",
              "nginx": "#38a169", "goal 3000/s": "#cbd5e0", "without load": "#805ad5"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 6.5), sharey=True)
    h = 0.8
    ticks, labels, seen = [], [], set()
    y = 0.0
    for name, label, refs in reversed(cases):
        series = [("Tessera", r(label, "rps"), r(label, "p99_ms"))] + refs
        n = len(series)
        for i, (sname, rps, p99) in enumerate(series):
            yy = y + (n - 1 - i) * h / n
            lab = sname if sname not in seen and (rps or p99) else None
            if lab:
                seen.add(sname)
            if rps:
                ax1.barh(yy, rps, height=h / n * 0.9, color=colors[sname], label=lab)
                ax1.text(rps, yy, f" {rps:,.0f}", va="center", fontsize=7)
            if p99:
                ax2.barh(yy, p99, height=h / n * 0.9, color=colors[sname], label=lab if not rps else None)
                ax2.text(p99, yy, f" {p99:.2f}", va="center", fontsize=7)
        ticks.append(y + (n - 1) * h / n / 2)
        labels.append(name)
        y += 1.2
    ax1.set_xscale("log")
    ax2.set_xscale("log")
    ax1.set_xlabel("throughput, req/s (log scale; openssl: signatures/s)")
    ax2.set_xlabel("p99 latency, ms (log scale; wrk, 16 connections)")
    ax1.set_yticks(ticks)
    ax1.set_yticklabels(labels)
    h1, l1 = ax1.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    fig.legend(h1 + h2, l1 + l2, loc="lower center", ncol=6, fontsize=8, frameon=False)
    lo, hi = ax1.get_xlim()
    ax1.set_xlim(lo, hi * 2.5)  # room for the value labels
    lo, hi = ax2.get_xlim()
    ax2.set_xlim(lo, hi * 2.5)
    ax1.set_title("Throughput: Tessera vs its reference (one core)")
    ax2.set_title("p99 latency")
    met = sum(1 for x in rows if x["met"] is True)
    total = sum(1 for x in rows if x["met"] is not None)
    fig.suptitle(f"Tessera bench/run.sh — {met}/{total} goals met", fontsize=12)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)


def main():
    src, out_json, out_md, out_png = sys.argv[1:5]
    meta, runs, calib, startup, rss = parse(src)
    rows = goals(runs, calib, startup, rss)
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "goals": rows, "cost_per_request_us": cost_per_request(runs, calib),
                   "runs": runs, "calib": calib, "startup_ms": startup, "rss_kib": rss}, f, indent=2)
        f.write("\n")
    chart_rel = os.path.relpath(out_png, os.path.dirname(os.path.abspath(out_md)))
    try:
        chart(runs, calib, rows, out_png)
    except Exception as e:  # the table matters more than the picture
        print(f"chart not drawn: {e}", file=sys.stderr)
    # The "Scale" section is bench/scale.sh's (between its markers): kept as it is.
    kept = ""
    try:
        old = open(out_md, encoding="utf-8").read()
        begin, end = "<!-- scale:begin (bench/scale.sh) -->", "<!-- scale:end -->"
        if begin in old and end in old:
            kept = "\n" + old[old.index(begin):old.index(end) + len(end)] + "\n"
    except FileNotFoundError:
        pass
    with open(out_md, "w", encoding="utf-8") as f:
        f.write(markdown(meta, runs, calib, startup, rss, rows, chart_rel).rstrip("\n") + "\n" + kept)
    print(f"\n{'case':<62} {'Tessera':>14} {'reference':>12} {'ratio':>8}  goal        met")
    for r in rows:
        met = "-" if r["met"] is None else ("yes" if r["met"] else "NO")
        print(f"{r['case']:<62} {fmt(r['value']):>14} {fmt(r['reference_value']):>12} {fmt(r['ratio']):>8}  "
              f"{r['goal']:<11} {met}")
    for alg, c in cost_per_request(runs, calib).items():
        print(f"{alg} request CPU: {fmt(c['total_us'])} us (kernel {fmt(c['kernel_us'])}; signature "
              f"{fmt(c['signature_us'])}, floor {fmt(c['floor_us'])}, rest {fmt(c['rest_us'])}); "
              f"ceiling ratio on this machine {fmt(c['ceiling'])}")
    print(f"\nwrote {out_json}, {out_md}, {out_png}")


if __name__ == "__main__":
    main()

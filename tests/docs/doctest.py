#!/usr/bin/env python3
"""Runs the shell blocks of Markdown files against a live `tessera serve`, as a reader would.

Usage: tests/docs/doctest.py --bin target/debug/tessera [-v] [FILE.md ...]
(default files: README.md, CONTRIBUTING.md, BENCHMARKS.md and docs/*.md). tests/docs/run.sh wraps it.

Per file, in order:
- a fresh temporary directory, with the binary on PATH as `tessera`, and a server started
  there (`tessera serve`) on a free port; every `127.0.0.1:8080` / `localhost:8080` in the
  file's blocks is rewritten to that port, so the docs keep the default address (8081-8089,
  for servers a block starts itself or an address where nothing listens, get free ports too);
- the file's ```sh / ```bash blocks run in order in ONE bash session (`set -euo pipefail`),
  so a variable set in one block is there in the next; a failing command fails the file;
- markers, written on the line right before a fence (HTML comments, invisible on GitHub):
    <!-- doc-test: syntax-only -->   the block is only checked with `bash -n` (docker, systemd,
                                     commands that start their own server or need PostgreSQL)
    <!-- doc-test: file NAME -->     the block (any language) is written to NAME in the
                                     directory before the session runs, for later blocks to use
  and anywhere in the file:
    <!-- doc-test: server-env KEY=VALUE ... -->   extra environment for the file's server
    <!-- doc-test: requires TOOL ... -->          skip the file (reported) when a tool is missing
    <!-- doc-test: binary-at PATH -->             put the binary at PATH in the directory instead
                                                  of on PATH (the README finds it there itself)
- expected output: a trailing `# => TEXT` comment on a line of a block, or a ```text block
  right after a shell block (one expected line per line), must appear in that block's
  standard output, in order (`…` matches anything within a line);
- ```python blocks not written to a file are compiled (syntax check);
- relative links must lead to an existing file, and `#anchor`s to a heading of the target.

Exit status 0 when every block passed; the summary line counts what ran.
"""

import argparse
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field

SHELL_LANGS = {"sh", "bash", "shell"}
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
MARKER = re.compile(r"^\s*<!--\s*doc-test:\s*(?P<body>.*?)\s*-->\s*$")
EXPECT = re.compile(r"(?:^|\s)# => (?P<text>.*)$")


@dataclass
class Block:
    path: str
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    markers: list = field(default_factory=list)
    expected: list = field(default_factory=list)  # expected stdout lines

    @property
    def where(self):
        return f"{self.path}:{self.line}"

    def marker(self, name):
        for m in self.markers:
            parts = m.split(None, 1)
            if parts and parts[0] == name:
                return parts[1] if len(parts) > 1 else ""
        return None


def parse(path):
    """The fenced blocks of a Markdown file and its file-level markers."""
    lines = open(path, encoding="utf-8").read().split("\n")
    blocks, file_markers = [], []
    pending = []  # markers on the lines right before the next fence
    i = 0
    while i < len(lines):
        line = lines[i]
        m = MARKER.match(line)
        if m:
            body = m.group("body")
            if body.split(None, 1)[0] in ("server-env", "requires", "binary-at"):
                file_markers.append(body)
            else:
                pending.append(body)
            i += 1
            continue
        f = FENCE.match(line)
        if not f:
            if line.strip():
                pending = []
            i += 1
            continue
        indent, fence = len(f.group("indent")), f.group("fence")
        lang = (f.group("info").split() or [""])[0].lower()
        body, j = [], i + 1
        while j < len(lines):
            close = re.match(r"^\s*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$", lines[j])
            if close:
                break
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j].lstrip())
            j += 1
        blocks.append(Block(path, i + 1, lang, "\n".join(body) + "\n", pending))
        pending = []
        i = j + 1
    # A ```text block right after a shell block is its expected output.
    for prev, block in zip(blocks, blocks[1:]):
        if block.lang == "text" and prev.lang in SHELL_LANGS and not block.markers:
            # only blank lines between the closing fence of prev and this fence
            closing = prev.line + prev.text.count("\n")  # 0-based index of prev's closing fence
            if all(not l.strip() for l in lines[closing + 1 : block.line - 1]):
                prev.expected.extend(l for l in block.text.split("\n") if l.strip())
    return blocks, file_markers


LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def slug(heading):
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    out, fenced = set(), False
    for line in open(path, encoding="utf-8"):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            out.add(slug(m.group(1)))
    return out


def check_links(path):
    """Relative links and #anchors of a Markdown file that lead nowhere."""
    broken, n, fenced = [], 0, False
    for lineno, line in enumerate(open(path, encoding="utf-8"), 1):
        if FENCE.match(line):
            fenced = not fenced
        if fenced:
            continue
        for m in LINK.finditer(line):
            target = m.group("target")
            if re.match(r"^[a-z]+:", target):
                continue
            n += 1
            file, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
            if not os.path.exists(dest):
                broken.append(f"{path}:{lineno}: {target} (no such file)")
            elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
                broken.append(f"{path}:{lineno}: {target} (no such heading)")
    return n, broken


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def check_expected(expected, output):
    """Each expected line must be found in the output after the previous one's match, on one
    line (`…` matches anything but a newline). Returns the first one not found."""
    pos = 0
    for want in expected:
        pattern = "[^\\n]*?".join(re.escape(part.strip()) for part in want.split("…"))
        m = re.compile(pattern).search(output, pos)
        if m is None:
            return want
        pos = m.end()
    return None


class Runner:
    def __init__(self, binary, verbose):
        self.binary = binary
        self.verbose = verbose
        self.counts = dict(run=0, syntax=0, files=0, checked=0, python=0, skipped_files=0, links=0)
        self.failures = []

    def log(self, msg):
        print(msg, flush=True)

    def fail(self, block_or_path, msg):
        where = block_or_path.where if isinstance(block_or_path, Block) else block_or_path
        self.failures.append(where)
        self.log(f"doc-test: FAIL {where}: {msg}")

    def run_file(self, path):
        blocks, file_markers = parse(path)
        n, broken = check_links(path)
        self.counts["links"] += n
        for b in broken:
            self.fail(b.split(": ", 1)[0], "broken link " + b.split(": ", 1)[1])
        missing = [
            tool
            for m in file_markers
            if m.startswith("requires")
            for tool in m.split()[1:]
            if shutil.which(tool) is None
        ]
        if missing:
            self.counts["skipped_files"] += 1
            self.log(f"doc-test: {path}: skipped ({', '.join(missing)} not installed)")
            return
        work = tempfile.mkdtemp(prefix="doctest-")
        # 8080 is the server's; 8081-8089 are for servers the blocks start themselves.
        distinct = []
        while len(distinct) < 10:
            if (p := free_port()) not in distinct:
                distinct.append(p)
        ports = {8080 + i: p for i, p in enumerate(distinct)}
        port = ports[8080]

        def local(text):
            return re.sub(
                r"\b(127\.0\.0\.1|localhost):(808\d)\b",
                lambda m: f"{m.group(1)}:{ports[int(m.group(2))]}",
                text,
            )

        shell, to_write = [], []
        for b in blocks:
            if b.marker("file") is not None:
                to_write.append((b.marker("file"), local(b.text)))
                self.counts["files"] += 1
            elif b.lang in SHELL_LANGS:
                if b.marker("syntax-only") is not None:
                    r = subprocess.run(["bash", "-n"], input=b.text, text=True, capture_output=True)
                    if r.returncode != 0:
                        self.fail(b, "bash -n: " + r.stderr.strip())
                    self.counts["syntax"] += 1
                else:
                    shell.append(b)
            elif b.lang == "python":
                try:
                    compile(b.text, b.where, "exec")
                    self.counts["python"] += 1
                except SyntaxError as e:
                    self.fail(b, f"python syntax: {e}")
        if not shell:
            shutil.rmtree(work, ignore_errors=True)
            return
        server = None
        try:
            for name, text in to_write:
                target = os.path.join(work, name)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "w", encoding="utf-8") as f:
                    f.write(text)
            # The binary on PATH as `tessera`, or only where the file says a build puts it
            # (the README: `target/release/tessera`, which its own `export PATH=...` line finds).
            at = [m.split()[1] for m in file_markers if m.startswith("binary-at")]
            bindir = os.path.join(work, ".doctest", "bin")
            os.makedirs(bindir)
            env = dict(os.environ)
            for k in list(env):
                if k.startswith("TESSERA_"):
                    del env[k]
            if at:
                os.makedirs(os.path.join(work, os.path.dirname(at[0])), exist_ok=True)
                os.symlink(self.binary, os.path.join(work, at[0]))
                if shutil.which("tessera", path=env.get("PATH", "")):
                    raise SystemExit(f"doc-test: {path}: a `tessera` is already on PATH; remove it")
            else:
                os.symlink(self.binary, os.path.join(bindir, "tessera"))
                env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
            env["NO_COLOR"] = "1"
            server_env = dict(env)
            server_env.update(
                TESSERA_BIND=f"127.0.0.1:{port}",
                TESSERA_ISSUER=f"http://127.0.0.1:{port}",
                TESSERA_LOG="warn",
            )
            for m in file_markers:
                if m.startswith("server-env"):
                    for kv in m.split()[1:]:
                        k, _, v = kv.partition("=")
                        server_env[k] = v
            serve_log = open(os.path.join(work, ".doctest", "serve.log"), "w")
            server = subprocess.Popen(
                [self.binary, "serve"], cwd=work, env=server_env, stdout=serve_log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
            self.wait_healthy(port, server, work)

            meta = os.path.join(work, ".doctest")
            script = ["set -euo pipefail"]
            for n, b in enumerate(shell):
                bf = os.path.join(meta, f"b{n:03}.sh")
                with open(bf, "w", encoding="utf-8") as f:
                    f.write(local(b.text))
                script.append(f"echo {n} > {meta}/current")
                script.append(f"source {bf} > {meta}/b{n:03}.out 2> {meta}/b{n:03}.err")
            script.append(f"echo done > {meta}/current")
            with open(os.path.join(meta, "session.sh"), "w") as f:
                f.write("\n".join(script) + "\n")
            t0 = time.monotonic()
            sess = subprocess.Popen(
                ["bash", os.path.join(meta, "session.sh")], cwd=work, env=env,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
            try:
                rc = sess.wait(timeout=float(os.environ.get("DOCTEST_TIMEOUT", "600")))
            except subprocess.TimeoutExpired:
                rc = "timeout"
            finally:
                try:
                    os.killpg(sess.pid, signal.SIGKILL)  # background jobs the blocks started
                except ProcessLookupError:
                    pass
            current = open(os.path.join(meta, "current")).read().strip()
            done = len(shell) if current == "done" else int(current)
            for n, b in enumerate(shell[:done]):
                self.counts["run"] += 1
                if b.expected or self.expectations(b):
                    want = b.expected or self.expectations(b)
                    out = open(os.path.join(meta, f"b{n:03}.out"), encoding="utf-8", errors="replace").read()
                    missing_line = check_expected([local(w) for w in want], out)
                    self.counts["checked"] += len(want)
                    if missing_line is not None:
                        self.fail(b, f"expected output line not found: {missing_line!r}\n--- stdout:\n{out}")
                elif self.verbose:
                    self.log(f"doc-test: ok {b.where}")
            if current != "done":
                b = shell[done]
                self.counts["run"] += 1
                out = open(os.path.join(meta, f"b{done:03}.out"), errors="replace").read()
                err = open(os.path.join(meta, f"b{done:03}.err"), errors="replace").read()
                self.fail(
                    b,
                    f"exit status {rc}\n--- block:\n{local(b.text)}--- stdout:\n{out[-3000:]}"
                    f"--- stderr:\n{err[-3000:]}--- server log (tail):\n{self.server_log(work)}",
                )
            self.log(f"doc-test: {path}: {len(shell)} blocks in {time.monotonic() - t0:.1f} s")
        finally:
            if server is not None:
                try:
                    os.killpg(server.pid, signal.SIGTERM)
                    server.wait(timeout=15)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(server.pid, signal.SIGKILL)
            if os.environ.get("DOCTEST_KEEP"):
                self.log(f"doc-test: kept {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)

    @staticmethod
    def expectations(block):
        return [m.group("text").strip() for l in block.text.split("\n") if (m := EXPECT.search(l))]

    @staticmethod
    def server_log(work):
        try:
            return open(os.path.join(work, ".doctest", "serve.log"), errors="replace").read()[-2000:]
        except OSError:
            return ""

    def wait_healthy(self, port, server, work):
        for _ in range(400):
            if server.poll() is not None:
                raise SystemExit(f"doc-test: the server exited at start-up:\n{self.server_log(work)}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"doc-test: no healthy server on port {port}:\n{self.server_log(work)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="the tessera binary")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    binary = os.path.realpath(args.bin)
    if not os.access(binary, os.X_OK):
        sys.exit(f"doc-test: {binary} is not an executable (build it first: cargo build)")
    for tool in ("bash", "curl", "jq"):
        if shutil.which(tool) is None:
            sys.exit(f"doc-test: {tool} is required (the docs use it)")
    files = args.files or (
        ["README.md", "CONTRIBUTING.md", "BENCHMARKS.md"] + sorted(glob.glob("docs/*.md"))
    )
    runner = Runner(binary, args.verbose)
    for path in files:
        if os.path.exists(path):
            runner.run_file(path)
    c = runner.counts
    print(
        f"doc-test: {c['run']} shell blocks run against a live server, {c['syntax']} checked with "
        f"bash -n only, {c['files']} blocks written as files, {c['checked']} expected output lines "
        f"checked, {c['python']} python blocks compiled, {c['links']} relative links checked; {len(files)} files, "
        f"{c['skipped_files']} skipped; {len(runner.failures)} failures"
    )
    sys.exit(1 if runner.failures else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# The container image's build steps, runnable outside Docker. The Dockerfile RUNs these
# subcommands and .ci/run runs `deploy/build.sh ci`, so the image recipe is exercised on
# every CI run even though CI has no Docker engine.
#
#   skeleton DIR  dependency skeleton: Cargo.lock, every workspace member's Cargo.toml and
#                 .cargo/config.toml, with an empty stub at every target's source path
#   deps          build the dependencies of the tessera binary (run inside a skeleton)
#   touch         bump the mtime of every workspace member's sources, so cargo rebuilds them
#                 over the stubs (COPY keeps the files' old mtimes, older than the stub build)
#   build         build the tessera binary
#   rootfs DIR    lay out the runtime filesystem: /usr/local/bin/{tessera,tessera-healthcheck}
#                 and /data owned by uid/gid 10001 (when run as root)
#   smoke DIR     start DIR's binary as the image would (the Dockerfile's ENV lines, cwd
#                 /data, uid 10001 when root), wait for the health check, fetch discovery and
#                 the JWKS, check the KEK and database landed in /data, stop it with SIGTERM
#   check         static checks: files the Dockerfile copies or runs exist, its ENV keys are
#                 real settings, deploy/compose.yml parses and has the expected shape
#   ci            check, skeleton (validated with cargo metadata --locked), build, rootfs,
#                 smoke
#
# TESSERA_BUILD_PROFILE selects the cargo profile: `release` (the default, and what the
# Dockerfile uses) or `dev`. CI uses `dev`: it reuses the dependencies the test suite has just
# compiled (only poem-openapi and tessera rebuild, ~2 minutes, as the binary alone has no
# dev-dependency features), where a cold release build (thin LTO) costs 15+ minutes on CI's
# 2 cores. The trade-off:
# CI proves the recipe, the layout and the runtime behaviour, not the release profile's
# codegen; `TESSERA_BUILD_PROFILE=release deploy/build.sh ci` checks that too.
set -euo pipefail

cd "$(dirname "$0")/.."
PROFILE="${TESSERA_BUILD_PROFILE:-release}"
RUNTIME_UID=10001

log() { printf 'build.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

profile_dir() {
    case "$PROFILE" in
        dev | test) echo debug ;;
        bench) echo release ;;
        *) echo "$PROFILE" ;;
    esac
}

target_dir() {
    cargo metadata --format-version 1 --no-deps --offline |
        perl -MJSON::PP -0777 -ne 'print decode_json($_)->{target_directory}'
}

# "<kind> <path relative to the workspace root>" per target of every workspace member,
# plus "manifest <path>" per member.
workspace_files() {
    cargo metadata --format-version 1 --no-deps --offline | perl -MJSON::PP -0777 -ne '
        my $m = decode_json($_);
        my $root = $m->{workspace_root};
        my %members = map { $_ => 1 } @{ $m->{workspace_members} };
        for my $p (@{ $m->{packages} }) {
            next unless $members{ $p->{id} };
            (my $man = $p->{manifest_path}) =~ s{^\Q$root\E/}{};
            print "manifest $man\n";
            for my $t (@{ $p->{targets} }) {
                (my $src = $t->{src_path}) =~ s{^\Q$root\E/}{};
                print "$t->{kind}[0] $src\n";
            }
        }'
}

cmd_skeleton() {
    local out="${1:?usage: skeleton DIR}"
    rm -rf "$out"
    mkdir -p "$out"
    cp Cargo.lock "$out/"
    [ -f .cargo/config.toml ] && install -D -m 0644 .cargo/config.toml "$out/.cargo/config.toml"
    [ -f rust-toolchain.toml ] && cp rust-toolchain.toml "$out/"
    local kind path
    while read -r kind path; do
        mkdir -p "$out/$(dirname "$path")"
        case "$kind" in
            manifest) cp "$path" "$out/$path" ;;
            lib | rlib | proc-macro | cdylib | staticlib | dylib) : >"$out/$path" ;;
            *) echo 'fn main() {}' >"$out/$path" ;;
        esac
    done < <(workspace_files)
    log "skeleton in $out: $(find "$out" -type f | wc -l) files"
}

cargo_build() {
    cargo build --locked --profile "$PROFILE" -p tessera --bin tessera
}

cmd_deps() { cargo_build; }

cmd_touch() {
    local kind path
    while read -r kind path; do
        [ "$kind" = manifest ] && continue
        find "$(dirname "$path")" -name '*.rs' -exec touch {} +
    done < <(workspace_files)
}

cmd_build() { cargo_build; }

cmd_rootfs() {
    local out="${1:?usage: rootfs DIR}"
    local bin
    bin="$(target_dir)/$(profile_dir)/tessera"
    [ -x "$bin" ] || die "$bin not built (run: deploy/build.sh build)"
    rm -rf "$out"
    install -D -m 0755 "$bin" "$out/usr/local/bin/tessera"
    install -D -m 0755 deploy/healthcheck.sh "$out/usr/local/bin/tessera-healthcheck"
    install -d -m 0700 "$out/data"
    if [ "$(id -u)" = 0 ]; then
        chown "$RUNTIME_UID:$RUNTIME_UID" "$out/data"
    fi
    log "runtime filesystem in $out ($(du -sh "$out/usr/local/bin/tessera" | cut -f1) binary)"
}

# The runtime stage's (after the last FROM) `ENV KEY=VALUE` lines, one per line by convention.
dockerfile_env() {
    awk '/^FROM /{n=NR} {l[NR]=$0} END{for(i=n;i<=NR;i++) print l[i]}' Dockerfile |
        sed -n 's/^ENV \([A-Z_][A-Z0-9_]*\)=\(.*\)$/\1=\2/p'
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cmd_smoke() {
    local root="${1:?usage: smoke DIR}"
    root="$(cd "$root" && pwd)"
    [ -x "$root/usr/local/bin/tessera" ] || die "no runtime filesystem in $root"
    chmod 0755 "$root"
    local port env=() kv key value
    port="$(free_port)"
    while IFS= read -r kv; do
        key="${kv%%=*}"
        value="${kv#*=}"
        value="${value//\/data/$root/data}"
        case "$key" in
            TESSERA_BIND) value="${value%:*}:$port" ;;
            TESSERA_ISSUER) value="http://127.0.0.1:$port" ;;
        esac
        env+=("$key=$value")
    done < <(dockerfile_env)
    local as_user=()
    if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
        as_user=(setpriv --reuid "$RUNTIME_UID" --regid "$RUNTIME_UID" --clear-groups)
    fi
    log "starting ${as_user[*]:+as uid $RUNTIME_UID: }${env[*]} tessera serve"
    (
        cd "$root/data"
        exec env -i PATH=/usr/bin:/bin HOME="$root/data" "${env[@]}" \
            "${as_user[@]}" "$root/usr/local/bin/tessera" serve
    ) >"$root/serve.log" 2>&1 &
    local pid=$!
    # shellcheck disable=SC2064
    trap "kill $pid 2>/dev/null || true" EXIT

    local i healthy=
    for i in $(seq 1 120); do
        kill -0 "$pid" 2>/dev/null || {
            cat "$root/serve.log" >&2
            die "tessera exited during start-up"
        }
        if env TESSERA_BIND="0.0.0.0:$port" "$root/usr/local/bin/tessera-healthcheck" 2>/dev/null; then
            healthy=1
            break
        fi
        sleep 0.5
    done
    [ -n "$healthy" ] || {
        cat "$root/serve.log" >&2
        die "no healthy /healthz within 60 s"
    }
    log "healthy on port $port after $i probes"

    python3 - "http://127.0.0.1:$port" <<'PY'
import json, sys, urllib.request
base = sys.argv[1]
def get(path):
    with urllib.request.urlopen(base + path, timeout=5) as r:
        assert r.status == 200, (path, r.status)
        return json.load(r)
disc = get("/.well-known/openid-configuration")
assert disc["issuer"] == base, disc["issuer"]
jwks = get("/.well-known/jwks.json")
keys = jwks["keys"]
assert keys and all(k.get("kid") and k.get("kty") in ("EC", "RSA") for k in keys), jwks
assert not any("d" in k for k in keys), "private key material in the JWKS"
print(f"build.sh: discovery ok, JWKS has {len(keys)} keys: " + ", ".join(sorted(k["kty"] + "/" + k["alg"] for k in keys)), file=sys.stderr)
PY

    [ -f "$root/data/tessera.db" ] || die "database not created under /data"
    [ "$(stat -c %a "$root/data/kek")" = 600 ] || die "/data/kek missing or not mode 0600"
    if [ ${#as_user[@]} -gt 0 ]; then
        [ "$(stat -c %u "$root/data/kek")" = "$RUNTIME_UID" ] || die "/data/kek not owned by uid $RUNTIME_UID"
    fi
    local stray
    stray="$(find "$root" -mindepth 1 -maxdepth 1 ! -name data ! -name usr ! -name serve.log)"
    [ -z "$stray" ] || die "files written outside /data: $stray"

    kill -TERM "$pid"
    local rc=0
    for i in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    kill -0 "$pid" 2>/dev/null && die "tessera still running 15 s after SIGTERM"
    wait "$pid" || rc=$?
    trap - EXIT
    [ "$rc" = 0 ] || {
        cat "$root/serve.log" >&2
        die "tessera exited $rc after SIGTERM"
    }
    log "smoke test passed (SIGTERM: exit 0)"
}

cmd_check() {
    # Sources of COPY (not --from) must exist in the build context.
    local line src
    while IFS= read -r line; do
        # shellcheck disable=SC2086
        set -- $line
        shift
        while [ $# -gt 2 ] && [[ "$1" == --* ]]; do shift; done
        while [ $# -gt 1 ]; do
            src="$1"
            shift
            [ "$src" = . ] || [ -e "$src" ] || die "Dockerfile copies $src, which does not exist"
        done
    done < <(grep -E '^COPY ' Dockerfile | grep -v -- '--from=')
    # Subcommands the Dockerfile runs must exist here.
    local sub
    for sub in $(grep -E '^RUN ' Dockerfile | grep -oE 'deploy/build\.sh [a-z]+' | awk '{print $2}' | sort -u); do
        declare -F "cmd_$sub" >/dev/null || die "Dockerfile runs deploy/build.sh $sub, which does not exist"
    done
    # ENV TESSERA_* keys must be settings (unknown TESSERA_* variables are ignored silently).
    local bin settings kv key
    bin="$(target_dir)/$(profile_dir)/tessera"
    if [ -x "$bin" ]; then
        settings="$(cd / && env -i PATH=/usr/bin:/bin TESSERA_KEK=unused "$bin" config | sed 's/ = .*//')"
        while IFS= read -r kv; do
            key="${kv%%=*}"
            key="${key#TESSERA_}"
            key="${key,,}"
            grep -qx "$key" <<<"$settings" || die "Dockerfile sets TESSERA_${key^^}, which is not a setting"
        done < <(dockerfile_env | grep '^TESSERA_')
    fi
    grep -q '^HEALTHCHECK ' Dockerfile || die "Dockerfile has no HEALTHCHECK"
    grep -q '^USER ' Dockerfile || die "Dockerfile has no USER"
    check_compose
    log "static checks passed"
}

check_compose() {
    local venv="${TESSERA_CI_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera-ci}/yaml-venv"
    if ! "$venv/bin/python" -c 'import yaml' 2>/dev/null; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check 'PyYAML==6.0.2'
    fi
    "$venv/bin/python" deploy/check_compose.py deploy/compose.yml
}

cmd_ci() {
    local tmp
    tmp="$(mktemp -d)"
    chmod 0755 "$tmp" # the smoke test runs the server as uid 10001, which must reach rootfs/data
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" RETURN
    cmd_check
    cmd_skeleton "$tmp/skeleton"
    # Not --offline: resolving the whole lock file needs the manifests of platform-only
    # crates (android_system_properties, ...) that no build on this machine downloaded.
    (cd "$tmp/skeleton" && cargo metadata --locked --format-version 1 >/dev/null) ||
        die "the dependency skeleton does not load with --locked"
    cmd_build
    cmd_rootfs "$tmp/rootfs"
    cmd_smoke "$tmp/rootfs"
}

sub="${1:-}"
shift || true
declare -F "cmd_$sub" >/dev/null || die "usage: deploy/build.sh skeleton|deps|touch|build|rootfs|smoke|check|ci"
"cmd_$sub" "$@"

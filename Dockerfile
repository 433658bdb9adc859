# syntax=docker/dockerfile:1
# The operator image: one static-ish `traceval` binary (the operator, and the
# evaluator that EvaluationTask Jobs run as `traceval evaluate`) on distroless,
# as the non-root user 65532.
#
#   docker build -t <registry>/traceval:0.1.0 .
#
# Not built in this repository's CI (no container engine); tests/dockerfile.rs
# checks that it agrees with Cargo.toml, the Helm chart and the operator's flags.

FROM rust:1.95-bookworm AS builder
WORKDIR /build
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked --bin traceval \
    && install -D -m 0755 target/release/traceval /out/traceval

FROM gcr.io/distroless/cc-debian12:nonroot
# On PATH: the chart's Deployment and the evaluator Jobs run `traceval`.
COPY --from=builder /out/traceval /usr/local/bin/traceval
USER 65532:65532
# /metrics, /healthz and /readyz (--http-addr).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/traceval"]
CMD ["operator"]

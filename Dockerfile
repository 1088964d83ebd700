# syntax=docker/dockerfile:1
# One build stage compiles every binary once; each service gets its own small
# runtime image (a target below), running as an unprivileged user.
#   docker build --target edge-api -t rt-predictor/edge-api .
# compose.yaml builds each target.

FROM rust:1.95-bookworm AS build
ENV DEBIAN_FRONTEND=noninteractive
# clang/libclang: LightGBM's bindings; CMake >= 3.28 (PyPI): LightGBM's build.
RUN apt-get update \
    && apt-get install -y --no-install-recommends clang libclang-dev python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/cmake \
    && /opt/cmake/bin/pip install --no-cache-dir "cmake==4.4.5"
ENV PATH="/opt/cmake/bin:${PATH}"
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --bins \
    && mkdir -p /out \
    && cp target/release/rtp target/release/rtp-flight-server \
          target/release/rtp-edge-api target/release/rtp-dashboard /out/

FROM debian:bookworm-slim AS runtime
ENV DEBIAN_FRONTEND=noninteractive
# libgomp: LightGBM's OpenMP; curl: container health checks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/rtp --create-home rtp \
    && install -d -o 10001 /var/lib/rtp/bundles /var/lib/rtp/out/bundles
COPY configs /etc/rtp
WORKDIR /var/lib/rtp
ENV RTP_BUNDLE_DIR=/var/lib/rtp/bundles

FROM runtime AS flight-server
COPY --from=build /out/rtp-flight-server /usr/local/bin/
USER 10001
ENV RTP_FLIGHT_LISTEN=0.0.0.0:8815 RTP_FLIGHT_METRICS_LISTEN=0.0.0.0:9815
EXPOSE 8815 9815
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["curl", "-fsS", "http://127.0.0.1:9815/healthz"]
ENTRYPOINT ["rtp-flight-server", "--config", "/etc/rtp/flight-server.toml"]

FROM runtime AS edge-api
COPY --from=build /out/rtp-edge-api /usr/local/bin/
USER 10001
ENV RTP_EDGE_LISTEN=0.0.0.0:50051 RTP_EDGE_METRICS_LISTEN=0.0.0.0:9851
EXPOSE 50051 9851
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["curl", "-fsS", "http://127.0.0.1:9851/readyz"]
ENTRYPOINT ["rtp-edge-api", "--config", "/etc/rtp/edge-api.toml"]

FROM runtime AS dashboard
COPY --from=build /out/rtp-dashboard /usr/local/bin/
USER 10001
ENV RTP_DASHBOARD_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["curl", "-fsS", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["rtp-dashboard", "--config", "/etc/rtp/dashboard.toml"]

FROM runtime AS pipeline
# The XGBoost and CatBoost trainers run in a venv rtp creates on first use
# (under the rtp user's home); `--members lightgbm` needs no Python.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/rtp /usr/local/bin/
# Relative paths of configs/pipeline.toml resolve here: sql/ is read,
# out/ (intermediate tables, out/bundles) is written.
COPY sql /var/lib/rtp/sql
USER 10001
ENTRYPOINT ["rtp", "--config", "/etc/rtp/pipeline.toml"]
CMD ["run"]

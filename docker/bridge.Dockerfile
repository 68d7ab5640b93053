# syntax=docker/dockerfile:1
# sensor-bridge: MQTT readings → InfluxDB line protocol / Prometheus remote-write
#
# Built from the repository root (the context), for the Pis and a PC:
#   docker buildx build --platform linux/arm/v7,linux/arm64,linux/amd64 \
#     -f docker/bridge.Dockerfile -t <registry>/sensor-bridge:0.1.0 --push .
# Stage 1 compiles with the project's Makefile on Debian bookworm: the bridge is
# linked statically, with libcurl, libmicrohttpd and cJSON built from Debian's
# source packages (scripts/static-deps.sh; it fetches them from deb.debian.org,
# so the build needs the network, as apt-get does). Stage 2 is bookworm-slim
# with only the CA store, running as the unprivileged user 10001 (Kubernetes'
# runAsNonRoot can verify it).

FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential pkg-config autoconf automake libtool \
      libpaho-mqtt-dev libcurl4-openssl-dev libcjson-dev libprotobuf-c-dev protobuf-c-compiler \
      libsnappy-dev zlib1g-dev libgpiod-dev libmicrohttpd-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make BUILD=build all \
 && make BUILD=build install PREFIX=/usr/local DESTDIR=/out

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 sensorwire \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent \
      --no-create-home --shell /usr/sbin/nologin sensorwire
RUN install -d -o 10001 -g 10001 -m 0750 /var/lib/sensor-bridge
COPY --from=build /out/usr/local/bin/sensor-bridge /usr/local/bin/sensor-bridge
USER 10001:10001
# HEALTH_PORT (GET /healthz, /readyz) when set to 8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/sensor-bridge"]

# syntax=docker/dockerfile:1
# sensor-bridge: MQTT readings → InfluxDB line protocol / Prometheus remote-write
#
# Built from the repository root (the context), for the Pis and a PC:
#   docker buildx build --platform linux/arm/v7,linux/arm64,linux/amd64 \
#     -f docker/bridge.Dockerfile -t <registry>/sensor-bridge:0.1.0 --push .
# The build stages run on the build machine's own platform and cross-compile
# with the Makefile's CROSS= path, the same as `make CROSS=...` on a PC and
# scripts/matrix.sh: no emulation. The bridge is the release build
# (BRIDGE_STATIC=1): static, with libcurl, libmicrohttpd and cJSON compiled
# from Debian's source packages (scripts/static-deps.sh, through the image's
# own apt sources, so the build needs the network, as apt-get does). That
# stage sees only the scripts it runs, so editing the sources does not
# rebuild curl. The last stage is bookworm-slim with only the CA store,
# running as the unprivileged user 10001 (runAsNonRoot can verify it).

FROM --platform=$BUILDPLATFORM debian:bookworm AS toolchain
ARG TARGETARCH
ARG TARGETVARIANT
COPY scripts/deps.sh /src/scripts/deps.sh
COPY docker/cross-env.sh /src/docker/cross-env.sh
RUN eval "$(/src/docker/cross-env.sh "$TARGETARCH" "$TARGETVARIANT")" \
 && if [ -n "$CROSS" ]; then dpkg --add-architecture "$ARCH"; fi \
 && /src/scripts/deps.sh --arch "$ARCH" release \
 && rm -rf /var/lib/apt/lists/*

FROM toolchain AS deps
COPY scripts/static-deps.sh /src/scripts/static-deps.sh
COPY scripts/lib/apt.sh /src/scripts/lib/apt.sh
RUN eval "$(/src/docker/cross-env.sh "$TARGETARCH" "$TARGETVARIANT")" \
 && cd /src && CROSS="$CROSS" scripts/static-deps.sh "build/deps/$TRIPLET"

FROM toolchain AS build
WORKDIR /src
COPY . .
COPY --from=deps /src/build/deps build/deps
RUN eval "$(docker/cross-env.sh "$TARGETARCH" "$TARGETVARIANT")" \
 && make CROSS="$CROSS" BUILD=build/image BRIDGE_STATIC=1 PROGRAMS=sensor-bridge all \
 && make CROSS="$CROSS" BUILD=build/image BRIDGE_STATIC=1 PROGRAMS=sensor-bridge install \
      PREFIX=/usr/local DESTDIR=/out

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

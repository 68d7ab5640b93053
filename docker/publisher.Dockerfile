# syntax=docker/dockerfile:1
# sensor-publisher: reads DHT22 / IIO / 1-Wire sensors, publishes JSON over MQTT
#
# Built from the repository root (the context), for the Pis and a PC:
#   docker buildx build --platform linux/arm/v7,linux/arm64,linux/amd64 \
#     -f docker/publisher.Dockerfile -t <registry>/sensor-publisher:0.1.0 --push .
# The build stage runs on the build machine's own platform and cross-compiles
# with the Makefile's CROSS= path, the same as `make CROSS=...` on a PC and
# scripts/matrix.sh: no emulation. Only the publisher's packages are installed
# (scripts/deps.sh publisher: no curl or protobuf). The publisher comes out
# statically linked (README "Footprint"), so the last stage is bookworm-slim
# with CA certificates only, running as the unprivileged user 10001
# (runAsNonRoot can verify it).

FROM --platform=$BUILDPLATFORM debian:bookworm AS toolchain
ARG TARGETARCH
ARG TARGETVARIANT
COPY scripts/deps.sh /src/scripts/deps.sh
COPY docker/cross-env.sh /src/docker/cross-env.sh
RUN eval "$(/src/docker/cross-env.sh "$TARGETARCH" "$TARGETVARIANT")" \
 && if [ -n "$CROSS" ]; then dpkg --add-architecture "$ARCH"; fi \
 && /src/scripts/deps.sh --arch "$ARCH" publisher \
 && rm -rf /var/lib/apt/lists/*

FROM toolchain AS build
WORKDIR /src
COPY . .
RUN eval "$(docker/cross-env.sh "$TARGETARCH" "$TARGETVARIANT")" \
 && make CROSS="$CROSS" BUILD=build/image PROGRAMS=sensor-publisher all \
 && make CROSS="$CROSS" BUILD=build/image PROGRAMS=sensor-publisher install \
      PREFIX=/usr/local DESTDIR=/out

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 sensorwire \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent \
      --no-create-home --shell /usr/sbin/nologin sensorwire
RUN install -d -o 10001 -g 10001 -m 0750 /var/lib/sensor-publisher /var/lib/sensor-publisher/outbox
COPY --from=build /out/usr/local/bin/sensor-publisher /usr/local/bin/sensor-publisher
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/sensor-publisher"]

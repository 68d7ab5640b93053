# syntax=docker/dockerfile:1
# sensor-publisher: reads DHT22 / IIO / 1-Wire sensors, publishes JSON over MQTT
#
# Built from the repository root (the context), for the Pis and a PC:
#   docker buildx build --platform linux/arm/v7,linux/arm64,linux/amd64 \
#     -f docker/publisher.Dockerfile -t <registry>/sensor-publisher:0.1.0 --push .
# Stage 1 compiles with the project's Makefile on Debian bookworm; the
# publisher comes out statically linked (README "Footprint"), so stage 2 is
# bookworm-slim with CA certificates only, running as the unprivileged user
# 10001 (Kubernetes' runAsNonRoot can verify it).

FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential pkg-config \
      libpaho-mqtt-dev libcurl4-openssl-dev libcjson-dev libprotobuf-c-dev protobuf-c-compiler \
      libsnappy-dev zlib1g-dev libgpiod-dev libmicrohttpd-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make BUILD=build PROGRAMS=sensor-publisher all \
 && make BUILD=build PROGRAMS=sensor-publisher install PREFIX=/usr/local DESTDIR=/out

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

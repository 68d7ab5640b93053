#!/bin/sh
# cross-env.sh TARGETARCH [TARGETVARIANT] - for docker/*.Dockerfile: prints
# the shell assignments ARCH (Debian architecture) and CROSS (the Makefile's
# toolchain prefix; empty when the build machine is the target) for one
# buildx target platform, so every stage builds through the same path as
# `make CROSS=...` on a PC (README "Building for a Pi from a PC").
set -eu
case "$1" in
  amd64) arch=amd64 triplet=x86_64-linux-gnu ;;
  arm64) arch=arm64 triplet=aarch64-linux-gnu ;;
  arm)
    # Debian's armhf is ARMv7; a Pi Zero/1 (ARMv6) needs Raspberry Pi OS's
    # own packages, so build on it instead (README)
    [ "${2:-v7}" = v7 ] || { echo "cross-env: linux/arm/${2} is not supported: Debian armhf is ARMv7" >&2; exit 1; }
    arch=armhf triplet=arm-linux-gnueabihf ;;
  *) echo "cross-env: unsupported TARGETARCH '$1'" >&2; exit 1 ;;
esac
if [ "$arch" = "$(dpkg --print-architecture)" ]; then cross=; else cross=$triplet-; fi
echo "ARCH=$arch CROSS=$cross TRIPLET=$triplet"

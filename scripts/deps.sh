#!/usr/bin/env bash
# deps.sh - install the Debian packages sensorwire needs to build, test and
# run its demo (build tools, libraries, and the real services the tests start),
# but only those that are missing. Safe to run again.
set -euo pipefail

PKGS=(
  build-essential pkg-config
  libpaho-mqtt-dev libcurl4-openssl-dev libcjson-dev libprotobuf-c-dev protobuf-c-compiler
  libsnappy-dev zlib1g-dev libgpiod-dev libcmocka-dev libmicrohttpd-dev
  libssl-dev openssl
  autoconf automake libtool ca-certificates
  mosquitto mosquitto-clients prometheus victoria-metrics influxdb
  python3-paho-mqtt curl jq procps
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# Node.js + npm run the offline schema checks of k8s/ and compose/; a machine
# may already have them from elsewhere (e.g. NodeSource), so check the commands
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# the packaged services must not start system-wide instances: tests and the
# demo start their own on loopback ports
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2

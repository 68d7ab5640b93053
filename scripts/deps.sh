#!/usr/bin/env bash
# deps.sh [GROUP...] - install the Debian packages sensorwire needs, but only
# those that are missing. Safe to run again. The groups (README "Packages"
# and docs/deploy.md list the same, and tests/integration/test_deps.sh checks
# that they do):
#
#   build      `make`: both programs (the publisher static, the bridge against
#              Debian's shared libraries). The default for a Pi.
#   publisher  `make PROGRAMS=sensor-publisher`: the publisher alone
#   release    `make release` / BRIDGE_STATIC=1 and the images: build, plus what
#              scripts/static-deps.sh needs to compile curl, libmicrohttpd and
#              cJSON from Debian's sources
#   unit       the unit tests' own library (cmocka), e.g. for a cross build's
#              unit tests under qemu (scripts/matrix.sh)
#   test       `make test`, `make demo` and `make bench`: the real services the
#              tests start, the test libraries and tools, and what the target
#              matrix needs on the host (debootstrap, qemu-user)
#   all        every group (what make test installs)
#
#   deps.sh --list GROUP   prints the group's packages, one line, and exits
#   deps.sh --arch ARCH GROUP...
#              for a cross build to the Debian architecture ARCH (arm64,
#              armhf): the libraries' -dev packages of ARCH (ARCH must have
#              been added with dpkg --add-architecture) and its cross
#              compiler (crossbuild-essential-ARCH); the tools stay native.
#              What docker/*.Dockerfile and scripts/matrix.sh use.
#
# Node.js and npm (the offline schema checks of k8s/ and compose/) belong to
# test; a machine that already has npm from elsewhere keeps it.
set -euo pipefail

declare -A GROUP
GROUP[publisher]="build-essential pkg-config libpaho-mqtt-dev libgpiod-dev zlib1g-dev libssl-dev"
GROUP[build]="build-essential pkg-config libpaho-mqtt-dev libcurl4-openssl-dev libcjson-dev
  libprotobuf-c-dev protobuf-c-compiler libsnappy-dev zlib1g-dev libgpiod-dev libmicrohttpd-dev
  libssl-dev"
GROUP[release]="${GROUP[build]} autoconf automake libtool ca-certificates"
GROUP[unit]="libcmocka-dev"
GROUP[test]="${GROUP[unit]} openssl mosquitto mosquitto-clients prometheus victoria-metrics influxdb
  python3-paho-mqtt curl jq procps debootstrap qemu-user-static clang shellcheck nodejs npm"

expand() { # GROUP... -> packages, deduplicated, in order
  local g p seen=" "
  for g in "$@"; do
    if [ "$g" = all ]; then expand release test; continue; fi
    [ -n "${GROUP[$g]+x}" ] || { echo "deps: unknown group '$g' (build publisher release unit test all)" >&2; exit 2; }
    for p in ${GROUP[$g]}; do
      case $seen in *" $p "*) ;; *) seen="$seen$p "; printf '%s\n' "$p" ;; esac
    done
  done
}

# for_arch ARCH: packages on stdin, for a cross build to ARCH on stdout
for_arch() {
  local p
  while read -r p; do
    case $p in
      build-essential) echo build-essential; echo "crossbuild-essential-$1" ;;
      *-dev) echo "$p:$1" ;;
      *) echo "$p" ;;
    esac
  done
}

list=0 arch=
while [ $# -gt 0 ]; do
  case $1 in
    --list) list=1; shift ;;
    --arch) arch=${2:?--arch needs an architecture}; shift 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || set -- all
native=$(dpkg --print-architecture 2>/dev/null || echo none)
if [ -n "$arch" ] && [ "$arch" != "$native" ]; then
  mapfile -t PKGS < <(expand "$@" | for_arch "$arch")
else
  mapfile -t PKGS < <(expand "$@")
fi
if [ $list = 1 ]; then
  printf '%s\n' "${PKGS[@]}" | paste -sd' '
  exit 0
fi

missing=()
for p in "${PKGS[@]}"; do
  case $p in
    nodejs | npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
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

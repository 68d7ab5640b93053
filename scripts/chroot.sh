#!/usr/bin/env bash
# chroot.sh SUITE - make (once) and print the path of a Debian SUITE
# (bookworm or trixie) amd64 chroot for the target matrix (scripts/matrix.sh).
#
# The chroot is cached in $SW_CHROOT_DIR (default /var/cache/sensorwire/chroot)
# and reused while its base format is unchanged; it is refreshed with
# apt-get upgrade at most once a day. It is made with debootstrap from this
# machine's own apt mirror (scripts/lib/apt.sh), so the host's package state
# is not touched: cross compilers and the foreign-architecture -dev packages
# go into the chroot. Needs root, debootstrap and the network to the mirror.
#
#   SW_CHROOT_PKGS   extra packages to install in it (space-separated; :arch ok)
#   SW_CHROOT_ARCHES foreign architectures to enable (default: arm64 armhf)
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 bookworm|trixie" >&2; exit 2; }
suite=$1
case $suite in bookworm | trixie) ;; *) echo "chroot: unknown suite '$suite'" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/apt.sh"
base=${SW_CHROOT_DIR:-/var/cache/sensorwire/chroot}
root=$base/$suite
arches=${SW_CHROOT_ARCHES:-arm64 armhf}
# bump when the way the base system is made changes (it is then made anew)
want='base-1'
log=$base/$suite.log
mkdir -p "$base"

say() { echo "  CHROOT  $suite: $*" >&2; }
fail() {
  echo "chroot: $1 failed; the end of $log:" >&2
  tail -n 30 "$log" >&2
  exit 1
}
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 ${http_proxy:+http_proxy=$http_proxy} "$@"; }

# one at a time per chroot (the matrix may run beside make test)
exec 9>"$base/$suite.lock"
flock 9

mounted=0
cleanup() { if [ $mounted = 1 ]; then umount "$root/proc" 2>/dev/null || true; fi; }
trap cleanup EXIT
mount_proc() {
  if ! mountpoint -q "$root/proc"; then mount -t proc proc "$root/proc" && mounted=1; fi
}

apt_proxy_env
if [ ! -f "$root/.sw-stamp" ] || [ "$(cat "$root/.sw-stamp")" != "$want" ]; then
  command -v debootstrap >/dev/null || { echo "chroot: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
  mirror=$(apt_site main)
  [ -n "$mirror" ] || { echo "chroot: this machine's apt has no Debian archive configured" >&2; exit 1; }
  security=$(apt_site security)
  : >"$log"
  umount "$root/proc" 2>/dev/null || true
  rm -rf "$root"
  say "debootstrap from this machine's mirror"
  debootstrap --variant=minbase --include=ca-certificates "$suite" "$root" "$mirror" \
    >>"$log" 2>&1 || fail "debootstrap"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' "$mirror" "$suite" "$suite"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    if [ -n "$security" ]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$suite"
      printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    fi
  } >"$root/etc/apt/sources.list.d/debian.sources"
  rm -f "$root/etc/apt/sources.list"
  # services installed in the chroot must not start
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod +x "$root/usr/sbin/policy-rc.d"
  for a in $arches; do in_root dpkg --add-architecture "$a"; done
  rm -f "$root/.sw-updated"
  echo "$want" >"$root/.sw-stamp"
fi

# No manuals or docs: they are not needed for building, and some packages'
# (e.g. libpsl-dev in trixie) ship per-architecture manuals that differ, which
# dpkg refuses to co-install for two architectures.
printf 'path-exclude=/usr/share/man/*\npath-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\n' \
  >"$root/etc/dpkg/dpkg.cfg.d/01-sensorwire-nodoc"

mount_proc
if [ -z "$(find "$root/.sw-updated" -mmin -1440 2>/dev/null)" ]; then
  say "apt-get update && upgrade"
  in_root apt-get update -qq >>"$log" 2>&1 || fail "apt-get update"
  in_root apt-get -y -qq -o Dpkg::Options::=--force-confold upgrade >>"$log" 2>&1 ||
    fail "apt-get upgrade"
  touch "$root/.sw-updated"
fi
if [ -n "${SW_CHROOT_PKGS:-}" ]; then
  want_pkgs=()
  native=$(in_root dpkg --print-architecture)
  for p in $SW_CHROOT_PKGS; do
    q=$p
    case $p in *:*) ;; *) q=$p:$native ;; esac
    # (Architecture: all packages answer only to their bare name)
    # shellcheck disable=SC2016 # dpkg-query's own ${field} syntax
    in_root dpkg-query -W -f='${db:Status-Status}' "$q" 2>/dev/null | grep -qx installed ||
      in_root dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed ||
      want_pkgs+=("$p")
  done
  if [ ${#want_pkgs[@]} -gt 0 ]; then
    say "installing ${#want_pkgs[@]} packages"
    # finish whatever an interrupted earlier run left half-installed
    in_root dpkg --configure -a >>"$log" 2>&1 || true
    in_root apt-get -f install -y -qq >>"$log" 2>&1 || true
    in_root apt-get install -y -qq --no-install-recommends "${want_pkgs[@]}" >>"$log" 2>&1 ||
      fail "apt-get install ${want_pkgs[*]}"
  fi
fi
echo "$root"

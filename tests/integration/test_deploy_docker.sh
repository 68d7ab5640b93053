#!/usr/bin/env bash
# sw-test: alone (it builds: beside other tests it would slow their timing)
# test_deploy_docker.sh - docker/*.Dockerfile, checked without a Docker
# engine: every stage is Debian bookworm; the toolchain stage runs on the
# build platform and installs a scripts/deps.sh group for the target
# (--arch), and that group holds the -dev package of every library the
# program is built with (the Makefile's pkg-config packages and headers,
# traced to their Debian packages with dpkg -S); the build runs the Makefile
# through its CROSS= path (`make CROSS=... all` and `make install`), and the
# binary it copies out is the one `make -n install` really writes; the
# runtime stage installs the Debian package of every shared library the built
# binary needs (readelf NEEDED → ldd → dpkg -S), every package name exists in
# Debian 12, and the image runs as a numeric non-root user. A Dockerfile
# missing a library or running as root must be rejected.
. "$(dirname "$0")/lib.sh"
cd "$SW_ROOT"
for b in "$BRIDGE" "$PUBLISHER"; do [ -x "$b" ] || fail "$b is missing: build it first"; done
# a dynamically linked bridge, for the negative check that a missing shared
# library is caught (the image's own bridge is static: it needs none)
DYN_BRIDGE=$BRIDGE
# the image holds the release build's bridge (BRIDGE_STATIC=1), which make
# test builds and passes as STATIC_BRIDGE
if [ -n "${STATIC_BRIDGE:-}" ]; then
  BRIDGE=$STATIC_BRIDGE
else
  note "STATIC_BRIDGE not set: building the release bridge as the image does"
  env -u MAKEFLAGS -u MAKELEVEL make -s -j2 --no-print-directory BUILD="$T/rel" SAN=0 BRIDGE_STATIC=1 \
    "$T/rel/sensor-bridge" >"$T/rel.log" 2>&1 || { tail -n 20 "$T/rel.log"; fail "release build failed"; }
  BRIDGE=$T/rel/sensor-bridge
fi
# The images hold a plain build. A sanitizer build (make test's build/san)
# links other libraries, so then build a plain one here, as the image does.
if readelf -d "$PUBLISHER" | grep -q 'NEEDED.*lib[a-z]*san'; then
  note "$BUILD is a sanitizer build: building a plain publisher as the Dockerfile does"
  env -u MAKEFLAGS -u MAKELEVEL make -s -j2 --no-print-directory BUILD="$T/plain" SAN=0 \
    "$T/plain/sensor-publisher" >"$T/plain.log" 2>&1 || { tail -n 20 "$T/plain.log"; fail "plain build failed"; }
  PUBLISHER=$T/plain/sensor-publisher
fi

# joined logical lines of a Dockerfile (continuations folded)
logical() { sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$1" | grep -v '^\s*#'; }
# in_list WORD LIST: WORD is one of LIST's lines (no fork: this runs often)
in_list() { [[ $'\n'$2$'\n' == *$'\n'$1$'\n'* ]]; }
INSTALLED=$(dpkg-query -W -f='${Package} ${Status}\n' | awk '/install ok installed$/ {print $1}')
pkg_exists() {
  in_list "$1" "$INSTALLED" || apt-cache show "$1" >/dev/null 2>&1
}
# Debian packages of the shared libraries BIN needs (without libc, the
# compiler's runtime and the sanitizers of a SAN=1 build)
needed_pkgs() {
  local lib path paths=()
  for lib in $(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    case $lib in libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libgcc_s*|libstdc++*|libasan*|libubsan*|liblsan*) continue ;; esac
    path=$(ldd "$1" | awk -v l="$lib" '$1 == l {print $3}')
    [ -n "$path" ] || fail "ldd does not resolve $lib of $1"
    # the real file, as a pattern: dpkg may know it under /lib or /usr/lib
    paths+=("*/$(basename "$(dirname "$path")")/$(basename "$(readlink -f "$path")")")
  done
  [ ${#paths[@]} -gt 0 ] || return 0
  # one dpkg -S for all (it is slow); "pkg:arch: /path" lines
  local out
  out=$(dpkg -S "${paths[@]}") || fail "dpkg -S does not know every library of $1: ${paths[*]}"
  cut -d: -f1 <<<"$out" | sort -u
}
# needed_pkgs is slow (dpkg -S): once per binary, here in the main shell
declare -A NEEDED
NEEDED[$BRIDGE]=$(needed_pkgs "$BRIDGE")
NEEDED[$PUBLISHER]=$(needed_pkgs "$PUBLISHER")
if ! readelf -lW "$DYN_BRIDGE" | grep -q INTERP; then
  env -u MAKEFLAGS -u MAKELEVEL make -s -j2 --no-print-directory BUILD="$T/dyn" SAN=0 BRIDGE_STATIC=0 \
    "$T/dyn/sensor-bridge" >"$T/dyn.log" 2>&1 || { tail -n 20 "$T/dyn.log"; fail "dynamic build failed"; }
  DYN_BRIDGE=$T/dyn/sensor-bridge
fi
NEEDED[$DYN_BRIDGE]=$(needed_pkgs "$DYN_BRIDGE")
needed_of() { echo "${NEEDED[$1]}"; }

# the Debian -dev packages a program is built with: its pkg-config packages
# (the Makefile's own lists) and the headers of the libraries without one
dev_pkgs_of() { # PUB|BRIDGE
  local pcs pc hdrs h files=()
  pcs=$(make -s --no-print-directory "print-$1_PKGS")
  [ "$1" = PUB ] && pcs="$pcs libssl"   # the static publisher's TLS Paho
  for pc in $pcs; do files+=("$(pkg-config --variable=pcfiledir "$pc")/$pc.pc"); done
  hdrs="MQTTAsync.h"
  [ "$1" = BRIDGE ] && hdrs="$hdrs snappy-c.h"
  for h in $hdrs; do files+=("/usr/include/$h"); done
  dpkg -S "${files[@]}" | cut -d: -f1 | sort -u
}
declare -A DEV
DEV[sensor-publisher]=$(dev_pkgs_of PUB)
DEV[sensor-bridge]=$(dev_pkgs_of BRIDGE)
for n in sensor-publisher sensor-bridge; do
  [ "$(wc -l <<<"${DEV[$n]}")" -ge 4 ] || fail "too few -dev packages found for $n: ${DEV[$n]}"
done
grep -qx libgpiod-dev <<<"${DEV[sensor-publisher]}" || fail "libgpiod-dev not among the publisher's: ${DEV[sensor-publisher]}"
grep -qx libcurl4-openssl-dev <<<"${DEV[sensor-bridge]}" || fail "libcurl4-openssl-dev not among the bridge's"

DEPS_SH=scripts/deps.sh
check_dockerfile() { # file binary-name binary-path
  local f=$1 name=$2 bin=$3 p froms user out
  froms=$(logical "$f" | grep '^FROM ' | sed 's/--platform=[^ ]* //' | awk '{print $2}')
  [ "$(echo "$froms" | wc -l)" -ge 2 ] || { echo "$f: not multi-stage"; return 1; }
  for p in $froms; do
    case $p in debian:bookworm|debian:bookworm-slim|debian:bookworm-*|toolchain) ;; *) echo "$f: base $p is not Debian bookworm"; return 1 ;; esac
  done
  # shellcheck disable=SC2016 # a literal $ in the pattern
  logical "$f" | head -n 40 | grep -q '^FROM --platform=\$BUILDPLATFORM debian:bookworm AS toolchain' ||
    { echo "$f: the toolchain stage does not run on \$BUILDPLATFORM"; return 1; }
  logical "$f" | grep -Eq "make CROSS=\"\\\$CROSS\" BUILD=[a-z/]+ (BRIDGE_STATIC=1 )?PROGRAMS=$name all" ||
    { echo "$f: does not build with make CROSS=... PROGRAMS=$name all"; return 1; }
  # the group the toolchain stage installs holds every -dev package
  local group need_pkgs
  # shellcheck disable=SC2016 # a literal $ in the pattern
  group=$(logical "$f" | sed -n 's|.*/scripts/deps.sh --arch "\$ARCH" \([a-z]*\).*|\1|p' | head -n 1)
  [ -n "$group" ] || { echo "$f: no scripts/deps.sh --arch \"\$ARCH\" GROUP"; return 1; }
  need_pkgs=$(bash "$DEPS_SH" --list "$group" | tr ' ' '\n')
  for p in ${DEV[$name]}; do
    in_list "$p" "$need_pkgs" || { echo "$f: deps.sh group '$group' lacks $p (built with it)"; return 1; }
  done
  if [ "$name" = sensor-bridge ]; then
    for p in autoconf automake libtool; do
      in_list "$p" "$need_pkgs" || { echo "$f: deps.sh group '$group' lacks $p (static-deps.sh)"; return 1; }
    done
  fi
  local runtime
  runtime=$(logical "$f" | awk '/^FROM /{s++} {st[s] = st[s] "\n" $0} END {print st[s]}' |
    grep 'apt-get install' | sed 's/.*apt-get install//; s/&&.*//' | tr ' ' '\n' |
    grep -v '^-' | grep -v '^$' | sort -u)
  for p in $(needed_of "$bin"); do
    in_list "$p" "$runtime" || { echo "$f: runtime stage lacks $p (needed by $name)"; return 1; }
  done
  for p in $need_pkgs $runtime; do
    pkg_exists "$p" || { echo "$f: no Debian package named $p"; return 1; }
  done
  # both speak TLS (ssl://, https://) and verify with the system CA store
  in_list ca-certificates "$runtime" || { echo "$f: runtime stage lacks ca-certificates"; return 1; }
  # the path it copies out is where `make install` puts the binary
  local inst dest src
  # shellcheck disable=SC2016 # a literal $ in the pattern
  inst=$(logical "$f" | grep -Eo 'make CROSS="\$CROSS" BUILD=[a-z/]+ (BRIDGE_STATIC=1 )?(PROGRAMS=[a-z-]+ )?install[^&]*' |
    sed 's/CROSS="\$CROSS"/CROSS=/' | head -n1)
  [ -n "$inst" ] || { echo "$f: no make install"; return 1; }
  dest=$(sed -n 's/.*DESTDIR=\([^ ]*\).*/\1/p' <<<"$inst")
  # shellcheck disable=SC2086 # the make arguments, split on purpose
  out=$(make -n --no-print-directory ${inst#make } 2>/dev/null | grep "install -m 0755" | head -n1)
  src=$(logical "$f" | sed -n "s/^COPY --from=build \([^ ]*\) .*/\1/p" | head -n1)
  { [ "$src" = "$dest/usr/local/bin/$name" ] && grep -q "$dest/usr/local/bin/" <<<"$out"; } ||
    { echo "$f: copies $src, make install writes: $out"; return 1; }
  user=$(logical "$f" | awk '/^FROM /{u=""} /^USER /{u=$2} END{print u}')
  [[ $user =~ ^[0-9]+(:[0-9]+)?$ ]] || { echo "$f: final USER '$user' is not numeric (runAsNonRoot cannot verify it)"; return 1; }
  [ "${user%%:*}" != 0 ] || { echo "$f: runs as root"; return 1; }
  logical "$f" | grep -q "^ENTRYPOINT \[\"/usr/local/bin/$name\"\]" || { echo "$f: ENTRYPOINT is not $name"; return 1; }
  return 0
}

check_dockerfile docker/bridge.Dockerfile sensor-bridge "$BRIDGE" || fail "bridge image"
check_dockerfile docker/publisher.Dockerfile sensor-publisher "$PUBLISHER" || fail "publisher image"
libs=$(needed_of "$BRIDGE" | xargs)
note "libraries: bridge needs ${libs:-none (static)}"
grep -q 'linux/arm/v7,linux/arm64,linux/amd64' docs/deploy.md || fail "docs/deploy.md lacks the multi-arch buildx line"

# --- negative self-checks --------------------------------------------------
out=$(check_dockerfile docker/bridge.Dockerfile sensor-bridge "$DYN_BRIDGE") &&
  fail "a runtime stage without its shared libraries passed a dynamically linked bridge"
grep -q "runtime stage lacks lib.* (needed by sensor-bridge)" <<<"$out" || fail "unexpected: $out"
note "rejected: $out (dynamic bridge)"
sed 's/ ca-certificates / /; s/ca-certificates \\$/\\/; s/ ca-certificates$//' docker/bridge.Dockerfile >"$T/noca.Dockerfile"
out=$(check_dockerfile "$T/noca.Dockerfile" sensor-bridge "$BRIDGE") && fail "a Dockerfile without ca-certificates passed"
note "rejected: $out"
sed 's/^USER 10001:10001/USER root/' docker/bridge.Dockerfile >"$T/root.Dockerfile"
out=$(check_dockerfile "$T/root.Dockerfile" sensor-bridge "$BRIDGE") && fail "a Dockerfile running as root passed"
note "rejected: $out"
sed 's/ libgpiod-dev / /' scripts/deps.sh >"$T/deps.sh"
out=$(DEPS_SH=$T/deps.sh check_dockerfile docker/publisher.Dockerfile sensor-publisher "$PUBLISHER") &&
  fail "a deps.sh group without libgpiod-dev passed the publisher image"
grep -q "lacks libgpiod-dev" <<<"$out" || fail "unexpected: $out"
note "rejected: $out"
# shellcheck disable=SC2016 # a literal $ARCH
sed 's/ --arch "\$ARCH" publisher / --arch "$ARCH" unit /' docker/publisher.Dockerfile >"$T/unit.Dockerfile"
out=$(check_dockerfile "$T/unit.Dockerfile" sensor-publisher "$PUBLISHER") && fail "a toolchain stage with the unit group passed"
note "rejected: $out"
sed 's/ca-certificates/ca-certificatez/' docker/publisher.Dockerfile >"$T/nopkg.Dockerfile"
out=$(check_dockerfile "$T/nopkg.Dockerfile" sensor-publisher "$PUBLISHER") && fail "a Dockerfile with an unknown package passed"
grep -q "no Debian package named ca-certificatez" <<<"$out" || fail "unexpected: $out"
note "rejected: $out"

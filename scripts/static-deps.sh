#!/usr/bin/env bash
# static-deps.sh DIR - build the libraries that the statically linked
# sensor-bridge needs and that Debian does not ship as a usable static archive:
#
#   libcurl        HTTP and HTTPS only, OpenSSL + zlib (Debian's libcurl.a
#                  needs krb5, LDAP, RTMP, SSH, IDN, PSL, brotli, zstd, nghttp2,
#                  most of which have no .a)
#   libmicrohttpd  without HTTPS (Debian's links GnuTLS, which has no usable .a)
#   cJSON          (Debian ships no .a)
#
# The sources are Debian's own source packages for this release, fetched with
# apt-get source through this machine's own apt sources (its mirrors, proxies
# and keyrings: each binary entry is used as a source entry, in a private apt
# state; apt checks the files against the signed Sources index) and unpacked
# with Debian's patches, security fixes included. Result: DIR/lib/*.a and
# DIR/include. Nothing is installed system-wide and the system's apt
# configuration is not touched.
#
# Cross builds: CROSS (e.g. aarch64-linux-gnu-), or CC and AR, name the
# target's tools, as the Makefile passes them; ARCH_FLAGS and CFLAGS_DEPS
# (default: the Makefile's 64-bit off_t/time_t flags) are added to the compile
# flags. One DIR per target (the Makefile's DEPS_DIR). Called directly with
# the same settings (as docker/bridge.Dockerfile does), it makes the tree the
# Makefile would, and the Makefile then uses it as it is.
#
# Rebuilds only when this script or those settings change (DIR/.stamp). About
# 3-4 minutes on two cores, mostly curl's configure.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
DIR=$(realpath -m "$1")
SELF=$(realpath "$0")
HERE=$(dirname "$SELF")
. "$HERE/lib/apt.sh"
CROSS=${CROSS:-}
CC=${CC:-${CROSS:+${CROSS}gcc}}
CC=${CC:-cc}
AR=${AR:-${CROSS}ar}
ARCH_FLAGS=${ARCH_FLAGS:-}
# the Makefile's LFS flags (64-bit off_t and time_t on 32-bit targets too)
CFLAGS_DEPS="-O2 ${ARCH_FLAGS} ${CFLAGS_DEPS:--D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64}"
HOST=$($CC -dumpmachine)
BUILD_TRIPLET=$(cc -dumpmachine 2>/dev/null || gcc -dumpmachine)
want=$( (cat "$SELF" "$HERE/lib/apt.sh"; echo "$CC $AR $CFLAGS_DEPS $HOST") | sha256sum | cut -c1-16)
if [ -f "$DIR/.stamp" ] && [ "$(cat "$DIR/.stamp")" = "$want" ]; then touch "$DIR/.stamp"; exit 0; fi

. /etc/os-release
CODENAME=${VERSION_CODENAME:?/etc/os-release has no VERSION_CODENAME}
JOBS=$(nproc)
unset MAKEFLAGS MFLAGS MAKELEVEL   # our own makes, not make's jobserver

# the target's pkg-config (curl's configure finds OpenSSL and zlib with it)
if [ "$HOST" != "$BUILD_TRIPLET" ]; then
  if command -v "$HOST-pkg-config" >/dev/null; then
    export PKG_CONFIG=$HOST-pkg-config
  else
    export PKG_CONFIG=pkg-config PKG_CONFIG_LIBDIR=/usr/lib/$HOST/pkgconfig:/usr/share/pkgconfig
  fi
  CROSS_ARGS=(--build="$BUILD_TRIPLET" --host="$HOST")
else
  CROSS_ARGS=()
fi

rm -rf "$DIR"
mkdir -p "$DIR"/{apt/lists/partial,apt/cache/archives/partial,apt/sources.d,src,lib,include}
LOG=$DIR/build.log
: >"$LOG"
step() { echo "  DEPS    $*"; }
fail() {
  echo "static-deps: $1 failed; the end of $LOG:" >&2
  tail -n 30 "$LOG" >&2
  echo "static-deps: BRIDGE_STATIC=0 (the default) builds a dynamically linked bridge instead" >&2
  exit 1
}
run() { "$@" >>"$LOG" 2>&1; }

# --- Debian source packages, with a private apt state ----------------------
apt_src_parts "$DIR/apt/sources.d"
APT=(apt-get -q -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$DIR/apt/sources.d"
     -o "Dir::State::Lists=$DIR/apt/lists" -o "Dir::Cache=$DIR/apt/cache"
     -o APT::Sandbox::User=root)
step "apt-get source curl libmicrohttpd cjson ($CODENAME, for $HOST)"
run "${APT[@]}" update || fail "apt-get update (this machine's apt sources, as deb-src)"
# The newest version in the release; if a mirror cannot serve its files (a
# partial mirror answers 404), the next newest that it can, with a warning.
fetch_src() {
  local p=$1 v first=
  for v in $(apt-cache -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$DIR/apt/sources.d" \
      -o "Dir::State::Lists=$DIR/apt/lists" -o "Dir::Cache=$DIR/apt/cache" showsrc "$p" 2>/dev/null |
      sed -n 's/^Version: //p' | sort -u -V -r); do
    first=${first:-$v}
    if (cd "$DIR/src" && run "${APT[@]}" source --download-only "$p=$v"); then
      [ "$v" = "$first" ] ||
        echo "static-deps: warning: $p $first could not be fetched from this machine's mirror; using $v" >&2
      return 0
    fi
    rm -f "$DIR/src/${p}_"*
  done
  return 1
}
for p in curl libmicrohttpd cjson; do fetch_src "$p" || fail "apt-get source $p"; done
# the .dsc signatures are the maintainers' (no keyring for them here); the
# files' hashes were verified by apt against the archive-signed Sources index
for p in curl libmicrohttpd cjson; do
  (cd "$DIR/src" && run dpkg-source --no-check -x ${p}_*.dsc "$p") || fail "unpacking $p"
done
export CC AR CFLAGS="$CFLAGS_DEPS"
# dsc_version PKG: the version of the source package fetched (from its .dsc name)
dsc_version() {
  local f
  for f in "$DIR/src/$1"_*.dsc; do
    f=${f##*/"$1"_}
    echo "${f%.dsc}"
  done
}

# --- libcurl ------------------------------------------------------------
# In Debian 12 the last patches of the series turn the tree into the GnuTLS
# and NSS flavours (debian/rules pops them for the OpenSSL build); do the same.
# Debian 13 builds each flavour in a copy of the unpatched-for-flavour tree
# and has no such patches, so there nothing is reverted.
step "libcurl $(dsc_version curl)"
cd "$DIR/src/curl"
for p in $(grep -v '^#' debian/patches/series | grep . | tac); do
  case $p in
    *nss* | *gnutls*) run patch -R -p1 -i "debian/patches/$p" || fail "reverting $p" ;;
    *) break ;;
  esac
done
run autoreconf -fi || fail "curl autoreconf"
# only what the bridge uses: HTTP(S) POST with basic/bearer auth, proxies,
# gzip, Retry-After dates (curl_getdate), the system CA store
run ./configure "${CROSS_ARGS[@]}" --prefix="$DIR" --disable-shared --enable-static --with-pic \
  --disable-dependency-tracking \
  --with-openssl --with-zlib --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt \
  --with-ca-path=/etc/ssl/certs --without-ca-fallback \
  --without-brotli --without-zstd --without-libpsl --without-libidn2 --without-librtmp \
  --without-nghttp2 --without-libssh2 --without-libgsasl --without-gssapi \
  --disable-ldap --disable-ldaps --disable-rtsp --disable-dict --disable-telnet --disable-tftp \
  --disable-pop3 --disable-imap --disable-smb --disable-smtp --disable-gopher --disable-mqtt \
  --disable-ftp --disable-file --disable-manual --disable-ntlm --disable-ntlm-wb \
  --disable-tls-srp --disable-unix-sockets --disable-cookies --disable-doh --disable-mime \
  --disable-netrc --disable-alt-svc --disable-hsts --disable-websockets \
  --disable-get-easy-options --disable-libcurl-option --disable-progress-meter ||
  fail "curl configure"
run make -j"$JOBS" -C lib || fail "curl build"
run make -C lib install-libLTLIBRARIES || fail "curl install"
run make -C include install || fail "curl headers"

# --- libmicrohttpd -------------------------------------------------------
step "libmicrohttpd $(dsc_version libmicrohttpd)"
cd "$DIR/src/libmicrohttpd"
run ./configure "${CROSS_ARGS[@]}" --prefix="$DIR" --disable-shared --enable-static --with-pic \
  --disable-dependency-tracking --disable-https --without-gnutls --disable-curl \
  --disable-doc --disable-examples --disable-nls --disable-postprocessor \
  --disable-dauth --disable-bauth --disable-httpupgrade || fail "libmicrohttpd configure"
run make -j"$JOBS" -C src/microhttpd || fail "libmicrohttpd build"
run make -C src/microhttpd install-libLTLIBRARIES || fail "libmicrohttpd install"
run make -C src/include install || fail "libmicrohttpd headers"

# --- cJSON: one file ------------------------------------------------------
step "cJSON $(dsc_version cjson)"
cd "$DIR/src/cjson"
# shellcheck disable=SC2086 # CFLAGS: flags, split on purpose
run "$CC" $CFLAGS -fPIC -c -o cJSON.o cJSON.c || fail "cJSON build"
run "$AR" rcs "$DIR/lib/libcjson.a" cJSON.o || fail "cJSON archive"
mkdir -p "$DIR/include/cjson" && cp cJSON.h "$DIR/include/cjson/"

rm -rf "$DIR/apt" "$DIR/src" "$DIR/lib"/*.la
echo "$want" >"$DIR/.stamp"

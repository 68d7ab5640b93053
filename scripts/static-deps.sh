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
# apt-get source from deb.debian.org (the files are checked against the hashes
# in the signed Sources index) and unpacked with Debian's patches, security
# fixes included. Result: DIR/lib/*.a and DIR/include. Nothing is installed
# system-wide and the system's apt configuration is not touched.
#
# Rebuilds only when this script changes (DIR/.stamp). About 3-4 minutes on
# two cores, mostly curl's configure. DEBIAN_MIRROR overrides the mirror.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
DIR=$(realpath -m "$1")
SELF=$(realpath "$0")
want=$(sha256sum "$SELF" | cut -c1-16)
if [ -f "$DIR/.stamp" ] && [ "$(cat "$DIR/.stamp")" = "$want" ]; then exit 0; fi

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
. /etc/os-release
CODENAME=${VERSION_CODENAME:?/etc/os-release has no VERSION_CODENAME}
JOBS=$(nproc)
unset MAKEFLAGS MFLAGS MAKELEVEL   # our own makes, not make's jobserver

rm -rf "$DIR"
mkdir -p "$DIR"/{apt/lists/partial,apt/cache/archives/partial,src,lib,include}
LOG=$DIR/build.log
: >"$LOG"
step() { echo "  DEPS    $*"; }
fail() {
  echo "static-deps: $1 failed; the end of $LOG:" >&2
  tail -n 30 "$LOG" >&2
  echo "static-deps: BRIDGE_STATIC=0 builds a dynamically linked bridge instead" >&2
  exit 1
}
run() { "$@" >>"$LOG" 2>&1; }

# --- Debian source packages, with a private apt state ----------------------
cat >"$DIR/apt/sources.list" <<EOF
deb-src [signed-by=$KEYRING] $MIRROR/debian $CODENAME main
deb-src [signed-by=$KEYRING] $MIRROR/debian $CODENAME-updates main
deb-src [signed-by=$KEYRING] $MIRROR/debian-security $CODENAME-security main
EOF
APT=(apt-get -q -o "Dir::Etc::SourceList=$DIR/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o "Dir::State::Lists=$DIR/apt/lists" -o "Dir::Cache=$DIR/apt/cache"
     -o APT::Sandbox::User=root)
step "apt-get source curl libmicrohttpd cjson ($CODENAME)"
run "${APT[@]}" update || fail "apt-get update (deb-src from $MIRROR)"
(cd "$DIR/src" && run "${APT[@]}" source --download-only curl libmicrohttpd cjson) ||
  fail "apt-get source"
# the .dsc signatures are the maintainers' (no keyring for them here); the
# files' hashes were verified by apt against the archive-signed Sources index
for p in curl libmicrohttpd cjson; do
  (cd "$DIR/src" && run dpkg-source --no-check -x ${p}_*.dsc "$p") || fail "unpacking $p"
done

# --- libcurl ------------------------------------------------------------
# Debian's last two patches turn the tree into the GnuTLS and NSS flavours
# (debian/rules pops them for the OpenSSL build); do the same
step "libcurl $(cd "$DIR/src" && ls curl_*.dsc | sed 's/^curl_//; s/\.dsc$//')"
cd "$DIR/src/curl"
for p in $(grep -v '^#' debian/patches/series | grep . | tail -n 2 | tac); do
  case $p in *nss*|*gnutls*) run patch -R -p1 -i "debian/patches/$p" || fail "reverting $p" ;;
    *) fail "expected the gnutls/nss flavour patches last in debian/patches/series, found $p" ;;
  esac
done
run autoreconf -fi || fail "curl autoreconf"
# only what the bridge uses: HTTP(S) POST with basic/bearer auth, proxies,
# gzip, Retry-After dates (curl_getdate), the system CA store
run ./configure --prefix="$DIR" --disable-shared --enable-static --with-pic \
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
step "libmicrohttpd $(cd "$DIR/src" && ls libmicrohttpd_*.dsc | sed 's/^libmicrohttpd_//; s/\.dsc$//')"
cd "$DIR/src/libmicrohttpd"
run ./configure --prefix="$DIR" --disable-shared --enable-static --with-pic \
  --disable-dependency-tracking --disable-https --without-gnutls --disable-curl \
  --disable-doc --disable-examples --disable-nls --disable-postprocessor \
  --disable-dauth --disable-bauth --disable-httpupgrade || fail "libmicrohttpd configure"
run make -j"$JOBS" -C src/microhttpd || fail "libmicrohttpd build"
run make -C src/microhttpd install-libLTLIBRARIES || fail "libmicrohttpd install"
run make -C src/include install || fail "libmicrohttpd headers"

# --- cJSON: one file ------------------------------------------------------
step "cJSON $(cd "$DIR/src" && ls cjson_*.dsc | sed 's/^cjson_//; s/\.dsc$//')"
cd "$DIR/src/cjson"
run cc -O2 -fPIC -c -o cJSON.o cJSON.c || fail "cJSON build"
run ar rcs "$DIR/lib/libcjson.a" cJSON.o || fail "cJSON archive"
mkdir -p "$DIR/include/cjson" && cp cJSON.h "$DIR/include/cjson/"

rm -rf "$DIR/apt" "$DIR/src" "$DIR/lib"/*.la
echo "$want" >"$DIR/.stamp"

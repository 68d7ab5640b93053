#!/usr/bin/env bash
# test_deploy_docker.sh - docker/*.Dockerfile, checked without a Docker
# engine: both stages are Debian bookworm; the build stage installs every
# library -dev package scripts/deps.sh builds with and runs the Makefile
# (`make ... all` and `make install`), and the binary it copies out is the
# one `make -n install` really writes; the runtime stage installs the Debian
# package of every shared library the built binary needs (readelf NEEDED →
# ldd → dpkg -S), every package name exists in Debian 12, and the image
# runs as a numeric non-root user. A Dockerfile missing a library or running
# as root must be rejected.
. "$(dirname "$0")/lib.sh"
cd "$SW_ROOT"
for b in "$BRIDGE" "$PUBLISHER"; do [ -x "$b" ] || fail "$b is missing: build it first"; done
# a dynamically linked bridge, for the negative check that a missing shared
# library is caught (the image's own bridge is static: it needs none)
DYN_BRIDGE=$BRIDGE
# The images hold a plain build. A sanitizer build (make test's build/san)
# links other libraries, so then build a plain one here, as the image does.
if readelf -d "$BRIDGE" "$PUBLISHER" | grep -q 'NEEDED.*lib[a-z]*san'; then
	note "$BUILD is a sanitizer build: building plain binaries as the Dockerfiles do"
	env -u MAKEFLAGS -u MAKELEVEL make -s -j2 --no-print-directory BUILD="$T/plain" SAN=0 all >"$T/plain.log" 2>&1 ||
		{ tail -n 20 "$T/plain.log"; fail "plain build failed"; }
	BRIDGE=$T/plain/sensor-bridge
	PUBLISHER=$T/plain/sensor-publisher
fi

# joined logical lines of a Dockerfile (continuations folded)
logical() { sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$1" | grep -v '^\s*#'; }
# packages of the apt-get install in stage N (1-based)
stage_pkgs() { # file n
	logical "$1" | awk -v n="$2" '/^FROM /{s++} s==n && /apt-get install/' |
		sed 's/.*apt-get install//; s/&&.*//' | tr ' ' '\n' | grep -v '^-' | grep -v '^$' | sort -u
}
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

# dev packages the project builds with, from scripts/deps.sh (not a copy)
build_pkgs=$(sed -n '/^PKGS=(/,/^)/p' scripts/deps.sh | tr ' ' '\n' |
	grep -E -- '-dev$|^pkg-config$|^build-essential$|compiler$|^autoconf$|^automake$|^libtool$' |
	grep -v cmocka | sort -u)
[ -n "$build_pkgs" ] || fail "no build packages found in scripts/deps.sh"

check_dockerfile() { # file binary-name binary-path
	local f=$1 name=$2 bin=$3 p froms user out
	froms=$(logical "$f" | grep '^FROM ' | awk '{print $2}')
	[ "$(echo "$froms" | wc -l)" -ge 2 ] || { echo "$f: not multi-stage"; return 1; }
	for p in $froms; do
		case $p in debian:bookworm|debian:bookworm-slim|debian:bookworm-*) ;; *) echo "$f: base $p is not Debian bookworm"; return 1 ;; esac
	done
	logical "$f" | grep -Eq "make BUILD=[a-z]+ (PROGRAMS=$name )?all" ||
		{ echo "$f: does not build with make ... all"; return 1; }
	# autotools build the bridge's static libraries (scripts/static-deps.sh)
	local need_pkgs=$build_pkgs
	logical "$f" | grep -q "PROGRAMS=$name " && [ "$name" != sensor-bridge ] &&
		need_pkgs=$(grep -vx -e autoconf -e automake -e libtool <<<"$build_pkgs")
	local buildst runtime
	buildst=$(stage_pkgs "$f" 1)
	runtime=$(stage_pkgs "$f" 2)
	for p in $need_pkgs; do
		in_list "$p" "$buildst" || { echo "$f: build stage lacks $p (scripts/deps.sh)"; return 1; }
	done
	for p in $(needed_of "$bin"); do
		in_list "$p" "$runtime" || { echo "$f: runtime stage lacks $p (needed by $name)"; return 1; }
	done
	for p in $buildst $runtime; do
		pkg_exists "$p" || { echo "$f: no Debian package named $p"; return 1; }
	done
	# both speak TLS (ssl://, https://) and verify with the system CA store
	in_list ca-certificates "$runtime" || { echo "$f: runtime stage lacks ca-certificates"; return 1; }
	# the path it copies out is where `make install` puts the binary
	local inst dest src
	inst=$(logical "$f" | grep -Eo 'make BUILD=[a-z]+ (PROGRAMS=[a-z-]+ )?install[^&]*' | head -n1)
	[ -n "$inst" ] || { echo "$f: no make install"; return 1; }
	dest=$(sed -n 's/.*DESTDIR=\([^ ]*\).*/\1/p' <<<"$inst")
	out=$(make -n --no-print-directory ${inst#make } 2>/dev/null | grep "install -m 0755" | head -n1)
	src=$(logical "$f" | sed -n "s/^COPY --from=[a-z]* \([^ ]*\) .*/\1/p" | head -n1)
	[ "$src" = "$dest/usr/local/bin/$name" ] && grep -q "$dest/usr/local/bin/" <<<"$out" ||
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
sed 's/ libsnappy-dev / /' docker/publisher.Dockerfile >"$T/nodev.Dockerfile"
out=$(check_dockerfile "$T/nodev.Dockerfile" sensor-publisher "$PUBLISHER") && fail "a Dockerfile without libsnappy-dev passed"
note "rejected: $out"
sed 's/ca-certificates/ca-certificatez/' docker/publisher.Dockerfile >"$T/nopkg.Dockerfile"
out=$(check_dockerfile "$T/nopkg.Dockerfile" sensor-publisher "$PUBLISHER") && fail "a Dockerfile with an unknown package passed"
grep -q "no Debian package named ca-certificatez" <<<"$out" || fail "unexpected: $out"
note "rejected: $out"

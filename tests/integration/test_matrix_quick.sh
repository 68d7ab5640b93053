#!/usr/bin/env bash
# sw-test: alone (it builds: beside other tests it would slow their timing)
# test_matrix_quick.sh - the cheap part of the target matrix
# (scripts/matrix.sh --quick): a Debian 12 arm64 cross build of the current
# tree in a cached bookworm chroot, its unit tests under qemu-aarch64, and the
# ELF layout check of its static publisher. Needs root, debootstrap and
# qemu-user-static, else it is skipped. The first run makes the chroot
# (/var/cache/sensorwire/chroot/bookworm: debootstrap, apt-get upgrade and
# about 340 packages from this machine's mirror, about 2 minutes on a local
# mirror, longer on a slow one) and builds from scratch (about 30 s); after
# that it takes about 20 s.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then note "not root: skipped (the matrix needs chroot and mount)"; exit 0; fi
if ! command -v debootstrap >/dev/null; then note "no debootstrap: skipped"; exit 0; fi
if [ ! -x /usr/bin/qemu-aarch64-static ]; then note "no qemu-user-static: skipped"; exit 0; fi
if [ ! -d /var/cache/sensorwire/chroot/bookworm/usr ]; then
  note "making the Debian 12 chroot first: about 2 minutes"
fi

rc=0
"$SW_ROOT/scripts/matrix.sh" --quick >"$T/matrix.out" 2>&1 || rc=$?
cat "$T/matrix.out"
[ $rc -eq 0 ] || fail "scripts/matrix.sh --quick failed (status $rc)"
for step in build unit elf; do
  grep -q "^PASS  debian12  arm64  *$step " "$T/matrix.out" || fail "no passing arm64 $step step"
done
grep -q '^[0-9]* passed, 0 failed$' "$T/matrix.out" || fail "no summary line"

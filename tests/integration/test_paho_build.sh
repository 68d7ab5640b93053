#!/usr/bin/env bash
# test_paho_build.sh - every program links Paho without its debugging
# instrumentation (common/paho_notrace.c): neither Paho's StackTrace.o (a
# process-wide mutex and a name copy on every function entry and exit) nor
# its Heap.o (a second mutex and a tree of every allocation) is in them.
# Each of the two objects is recognised by messages only it prints; the
# control is Debian's own archive, which must still hold those messages (if
# a Paho release rewords them, this test says so instead of passing).
# And Paho's Socket.c goes through common/paho_sockbuf.c: in each program,
# every copy (the statically linked publisher has two, prefixed swtcp_ and
# swtls_) of Socket_getch and Socket_getdata calls sw_paho_recv, of
# Socket_getReadySocket sw_paho_poll, of Socket_writev sw_paho_writev and of
# Socket_close_only sw_paho_shutdown and sw_paho_close, and none calls the libc function itself
# (from the disassembly; the programs keep their symbols). And every copy of
# Paho's mymalloc takes its block through malloc, not calloc (glibc 2.36's
# calloc bypasses the thread cache: common/paho_notrace.c).
# Checked: the programs of this build (BUILD), the static ones `make test`
# builds (STATIC_PUBLISHER, STATIC_BRIDGE) and the load generator.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

CC=${CC:-cc}
STACK_MSG="Start of stack trace for thread"
HEAP_MSG="eyecatcher"
has() { # FILE MESSAGE: the file holds the message
  LC_ALL=C grep -c -a -F -- "$2" "$1" >/dev/null
}

for a in libpaho-mqtt3as.a libpaho-mqtt3a.a; do
  f=$("$CC" -print-file-name="$a")
  [ -f "$f" ] || fail "no $a (libpaho-mqtt-dev)"
  has "$f" "$STACK_MSG" || fail "control: $f has no '$STACK_MSG': update this test for this Paho"
  has "$f" "$HEAP_MSG" || fail "control: $f has no '$HEAP_MSG': update this test for this Paho"
done
note "control: Debian's Paho archives hold both objects' messages"

progs=("$BRIDGE" "$PUBLISHER" "$TOOLS/loadgen")
[ -n "${STATIC_PUBLISHER:-}" ] && progs+=("$STATIC_PUBLISHER")
[ -n "${STATIC_BRIDGE:-}" ] && progs+=("$STATIC_BRIDGE")
for p in "${progs[@]}"; do
  [ -x "$p" ] || fail "$p is missing: build it first"
  ! has "$p" "$STACK_MSG" || fail "$p links Paho's StackTrace.o"
  ! has "$p" "$HEAP_MSG" || fail "$p links Paho's Heap.o"
  has "$p" "MQTTAsync" || fail "$p holds no Paho at all: the check proves nothing"
  note "$p: Paho without StackTrace.o and Heap.o"
  syms=$(nm "$p")
  checked=0
  for pair in Socket_getch:recv Socket_getdata:recv Socket_getReadySocket:poll \
    Socket_writev:writev Socket_close_only:shutdown Socket_close_only:close; do
    fn=${pair%%:*} libc=${pair#*:}
    copies=$(awk -v re="^(sw(tcp|tls)_)?$fn\$" '($2 == "T" || $2 == "t") && $3 ~ re { print $3 }' <<<"$syms")
    [ -n "$copies" ] || fail "$p: no $fn symbol: the check proves nothing"
    for f in $copies; do
      pre=${f%%"$fn"}
      code=$(objdump -d --no-show-raw-insn --disassemble="$f" "$p") || fail "$p: cannot disassemble $f"
      grep -qE "call.*<${pre}sw_paho_$libc>" <<<"$code" || fail "$p: $f does not call sw_paho_$libc"
      ! grep -qE "(call|jmp).*<$libc(@plt)?>" <<<"$code" || fail "$p: $f calls $libc() itself"
      checked=$((checked + 1))
    done
  done
  note "$p: $checked Paho socket functions go through common/paho_sockbuf.c"
  copies=$(awk '($2 == "T" || $2 == "t") && $3 ~ /^(sw(tcp|tls)_)?mymalloc$/ { print $3 }' <<<"$syms")
  [ -n "$copies" ] || fail "$p: no mymalloc symbol: the check proves nothing"
  for f in $copies; do
    code=$(objdump -d --no-show-raw-insn --disassemble="$f" "$p") || fail "$p: cannot disassemble $f"
    ! grep -qE "(call|jmp).*<(__)?(libc_)?calloc(@plt)?>" <<<"$code" || fail "$p: $f calls calloc()"
    grep -qE "call " <<<"$code" || fail "$p: $f calls nothing: the check proves nothing"
  done
done

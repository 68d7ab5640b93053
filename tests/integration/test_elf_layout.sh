#!/usr/bin/env bash
# test_elf_layout.sh - scripts/elf-check.sh, which checks that a program's
# RELRO pages are all mapped and its segments aligned for every page size of
# its architecture (see there why qemu cannot show it):
#   - controls, linked here with this machine's compiler: a plain static
#     program passes; one whose linker script opens an unmapped gap inside
#     RELRO is flagged, and this kernel indeed refuses to start it;
#   - publisher/static.ld on a tiny program whose code, constants and
#     .data.rel.ro come from an archive it names (libswtls-paho.a), so its
#     placement is checked even without the publisher's libraries;
#   - the static programs `make test` builds (STATIC_PUBLISHER, STATIC_BRIDGE).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

CHECK=$SW_ROOT/scripts/elf-check.sh
CC=${CC:-cc}
command -v "$CC" >/dev/null || fail "no C compiler ($CC)"

# --- a plain static program passes
printf '#include <stdio.h>\nint main(void) { puts("plain"); return 0; }\n' >"$T/plain.c"
"$CC" -O2 -static -o "$T/plain" "$T/plain.c"
"$CHECK" "$T/plain" >"$T/plain.out" || fail "a plain static program is flagged: $(cat "$T/plain.out")"
assert_eq plain "$("$T/plain")" "the plain program's output"

# --- negative control: a section in .data.rel.ro placed 1 MiB past the rest
# of RELRO (more than any max-page-size, so ld starts a new PT_LOAD on every
# architecture) leaves RELRO pages that no PT_LOAD maps
cat >"$T/gap.c" <<'C'
#include <stdio.h>
static const char *const far[] __attribute__((section(".data.rel.ro.gap"), used)) = { "far" };
int main(void) { puts(far[0]); return 0; }
C
cat >"$T/gap.ld" <<'LD'
SECTIONS
{
  .data.rel.ro.gap (ALIGN(0x10000) + 0x100000) : { *(.data.rel.ro.gap) }
}
INSERT BEFORE .data.rel.ro;
LD
"$CC" -O2 -static -Wl,-T,"$T/gap.ld" -o "$T/gap" "$T/gap.c"
rc=0
"$CHECK" "$T/gap" >"$T/gap.out" || rc=$?
assert_eq 1 "$rc" "elf-check's status on the program with a RELRO gap"
grep -q "RELRO .* which no PT_LOAD maps (no section there: padding between .* and .data.rel.ro.gap)" \
  "$T/gap.out" || fail "elf-check did not name the gap: $(cat "$T/gap.out")"
note "flagged: $(head -n 1 "$T/gap.out")"
# and the kernel agrees (qemu-user would not: it lets the mprotect succeed)
rc=0
"$T/gap" >"$T/gap.run" 2>&1 || rc=$?
if [ $rc -eq 0 ] || ! grep -q 'cannot apply additional memory protection' "$T/gap.run"; then
  fail "the program with a RELRO gap started (status $rc: $(cat "$T/gap.run")): the check's model is wrong"
fi

# --- publisher/static.ld itself, on a tiny program: the sections it places
# must not open a gap in RELRO with this machine's linker
cat >"$T/tls.c" <<'C'
static const char sw_tls_text[][8] = { "tcp", "tls" };                 /* .rodata */
const char *const sw_tls_names[] = { sw_tls_text[0], sw_tls_text[1] }; /* .data.rel.ro */
const char *sw_tls_name(int i);
const char *sw_tls_name(int i) { return sw_tls_names[i]; }             /* .text */
C
printf '#include <stdio.h>\nconst char *sw_tls_name(int i);\nint main(int argc, char **argv) { (void)argv; puts(sw_tls_name(argc > 1)); return 0; }\n' \
  >"$T/main.c"
mkdir -p "$T/sld"
"$CC" -O2 -c -o "$T/sld/tls.o" "$T/tls.c"
ar rcs "$T/sld/libswtls-paho.a" "$T/sld/tls.o"
"$CC" -O2 -static -Wl,-T,"$SW_ROOT/publisher/static.ld" -o "$T/sld/prog" "$T/main.c" "$T/sld/libswtls-paho.a"
readelf -SW "$T/sld/prog" | grep -q '\] \.[a-z.]*\.tls ' ||
  fail "publisher/static.ld placed no .*.tls section: the control does not test it"
"$CHECK" "$T/sld/prog" >"$T/sld.out" ||
  fail "publisher/static.ld opens a gap in RELRO with $("$CC" -dumpmachine)'s linker: $(cat "$T/sld.out")"

# --- the static programs make test built
progs=()
for v in STATIC_PUBLISHER STATIC_BRIDGE; do
  if [ -n "${!v:-}" ]; then
    [ -f "${!v}" ] || fail "$v=${!v} does not exist"
    progs+=("${!v}")
  else
    note "$v not set (make test sets it): not checked"
  fi
done
if [ ${#progs[@]} -gt 0 ]; then
  "$CHECK" "${progs[@]}" >"$T/progs.out" || fail "$(cat "$T/progs.out")"
  cat "$T/progs.out"
fi

#!/usr/bin/env bash
# `make demo` end to end (non-interactive: DEMO_SECONDS): it shows the live
# stream and the same readings from storage, and leaves nothing running.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/tmp"
TMPDIR=$T/tmp DEMO_SECONDS=2 BUILD=$BUILD timeout 90 "$SW_ROOT/scripts/demo.sh" >"$T/demo.out" 2>&1 ||
  fail "demo failed: $(tail -20 "$T/demo.out")"
grep -Eq '^sensors/demo-pi/(desk|greenhouse) \{"ts":[0-9]{13},"seq":[0-9]+,"boot":"[0-9a-f]{16}","temperature_celsius":' "$T/demo.out" ||
  fail "no live stream in the demo output"
grep -q '^sensors/demo-pi/status online' "$T/demo.out" || fail "no retained status"
for s in desk greenhouse; do
  grep -Eq "^   sensor_temperature_celsius\{node=\"demo-pi\",sensor=\"$s\"\} -?[0-9.]+ @" "$T/demo.out" ||
    fail "remote-write readings of $s not queried back"
  grep -Eq "^   sensor_lp_humidity_percent\{node=\"demo-pi\",sensor=\"$s\"\} [0-9.]+ @" "$T/demo.out" ||
    fail "line-protocol readings of $s not queried back"
done
pids=$(sed -n 's/^== stopping: 4 processes (pids \(.*\))$/\1/p' "$T/demo.out")
[ -n "$pids" ] || fail "demo did not say what it stops"
for p in $pids; do
  kill -0 "$p" 2>/dev/null && fail "demo left process $p running"
done
[ -z "$(ls -A "$T/tmp")" ] || fail "demo left files: $(ls "$T/tmp")"
note "demo ok"

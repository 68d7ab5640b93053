#!/usr/bin/env bash
# The README's configuration reference and the example configs cannot drift
# from the code: every key the daemons accept is documented, and every key
# the example files set is accepted (checked with --check-config).
. "$(dirname "$0")/lib.sh"

for bin in "$BRIDGE" "$PUBLISHER"; do
  keys=$("$bin" --print-keys | grep -v '_FILE$')
  [ "$(wc -l <<<"$keys")" -gt 10 ] || fail "$bin --print-keys printed too little"
  for k in $keys; do
    grep -q "\`$k" "$SW_ROOT/README.md" || fail "README does not document $k ($(basename "$bin"))"
  done
done
# the example files parse (unknown keys would be refused with file:line)
sed 's|^INFLUX_TOKEN_FILE=.*|INFLUX_TOKEN=x|' "$SW_ROOT/config/bridge.env" >"$T/bridge.env"
"$BRIDGE" --config "$T/bridge.env" --state-dir "$T/state" --check-config >"$T/out" 2>&1 ||
  fail "config/bridge.env refused: $(cat "$T/out")"
sed 's|^OUTBOX_DIR=.*|OUTBOX_DIR='"$T"'/outbox|' "$SW_ROOT/config/publisher.env" >"$T/publisher.env"
"$PUBLISHER" --config "$T/publisher.env" --check-config >"$T/out" 2>&1 ||
  fail "config/publisher.env refused: $(cat "$T/out")"
note "docs and examples match the code"

#!/usr/bin/env bash
# test_publisher_restart.sh - the broker is away AND the publisher is
# killed (-9) and restarted meanwhile: the readings of the first run (boot
# A) survive in OUTBOX_DIR and arrive first, in order, with their own boot
# and seq; then those of the second run (boot B), also complete and in
# order. The second run's final counters say exactly how many it made.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
start_mosquitto "$PORT"
OUTBOX=$T/outbox
INTERVAL=200

mosquitto_sub -h 127.0.0.1 -p "$PORT" -c -i it-restart-sub -q 1 -v -t 'sensors/node4/+' \
  >"$T/sub.txt" 2>>"$T/sub.log" &
track $!
sleep 0.3

start_publisher() {
  MQTT_URL=tcp://127.0.0.1:$PORT NODE_NAME=node4 SENSORS="a=sim" INTERVAL_MS=$INTERVAL \
    MQTT_KEEPALIVE_S=2 OUTBOX_DIR="$OUTBOX" "$PUBLISHER" 2>>"$T/publisher.log" &
  PUB=$!
  track $PUB
}
readings() { grep -c '^sensors/node4/a ' "$T/sub.txt" || true; }
has_readings() { [ "$(readings)" -ge "$1" ]; }
segments() { find "$OUTBOX" -name 'outbox-*.log' | wc -l; }

start_publisher
wait_for 10 has_readings 5

stop_pid "$MOSQ_PID" TERM || true
sleep 2
kill -9 $PUB
wait $PUB 2>/dev/null || true
[ "$(segments)" -ge 1 ] || fail "no outbox file after kill -9"

start_publisher
recovered() { grep -q "reading(s) from an earlier run wait in '$OUTBOX'" "$T/publisher.log"; }
wait_for 5 recovered
# the second run starts reading after its first connect attempt window, then
# queues behind the first run's readings
queued_twice() { [ "$(grep -c 'keeping readings in the outbox (on disk)' "$T/publisher.log")" -ge 2 ]; }
wait_for 10 queued_twice
sleep 1
start_mosquitto "$PORT"
outbox_gone() { [ "$(segments)" -eq 0 ]; }
wait_for 40 outbox_gone
sleep 0.6
stop_pid $PUB TERM || fail "second publisher exited with status $?"

made_b=$(sed -n "s/.*sensor 'a': \([0-9]*\) reads ok.*/\1/p" "$T/publisher.log")
{ [ -n "$made_b" ] && [ "$made_b" -ge 6 ]; } || fail "second run made '$made_b' readings"

# boots in arrival order: A, then B, never mixed
jq -r '"\(.boot) \(.seq) \(.ts)"' < <(grep '^sensors/node4/a ' "$T/sub.txt" | cut -d' ' -f2-) |
  awk '!seen[$1" "$2]++' >"$T/unique.txt"
boots=$(cut -d' ' -f1 "$T/unique.txt" | uniq)
assert_eq 2 "$(echo "$boots" | wc -l)" "boot runs in arrival order (A then B)"
boot_a=$(echo "$boots" | head -1)
boot_b=$(echo "$boots" | tail -1)
made_a=$(grep -c "^$boot_a " "$T/unique.txt")
[ "$made_a" -ge 12 ] || fail "first run: only $made_a readings arrived"
# A: the first reading of the second run waited behind all of A's
assert_eq "$(seq 1 "$made_a" | tr '\n' ' ')" \
  "$(grep "^$boot_a " "$T/unique.txt" | cut -d' ' -f2 | tr '\n' ' ')" "seq of boot A"
assert_eq "$(seq 1 "$made_b" | tr '\n' ' ')" \
  "$(grep "^$boot_b " "$T/unique.txt" | cut -d' ' -f2 | tr '\n' ' ')" "seq of boot B"
# original ts: each run's readings one interval apart (a slot skipped on a
# loaded machine allowed), not bunched at replay time; B after A
for b in "$boot_a" "$boot_b"; do
  assert_eq 0 "$(grep "^$b " "$T/unique.txt" | awk -v iv=$INTERVAL 'NR > 1 &&
    ($3 - p < iv / 2 || $3 - p > 3 * iv) { bad++ } { p = $3 } END { print bad + 0 }')" \
    "ts spacing of boot $b"
done
last_a=$(grep "^$boot_a " "$T/unique.txt" | tail -1 | cut -d' ' -f3)
first_b=$(grep "^$boot_b " "$T/unique.txt" | head -1 | cut -d' ' -f3)
[ "$first_b" -gt "$last_a" ] || fail "boot B's first ts $first_b is not after A's last $last_a"
note "boot A $made_a readings, boot B $made_b, $(( $(readings) - made_a - made_b )) duplicate(s)"

#!/usr/bin/env bash
# test_publisher_outage.sh - the broker goes away for a while and comes
# back: every reading made meanwhile waits in OUTBOX_DIR (files exist only
# during the outage) and arrives afterwards, in order, with its original
# ts and consecutive seq. A persistent subscriber (clean session off, QoS 1)
# misses nothing while the broker is down.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
start_mosquitto "$PORT"
OUTBOX=$T/outbox
INTERVAL=200

# persistent session: the broker keeps (and persists) its queue while it is away
mosquitto_sub -h 127.0.0.1 -p "$PORT" -c -i it-outage-sub -q 1 -v -t 'sensors/node3/+' \
  >"$T/sub.txt" 2>>"$T/sub.log" &
track $!
sleep 0.3

MQTT_URL=tcp://127.0.0.1:$PORT NODE_NAME=node3 SENSORS="a=sim" INTERVAL_MS=$INTERVAL \
  MQTT_KEEPALIVE_S=2 OUTBOX_DIR="$OUTBOX" "$PUBLISHER" 2>"$T/publisher.log" &
PUB=$!
track $PUB

readings() { grep -c '^sensors/node3/a ' "$T/sub.txt" || true; }
has_readings() { [ "$(readings)" -ge "$1" ]; }
segments() { find "$OUTBOX" -name 'outbox-*.log' | wc -l; }
wait_for 10 has_readings 5
assert_eq 0 "$(segments)" "outbox files while the broker is reachable"

# outage: ~3 s, about 15 readings
stop_pid "$MOSQ_PID" TERM || true
before=$(readings)
sleep 3
[ "$(segments)" -ge 1 ] || fail "no outbox file during the outage"
grep -q "broker unreachable: keeping readings in the outbox (on disk)" "$T/publisher.log" ||
  fail "outbox use not logged"

start_mosquitto "$PORT"
outbox_gone() { [ "$(segments)" -eq 0 ]; }
wait_for 40 outbox_gone
grep -q "backlog of [0-9]* reading(s) delivered" "$T/publisher.log" || fail "replay end not logged"
# the broker lost nothing of the status either: online again after the reconnect
assert_eq "1 online" "$(mosquitto_sub -h 127.0.0.1 -p "$PORT" -F '%r %p' -C 1 -W 3 \
  -t sensors/node3/status)" "retained status after the outage"
sleep 0.6 # a few direct readings after the replay
stop_pid $PUB TERM || fail "publisher exited with status $?"

made=$(sed -n "s/.*sensor 'a': \([0-9]*\) reads ok.*/\1/p" "$T/publisher.log")
[ "$made" -ge 20 ] || fail "only $made readings made"
got_all() { has_readings "$made"; }
wait_for 15 got_all
sleep 0.5

grep '^sensors/node3/a ' "$T/sub.txt" | cut -d' ' -f2- >"$T/a.json"
# duplicates are allowed by QoS 1 (a PUBACK lost with the broker); count them
total=$(wc -l <"$T/a.json")
jq -r '"\(.boot) \(.seq) \(.ts)"' "$T/a.json" | awk '!seen[$1" "$2]++' >"$T/unique.txt"
dups=$((total - $(wc -l <"$T/unique.txt")))
assert_eq "$made" "$(wc -l <"$T/unique.txt")" "distinct readings received"
assert_eq 1 "$(cut -d' ' -f1 "$T/unique.txt" | sort -u | wc -l)" "boot ids"
# in order: first arrivals have seq 1..made
assert_eq "$(seq 1 "$made" | tr '\n' ' ')" "$(cut -d' ' -f2 "$T/unique.txt" | tr '\n' ' ')" \
  "seq in arrival order"
# original ts, also for those that waited in the outbox: one interval apart
# (a slot skipped on a loaded machine allowed), not a burst at replay time
assert_eq 0 "$(awk -v iv=$INTERVAL 'NR > 1 && ($3 - p < iv / 2 || $3 - p > 3 * iv) { bad++ }
  { p = $3 } END { print bad + 0 }' "$T/unique.txt")" "ts spacing"
note "$made readings, $before before the outage, $dups duplicate(s)"

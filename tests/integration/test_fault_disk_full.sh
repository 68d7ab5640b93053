#!/usr/bin/env bash
# Fault: the disk under STATE_DIR fills up during a stream (a 2 MiB tmpfs).
# A PUBACK must mean "stored": a message the log cannot take is not
# acknowledged, so the broker keeps it and everything behind it; /readyz is
# unready and sensorwire_bridge_log_errors_total{op="append"} counts the
# failed tries, with one log line for the episode. Once space is freed the
# bridge stores the held messages and every reading published (1..N) ends in
# VictoriaMetrics exactly once, none lost, none counted as lost.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"

[ "$(id -u)" = 0 ] || { note "SKIP: needs root (mount -t tmpfs)"; exit 0; }
DISK=$T/disk
mkdir -p "$DISK"
mount -t tmpfs -o size=2m sw-disk-full "$DISK" || fail "cannot mount a tmpfs on $DISK"
# unmount before lib.sh's cleanup removes $T (lazily: the bridge may still hold files)
trap 'rc=$?; set +e; umount -l "$DISK" 2>/dev/null || true; (exit $rc); cleanup' EXIT

MQ=$(free_port); VM=$(free_port); HP=$(free_port)
start_mosquitto "$MQ"
start_victoria "$VM"
start_bridge disk STATE_DIR="$DISK/state" OUTPUTS=remote_write \
  REMOTE_WRITE_URL="http://127.0.0.1:$VM/api/v1/write" HEALTH_PORT="$HP" HEALTH_ADDR=127.0.0.1 \
  MQTT_KEEPALIVE_S=120
LOG=$T/bridge-disk.log
ready() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/readyz"; }
m() { curl -sf "http://127.0.0.1:$HP/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
APPEND='sensorwire_bridge_log_errors_total{op="append"}'

wait_for 20 is 200 ready || fail "/readyz: $(ready) before the fault"
stream 1 200 500
wait_vm sensor_n 200 20
assert_eq 0 "$(m "$APPEND")" "append errors before the fault"
assert_eq 1 "$(m sensorwire_bridge_log_healthy)" "log_healthy before the fault"

# fill the disk; the log's reserved window still takes some records, so
# publish until an append fails
dd if=/dev/zero of="$DISK/fill" bs=4k 2>/dev/null || true
note "disk full: $(df -k --output=avail "$DISK" | tail -1) KiB free"
from=201
while [ "$(m "$APPEND")" = 0 ]; do
  [ $from -lt 20000 ] || fail "no append failed after $((from - 1)) readings on a full disk"
  stream $from $((from + 199)) 2000
  from=$((from + 200))
  sleep 0.3
done
# keep publishing while the log refuses them
stream $from $((from + 299)) 1000
last=$((from + 299))
note "readings 1..$last published; appends failing"
sleep 3
assert_eq 503 "$(ready)" "/readyz while appends fail"
curl -s "http://127.0.0.1:$HP/readyz" | grep -q "the log cannot take messages" ||
  fail "/readyz says: $(curl -s "http://127.0.0.1:$HP/readyz")"
assert_eq 0 "$(m sensorwire_bridge_log_healthy)" "log_healthy while appends fail"
e1=$(m "$APPEND")
[ "$e1" -ge 2 ] || fail "append errors while failing: $e1 (the bridge should keep retrying)"
accepted=$(m 'sensorwire_bridge_messages_total{result="accepted"}')
[ "$accepted" -lt "$last" ] || fail "all $last accepted on a full disk"
assert_eq 1 "$(grep -c "cannot store a reading from 'sensors/f/s' in the log" "$LOG")" "error lines for one episode"
assert_eq 0 "$(grep -c 'the log takes messages again' "$LOG")" "recovery lines before space is freed"
# backoff, not a hot loop: a try after 50 ms, doubling to 2 s and never
# shrinking while the same message is held (common/backoff.c), so 2 or 3 in
# 4 s once backed off; allow twice that, a hot loop would make thousands
sleep 4
e2=$(m "$APPEND")
[ $((e2 - e1)) -le 6 ] || fail "append tries in 4 s while failing: $((e2 - e1)) (no backoff?)"
kill -0 "$BRIDGE_PID" || fail "the bridge died"

# free space: the held messages are stored, then the rest the broker kept
rm -f "$DISK/fill"
wait_for 20 is 200 ready || fail "/readyz: $(ready) after space was freed"
assert_eq 1 "$(m sensorwire_bridge_log_healthy)" "log_healthy after recovery"
assert_eq 1 "$(grep -c 'the log takes messages again' "$LOG")" "recovery lines"
stream $((last + 1)) $((last + 100)) 500
last=$((last + 100))
wait_vm sensor_n "$last" 60
wait_for 10 is "$last" m 'sensorwire_bridge_messages_total{result="accepted"}' ||
  fail "accepted: $(m 'sensorwire_bridge_messages_total{result="accepted"}') of $last"
assert_eq 0 "$(m 'sensorwire_bridge_messages_total{result="lost"}')" "messages lost"
assert_eq 0 "$(m sensorwire_bridge_seq_gaps_total)" "seq gaps"
assert_eq 1 "$(grep -c "cannot store a reading from 'sensors/f/s' in the log" "$LOG")" "error lines after recovery"
stop_pid "$BRIDGE_PID" || fail "bridge exit status $?"
grep -q "accepted=$last .*lost=0" "$LOG" || fail "summary line: $(grep 'received=' "$LOG" | tail -1)"
note "$last readings, $e2+ refused appends while the disk was full; all stored once"

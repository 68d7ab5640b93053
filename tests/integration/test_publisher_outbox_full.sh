#!/usr/bin/env bash
# Fault sequence: the broker is down, so the publisher keeps its readings in
# the outbox; then the disk under OUTBOX_DIR fills up (another program's file
# on a 1 MiB tmpfs), later space comes back, and then the broker. The
# publisher must keep reading and stay healthy; every reading it could not
# keep is counted (lost_total) and logged; every other one reaches the
# broker, once, in order, after it returns. Exact: the seqs that arrive are
# 1..last without exactly lost_total of them, all missing ones from the
# full-disk stretch.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { note "SKIP: needs root (mount -t tmpfs)"; exit 0; }
DISK=$T/disk
mkdir -p "$DISK"
mount -t tmpfs -o size=1m sw-outbox-full "$DISK" || fail "cannot mount a tmpfs on $DISK"
trap 'rc=$?; set +e; umount -l "$DISK" 2>/dev/null || true; (exit $rc); cleanup' EXIT

MQ=$(free_port); HP=$(free_port)
# the subscriber's persistent session exists before the outage: what the
# publisher sends after the broker returns is queued for it
start_mosquitto "$MQ"
mosquitto_sub -p "$MQ" -c -i ob-sub -q 1 -t sensors/ob/a -E >/dev/null
stop_pid "$MOSQ_PID"

env MQTT_URL="tcp://127.0.0.1:$MQ" NODE_NAME=ob SENSORS="a=sim" INTERVAL_MS=100 \
  OUTBOX_DIR="$DISK/outbox" HEALTH_PORT="$HP" HEALTH_ADDR=127.0.0.1 \
  "$PUBLISHER" >"$T/publisher.log" 2>&1 &
PUB=$!; track $PUB
m() { curl -sf "http://127.0.0.1:$HP/metrics" | awk -v k="sensorwire_publisher_$1" '$1 == k { print $2 }'; }
at_least() { local v; v=$(m "$1"); [ "${v:-0}" -ge "$2" ]; }
healthz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/healthz"; }

wait_for 20 at_least queued_total 20 || fail "no readings went to the outbox: $(m queued_total)"
# the disk fills up
dd if=/dev/zero of="$DISK/fill" bs=4k 2>/dev/null || true
note "disk full: $(df -k --output=avail "$DISK" | tail -1) KiB free"
wait_for 30 at_least lost_total 10 || fail "no reading counted lost on a full disk: $(m lost_total)"
assert_eq 200 "$(healthz)" "/healthz on a full disk (the sensor loop is alive)"
kill -0 "$PUB" || fail "the publisher died on a full disk"
grep -q "cannot keep a reading of 'sensors/ob/a' in the outbox" "$T/publisher.log" ||
  fail "no log line for a reading the outbox could not take"
# space comes back: the outbox takes readings again
rm -f "$DISK/fill"
q=$(m queued_total)
wait_for 20 at_least queued_total $((q + 10)) || fail "the outbox takes no readings after space came back"
lost=$(m lost_total)
# the broker comes back
start_mosquitto "$MQ"
outbox_empty() { [ "$(find "$DISK/outbox" -name 'outbox-*.log' | wc -l)" -eq 0 ]; }
wait_for 30 outbox_empty || fail "the outbox was not replayed"
sleep 1
stop_pid "$PUB" || fail "the publisher exited with status $?"

# what the broker delivered, once each, in order
timeout 20 mosquitto_sub -p "$MQ" -c -i ob-sub -q 1 -t sensors/ob/a -W 5 >"$T/got.json" 2>/dev/null || true
jq -r .seq "$T/got.json" >"$T/seqs"
last=$(sort -n "$T/seqs" | tail -1)
got=$(sort -un "$T/seqs" | wc -l)
assert_eq "$(wc -l <"$T/seqs")" "$got" "readings delivered twice"
sort -c -n "$T/seqs" 2>/dev/null || fail "readings out of order"
final_lost=$(sed -n 's/.*published [0-9]* (.*lost \([0-9]*\)$/\1/p' "$T/publisher.log" | tail -1)
assert_eq "$lost" "${final_lost:-?}" "lost in the publisher's summary line"
assert_eq "$last" $((got + lost)) "seqs 1..$last: $got delivered + $lost lost"
# the missing seqs are one stretch: the full disk
missing=$(seq 1 "$last" | awk 'NR == FNR { have[$1] = 1; next } !($1 in have)' "$T/seqs" -)
first_m=$(head -1 <<<"$missing"); last_m=$(tail -1 <<<"$missing")
assert_eq "$lost" $((last_m - first_m + 1)) "the lost readings are one stretch ($first_m..$last_m)"
note "$last readings made: $got delivered after the outage, $lost lost while the disk was full ($first_m..$last_m)"

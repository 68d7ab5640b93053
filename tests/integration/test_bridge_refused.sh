#!/usr/bin/env bash
# Every message the bridge refuses is counted, under its own name, in
# /metrics (sensorwire_bridge_messages_total{result=...}) and in the summary
# line: each kind of bad message is published to a real Mosquitto between
# good readings; the counters must hold exact values, the good readings must
# all come out (in order, once each) and the bridge must keep running.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port); HP=$(free_port)
start_mosquitto "$MQ"
MQTT_URL=tcp://127.0.0.1:$MQ MQTT_CLIENT_ID=refused MQTT_TOPICS='sensors/+/+,bad/#' OUTPUTS=stdout \
  BATCH_MAX_DELAY_MS=50 HEALTH_PORT=$HP HEALTH_ADDR=127.0.0.1 \
  "$BRIDGE" >"$T/out.lp" 2>"$T/bridge.log" &
B=$!; track $B
wait_for 20 grep -q "subscribed to 'bad/#'" "$T/bridge.log"

BASE=$(( ($(date +%s) - 600) * 1000 ))
G=0
good() { # the next good reading, n = its number
  G=$((G + 1))
  mosquitto_pub -p "$MQ" -q 1 -t sensors/n/s -m "{\"ts\":$((BASE + G)),\"n\":$G}"
}
pub() { mosquitto_pub -p "$MQ" -q 1 "$@"; }
a() { head -c "$1" /dev/zero | tr '\0' a; }

good
# topic too long (over 511 bytes): dropped before the bridge's callback
pub -t "sensors/$(a 600)/x" -m '{"t":1}'; good
pub -t "sensors/$(a 5000)/x" -m '{"t":1}'; good
# topic not <prefix>/<node>/<sensor>
pub -t bad/x -m '{"t":1}'; good
pub -t 'sensors/a\b/x' -m '{"t":1}'; good
pub -t "sensors/$(a 300)/x" -m '{"t":1}'; good     # a node name over 255 bytes
# payload over 16384 bytes, on a reading topic and on a status topic
a 20000 >"$T/big"
pub -t sensors/n/s -f "$T/big"; good
pub -t sensors/n/status -f "$T/big"; good
# malformed payloads
pub -t sensors/n/s -m 'nope'; good
pub -t sensors/n/s -n; good                          # empty
printf '{"t":1,"x":"\xff"}' >"$T/utf8"
pub -t sensors/n/s -f "$T/utf8"; good               # not UTF-8
pub -t sensors/n/s -m '{"label":"x"}'; good          # no numeric field
pub -t sensors/n/s -m '{"ts":1700000000,"t":1}'; good # ts in seconds
pub -t sensors/n/s -m '[1,2]'; good                  # not an object
# accepted, with one key and one tag left out; and a status message
pub -t sensors/n/t -m "{\"ts\":$BASE,\"t\":1,\"s\":\"str\",\"tags\":{\"node\":\"evil\",\"ok\":\"v\"}}"
pub -t sensors/n/status -m online
good

ACCEPTED=$((G + 1))
RECEIVED=$((ACCEPTED + 1 + 2 + 3 + 2 + 6))
m() { curl -sf "http://127.0.0.1:$HP/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
wait_for 20 is "$ACCEPTED" m 'sensorwire_bridge_messages_total{result="accepted"}' ||
  fail "accepted: expected $ACCEPTED, got $(m 'sensorwire_bridge_messages_total{result="accepted"}')"
kill -0 $B || fail "the bridge died"
curl -sf "http://127.0.0.1:$HP/healthz" >/dev/null || fail "/healthz does not answer"
curl -sf "http://127.0.0.1:$HP/metrics" >"$T/metrics"
while read -r key want; do
  assert_eq "$want" "$(awk -v k="$key" '$1 == k {print $2}' "$T/metrics")" "$key"
done <<EOF
sensorwire_bridge_messages_total{result="accepted"} $ACCEPTED
sensorwire_bridge_messages_total{result="status"} 1
sensorwire_bridge_messages_total{result="topic_too_long"} 2
sensorwire_bridge_messages_total{result="bad_topic"} 3
sensorwire_bridge_messages_total{result="payload_too_large"} 2
sensorwire_bridge_messages_total{result="malformed"} 6
sensorwire_bridge_messages_total{result="lost"} 0
sensorwire_bridge_ignored_keys_total 1
sensorwire_bridge_dropped_tags_total 1
sensorwire_bridge_output_unreadable_records_total{output="stdout"} 0
EOF
# the results partition what was received
sum=$(awk '/^sensorwire_bridge_messages_total\{/ {s += $2} END {print s}' "$T/metrics")
assert_eq "$RECEIVED" "$sum" "sum of sensorwire_bridge_messages_total"
grep -q '^# TYPE sensorwire_bridge_messages_total counter$' "$T/metrics" || fail "no TYPE line"

# every good reading came out once, in order, around the bad ones
wait_for 10 is "$G" grep -c '^sensor,node=n,sensor=s ' "$T/out.lp" || fail "good readings: $(grep -c '^sensor,node=n,sensor=s ' "$T/out.lp") of $G"
got=$(sed -n 's/^sensor,node=n,sensor=s n=\([0-9]*\) .*/\1/p' "$T/out.lp" | tr '\n' ' ')
assert_eq "$(seq -s ' ' 1 $G) " "$got" "the good readings, in order"
grep -qx "sensor,node=n,ok=v,sensor=t t=1 $BASE" "$T/out.lp" || fail "the reading with a bad key and tag: $(grep sensor=t "$T/out.lp")"
assert_eq $((G + 1)) "$(wc -l <"$T/out.lp")" "lines printed"

# each refusal is logged with its reason
grep -q "dropped a message with a 5010-byte topic" "$T/bridge.log" || fail "no log line for the long topic"
grep -q "refused a message on 'bad/x': the topic is not <prefix>/<node>/<sensor>" "$T/bridge.log" || fail "no log line for the bad topic"
grep -q "refused a message on 'sensors/n/status': payload of 20000 bytes exceeds 16384" "$T/bridge.log" || fail "no log line for the big status"
grep -q "malformed payload on 'sensors/n/s': payload is not valid UTF-8" "$T/bridge.log" || fail "no log line for the bad UTF-8"

# the summary line at exit has the same counts
stop_pid $B || fail "bridge exit status $?"
line="received=$RECEIVED accepted=$ACCEPTED malformed=6 bad_topic=3 topic_too_long=2 payload_too_large=2 status=1 lost=0 gaps=0 duplicates=0 ignored_keys=1 dropped_tags=1;"
grep -qF "info bridge: $line" "$T/bridge.log" || fail "summary line: expected '$line', got: $(grep 'received=' "$T/bridge.log")"
note "$((RECEIVED - ACCEPTED - 1)) refused messages counted by kind; $G good readings delivered around them"

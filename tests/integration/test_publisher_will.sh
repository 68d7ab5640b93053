#!/usr/bin/env bash
# test_publisher_will.sh - availability on <prefix>/<node>/status: a kill -9
# makes the broker publish the Last Will (retained `offline`) at once; a
# restart announces `online` again; SIGTERM publishes `offline` itself,
# disconnects cleanly (no Will) and exits 0. Run over MQTT 5 and 3.1.1, with
# MQTT_WILL_DELAY_S=0 (the delayed Will: test_publisher_will_delay.sh).
. "$(dirname "$0")/each_mqtt_version.sh"
export MQTT_WILL_DELAY_S=0
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
start_mosquitto "$PORT"
SUB="mosquitto_sub -h 127.0.0.1 -p $PORT"
STATUS=home/node2/status

start_publisher() {
  MQTT_URL=tcp://127.0.0.1:$PORT NODE_NAME=node2 TOPIC_PREFIX=home SENSORS="t=sim" \
    INTERVAL_MS=250 MQTT_KEEPALIVE_S=2 "$PUBLISHER" 2>>"$T/publisher.log" &
  PUB=$!
  track $PUB
}
retained() { $SUB -F '%r %p' -C 1 -W 3 -t $STATUS; }
is_online() { [ "$(retained)" = "1 online" ]; }

# everything said on the status topic, live, for the whole test
$SUB -t $STATUS -F '%p' >"$T/status.txt" 2>>"$T/sub.log" &
track $!
sleep 0.3

# 1. kill -9: the socket closes, the broker sends the Will without waiting for keepalive
start_publisher
wait_for 10 is_online
kill -9 $PUB
t0=$(date +%s%3N)
got_offline() { [ "$(tail -1 "$T/status.txt")" = offline ]; }
wait_for 5 got_offline
t1=$(date +%s%3N)
assert_eq "1 offline" "$(retained)" "retained status after kill -9"
[ $((t1 - t0)) -lt 1500 ] || fail "the Will took $((t1 - t0)) ms"
wait $PUB 2>/dev/null || true

# 2. a new run announces online again (retained, replacing the Will)
start_publisher
wait_for 10 is_online
assert_eq "online offline online" "$(tr '\n' ' ' <"$T/status.txt" | sed 's/ $//')" "status so far"
sleep 0.6 # a few readings

# 3. SIGTERM: offline published by the publisher itself, clean exit 0
stop_pid $PUB TERM || fail "publisher exited with status $? on SIGTERM"
assert_eq "1 offline" "$(retained)" "retained status after SIGTERM"
sleep 3.5 # longer than 1.5 x keepalive: a Will would have fired by now
assert_eq "online offline online offline" "$(tr '\n' ' ' <"$T/status.txt" | sed 's/ $//')" \
  "status history (no second offline from a Will)"
grep -q "disconnected from" "$T/publisher.log" || fail "no clean disconnect logged"
note "Will after kill -9 arrived in $((t1 - t0)) ms"

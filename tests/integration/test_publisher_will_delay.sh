#!/usr/bin/env bash
# test_publisher_will_delay.sh - MQTT 5 Will Delay Interval (MQTT_WILL_DELAY_S)
# against the real Mosquitto, on MQTT 5 and on 3.1.1 (which has no delay):
#   5:     kill -9 and a restart within the delay: no `offline` at all;
#          kill -9 and no restart: `offline` after the delay, not before;
#          SIGUSR2 (a stop for a restart): as kill -9, the delayed Will decides;
#          SIGTERM (a planned stop): `offline` at once.
#   3.1.1: kill -9: `offline` at once whatever MQTT_WILL_DELAY_S says.
. "$(dirname "$0")/each_mqtt_version.sh"
. "$(dirname "$0")/lib.sh"

DELAY=3
PORT=$(free_port)
start_mosquitto "$PORT"
SUB="mosquitto_sub -h 127.0.0.1 -p $PORT"
STATUS=home/wd/status

start_publisher() {
  MQTT_URL=tcp://127.0.0.1:$PORT NODE_NAME=wd TOPIC_PREFIX=home SENSORS="t=sim" \
    INTERVAL_MS=250 MQTT_KEEPALIVE_S=2 MQTT_WILL_DELAY_S=$DELAY \
    "$PUBLISHER" 2>>"$T/publisher.log" &
  PUB=$!
  track $PUB
}
retained() { $SUB -F '%r %p' -C 1 -W 3 -t $STATUS; }
is_online() { [ "$(retained)" = "1 online" ]; }
history() { tr '\n' ' ' <"$T/status.txt" | sed 's/ $//'; }
last_is_offline() { [ "$(tail -1 "$T/status.txt")" = offline ]; }
ms() { date +%s%3N; }

# everything said on the status topic, live, for the whole test
$SUB -t $STATUS -F '%p' >"$T/status.txt" 2>>"$T/sub.log" &
track $!
sleep 0.3

start_publisher
wait_for 10 is_online

if [ "$MQTT_VERSION" = 3.1.1 ]; then
  kill -9 $PUB
  t0=$(ms)
  wait_for 5 last_is_offline
  t1=$(ms)
  [ $((t1 - t0)) -lt 1500 ] || fail "3.1.1: the Will took $((t1 - t0)) ms"
  wait $PUB 2>/dev/null || true
  assert_eq "online offline" "$(history)" "3.1.1 status history"
  note "3.1.1 (no Will delay): offline $((t1 - t0)) ms after kill -9"
  exit 0
fi

# 1. kill -9, back within the delay: the broker drops the delayed Will
kill -9 $PUB
wait $PUB 2>/dev/null || true
sleep 1
start_publisher
wait_for 10 grep -q "connected to" "$T/publisher.log"
sleep $((DELAY + 2)) # past the delay of the killed run
assert_eq "online online" "$(history)" "kill -9 + restart within ${DELAY}s: no offline"

# 2. kill -9, not back: offline after the delay, not before
kill -9 $PUB
t0=$(ms)
wait $PUB 2>/dev/null || true
sleep $((DELAY - 1))
assert_eq "online online" "$(history)" "$((DELAY - 1)) s after kill -9 (delay ${DELAY}s)"
wait_for 5 last_is_offline
t1=$(ms)
[ $((t1 - t0)) -ge $((DELAY * 1000 - 200)) ] || fail "offline after $((t1 - t0)) ms, before the delay"
[ $((t1 - t0)) -lt $((DELAY * 1000 + 2500)) ] || fail "offline only after $((t1 - t0)) ms"
assert_eq "1 offline" "$(retained)" "retained after the delay"
note "kill -9, no restart: offline after $((t1 - t0)) ms (delay ${DELAY}s)"

# 3. SIGUSR2 (stopping for a restart) and back within the delay: no offline
start_publisher
wait_for 10 is_online
stop_pid $PUB USR2 || fail "publisher exited with status $? on SIGUSR2"
grep -q "offline' only if not back within" "$T/publisher.log" || fail "no restart stop logged"
start_publisher
wait_for 10 is_online
sleep $((DELAY + 1))
assert_eq "online online offline online online" "$(history)" "SIGUSR2 + restart: no offline"

# 4. SIGUSR2 and not back: the broker says offline after the delay
stop_pid $PUB USR2 || fail "publisher exited with status $? on SIGUSR2"
t0=$(ms)
sleep $((DELAY - 1))
last_is_offline && fail "offline before the delay after SIGUSR2"
wait_for 5 last_is_offline
t1=$(ms)
note "SIGUSR2, no restart: offline after $((t1 - t0)) ms"

# 5. SIGTERM (a planned stop): offline at once, from the publisher itself
start_publisher
wait_for 10 is_online
stop_pid $PUB TERM || fail "publisher exited with status $? on SIGTERM"
assert_eq "1 offline" "$(retained)" "retained status right after SIGTERM"
sleep $((DELAY + 1)) # no second offline from a Will
assert_eq "online online offline online online offline online offline" "$(history)" \
  "status history"

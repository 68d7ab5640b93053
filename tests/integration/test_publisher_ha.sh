#!/usr/bin/env bash
# test_publisher_ha.sh - Home Assistant MQTT discovery against a real
# Mosquitto, every config checked by ha_check.py against HA's documented
# rules and against a real reading (the checker is first shown to catch a
# bad config). Then the removal sequence: the publisher stops; a config of
# a sensor that no longer exists (ghost) and one of another program under
# the same topic level (foreign) are left on the broker; the publisher
# restarts with one sensor of two and without one of its fields: the gone
# sensor's configs, the gone field's and ghost's are cleared (an empty
# retained message, then nothing retained), the remaining configs are kept,
# foreign is left alone. HA's birth message makes it announce again.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
CHECK="$PY $(dirname "$0")/ha_check.py"
PORT=$(free_port)
start_mosquitto "$PORT"
SUB="mosquitto_sub -h 127.0.0.1 -p $PORT"
PUB="mosquitto_pub -h 127.0.0.1 -p $PORT"
HA=homeassistant/sensor/n1

# every message under the prefix, live: "<payload length> <topic>"
$SUB -F '%l %t' -t 'homeassistant/#' >"$T/live.txt" 2>>"$T/sub.log" &
track $!
sleep 0.3

start_publisher() { # SENSORS
  MQTT_URL=tcp://127.0.0.1:$PORT NODE_NAME=n1 SENSORS="$1" INTERVAL_MS=200 HA_DISCOVERY=true \
    "$PUBLISHER" 2>>"$T/publisher.log" &
  PUBPID=$!
  track $PUBPID
}
live() { grep -c "^$1 $2\$" "$T/live.txt" || true; }     # length topic
announced() { [ "$(grep -c '^[1-9][0-9]* ' "$T/live.txt" || true)" -ge "$1" ]; }

start_publisher "a=sim,pressure=1013 b=sim"
wait_for 15 announced 5
$CHECK --port "$PORT" --node n1 --expect 5 >"$T/check1.txt" || { cat "$T/check1.txt"; fail "run 1 configs"; }
cat "$T/check1.txt"
for t in a_temperature_celsius a_humidity_percent a_pressure_hectopascals b_temperature_celsius \
  b_humidity_percent; do
  grep -q "^config $HA/$t/config sensorwire:n1:${t%%_*}:${t#*_}\$" "$T/check1.txt" ||
    fail "no config $t"
done

# the checker fails on a config that breaks the rules (a humidity in °C,
# no state_topic, a repeated unique_id): its assertions can fail
$PUB -r -t "$HA/bad_x/config" -m '{"unique_id":"sensorwire:n1:a:temperature_celsius","device_class":"humidity","unit_of_measurement":"°C","state_class":"measurement","expire_after":60,"availability_topic":"sensors/n1/status","value_template":"{{ value_json.temperature_celsius }}","device":{"identifiers":["sensorwire:n1"],"name":"n1"}}'
if $CHECK --port "$PORT" --node n1 --expect 5 --wait 3 >"$T/check_bad.txt"; then
  fail "the checker passed a bad config"
fi
for rule in "P6: unit '°C' is not valid for device_class humidity" "P2: state_topic None" \
  "P3: unique_id 'sensorwire:n1:a:temperature_celsius' used 2 times" "count:"; do
  grep -qF "$rule" "$T/check_bad.txt" || { cat "$T/check_bad.txt"; fail "checker missed: $rule"; }
done
$PUB -r -t "$HA/bad_x/config" -n

# HA's birth message: everything announced again
before=$(grep -c '^[1-9][0-9]* ' "$T/live.txt")
$PUB -t homeassistant/status -m online
wait_for 10 announced $((before + 5))
grep -q "Home Assistant is online ('homeassistant/status'): announcing the sensors again" \
  "$T/publisher.log" || fail "birth message not noticed"

stop_pid $PUBPID || fail "publisher run 1 exited with $?"

# left on the broker while it is down: a config of ours for a sensor that
# is gone, and another program's config under the same node level
GHOST='{"name":"ghost","unique_id":"sensorwire:n1:ghost:temperature_celsius","state_topic":"sensors/n1/ghost","device":{"identifiers":["sensorwire:n1"],"name":"n1"}}'
FOREIGN='{"name":"x","unique_id":"zigbee_0x1_temp","state_topic":"zigbee2mqtt/0x1","device":{"identifiers":["zigbee_0x1"],"name":"x"}}'
$PUB -r -t "$HA/ghost_temperature_celsius/config" -m "$GHOST"
$PUB -r -t "$HA/foreign_t/config" -m "$FOREIGN"
sleep 0.3
: >"$T/live.txt"

start_publisher "a=sim"
gone="b_temperature_celsius b_humidity_percent a_pressure_hectopascals ghost_temperature_celsius"
all_cleared() { for t in $gone; do [ "$(live 0 "$HA/$t/config")" -ge 1 ] || return 1; done; }
wait_for 15 all_cleared || { cat "$T/live.txt"; fail "stale configs not cleared"; }
args=()
for t in $gone; do args+=(--absent "$HA/$t/config"); done
$CHECK --port "$PORT" --node n1 --expect 2 "${args[@]}" >"$T/check2.txt" ||
  { cat "$T/check2.txt"; fail "run 2 configs"; }
cat "$T/check2.txt"
grep -q "^config $HA/a_temperature_celsius/config " "$T/check2.txt" || fail "a's temperature lost"
grep -q "^config $HA/a_humidity_percent/config " "$T/check2.txt" || fail "a's humidity lost"
# kept ones were announced again, never cleared
assert_eq 0 "$(live 0 "$HA/a_temperature_celsius/config")" "a_temperature cleared"
[ "$(grep -c " $HA/a_temperature_celsius/config\$" "$T/live.txt")" -ge 1 ] || fail "a not re-announced"
# the other program's config is still there, untouched
assert_eq "$FOREIGN" "$($SUB -C 1 -W 3 -t "$HA/foreign_t/config")" "foreign config"
assert_eq 0 "$(live 0 "$HA/foreign_t/config")" "foreign config cleared"
for t in $gone; do
  grep -q "clearing the discovery config '$HA/$t/config'" "$T/publisher.log" ||
    fail "no log line for clearing $t"
done
stop_pid $PUBPID || fail "publisher run 2 exited with $?"
note "5 configs checked, then 4 cleared, 2 kept, a foreign one untouched"

#!/usr/bin/env bash
# test_bridge_session_expiry.sh - MQTT_SESSION_EXPIRY_S against the real
# Mosquitto, exact counts in VictoriaMetrics (README "Delivery guarantees"):
#   5:     a bridge away for less than the expiry gets every reading
#          published meanwhile (session resumed); one away for longer finds a
#          new session: the readings published meanwhile are gone (the broker
#          acknowledged them, so no publisher outbox holds them either).
#   3.1.1: no expiry: the session and its queue wait however long.
. "$(dirname "$0")/each_mqtt_version.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"

EXPIRY=3
MQ=$(free_port); VM=$(free_port)
start_mosquitto "$MQ"
start_victoria "$VM"
bridge() {
  start_bridge expiry OUTPUTS=remote_write REMOTE_WRITE_URL="http://127.0.0.1:$VM/api/v1/write" \
    MQTT_SESSION_EXPIRY_S=$EXPIRY
}
# the readings in the store, as a sorted list of seq numbers "a-b,c-d"
ranges() {
  curl -sf "http://127.0.0.1:$VM/api/v1/export" --data-urlencode "match[]=sensor_n" |
    jq -rs --argjson base "$BASE" '[.[] | [.timestamps, .values] | transpose[]
      | select(.[0] - $base == .[1]) | .[1]] | unique |
      reduce .[] as $x ([]; if length > 0 and .[-1][1] == $x - 1
        then .[-1][1] = $x else . + [[$x, $x]] end) | map("\(.[0])-\(.[1])") | join(",")'
}
count() {
  curl -sf "http://127.0.0.1:$VM/api/v1/export" --data-urlencode "match[]=sensor_n" |
    jq -s '[.[] | .timestamps[]] | length'
}
since() { tail -n +$((before + 1)) "$T/bridge-expiry.log"; }

bridge
wait_for 10 grep -q subscribed "$T/bridge-expiry.log"
stream 1 100 500
wait_vm sensor_n 100 20

# 1. away for less than the expiry: resumed, nothing lost
stop_pid "$BRIDGE_PID" || fail "bridge exited with $?"
stream 101 200 500 # queued in the session
before=$(wc -l <"$T/bridge-expiry.log")
bridge
since | grep -q "(session resumed)" || fail "session not resumed within the expiry: $(since)"
wait_vm sensor_n 200 30

# 2. away for longer than the expiry
stop_pid "$BRIDGE_PID" || fail "bridge exited with $?"
stream 201 300 500 # queued in the session, which then expires
sleep $((EXPIRY + 3))
before=$(wc -l <"$T/bridge-expiry.log")
bridge
wait_for 10 sh -c "tail -n +$((before + 1)) '$T/bridge-expiry.log' | grep -q 'subscribed\\|nothing to subscribe'"
stream 301 400 500
if [ "$MQTT_VERSION" = 3.1.1 ]; then
  since | grep -q "(session resumed)" || fail "3.1.1: session not resumed: $(since)"
  wait_vm sensor_n 400 30
  note "3.1.1: no session expiry, 400 of 400 after $((EXPIRY + 3)) s away"
  exit 0
fi
since | grep -q "(session new)" || fail "the session outlived its expiry: $(since)"
wait_for 30 is "1-200,301-400" ranges || fail "store holds $(ranges)"
sleep 2 # nothing late
assert_eq "1-200,301-400" "$(ranges)" "readings stored"
assert_eq 300 "$(count)" "samples stored (once each)"
note "5: 100 of 100 queued within the expiry delivered; 100 queued past a ${EXPIRY}s expiry lost, as README says"

#!/usr/bin/env bash
# MQTT_TOPICS changed while the broker keeps the bridge's session: the
# bridge remembers the filters it subscribed with (STATE_DIR/subscriptions)
# and, on a resumed session, subscribes to the new ones and unsubscribes
# from the old. Readings on the old filter stop (exactly 0 delivered), the
# new one's all arrive; the same topics again change nothing (no SUBSCRIBE).
. "$(dirname "$0")/lib.sh"

MQ=$(free_port)
start_mosquitto "$MQ" "log_type all"
STATE=$T/state
LOG=$T/bridge.log
BASE=$(( ($(date +%s) - 600) * 1000 ))
run() { # MQTT_TOPICS: starts a bridge printing line protocol to $T/out-<n>.lp
  RUNS=$(( ${RUNS:-0} + 1 ))
  BEFORE=$( [ -e "$LOG" ] && wc -l <"$LOG" || echo 0)
  MQ_BEFORE=$(wc -l <"$T/mosquitto.log")
  MQTT_URL=tcp://127.0.0.1:$MQ MQTT_CLIENT_ID=topics MQTT_TOPICS=$1 OUTPUTS=stdout \
    STATE_DIR=$STATE BATCH_MAX_DELAY_MS=50 WAL_SYNC=never \
    "$BRIDGE" >"$T/out-$RUNS.lp" 2>>"$LOG" &
  B=$!; track $B
}
since() { tail -n +$((BEFORE + 1)) "$LOG"; }
mq_since() { tail -n +$((MQ_BEFORE + 1)) "$T/mosquitto.log"; }
pub() { # TOPIC FROM TO
  local i
  for ((i = $2; i <= $3; i++)); do
    printf '{"ts":%d,"n":%d}\n' $((BASE + i)) "$i"
  done | mosquitto_pub -p "$MQ" -q 1 -l -t "$1"
}
lines() { grep -c "^sensor,node=$2,sensor=s " "$T/out-$1.lp" || true; }

# 1. subscribed to a/+/+ on a new session, remembered
run 'a/+/+'
wait_for 20 sh -c "tail -n +$((BEFORE + 1)) '$LOG' | grep -q \"subscribed to 'a/+/+'\"" || fail "no subscription: $(since)"
pub a/na/s 1 5
wait_for 10 is 5 lines 1 na || fail "a/ readings in run 1: $(lines 1 na)"
stop_pid $B || fail "bridge exit status $?"
grep -qx 'filter a/+/+' "$STATE/subscriptions" || fail "subscriptions file: $(cat "$STATE/subscriptions")"

# 2. restarted with b/+/+ on the resumed session: b subscribed, a unsubscribed
run 'b/+/+'
wait_for 20 sh -c "tail -n +$((BEFORE + 1)) '$LOG' | grep -q \"unsubscribed from 'a/+/+'\"" || fail "no unsubscribe: $(since)"
since | grep -q "connected to .*(session resumed)" || fail "the session was not resumed: $(since)"
since | grep -q "subscribed to 'b/+/+' (qos 1)" || fail "no subscription to b: $(since)"
mq_since | grep -q "Received UNSUBSCRIBE from topics" || fail "mosquitto saw no UNSUBSCRIBE: $(mq_since)"
mq_since | grep -q "b/+/+ (QoS 1)" || fail "mosquitto saw no SUBSCRIBE to b/+/+"
grep -qx 'filter b/+/+' "$STATE/subscriptions" || fail "subscriptions file: $(cat "$STATE/subscriptions")"
grep -q 'filter a/' "$STATE/subscriptions" && fail "a/ still remembered: $(cat "$STATE/subscriptions")"
pub a/na/s 6 25
pub b/nb/s 1 30
wait_for 10 is 30 lines 2 nb || fail "b/ readings: $(lines 2 nb) of 30"
sleep 1
assert_eq 0 "$(lines 2 na)" "a/ readings delivered after the unsubscribe"
stop_pid $B || fail "bridge exit status $?"

# 3. the same topics again: nothing asked of the broker
run 'b/+/+'
wait_for 20 sh -c "tail -n +$((BEFORE + 1)) '$LOG' | grep -q 'nothing to subscribe or unsubscribe'" || fail "no 'nothing to change' line: $(since)"
pub b/nb/s 31 40
pub a/na/s 26 30
wait_for 10 is 10 lines 3 nb || fail "b/ readings in run 3: $(lines 3 nb) of 10"
sleep 1
assert_eq 0 "$(lines 3 na)" "a/ readings in run 3"
assert_eq 0 "$(since | grep -c 'subscribed to')" "subscribe lines in run 3"
assert_eq 0 "$(mq_since | grep -c 'Received SUBSCRIBE from topics')" "SUBSCRIBEs mosquitto got in run 3"
stop_pid $B || fail "bridge exit status $?"
note "a/ -> b/ on a resumed session: 0 old readings, 40 new; no churn on the same topics"

#!/usr/bin/env bash
# /metrics larger than the health endpoint's first buffer (8 KiB): many
# MQTT_TOPICS filters in a share group (each subscription, and each one's
# unshared availability filter, is a line) are served whole, never cut in
# the middle of a line (a cut last line makes a Prometheus scrape fail), and
# the broker is asked for all of them.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

MQ=$(free_port); HP=$(free_port)
start_mosquitto "$MQ"
topics=""
for i in $(seq 1 32); do topics+="${topics:+,}site$i/with/a/longer/prefix/to/make/lines/long/+/+"; done
env MQTT_URL="tcp://127.0.0.1:$MQ" MQTT_CLIENT_ID=it-metrics MQTT_SHARE_GROUP=big \
  MQTT_TOPICS="$topics" OUTPUTS=stdout HEALTH_PORT="$HP" HEALTH_ADDR=127.0.0.1 \
  "$BRIDGE" >"$T/out.lp" 2>"$T/bridge.log" &
track $!
# the broker granted all 65 filters (a resubscribe of them all at connect,
# as a share group does, once took at most 64)
granted() { grep -c "subscribed to '" "$T/bridge.log"; }
wait_for 20 is 65 granted || fail "$(granted) of 65 filters granted: $(grep -m1 "cannot ask" "$T/bridge.log")"
curl -sf "http://127.0.0.1:$HP/metrics" >"$T/metrics" || fail "GET /metrics failed"
size=$(wc -c <"$T/metrics")
[ "$size" -gt 8192 ] || fail "/metrics is only $size bytes: the test proves nothing"
assert_eq 65 "$(grep -c '^sensorwire_bridge_mqtt_subscription{' "$T/metrics")" \
  "subscription lines (32 shared, 32 availability, 1 presence)"
[ "$(tail -c 1 "$T/metrics" | od -An -c | tr -d ' ')" = '\n' ] || fail "/metrics does not end with a newline"
# every line is a comment or "name{labels} value"
bad=$(grep -cvE '^(# TYPE [a-z_]+ [a-z]+|[a-z_]+(\{[^}]*\})? [-0-9.e+]+)$' "$T/metrics" || true)
assert_eq 0 "$bad" "malformed lines in /metrics"
note "/metrics: $size bytes, whole"

#!/usr/bin/env bash
# demo.sh - the whole sensorwire pipeline on this machine, on loopback, in a
# temporary directory (run by `make demo`):
#
#   sensor-publisher (2 sim sensors) -> Mosquitto -> sensor-bridge -> VictoriaMetrics
#                                                     (remote-write and line protocol)
#
# It shows the live stream as `mosquitto_sub -v` prints it, then the same
# readings queried back from storage, and how to keep watching. Ctrl-C stops
# everything it started (by PID) and removes the temporary directory.
# DEMO_SECONDS=N stops by itself after N seconds (used by the tests).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BIN=$root/${BUILD:-build}
T=$(mktemp -d "${TMPDIR:-/tmp}/sensorwire-demo.XXXXXX")
pids=()

stop_all() {
  trap - INT TERM EXIT
  echo
  echo "== stopping: ${#pids[@]} processes (pids ${pids[*]})"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$T"
  echo "== stopped; nothing left running"
}
trap stop_all EXIT
trap 'exit 0' INT TERM

# Ports below the kernel's ephemeral range (32768-60999 by default), so no
# outgoing connection of this machine can be holding the one we pick.
port() {
  local p
  while :; do
    p=$((10000 + RANDOM % 22000))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return; }
  done
}
wait_http() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.2; done; return 1; }
wait_tcp() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
# died NAME LOG: say which part did not come up, with the end of its log
# (the temporary directory, and so the log, is removed on exit).
died() {
  echo "== $1 did not start; the end of $2:" >&2
  tail -n 20 "$2" | sed 's/^/   | /' >&2
  exit 1
}

MQ=$(port); VM=$(port); HEALTH=$(port)

echo "== starting in $T"
mkdir -p "$T/mosquitto"
printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser %s\npersistence true\npersistence_location %s/mosquitto/\n' \
  "$MQ" "$(id -un)" "$T" >"$T/mosquitto.conf"
/usr/sbin/mosquitto -c "$T/mosquitto.conf" >"$T/mosquitto.log" 2>&1 & pids+=($!)
wait_tcp "$MQ" || died mosquitto "$T/mosquitto.log"
echo "   mosquitto        127.0.0.1:$MQ"

victoria-metrics -httpListenAddr="127.0.0.1:$VM" -storageDataPath="$T/vm" -retentionPeriod=1y \
  -search.latencyOffset=0s -loggerLevel=ERROR >"$T/victoria.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$VM/health" || died victoria-metrics "$T/victoria.log"
echo "   victoria-metrics http://127.0.0.1:$VM (storage server)"

MQTT_URL=tcp://127.0.0.1:$MQ MQTT_CLIENT_ID=demo-bridge OUTPUTS=remote_write,influx \
REMOTE_WRITE_URL=http://127.0.0.1:$VM/api/v1/write \
INFLUX_URL=http://127.0.0.1:$VM INFLUX_ORG=demo INFLUX_BUCKET=demo INFLUX_TOKEN=demo \
INFLUX_MEASUREMENT=sensor_lp STATE_DIR="$T/bridge" BATCH_MAX_DELAY_MS=500 HEALTH_PORT=$HEALTH \
  "$BIN/sensor-bridge" >"$T/bridge.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$HEALTH/readyz" || died sensor-bridge "$T/bridge.log"
echo "   sensor-bridge    remote-write + line protocol -> victoria-metrics; metrics on http://127.0.0.1:$HEALTH/metrics"

MQTT_URL=tcp://127.0.0.1:$MQ NODE_NAME=demo-pi SENSORS="desk=sim greenhouse=sim,base=27,amplitude=5" \
TAGS=site=demo INTERVAL_S=2 OUTBOX_DIR="$T/outbox" \
  "$BIN/sensor-publisher" >"$T/publisher.log" 2>&1 & pids+=($!)
echo "   sensor-publisher node 'demo-pi', sensors 'desk' and 'greenhouse' (simulated), every 2 s"

echo
echo "== the live stream: mosquitto_sub -v -t 'sensors/#'"
timeout 10 mosquitto_sub -p "$MQ" -v -t 'sensors/#' -C 5 || true

echo
echo "== the same readings, queried back from storage"
sleep 1.5
query() {
  curl -sf "http://127.0.0.1:$VM/api/v1/query" --data-urlencode "query=$1" |
    jq -r '.data.result[] | "   \(.metric.__name__){node=\"\(.metric.node)\",sensor=\"\(.metric.sensor)\"} \(.value[1]) @\(.value[0])"'
}
echo "-- via remote-write (metric = METRIC_PREFIX + field):"
query '{__name__=~"sensor_(temperature_celsius|humidity_percent)"}'
echo "-- via line protocol (VictoriaMetrics names it measurement_field):"
query '{__name__=~"sensor_lp_(temperature_celsius|humidity_percent)"}'

cat <<TXT

== keep watching (in another terminal, while this runs):
   mosquitto_sub -p $MQ -v -t 'sensors/#'
   curl -s http://127.0.0.1:$VM/api/v1/query --data-urlencode 'query=sensor_temperature_celsius'
   curl -s http://127.0.0.1:$HEALTH/metrics
   open http://127.0.0.1:$VM/vmui/ and graph sensor_temperature_celsius
   logs: $T/*.log
Press Ctrl-C to stop everything.
TXT

if [ -n "${DEMO_SECONDS:-}" ]; then
  sleep "$DEMO_SECONDS"
else
  while :; do sleep 3600; done
fi

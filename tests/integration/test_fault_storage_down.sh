#!/usr/bin/env bash
# Fault 1: the storage is down for 60 s during a steady stream, then back:
# every reading is present exactly once per series and time.
# Fault 6: two outputs, one of them down: the other keeps delivering, and the
# down one catches up when it returns.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"
DOWN_S=${FAULT_STORAGE_DOWN_S:-60}

MQ=$(free_port); VM=$(free_port); INFLUX=$(free_port)
start_mosquitto "$MQ"
start_victoria "$VM"
start_influxdb "$INFLUX"
curl -sf -XPOST "http://127.0.0.1:$INFLUX/query" --data-urlencode "q=CREATE DATABASE sw" >/dev/null
start_bridge two OUTPUTS=remote_write,influx REMOTE_WRITE_URL="http://127.0.0.1:$VM/api/v1/write" \
  INFLUX_URL="http://127.0.0.1:$INFLUX" INFLUX_DB=sw

influx_count() {
  curl -sf "http://127.0.0.1:$INFLUX/query" --data-urlencode db=sw \
    --data-urlencode "q=SELECT count(n) FROM sensor" | jq '.results[0].series[0].values[0][1] // 0'
}

stream 1 200 100
wait_vm sensor_n 200 20

# InfluxDB goes away; VictoriaMetrics must keep getting readings meanwhile
stop_pid "$INFLUX_PID"
stream 201 400 100
wait_vm sensor_n 400 20
note "remote_write kept delivering while influx was down"

# VictoriaMetrics goes away too, for DOWN_S seconds, while the stream goes on
stop_pid "$VM_PID"
end=$((SECONDS + DOWN_S)); from=401
while [ $SECONDS -lt $end ]; do
  stream $from $((from + 99)) 100
  from=$((from + 100))
done
last=$((from - 1))
note "$((last - 400)) readings published while the storage was down"
start_victoria "$VM"
start_influxdb "$INFLUX"
wait_vm sensor_n "$last" 60
wait_for 90 is "$last" influx_count || fail "influx caught up only to $(influx_count) of $last"
n=$(curl -sf "http://127.0.0.1:$INFLUX/query" --data-urlencode db=sw \
  --data-urlencode "q=SELECT n FROM sensor" --data-urlencode epoch=ms |
  jq --argjson base "$BASE" '[.results[0].series[0].values[] | select(.[0] - $base == .[1])] | length')
assert_eq "$last" "$n" "influx points with ts = BASE + seq"
grep -q "retrying with backoff" "$T/bridge-two.log" || fail "no retry logged"

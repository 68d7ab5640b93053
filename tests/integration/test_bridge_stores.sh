#!/usr/bin/env bash
# The bridge against the real stores from Debian, on loopback: readings
# published to Mosquitto must show up with the exact series names, labels,
# values and millisecond timestamps in
#   - Prometheus (remote-write receiver),
#   - VictoriaMetrics (remote-write on /api/v1/write, line protocol on /api/v2/write),
#   - InfluxDB 1.x (line protocol on the v1 /write API).
# The first bridge starts before the broker exists, and must still deliver.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port); VM=$(free_port); PROM=$(free_port); INFLUX=$(free_port)

# bridge 1 runs before the broker is up: it must keep retrying, not exit
MQTT_URL=tcp://127.0.0.1:$MQ MQTT_CLIENT_ID=it-prom OUTPUTS=remote_write \
REMOTE_WRITE_URL=http://127.0.0.1:$PROM/api/v1/write BATCH_MAX_DELAY_MS=200 \
  "$BRIDGE" >"$T/bridge-prom.log" 2>&1 &
B1=$!; track $B1
sleep 1.5
kill -0 $B1 || fail "bridge exited while the broker was down"

start_mosquitto "$MQ"
start_victoria "$VM"
start_prometheus "$PROM"
start_influxdb "$INFLUX"
curl -sf -XPOST "http://127.0.0.1:$INFLUX/query" --data-urlencode "q=CREATE DATABASE sw" >/dev/null

MQTT_URL=tcp://127.0.0.1:$MQ MQTT_CLIENT_ID=it-vm OUTPUTS=remote_write,influx \
REMOTE_WRITE_URL=http://127.0.0.1:$VM/api/v1/write \
INFLUX_URL=http://127.0.0.1:$VM INFLUX_ORG=o INFLUX_BUCKET=b INFLUX_TOKEN=t INFLUX_MEASUREMENT=lp \
BATCH_MAX_DELAY_MS=200 "$BRIDGE" >"$T/bridge-vm.log" 2>&1 &
track $!
MQTT_URL=tcp://127.0.0.1:$MQ MQTT_CLIENT_ID=it-influx OUTPUTS=influx \
INFLUX_URL=http://127.0.0.1:$INFLUX INFLUX_DB=sw BATCH_MAX_DELAY_MS=200 \
  "$BRIDGE" >"$T/bridge-influx.log" 2>&1 &
track $!

# all three subscribed?
wait_for 20 grep -q "subscribed" "$T/bridge-prom.log"
wait_for 20 grep -q "subscribed" "$T/bridge-vm.log"
wait_for 20 grep -q "subscribed" "$T/bridge-influx.log"

now=$(( $(date +%s) * 1000 ))
T1=$((now - 30000 + 123)); T2=$((now - 20000 + 456)); T3=$((now - 10000 + 7))
pub() { mosquitto_pub -p "$MQ" -q 1 -t "$1" -m "$2"; }
pub sensors/rp3/desk "{\"ts\":$T1,\"seq\":1,\"boot\":\"9f3a0c1e5b7d2a64\",\"temperature_celsius\":21.4,\"humidity_percent\":48,\"tags\":{\"location\":\"desk\",\"model\":\"dht22\"}}"
pub sensors/rp3/desk "{\"ts\":$T2,\"seq\":2,\"boot\":\"9f3a0c1e5b7d2a64\",\"temperature_celsius\":-3.25,\"humidity_percent\":50.5,\"tags\":{\"location\":\"desk\",\"model\":\"dht22\"}}"
# hostile ones in between: counted and logged, the stream goes on
pub sensors/rp3/desk 'not json'
pub sensors/rp3/desk '{"ts":"yesterday","temperature_celsius":1}'
pub sensors/rp4/probe "{\"ts\":$T3,\"temperature_celsius\":0.1,\"tags\":{\"node\":\"evil\"}}"
# availability is not a reading
pub sensors/rp4/status online

# --- Prometheus: raw samples over the last 5 minutes, timestamps in seconds.millis
prom_q() {
  curl -sf "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode "query=$1" \
    --data-urlencode "time=$(( now / 1000 + 1 ))"
}
prom_ready() { [ "$(prom_q 'count_over_time(sensor_temperature_celsius[5m])' | jq '[.data.result[].value[1]|tonumber]|add')" = 3 ]; }
wait_for 30 prom_ready || fail "prometheus did not get 3 temperature samples"
got=$(prom_q 'sensor_temperature_celsius{node="rp3"}[5m]' | jq -c '.data.result[] | [.metric, [.values[] | [(.[0]*1000|round), .[1]]]]')
assert_eq "[{\"__name__\":\"sensor_temperature_celsius\",\"location\":\"desk\",\"model\":\"dht22\",\"node\":\"rp3\",\"sensor\":\"desk\"},[[$T1,\"21.4\"],[$T2,\"-3.25\"]]]" "$got" "prometheus rp3 series"
got=$(prom_q 'sensor_humidity_percent[5m]' | jq -c '[.data.result[].values[] | [(.[0]*1000|round), .[1]]]')
assert_eq "[[$T1,\"48\"],[$T2,\"50.5\"]]" "$got" "prometheus humidity"
got=$(prom_q 'sensor_temperature_celsius{node="rp4"}[5m]' | jq -c '.data.result[] | [.metric, [.values[] | [(.[0]*1000|round), .[1]]]]')
assert_eq "[{\"__name__\":\"sensor_temperature_celsius\",\"node\":\"rp4\",\"sensor\":\"probe\"},[[$T3,\"0.1\"]]]" "$got" "prometheus rp4 (tag 'node' cannot override)"
# no series from the status topic or the malformed payloads
assert_eq 2 "$(curl -sf "http://127.0.0.1:$PROM/api/v1/label/__name__/values" | jq '[.data[] | select(startswith("sensor_"))] | length')" "prometheus metric names"

# --- VictoriaMetrics: remote-write and line protocol side by side
vm() { vm_export "http://127.0.0.1:$VM" "$@"; }
vm_ready() { [ "$(vm '{__name__=~"(sensor|lp)_temperature_celsius"}' | jq -s '[.[][1]|length]|add')" = 6 ]; }
wait_for 30 vm_ready || fail "victoria-metrics did not get 6 temperature samples"
expect_rw="[{\"__name__\":\"sensor_temperature_celsius\",\"location\":\"desk\",\"model\":\"dht22\",\"node\":\"rp3\",\"sensor\":\"desk\"},[$T1,$T2],[21.4,-3.25]]"
got=$(vm '{__name__="sensor_temperature_celsius",node="rp3"}')
assert_eq "$expect_rw" "$got" "victoria-metrics remote-write series"
got=$(vm '{__name__="lp_temperature_celsius",node="rp3"}')
assert_eq "${expect_rw/sensor_temperature/lp_temperature}" "$got" "victoria-metrics line-protocol series"
got=$(vm '{__name__="lp_humidity_percent"}')
assert_eq "[{\"__name__\":\"lp_humidity_percent\",\"location\":\"desk\",\"model\":\"dht22\",\"node\":\"rp3\",\"sensor\":\"desk\"},[$T1,$T2],[48,50.5]]" "$got" "victoria-metrics line-protocol humidity"

# --- InfluxDB 1.x
influx_q() {
  curl -sf "http://127.0.0.1:$INFLUX/query" --data-urlencode "db=sw" --data-urlencode "epoch=ms" \
    --data-urlencode "q=$1"
}
influx_ready() { [ "$(influx_q 'SELECT count(temperature_celsius) FROM sensor' | jq '.results[0].series[0].values[0][1]')" = 3 ]; }
wait_for 30 influx_ready || fail "influxdb did not get 3 points"
got=$(influx_q 'SELECT temperature_celsius, humidity_percent, location, model, node, sensor FROM sensor ORDER BY time' | jq -c '.results[0].series[0].values')
assert_eq "[[$T1,21.4,48,\"desk\",\"dht22\",\"rp3\",\"desk\"],[$T2,-3.25,50.5,\"desk\",\"dht22\",\"rp3\",\"desk\"],[$T3,0.1,null,null,null,\"rp4\",\"probe\"]]" "$got" "influxdb points"
got=$(influx_q 'SHOW TAG KEYS FROM sensor' | jq -c '[.results[0].series[0].values[][0]]')
assert_eq '["location","model","node","sensor"]' "$got" "influxdb tag keys"

# --- a node that goes offline gets staleness markers: Prometheus stops
# returning its series at once instead of drawing the last value for 5 min
prom_now() {
  curl -sf "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode "query=$1" |
    jq '.data.result | length'
}
assert_eq 1 "$(prom_now 'sensor_temperature_celsius{node="rp4"}')" "rp4 visible before it goes offline"
pub sensors/rp4/status offline
wait_for 10 is 0 prom_now 'sensor_temperature_celsius{node="rp4"}' || fail "rp4 still shown after offline"
assert_eq 1 "$(prom_now 'sensor_temperature_celsius{node="rp3"}')" "rp3 unaffected by rp4 going offline"

# --- the malformed payloads were logged with topic and reason, and the bridge lives on
grep -q "malformed payload on 'sensors/rp3/desk': payload is not valid JSON" "$T/bridge-prom.log" || fail "no log line for the bad JSON"
grep -q "ts must be a positive integer" "$T/bridge-prom.log" || fail "no log line for the bad ts"
kill -0 $B1 || fail "bridge 1 died"
note "all stores hold the exact series"

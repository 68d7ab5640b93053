#!/usr/bin/env bash
# Every payload format (bridge/format.h) into one bridge: the fixtures of
# tests/unit/bridge/fixtures/<format>/ published with mosquitto_pub into a
# bridge whose MQTT_TOPICS lists all formats, writing to a real Prometheus
# (remote write) and a real InfluxDB 1.x (line protocol). Checks the exact
# series, values and timestamps in both (device times shifted to now, read
# in DEVICE_TZ=UTC; arrival-timed readings within the publishing window),
# the ignored and refused messages in /metrics, and availability: Tasmota's
# LWT Offline and Zigbee2MQTT's bridge state offline stale exactly their
# node's series in Prometheus.
. "$(dirname "$0")/lib.sh"

FX=$SW_ROOT/tests/unit/bridge/fixtures
MQ=$(free_port); PROM=$(free_port); INFLUX=$(free_port); HP=$(free_port)
start_mosquitto "$MQ"
start_prometheus "$PROM"
start_influxdb "$INFLUX"
curl -sf -XPOST "http://127.0.0.1:$INFLUX/query" --data-urlencode "q=CREATE DATABASE sw" >/dev/null

TOPICS="sensors/+/+,tasmota:tele/+/SENSOR,tasmota:tele/+/LWT,tasmota:tele/+/STATE"
TOPICS+=",esphome:+/sensor/+/state,esphome:+/status,zigbee2mqtt:zigbee2mqtt/+"
TOPICS+=",zigbee2mqtt:zigbee2mqtt/bridge/+,shelly:+/status/+,shelly:+/online,rtl_433:rtl_433/+/events"
MQTT_URL=tcp://127.0.0.1:$MQ MQTT_CLIENT_ID=it-formats MQTT_TOPICS=$TOPICS DEVICE_TZ=UTC \
OUTPUTS=remote_write,influx REMOTE_WRITE_URL=http://127.0.0.1:$PROM/api/v1/write \
INFLUX_URL=http://127.0.0.1:$INFLUX INFLUX_DB=sw BATCH_MAX_DELAY_MS=200 HEALTH_PORT=$HP \
HEALTH_ADDR=127.0.0.1 "$BRIDGE" >"$T/bridge.log" 2>&1 &
B=$!; track $B
wait_for 20 grep -q "subscribed" "$T/bridge.log"

# the device clocks, a minute ago and after: the fixtures' 2024 times moved to now
now=$(date +%s)
utc() { date -u -d "@$1" "+$2"; }
T_AM=$((now - 60)); T_MULTI=$((now - 50)); T_F=$((now - 40)); T_RTL=$((now - 30)); T_RTLF=$((now - 20))
T_SW=$(( (now - 10) * 1000 + 123 ))
fixture() { # format case [sed script]
  topic=$(cat "$FX/$1/$2.topic")
  sed "${3:-}" "$FX/$1/$2.payload" >"$T/payload"
  mosquitto_pub -p "$MQ" -q 1 -t "$topic" -f "$T/payload"
}
start_ms=$(( $(date +%s%N) / 1000000 ))
fixture sensorwire desk "s/1732276800123/$T_SW/"
fixture tasmota sensor_am2301 "s/2024-11-22T13:45:00/$(utc $T_AM %FT%T)/"
fixture tasmota sensor_multi "s/2024-11-22T13:45:10/$(utc $T_MULTI %FT%T)/"
fixture tasmota sensor_fahrenheit "s/2024-11-22T13:45:20/$(utc $T_F %FT%T)/"
fixture tasmota lwt_online
fixture tasmota state          # ignored
fixture tasmota bad_time       # malformed
fixture esphome temperature
fixture esphome humidity
fixture esphome pm25
fixture esphome nan            # malformed
fixture zigbee2mqtt bridge_state_plain
fixture zigbee2mqtt aqara
fixture zigbee2mqtt bridge_info  # ignored
fixture shelly temperature
fixture shelly humidity
fixture shelly devicepower
fixture shelly sys             # ignored
fixture rtl_433 acurite "s/2024-11-22 13:45:00/$(utc $T_RTL '%F %T')/"
fixture rtl_433 fahrenheit "s/2024-11-22 13:46:00/$(utc $T_RTLF '%F %T')/"
fixture rtl_433 no_model       # malformed
end_ms=$(( $(date +%s%N) / 1000000 + 1000 ))

# --- Prometheus: [node, sensor, ms, value] of every sample of a metric, sorted
prom_q() {
  curl -sf "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode "query=$1" \
    --data-urlencode "time=$(( now + 5 ))"
}
prom() {
  prom_q "$1[10m]" | jq -c '[.data.result[] | .metric as $m | .values[] |
    [$m.node, $m.sensor, (.[0]*1000|round), .[1]]] | sort | .[]'
}
prom_count() { prom_q '{__name__=~"sensor_.+"}[10m]' | jq '[.data.result[].values|length]|add'; }
# 35 samples: 2 sensorwire, 3+4+1+3 tasmota, 3 esphome, 8 zigbee2mqtt, 1+1+3 shelly, 3+3 rtl_433
wait_for 40 is 35 prom_count || fail "prometheus did not get 35 samples (got $(prom_count))"

# exact: the device's own time
assert_eq "[\"garage\",\"bme280\",${T_MULTI}000,\"18.2\"]
[\"garage\",\"ds18b20-1\",${T_MULTI}000,\"17.9\"]
[\"pi-radio\",\"acurite-tower-1234-a\",${T_RTL}000,\"21.4\"]
[\"pi-radio\",\"ambientweather-f007th-44-1\",${T_RTLF}000,\"21.39\"]
[\"plug1\",\"am2301\",${T_AM}000,\"21.4\"]
[\"porch\",\"si7021\",${T_F}000,\"21.39\"]
[\"rp3\",\"desk\",$T_SW,\"21.4\"]" \
  "$(prom sensor_temperature_celsius | grep -v '"livingroom"\|"zigbee2mqtt"\|"shellyhtg3')" \
  "prometheus temperature_celsius, device-timed"
assert_eq "[\"garage\",\"bme280\",${T_MULTI}000,\"1013.4\"]" "$(prom sensor_pressure_hectopascals | grep garage)" "prometheus tasmota pressure"
assert_eq "[\"pi-radio\",\"acurite-tower-1234-a\",${T_RTL}000,\"48\"]" "$(prom sensor_humidity_percent | grep acurite)" "prometheus rtl_433 humidity"
# arrival-timed: exact values, times within the publishing window
arrival() { # metric node sensor value
  local row ts
  row=$(prom "$1" | grep -F "[\"$2\",\"$3\"," ) || fail "prometheus: no $1 for $2/$3"
  assert_eq "\"$4\"" "$(jq -c '.[3]' <<<"$row")" "prometheus $1 $2/$3"
  ts=$(jq '.[2]' <<<"$row")
  if [ "$ts" -lt "$start_ms" ] || [ "$ts" -gt "$end_ms" ]; then
    fail "prometheus $1 $2/$3: ts $ts not in [$start_ms, $end_ms]"
  fi
}
arrival sensor_temperature_celsius livingroom livingroom_temperature 21.4
arrival sensor_humidity_percent livingroom livingroom_humidity 48.2
arrival sensor_value livingroom pm_2_5 12
arrival sensor_temperature_celsius zigbee2mqtt bedroom_sensor 21.4
arrival sensor_linkquality zigbee2mqtt bedroom_sensor 120
arrival sensor_battery_percent zigbee2mqtt bedroom_sensor 87
arrival sensor_pressure_hectopascals zigbee2mqtt bedroom_sensor 1013.2
arrival sensor_temperature_celsius shellyhtg3-84fce63ff0a4 temperature:0 21.4
arrival sensor_humidity_percent shellyhtg3-84fce63ff0a4 humidity:0 48.2
arrival sensor_battery_percent shellyhtg3-84fce63ff0a4 devicepower:0 84
arrival sensor_battery_volts shellyhtg3-84fce63ff0a4 devicepower:0 2.95
# the DS18B20's Id is a label
assert_eq '"01144A0CB2AA"' "$(prom_q 'sensor_temperature_celsius{sensor="ds18b20-1"}' | jq -c '.data.result[0].metric.id')" "prometheus ds18b20 id label"

# --- InfluxDB: the same points
influx_q() {
  curl -sf "http://127.0.0.1:$INFLUX/query" --data-urlencode "db=sw" --data-urlencode "epoch=ms" \
    --data-urlencode "q=$1"
}
influx_count() { influx_q 'SELECT count(temperature_celsius) FROM sensor' | jq '.results[0].series[0].values[0][1]'; }
wait_for 30 is 10 influx_count || fail "influxdb did not get 10 temperature points (got $(influx_count))"
got=$(influx_q "SELECT temperature_celsius, humidity_percent, node, sensor FROM sensor WHERE node =~ /^(garage|pi-radio|plug1|porch|rp3)\$/ AND temperature_celsius > -300 ORDER BY time" | jq -c '.results[0].series[0].values[]' | sort)
assert_eq "[${T_AM}000,21.4,48,\"plug1\",\"am2301\"]
[${T_MULTI}000,17.9,null,\"garage\",\"ds18b20-1\"]
[${T_MULTI}000,18.2,61.5,\"garage\",\"bme280\"]
[${T_F}000,21.39,40.1,\"porch\",\"si7021\"]
[${T_RTL}000,21.4,48,\"pi-radio\",\"acurite-tower-1234-a\"]
[${T_RTLF}000,21.39,40,\"pi-radio\",\"ambientweather-f007th-44-1\"]
[$T_SW,21.4,48,\"rp3\",\"desk\"]" "$got" "influxdb device-timed points"
got=$(influx_q "SELECT temperature_celsius, humidity_percent, linkquality, battery_percent, pressure_hectopascals, voltage FROM sensor WHERE node = 'zigbee2mqtt'" | jq -c '.results[0].series[0].values[0][1:]')
assert_eq '[21.4,48.2,120,87,1013.2,2985]' "$got" "influxdb zigbee2mqtt fields"
got=$(influx_q "SELECT value FROM sensor WHERE node = 'livingroom' AND sensor = 'pm_2_5'" | jq -c '.results[0].series[0].values[0][1]')
assert_eq 12 "$got" "influxdb esphome value"
got=$(influx_q "SELECT battery_percent, battery_volts, external_power FROM sensor WHERE sensor = 'devicepower:0'" | jq -c '.results[0].series[0].values[0][1:]')
assert_eq '[84,2.95,0]' "$got" "influxdb shelly devicepower"

# --- /metrics: every message counted once
metric() { curl -sf "http://127.0.0.1:$HP/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
# accepted: 1 sensorwire + 3 tasmota SENSOR + 3 esphome + 1 z2m + 3 shelly + 2 rtl_433
assert_eq 13 "$(metric 'sensorwire_bridge_messages_total{result="accepted"}')" "accepted messages"
assert_eq 3 "$(metric 'sensorwire_bridge_messages_total{result="ignored"}')" "ignored messages"
assert_eq 3 "$(metric 'sensorwire_bridge_messages_total{result="malformed"}')" "malformed messages"
assert_eq 2 "$(metric 'sensorwire_bridge_messages_total{result="status"}')" "status messages"
assert_eq 1 "$(metric 'sensorwire_bridge_format_seq_tracked{format="sensorwire"}')" "sensorwire: seq tracked"
assert_eq 0 "$(metric 'sensorwire_bridge_format_seq_tracked{format="tasmota"}')" "tasmota: no seq"
grep -q "malformed tasmota payload on 'tele/plug1/SENSOR': Time is not YYYY-MM-DDTHH:MM:SS" "$T/bridge.log" || fail "no log line for Tasmota's bad Time"
grep -q "malformed esphome payload on 'livingroom/sensor/livingroom_temperature/state': state 'nan' is not a finite number" "$T/bridge.log" || fail "no log line for ESPHome's nan"
grep -q "malformed rtl_433 payload on 'rtl_433/pi-radio/events': no \"model\"" "$T/bridge.log" || fail "no log line for rtl_433 without a model"

# --- availability: staleness markers for exactly the node that went offline
prom_now() {
  curl -sf "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode "query=$1" | jq '.data.result | length'
}
assert_eq 1 "$(prom_now 'sensor_temperature_celsius{node="plug1"}')" "plug1 visible before its LWT"
fixture tasmota lwt_offline
wait_for 10 is 0 prom_now 'sensor_temperature_celsius{node="plug1"}' || fail "plug1 still shown after LWT Offline"
assert_eq 2 "$(prom_now 'sensor_temperature_celsius{node="garage"}')" "garage unaffected by plug1's LWT"
# Zigbee2MQTT's bridge going offline stales every device behind it
assert_eq 1 "$(prom_now 'sensor_linkquality{node="zigbee2mqtt"}')" "zigbee2mqtt visible before its bridge goes offline"
fixture zigbee2mqtt bridge_state_json
wait_for 10 is 0 prom_now '{node="zigbee2mqtt"}' || fail "zigbee2mqtt devices still shown after zigbee2mqtt/bridge/state offline"
assert_eq 1 "$(prom_now 'sensor_temperature_celsius{node="livingroom"}')" "esphome node unaffected"
grep -q "node 'plug1' went offline" "$T/bridge.log" || fail "no log line for plug1 offline"
kill -0 $B || fail "bridge died"
note "every format stored with the exact series in Prometheus and InfluxDB; availability stales its node"

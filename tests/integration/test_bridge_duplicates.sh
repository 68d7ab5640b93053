#!/usr/bin/env bash
# A reading that comes again (QoS 1 redelivers what was in flight when a
# link dropped: same boot, same seq) is in the log already: the bridge
# acknowledges it without storing it twice, and counts it
# (messages_total{result="duplicate"}, seq_duplicates_total). The sequence
# that made it matter: a node's readings, its Will (staleness markers at
# each series' last sample + 1 ms), then a copy of an earlier reading. Sent
# again, the copy lies behind the marker, where remote write can only skip
# it (counted as dropped: it was, as the same reading, stored already).
# Also: a reading that arrives after a newer one (a seq counted missing,
# arriving late) is not a duplicate: it is stored, counted as late, and
# remote write's skip of it (REMOTE_WRITE_OUT_OF_ORDER=auto is skip for a
# single bridge; lib.sh's Prometheus has no out-of-order window) is exact.
# Real Mosquitto, Prometheus and InfluxDB; exact counts.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

MQ=$(free_port); PROM=$(free_port); INFLUX=$(free_port); HP=$(free_port)
start_mosquitto "$MQ"
start_prometheus "$PROM"
start_influxdb "$INFLUX"
curl -sf -XPOST "http://127.0.0.1:$INFLUX/query" --data-urlencode "q=CREATE DATABASE sw" >/dev/null

env MQTT_URL="tcp://127.0.0.1:$MQ" MQTT_CLIENT_ID=it-dup OUTPUTS=remote_write,influx \
  REMOTE_WRITE_URL="http://127.0.0.1:$PROM/api/v1/write" INFLUX_URL="http://127.0.0.1:$INFLUX" \
  INFLUX_DB=sw STATE_DIR="$T/state" BATCH_MAX_DELAY_MS=50 HEALTH_PORT="$HP" HEALTH_ADDR=127.0.0.1 \
  "$BRIDGE" >"$T/bridge.log" 2>&1 &
track $!
wait_for 20 grep -q subscribed "$T/bridge.log"

BOOT=0123456789abcdef
BASE=$(( ($(date +%s) - 600) * 1000 ))
reading() { # SEQ: the reading of that seq, the same bytes each time
  mosquitto_pub -p "$MQ" -q 1 -t sensors/n1/desk \
    -m "{\"ts\":$((BASE + $1 * 1000)),\"seq\":$1,\"boot\":\"$BOOT\",\"temperature_celsius\":$((20 + $1))}"
}
metric() { # NAME: its value in the bridge's /metrics
  curl -sf "http://127.0.0.1:$HP/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
prom_ts() { # the sample times of n1's temperature, in s
  curl -sf "http://127.0.0.1:$PROM/api/v1/query" \
    --data-urlencode 'query=sensor_temperature_celsius{node="n1"}[1h]' |
    jq -r '.data.result[0].values // [] | .[] | .[0]' | tr '\n' ' '
}
influx_n() {
  curl -sf "http://127.0.0.1:$INFLUX/query" --data-urlencode db=sw \
    --data-urlencode "q=SELECT count(temperature_celsius) FROM sensor WHERE node = 'n1'" |
    jq -r '.results[0].series[0].values[0][1] // 0'
}
t() { echo $(( BASE / 1000 + $1 )); } # the ts of seq N, in s

for s in 1 2 3 4 5; do reading "$s"; done
wait_for 20 is "$(t 1) $(t 2) $(t 3) $(t 4) $(t 5) " prom_ts || fail "Prometheus: $(prom_ts)"
# the Will: markers at 5's ts + 1 ms
mosquitto_pub -p "$MQ" -q 1 -r -t sensors/n1/status -m offline
wait_for 10 grep -q "node 'n1' offline: 1 series marked stale" "$T/bridge.log" ||
  fail "no staleness marker for n1"
# copies of 3 and 5 (both behind the marker), then the next reading
reading 3; reading 5; reading 6
wait_for 20 is "$(t 1) $(t 2) $(t 3) $(t 4) $(t 5) $(t 6) " prom_ts || fail "Prometheus: $(prom_ts)"
wait_for 10 is 6 influx_n || fail "InfluxDB has $(influx_n) of 6 readings"
assert_eq 2 "$(metric 'sensorwire_bridge_messages_total{result="duplicate"}')" "duplicates acknowledged, not stored"
assert_eq 2 "$(metric sensorwire_bridge_seq_duplicates_total)" "seq duplicates"
assert_eq 6 "$(metric 'sensorwire_bridge_messages_total{result="accepted"}')" "readings accepted"
assert_eq 0 "$(metric 'sensorwire_bridge_output_samples_total{output="remote_write",result="dropped"}')" \
  "remote write: nothing skipped"

# 8 before 7: 7 is counted missing, then late; stored in InfluxDB, and
# remote write skips it, counted (no out-of-order window in this Prometheus)
reading 8; reading 7
wait_for 10 is 8 influx_n || fail "InfluxDB has $(influx_n) of 8 readings"
wait_for 10 is 1 metric sensorwire_bridge_seq_late_total || fail "late: $(metric sensorwire_bridge_seq_late_total)"
assert_eq 1 "$(metric sensorwire_bridge_seq_gaps_total)" "seq gaps (7, when 8 came)"
assert_eq 2 "$(metric 'sensorwire_bridge_messages_total{result="duplicate"}')" "a late reading is no duplicate"
wait_for 10 is 1 metric 'sensorwire_bridge_output_samples_total{output="remote_write",result="dropped"}' ||
  fail "remote write skipped $(metric 'sensorwire_bridge_output_samples_total{output="remote_write",result="dropped"}') samples, not 1"
note "2 copies acknowledged and not stored, none skipped; 1 late reading stored in InfluxDB, skipped by remote write (counted)"

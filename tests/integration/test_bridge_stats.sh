#!/usr/bin/env bash
# test_bridge_stats.sh - the publisher's $stats end to end: a real
# sensor-publisher (sim sensors, "flaky" failing 30% of its reads,
# STATS_INTERVAL_S=1) -> Mosquitto -> sensor-bridge -> a real Prometheus
# (remote write) and a real InfluxDB 1.x (line protocol). At a quiet moment
# (the publisher's /metrics the same before and after reading the stores),
# the read counts stored for each sensor and result, reads_total and
# reads_transient_total, equal the publisher's own sensorwire_publisher_*
# counts in both stores. The bridge counts the $stats messages in accepted,
# none as malformed, and logs no warning for them; the reliability query of
# the README gives ok / all for each sensor.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port); PROM=$(free_port); INFLUX=$(free_port); HP=$(free_port); PHP=$(free_port)
start_mosquitto "$MQ"
start_prometheus "$PROM"
start_influxdb "$INFLUX"
curl -sf -XPOST "http://127.0.0.1:$INFLUX/query" --data-urlencode "q=CREATE DATABASE sw" >/dev/null

MQTT_URL=tcp://127.0.0.1:$MQ MQTT_CLIENT_ID=it-stats OUTPUTS=remote_write,influx \
  REMOTE_WRITE_URL=http://127.0.0.1:$PROM/api/v1/write INFLUX_URL=http://127.0.0.1:$INFLUX \
  INFLUX_DB=sw BATCH_MAX_DELAY_MS=100 HEALTH_PORT=$HP HEALTH_ADDR=127.0.0.1 STATE_DIR="$T/state" \
  "$BRIDGE" >"$T/bridge.log" 2>&1 &
B=$!; track $B
wait_for 20 grep -q "subscribed" "$T/bridge.log"

# reads every 1.5 s, $stats every second: most seconds see no read
MQTT_URL=tcp://127.0.0.1:$MQ NODE_NAME=n5 SENSORS="good=sim flaky=sim,fail=0.3" \
  INTERVAL_MS=1500 SIM_SEED=7 STATS_INTERVAL_S=1 HEALTH_PORT=$PHP HEALTH_ADDR=127.0.0.1 \
  "$PUBLISHER" 2>"$T/publisher.log" &
P=$!; track $P
wait_port "$PHP"

RESULTS="ok io no_response timing checksum implausible"
# "<sensor> <result> <count>" lines, sorted, with result also "all" and "transient"
pub_counts() {
  curl -sf "http://127.0.0.1:$PHP/metrics" | awk -v results="$RESULTS" '
    BEGIN { n = split(results, rs, " "); split("good flaky", ss, " ") }
    { v[$1] = $2 }
    END {
      for (i in ss) {
        s = ss[i]; all = 0
        for (j = 1; j <= n; j++) {
          k = "sensorwire_publisher_reads_total{sensor=\"" s "\",result=\"" rs[j] "\"}"
          if (!(k in v)) exit 1
          print s, rs[j], v[k]; all += v[k]
        }
        print s, "all", all
        print s, "transient", v["sensorwire_publisher_reads_transient_total{sensor=\"" s "\"}"]
      }
    }' | sort
}
# the same from Prometheus: the newest sample of each series
prom_counts() {
  curl -sf "http://127.0.0.1:$PROM/api/v1/query" \
    --data-urlencode 'query={__name__=~"sensor_reads(_.+)?_total",node="n5"}' |
    jq -r '.data.result[] | [.metric.sensor, (.metric.__name__ | ltrimstr("sensor_reads") |
      rtrimstr("_total") | ltrimstr("_") | if . == "" then "all" else . end), .value[1]] | join(" ")' |
    sort
}
# and from InfluxDB: the last point of each field, per sensor
influx_counts() {
  curl -sf "http://127.0.0.1:$INFLUX/query" --data-urlencode "db=sw" \
    --data-urlencode "q=SELECT last(/^reads_/) FROM sensor WHERE node = 'n5' GROUP BY sensor" |
    jq -r '.results[0].series[]? | .tags.sensor as $s | [.columns, .values[0]] | transpose[] |
      select(.[0] != "time") | [$s, (.[0] | ltrimstr("last_reads") | rtrimstr("_total") |
      ltrimstr("_") | if . == "" then "all" else . end), (.[1] | tostring)] | join(" ")' | sort
}
quiet_and_equal() {
  local before p i after
  before=$(pub_counts) || return 1
  p=$(prom_counts); i=$(influx_counts)
  after=$(pub_counts) || return 1
  printf '%s\n' "$before" >"$T/pub.txt"; printf '%s\n' "$p" >"$T/prom.txt"; printf '%s\n' "$i" >"$T/influx.txt"
  [ "$before" = "$after" ] && [ "$p" = "$before" ] && [ "$i" = "$before" ]
}
# enough reads that the flaky sensor failed a few times
flaky_failed() { [ "$(awk '$1 == "flaky" && $2 == "checksum" { print $3 }' <(pub_counts))" -ge 2 ]; }
wait_for 60 flaky_failed || fail "the flaky sensor never failed twice: $(pub_counts | tr '\n' ' ')"
if ! wait_for 30 quiet_and_equal; then
  diff "$T/pub.txt" "$T/prom.txt" || true
  diff "$T/pub.txt" "$T/influx.txt" || true
  fail "the stored read counts never equalled the publisher's /metrics at a quiet moment"
fi
note "stored = publisher: $(tr '\n' ',' <"$T/pub.txt")"
assert_eq 16 "$(wc -l <"$T/prom.txt")" "series per store (2 sensors x 8)"
# good never fails; flaky's failures are transient checksum errors only
assert_eq 0 "$(awk '$1 == "good" && $2 == "checksum" { print $3 }' "$T/prom.txt")" "good: checksum"
assert_eq "$(awk '$1 == "flaky" && $2 == "checksum" { print $3 }' "$T/prom.txt")" \
  "$(awk '$1 == "flaky" && $2 == "transient" { print $3 }' "$T/prom.txt")" "flaky: transient = checksum"

# the labels of a series, and the reliability query the README gives
assert_eq '{"__name__":"sensor_reads_ok_total","driver":"sim","node":"n5","sensor":"flaky"}' \
  "$(curl -sf "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode 'query=sensor_reads_ok_total{sensor="flaky"}' |
    jq -c '.data.result[0].metric')" "series labels"
ratio=$(curl -sf "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode \
  'query=sum by (node, sensor) (increase(sensor_reads_ok_total{node="n5"}[10m])) / sum by (node, sensor) (increase(sensor_reads_total{node="n5"}[10m]))' |
  jq -r '.data.result[] | "\(.metric.sensor) \(.value[1])"' | sort)
assert_eq 1 "$(awk '$1 == "good" { print $2 }' <<<"$ratio")" "reliability of good"
# flaky: below 1 when it failed between its first and last stored samples
# (increase() extrapolates each series on its own, so not exactly their ratio)
delta() { # metric: last - first stored value of flaky's series
  curl -sf "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode "query=$1{sensor=\"flaky\"}[10m]" |
    jq '.data.result[0].values | (.[-1][1] | tonumber) - (.[0][1] | tonumber)'
}
ok_d=$(delta sensor_reads_ok_total); all_d=$(delta sensor_reads_total)
awk -v ok="$ok_d" -v all="$all_d" '$1 == "flaky" { exit !(ok > 0 && all > ok ? $2 > 0 && $2 < 1 : $2 >= 0 && $2 <= 1) }' <<<"$ratio" ||
  fail "reliability of flaky: $ratio (stored: $ok_d ok of $all_d reads)"
note "reliability: $(tr '\n' ' ' <<<"$ratio")(flaky stored: $ok_d ok of $all_d reads)"

# the bridge's counting: $stats is accepted, never malformed, never warned about
metric() { curl -sf "http://127.0.0.1:$HP/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
assert_eq 0 "$(metric 'sensorwire_bridge_messages_total{result="malformed"}')" "malformed messages"
# every good read is a reading; the $stats messages come on top
[ "$(metric 'sensorwire_bridge_messages_total{result="accepted"}')" -gt "$(awk '$2 == "ok" { n += $3 } END { print n }' "$T/pub.txt")" ] ||
  fail "accepted counts the readings and the \$stats messages"
assert_eq 0 "$(metric 'sensorwire_bridge_ignored_keys_total')" "ignored keys"
if grep -E '^(warn|error) ' "$T/bridge.log" >"$T/warns.txt"; then
  cat "$T/warns.txt"; fail "the bridge warned"
fi
kill -0 $B || fail "bridge died"
kill -0 $P || fail "publisher died"
note "\$stats stored as sensor_reads_*_total in Prometheus and InfluxDB, equal to the publisher's /metrics"

#!/usr/bin/env bash
# Fault: a line that InfluxDB 1.x refuses. Field `poison` already exists as an
# integer in the shard; one reading of a batch of 10 carries poison=1.5 (the
# bridge writes every field as a float), so the server answers 400 "partial
# write: field type conflict". The bridge must bisect the batch, write the 9
# good readings, keep the poison line with the server's message in
# STATE_DIR/deadletter-influx.lp, log the refusal, and go on delivering.
# InfluxDB rejects a conflicting point as a whole: the poison reading's own
# temperature_celsius is not written either, so exactly 9 of the 10
# temperatures arrive (its temperature is in the dead-letter line).
. "$(dirname "$0")/lib.sh"

MQ=$(free_port); INFLUX=$(free_port); HEALTH=$(free_port)
start_influxdb "$INFLUX"
start_mosquitto "$MQ"
DL=$T/state/deadletter-influx.lp
BASE=$(( ($(date +%s) - 60) * 1000 ))   # same shard as the pre-written point

influx_q() { # DB QUERY
  curl -sf "http://127.0.0.1:$INFLUX/query" --data-urlencode "db=$1" --data-urlencode epoch=ms \
    --data-urlencode "q=$2"
}
influx_count() { # DB FIELD
  influx_q "$1" "SELECT count($2) FROM sensor" | jq '.results[0].series[0].values[0][1] // 0'
}
write_lp() { # DB BODY-FILE: prints the HTTP status of a /write
  curl -s -o "$T/write.out" -w '%{http_code}' -XPOST \
    "http://127.0.0.1:$INFLUX/write?db=$1&precision=ms" --data-binary @"$2"
}
metric() { # RESULT: a sample counter of the influx output
  curl -sf "http://127.0.0.1:$HEALTH/metrics" |
    awk -v k="sensorwire_bridge_output_samples_total{output=\"influx\",result=\"$1\"}" \
      '$1 == k {print $2}'
}
dl_lines() { [ -e "$DL" ] && grep -vc '^#' "$DL" || echo 0; }

influx_q sw "CREATE DATABASE sw" >/dev/null
printf 'sensor,node=x,sensor=y poison=1i %d\n' "$BASE" >"$T/pre.lp"
assert_eq 204 "$(write_lp sw "$T/pre.lp")" "pre-write of the integer field poison"

env MQTT_URL="tcp://127.0.0.1:$MQ" MQTT_CLIENT_ID=it-poison OUTPUTS=influx \
  INFLUX_URL="http://127.0.0.1:$INFLUX" INFLUX_DB=sw STATE_DIR="$T/state" \
  BATCH_MAX_DELAY_MS=1000 BATCH_MAX_SAMPLES=100000 HEALTH_PORT="$HEALTH" LOG_LEVEL=debug \
  "$BRIDGE" >"$T/bridge.log" 2>&1 &
BRIDGE_PID=$!
track $BRIDGE_PID
wait_for 20 grep -q "subscribed" "$T/bridge.log"

# readings 1..10 on one connection, well inside one batch; number 5 is poisoned
reading() { # N [extra JSON members]
  printf '{"ts":%d,"temperature_celsius":%d%s}\n' $((BASE + $1)) "$1" "${2:-}"
}
for i in $(seq 10); do
  if [ "$i" = 5 ]; then reading "$i" ',"poison":1.5'; else reading "$i"; fi
done | mosquitto_pub -p "$MQ" -q 1 -l -t sensors/n1/s1 -i it-poison-pub

wait_for 30 is 1 dl_lines || fail "dead-letter file has $(dl_lines) lines, expected 1"
wait_for 30 is 9 influx_count sw temperature_celsius ||
  fail "influx has $(influx_count sw temperature_celsius) temperatures, expected 9"

# --- the store: readings 1..10 but 5, exact times and values; poison only the integer
got=$(influx_q sw "SELECT temperature_celsius FROM sensor WHERE node = 'n1'" |
  jq -c --argjson base "$BASE" '[.results[0].series[0].values[] | [.[0] - $base, .[1]]]')
assert_eq "[[1,1],[2,2],[3,3],[4,4],[6,6],[7,7],[8,8],[9,9],[10,10]]" "$got" "temperatures in influx"
assert_eq 1 "$(influx_count sw poison)" "poison values in influx (the pre-written integer)"

# --- one batch of 10 lines, bisected 10 -> 5 -> 3 -> 2 -> the poison line
got=$(grep -o 'status 400 for [0-9]* lines: bisecting' "$T/bridge.log" | grep -o '[0-9]* lines' | paste -sd,)
assert_eq "10 lines,5 lines,3 lines,2 lines" "$got" "bisection steps"

# --- the dead-letter file: one comment, then the line as sent
msg='{"error":"partial write: field type conflict: input field \"poison\" on measurement \"sensor\" is type float, already exists as type integer dropped=1"}'
assert_eq 2 "$(wc -l <"$DL")" "lines in the dead-letter file"
assert_eq "sensor,node=n1,sensor=s1 poison=1.5,temperature_celsius=5 $((BASE + 5))" \
  "$(sed -n 2p "$DL")" "dead-letter line"
assert_eq 1 "$(grep -c 'poison=1\.5' "$DL")" "dead-letter lines with poison=1.5"
head -n 1 "$DL" | grep -Eq '^# [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z status=400 ' ||
  fail "dead-letter comment: $(head -n 1 "$DL")"
assert_eq "status=400 $msg" "$(head -n 1 "$DL" | cut -d' ' -f3-)" "dead-letter comment message"

# --- the log names the refusal once; the counters match (samples: 9 sent, 2 dropped)
assert_eq 1 "$(grep -cF "error influx: line refused (status 400: $msg); kept in $DL" "$T/bridge.log")" \
  "refusal log lines"
assert_eq 1 "$(grep -c 'line refused' "$T/bridge.log")" "refusal log lines in all"
wait_for 10 is 9 metric sent || fail "sent samples: $(metric sent), expected 9"
assert_eq 2 "$(metric dropped)" "dropped samples"

# --- the bridge goes on: a later reading arrives, nothing more is refused
kill -0 $BRIDGE_PID || fail "the bridge died"
reading 11 | mosquitto_pub -p "$MQ" -q 1 -l -t sensors/n1/s1 -i it-poison-pub
wait_for 30 is 10 influx_count sw temperature_celsius ||
  fail "influx has $(influx_count sw temperature_celsius) temperatures after reading 11, expected 10"
assert_eq 11 "$(influx_q sw "SELECT last(temperature_celsius) FROM sensor WHERE node = 'n1'" |
  jq --argjson base "$BASE" '.results[0].series[0].values[0][0] - $base')" "time of the later reading"
assert_eq 1 "$(dl_lines)" "dead-letter lines after the later reading"
wait_for 10 is 10 metric sent || fail "sent samples: $(metric sent), expected 10"
assert_eq 2 "$(metric dropped)" "dropped samples after the later reading"

# --- the file replays as documented (into a database without the conflict)
influx_q sw "CREATE DATABASE replay" >/dev/null
grep -v '^#' "$DL" >"$T/replay.lp"
assert_eq 204 "$(write_lp replay "$T/replay.lp")" "replay of the dead-letter file"
got=$(influx_q replay "SELECT poison, temperature_celsius FROM sensor" |
  jq -c --argjson base "$BASE" '[.results[0].series[0].values[] | [.[0] - $base, .[1], .[2]]]')
assert_eq "[[5,1.5,5]]" "$got" "replayed point"

stop_pid $BRIDGE_PID || fail "the bridge did not stop cleanly"
note "poison line isolated in the dead-letter file; 10 of 11 readings written"

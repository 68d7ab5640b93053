#!/usr/bin/env bash
# Fault: one node's clock is wrong. Nodes n1 and n2 stream 20 readings each;
# node bad sends, in the same batches, 5 readings 3 h old (inside
# TIMESTAMP_MAX_PAST, but beyond what Prometheus without an out-of-order
# window takes: a 400 for the whole request), 5 a year ahead (beyond
# TIMESTAMP_MAX_FUTURE: clamped to their arrival time by the default
# policy), 5 from 1970 (ts below 1e11: refused as malformed by the parser),
# then 5 correct ones. n1 and n2 lose nothing in Prometheus or InfluxDB; the
# remote-write 400 is split down to bad's 5 old samples (counted, in the
# dead-letter file); InfluxDB has those too; the clamped readings are in both
# stores at their arrival time; the later correct ones are stored.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port); PROM=$(free_port); INFLUX=$(free_port); HP=$(free_port)
start_mosquitto "$MQ"
start_prometheus "$PROM"
start_influxdb "$INFLUX"
curl -sf -XPOST "http://127.0.0.1:$INFLUX/query" --data-urlencode "q=CREATE DATABASE sw" >/dev/null
env MQTT_URL="tcp://127.0.0.1:$MQ" MQTT_CLIENT_ID=it-clock OUTPUTS=remote_write,influx \
  REMOTE_WRITE_URL="http://127.0.0.1:$PROM/api/v1/write" INFLUX_URL="http://127.0.0.1:$INFLUX" \
  INFLUX_DB=sw STATE_DIR="$T/state" BATCH_MAX_DELAY_MS=1000 BATCH_MAX_SAMPLES=100000 \
  WAL_SYNC=never HEALTH_PORT="$HP" "$BRIDGE" >"$T/bridge.log" 2>&1 &
track $!
wait_for 20 grep -q subscribed "$T/bridge.log"

NOW=$(date +%s%3N)
# Prometheus' head must already be at about now: a first reading of n1
printf '{"ts":%d,"v":0}\n' $((NOW - 70000)) | mosquitto_pub -p "$MQ" -q 1 -l -t sensors/n1/s -i it-c0
sleep 1.5
YEAR=$((365 * 86400000))
t0=$(date +%s%3N)
{
  for i in $(seq 20); do
    printf 'sensors/n1/s {"ts":%d,"v":%d}\n' $((NOW - 60000 + i * 100)) "$i"
    printf 'sensors/n2/s {"ts":%d,"v":%d}\n' $((NOW - 60000 + i * 100)) "$i"
    if [ "$i" -le 5 ]; then
      printf 'sensors/bad/s {"ts":%d,"v":%d}\n' $((NOW - 3 * 3600000 + i)) $((100 + i))
    elif [ "$i" -le 10 ]; then
      printf 'sensors/bad/s {"ts":%d,"v":%d}\n' $((NOW + YEAR + i)) $((200 + i))
    elif [ "$i" -le 15 ]; then
      printf 'sensors/bad/s {"ts":%d,"v":%d}\n' $((5000 + i)) $((300 + i))
    fi
  done
} >"$T/msgs"
# one publisher per topic, all at once: they share the bridge's batches
pubs=()
for n in n1 n2 bad; do
  # 20 ms apart: clamped readings that arrive in the same ms share a point
  grep "^sensors/$n/s " "$T/msgs" | cut -d' ' -f2- | while read -r l; do echo "$l"; sleep 0.02; done |
    mosquitto_pub -p "$MQ" -q 1 -l -t "sensors/$n/s" -i "it-c-$n" &
  pubs+=($!)
done
for p in "${pubs[@]}"; do wait "$p"; done
t1=$(date +%s%3N)
sleep 0.5
# the clock is right again: 5 readings at the real time
for i in $(seq 5); do
  printf '{"ts":%d,"v":%d}\n' $(($(date +%s%3N))) $((400 + i)); sleep 0.05
done | mosquitto_pub -p "$MQ" -q 1 -l -t sensors/bad/s -i it-c-bad2

prom_tv() { # NODE: "ts value" of each sample
  curl -sf "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode "query=sensor_v{node=\"$1\"}[1y]" \
    --data-urlencode "time=$((NOW / 1000 + 86400))" |
    jq -r '.data.result[0].values // [] | .[] | "\(.[0] * 1000 | round) \(.[1])"'
}
influx_tv() {
  curl -sf "http://127.0.0.1:$INFLUX/query" --data-urlencode db=sw --data-urlencode epoch=ms \
    --data-urlencode "q=SELECT v FROM sensor WHERE node = '$1' AND time > 0" |
    jq -r '.results[0].series[0].values // [] | .[] | "\(.[0]) \(.[1])"'
}
n_lines() { "$@" | wc -l; }
m() { curl -sf "http://127.0.0.1:$HP/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
wait_for 30 is 10 n_lines prom_tv bad || fail "Prometheus has $(prom_tv bad | wc -l) readings of bad, expected 10"
wait_for 30 is 15 n_lines influx_tv bad || fail "InfluxDB has $(influx_tv bad | wc -l) readings of bad, expected 15"

# --- the other nodes lose nothing, in either store
want=$(printf '%d 0\n' $((NOW - 70000)); for i in $(seq 20); do echo "$((NOW - 60000 + i * 100)) $i"; done)
assert_eq "$want" "$(prom_tv n1)" "n1 in Prometheus"
assert_eq "$want" "$(influx_tv n1)" "n1 in InfluxDB"
want=$(for i in $(seq 20); do echo "$((NOW - 60000 + i * 100)) $i"; done)
assert_eq "$want" "$(prom_tv n2)" "n2 in Prometheus"
assert_eq "$want" "$(influx_tv n2)" "n2 in InfluxDB"

# --- bad: the clamped ones at their arrival time, the correct ones, and in
# InfluxDB also the 3 h old ones; nothing of 1970 or next year anywhere
clamped() { awk -v a="$t0" -v b="$t1" '$2 > 200 && $2 < 300 && $1 >= a && $1 <= b + 1000' | wc -l; }
assert_eq 5 "$(prom_tv bad | clamped)" "clamped readings of bad at arrival time in Prometheus"
assert_eq 5 "$(influx_tv bad | clamped)" "clamped readings of bad at arrival time in InfluxDB"
assert_eq 5 "$(prom_tv bad | awk '$2 > 400' | wc -l)" "later correct readings of bad in Prometheus"
assert_eq 5 "$(influx_tv bad | awk '$2 > 400' | wc -l)" "later correct readings of bad in InfluxDB"
assert_eq "$(for i in $(seq 5); do echo "$((NOW - 3 * 3600000 + i)) $((100 + i))"; done)" \
  "$(influx_tv bad | awk '$2 > 100 && $2 < 200')" "3 h old readings of bad in InfluxDB"
assert_eq 0 "$(prom_tv bad | awk '$2 < 200' | wc -l)" "3 h old readings of bad in Prometheus"

# --- the counts
assert_eq 5 "$(m sensorwire_bridge_clamped_timestamps_total)" "clamped timestamps"
assert_eq 5 "$(m 'sensorwire_bridge_messages_total{result="malformed"}')" "1970 readings refused"
assert_eq 0 "$(m 'sensorwire_bridge_messages_total{result="bad_timestamp"}')" "refused timestamps"
assert_eq 5 "$(m 'sensorwire_bridge_output_samples_total{output="remote_write",result="dropped"}')" \
  "remote_write dropped samples"
assert_eq 0 "$(m 'sensorwire_bridge_output_samples_total{output="influx",result="dropped"}')" \
  "influx dropped samples"
DL=$T/state/deadletter-remote_write.prom
assert_eq 5 "$(grep -vc '^#' "$DL")" "samples in the remote_write dead-letter file"
assert_eq 5 "$(grep -c '^# .* status=400 ' "$DL")" "comments in the dead-letter file"
grep -q "^sensor_v{node=\"bad\",sensor=\"s\"} 101 $((NOW - 3 * 3600000 + 1))\$" "$DL" ||
  fail "dead-letter line: $(grep -v '^#' "$DL" | head -1)"
grep -q "ahead of the arrival time .*(TIMESTAMP_MAX_FUTURE): stored at the arrival time" "$T/bridge.log" ||
  fail "no warning about the clamped timestamps"
note "n1, n2: 41 readings in both stores; bad: 5 clamped, 5 refused as 1970, 5 refused by Prometheus (kept), 5 correct"

#!/usr/bin/env bash
# test_bridge_replicas_seq.sh - three bridge replicas in one MQTT_SHARE_GROUP
# against the real Mosquitto and InfluxDB:
#   - seq accounting: a publisher that skips and repeats known seqs; the
#     gaps and duplicates summed over the replicas' /metrics equal what was
#     injected, exactly (one accountant replica counts for the group,
#     bridge/replica.h); after kill -9 of the accountant the next replica by
#     client id takes the role and counts the next injected gaps exactly;
#   - availability of other formats under a share group: the format's
#     availability filter (tasmota tele/+/LWT, esphome +/status) is
#     subscribed unshared, so every replica gets every LWT / status;
#   - every reading stored once in InfluxDB (its own ts and value).
# Runs over MQTT 5 and 3.1.1.
. "$(dirname "$0")/each_mqtt_version.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"

MQ=$(free_port); INFLUX=$(free_port)
start_mosquitto "$MQ"
start_influxdb "$INFLUX"
curl -sf -XPOST "http://127.0.0.1:$INFLUX/query" --data-urlencode "q=CREATE DATABASE sw" >/dev/null

declare -A PID HP TO DR
for r in r0 r1 r2; do HP[$r]=$(free_port); done
replica() {
  start_bridge "$1" MQTT_SHARE_GROUP=g HEALTH_PORT="${HP[$1]}" OUTPUTS=influx \
    INFLUX_URL="http://127.0.0.1:$INFLUX" INFLUX_DB=sw \
    MQTT_TOPICS="sensors/+/+,tasmota:tele/+/SENSOR,esphome:+/sensor/+/state"
  PID[$1]=$BRIDGE_PID
  wait_for 10 sh -c "curl -sf http://127.0.0.1:${HP[$1]}/metrics |
    grep -q 'sensorwire_bridge_mqtt_connected 1'"
}
m() { # NAME REGEX: a value from the replica's /metrics
  curl -sf "http://127.0.0.1:${HP[$1]}/metrics" |
    awk -v re="^$2" '!found && $0 ~ re { print $NF; found = 1 }'
}
sum() { # REGEX REPLICA...: the metric summed over the replicas
  local re=$1 t=0 r v; shift
  for r in "$@"; do v=$(m "$r" "$re"); t=$((t + ${v:-0})); done
  echo $t
}
accountant() { # the replicas counting seq, by name
  local r
  for r in "$@"; do [ "$(m "$r" 'sensorwire_bridge_seq_accountant')" = 1 ] && echo "$r"; done
  return 0
}
pub_seqs() { # SEQ...: readings with these seqs (ts and value from the seq), in order
  local s
  for s in "$@"; do reading "$s"; done | mosquitto_pub -p "$MQ" -q 1 -l -t sensors/f/s
}
influx_n() {
  curl -sf "http://127.0.0.1:$INFLUX/query" --data-urlencode db=sw \
    --data-urlencode "q=SELECT count(n) FROM sensor WHERE node = 'f'" |
    jq '.results[0].series[0].values[0][1] // 0'
}

for r in r0 r1 r2; do replica $r; done
# each format's availability filter, unshared, on every replica
for r in r0 r1 r2; do
  curl -sf "http://127.0.0.1:${HP[$r]}/metrics" >"$T/metrics-$r.txt"
  for f in sensors/+/status tele/+/LWT +/status; do
    grep -qF "sensorwire_bridge_mqtt_subscription{filter=\"$f\",shared=\"0\"} 1" "$T/metrics-$r.txt" ||
      fail "$r: no unshared '$f': $(grep subscription "$T/metrics-$r.txt")"
  done
done
wait_for 10 is r0 accountant r0 r1 r2 || fail "accountant: '$(accountant r0 r1 r2)', not r0 alone"

# 1. a stream of 1..300 without 10, 20, 21, 22 (4 gaps), with 30 and 31
# again right after themselves and 50 twice more later (4 duplicates)
seqs=()
for i in $(seq 1 300); do
  case $i in 10 | 20 | 21 | 22) continue ;; esac
  seqs+=("$i")
  case $i in 30 | 31) seqs+=("$i") ;; 60) seqs+=(50 50) ;; esac
done
pub_seqs "${seqs[@]}"
wait_for 15 is 296 influx_n || fail "InfluxDB: $(influx_n) of 296 distinct readings"
wait_for 10 is 4 sum 'sensorwire_bridge_seq_gaps_total' r0 r1 r2 ||
  fail "gaps summed: $(sum 'sensorwire_bridge_seq_gaps_total' r0 r1 r2), injected 4"
wait_for 10 is 4 sum 'sensorwire_bridge_seq_duplicates_total' r0 r1 r2 ||
  fail "duplicates summed: $(sum 'sensorwire_bridge_seq_duplicates_total' r0 r1 r2), injected 4"
for r in r0 r1 r2; do
  [ "$(m $r 'sensorwire_bridge_messages_total\{result="accepted"\}')" -ge 50 ] ||
    fail "$r took no share of the stream"
done
sleep 1 # nothing counted late, or twice
assert_eq 4 "$(sum 'sensorwire_bridge_seq_gaps_total' r0 r1 r2)" "gaps summed over the replicas"
assert_eq 4 "$(sum 'sensorwire_bridge_seq_duplicates_total' r0 r1 r2)" "duplicates summed"
note "1: 4 gaps and 4 duplicates injected, summed over 3 replicas: 4 and 4 (r0 counts)"

# 2. availability of other formats reaches every replica, not one
st() { sum 'sensorwire_bridge_messages_total\{result="status"\}' "$1"; }
declare -A ST
for r in r0 r1 r2; do ST[$r]=$(st $r); done
mosquitto_pub -p "$MQ" -q 1 -t tele/plug1/LWT -m Offline
mosquitto_pub -p "$MQ" -q 1 -t livingroom/status -m offline
for r in r0 r1 r2; do
  wait_for 10 is $((ST[$r] + 2)) st $r ||
    fail "$r: $(( $(st $r) - ST[$r] )) of the 2 availability messages (tasmota LWT, esphome status)"
done
note "2: tasmota LWT and esphome status reached all 3 replicas"

# 3. kill -9 of the accountant: r1 (next by client id) counts from then on
kill -9 "${PID[r0]}"
wait "${PID[r0]}" 2>/dev/null || true
wait_for 15 is r1 accountant r1 r2 || fail "no new accountant: '$(accountant r1 r2)'"
g0=$(sum 'sensorwire_bridge_seq_gaps_total' r1 r2)
d0=$(sum 'sensorwire_bridge_seq_duplicates_total' r1 r2)
seqs=()
for i in $(seq 301 400); do
  case $i in 333 | 366) continue ;; esac
  seqs+=("$i")
  case $i in 350) seqs+=(350) ;; esac
done
pub_seqs "${seqs[@]}"
wait_for 15 is 394 influx_n || fail "InfluxDB: $(influx_n) of 394 distinct readings"
wait_for 10 is $((g0 + 2)) sum 'sensorwire_bridge_seq_gaps_total' r1 r2 ||
  fail "gaps after the handover: $(( $(sum 'sensorwire_bridge_seq_gaps_total' r1 r2) - g0 )), injected 2"
sleep 1
assert_eq $((g0 + 2)) "$(sum 'sensorwire_bridge_seq_gaps_total' r1 r2)" "gaps after the handover"
assert_eq $((d0 + 1)) "$(sum 'sensorwire_bridge_seq_duplicates_total' r1 r2)" \
  "duplicates after the handover"
note "3: r0 killed, r1 counts: 2 gaps and 1 duplicate injected, 2 and 1 counted"

# 4. a replica that flaps: r2 killed and started again at once, while the
# stream goes on; adopted and drained, or taken back mid-drain, no
# reading is lost or stored twice (Mosquitto 2.0.11 closes the adopter's
# connection on the takeover, without a DISCONNECT 0x8E: it gives up all the same)
replica r0
wait_for 10 sh -c "curl -sf http://127.0.0.1:${HP[r1]}/metrics |
  grep -q 'share_peer{group=\"g\",client_id=\"fault-r0\",state=\"up\"}'" || fail "r1 does not see r0 up"
for r in r0 r1; do
  TO[$r]=$(m $r 'sensorwire_bridge_share_adoptions_total\{result="taken_over"\}')
  DR[$r]=$(m $r 'sensorwire_bridge_share_adoptions_total\{result="drained"\}')
done
(for i in $(seq 401 700); do reading "$i"; sleep 0.005; done |
  mosquitto_pub -p "$MQ" -q 1 -l -t sensors/f/s) &
STREAM=$!
sleep 0.3
kill -9 "${PID[r2]}"
wait "${PID[r2]}" 2>/dev/null || true
sleep 0.5 # the adopter is draining by now (0.3 s after the Will, 1 s of quiet to end)
replica r2
wait $STREAM
wait_for 20 is 694 influx_n || fail "InfluxDB: $(influx_n) of 694 distinct readings after the flap"
how=""
for r in r0 r1; do
  [ "$(m $r 'sensorwire_bridge_share_adoptions_total\{result="taken_over"\}')" -gt "${TO[$r]}" ] &&
    how="$how $r adopted r2's session, r2 took it back (session takeover)"
  [ "$(m $r 'sensorwire_bridge_share_adoptions_total\{result="drained"\}')" -gt "${DR[$r]}" ] &&
    how="$how $r adopted and drained r2's session"
done
[ -n "$how" ] || fail "nobody adopted r2's session"
# exactly once per timestamp: no reading twice at different points
dups=$(curl -sf "http://127.0.0.1:$INFLUX/query" --data-urlencode db=sw --data-urlencode epoch=ms \
  --data-urlencode "q=SELECT n FROM sensor WHERE node = 'f'" |
  jq --argjson base "$BASE" '[.results[0].series[0].values[] | select(.[0] - $base != .[1])] | length')
assert_eq 0 "$dups" "readings stored at another timestamp than their own"
note "4: r2 flapped:$how; 694 of 694 in InfluxDB, once each"

# 5. the adopter killed mid-drain: r1 killed under a burst (its session
# queues its third), r0 starts adopting it and is killed at once; r2 then
# adopts both r0's session and r1's (whose state still says "adopted
# fault-r0"). With r0 and r1 back (what their own logs held), every reading
# is stored once.
adopting_lines() { grep -c "adopting the session of replica 'fault-r1'" "$T/bridge-r0.log" || true; }
a0=$(adopting_lines)
d2=$(m r2 'sensorwire_bridge_share_adoptions_total\{result="drained"\}')
kill -9 "${PID[r1]}"
wait "${PID[r1]}" 2>/dev/null || true
for i in $(seq 701 3700); do reading "$i"; done | mosquitto_pub -p "$MQ" -q 1 -l -t sensors/f/s
wait_for 10 sh -c "[ \$(grep -c \"adopting the session of replica 'fault-r1'\" '$T/bridge-r0.log') -gt $a0 ]" ||
  fail "r0 did not adopt r1"
kill -9 "${PID[r0]}"
wait "${PID[r0]}" 2>/dev/null || true
grep -q "drained and ended the session of 'fault-r1'" <(tail -n 5 "$T/bridge-r0.log") &&
  note "5: (r0 had ended r1's session before its kill)"
wait_for 20 sh -c "[ \$(curl -sf http://127.0.0.1:${HP[r2]}/metrics |
  awk '/^sensorwire_bridge_share_adoptions_total\\{result=\"drained\"\\}/ {print \$NF}') -ge $((d2 + 2)) ]" ||
  fail "r2 drained $(( $(m r2 'sensorwire_bridge_share_adoptions_total\{result="drained"\}') - d2 )) sessions, not r0's and r1's: $(grep -h 'adopt\|drained' "$T/bridge-r2.log" | tail -n 4)"
grep -q "drained and ended the session of 'fault-r0'" "$T/bridge-r2.log" || fail "r2 did not drain r0's session"
replica r0
replica r1
wait_for 30 is 3694 influx_n || fail "InfluxDB: $(influx_n) of 3694 distinct readings"
sleep 1
assert_eq 3694 "$(influx_n)" "distinct readings in InfluxDB"
note "5: r1 killed, its adopter r0 killed mid-drain: r2 drained both sessions; 3694 of 3694 once each"

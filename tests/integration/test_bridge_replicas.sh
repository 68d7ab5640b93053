#!/usr/bin/env bash
# test_bridge_replicas.sh - three bridge replicas in one MQTT_SHARE_GROUP
# against the real Mosquitto, Prometheus (with config/prometheus.yml's
# out-of-order window) and InfluxDB; exact counts in both stores at the end:
# every reading 1..N stored once per timestamp, with its own value, and no
# sample refused by either store. On the way:
#   - the share is split: every replica takes part of the stream;
#   - a status reaches every replica (the status filter is not shared);
#   - kill -9 of one replica: the others' shares keep flowing at once; the
#     killed one's share waits in its session (Mosquitto 2 keeps handing a
#     shared subscription's messages to a disconnected session) and arrives
#     when it is back;
#   - scaling 3 -> 2 -> 3 (SIGTERM: the replica leaves the group first, so
#     the other two take everything while it is away);
#   - a replica restarted on an empty STATE_DIR;
#   - all three stopped at once (docker compose down): the one with the
#     smallest client id keeps the share, the broker queues for it, nothing
#     published meanwhile is lost.
# Runs over MQTT 5 and 3.1.1 (Mosquitto 2 offers $share/ to both).
. "$(dirname "$0")/each_mqtt_version.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"

MQ=$(free_port); PROM=$(free_port); INFLUX=$(free_port)
start_mosquitto "$MQ"
# Prometheus with the project's own receiver settings (out_of_order_time_window)
cp "$SW_ROOT/config/prometheus.yml" "$T/prometheus.yml"
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
  --web.listen-address=127.0.0.1:"$PROM" --web.enable-remote-write-receiver \
  --storage.tsdb.retention.time=100y --log.level=warn >>"$T/prometheus.log" 2>&1 &
track $!
wait_for 30 curl -sf "http://127.0.0.1:$PROM/-/ready"
start_influxdb "$INFLUX"
curl -sf -XPOST "http://127.0.0.1:$INFLUX/query" --data-urlencode "q=CREATE DATABASE sw" >/dev/null

declare -A PID HP
for r in r0 r1 r2; do HP[$r]=$(free_port); done
replica() { # NAME: (re)starts one replica on its own STATE_DIR and client id
  start_bridge "$1" MQTT_SHARE_GROUP=g HEALTH_PORT="${HP[$1]}" OUTPUTS=remote_write,influx \
    REMOTE_WRITE_URL="http://127.0.0.1:$PROM/api/v1/write" \
    INFLUX_URL="http://127.0.0.1:$INFLUX" INFLUX_DB=sw
  PID[$1]=$BRIDGE_PID
  wait_for 10 sh -c "curl -sf http://127.0.0.1:${HP[$1]}/metrics |
    grep -q 'sensorwire_bridge_mqtt_connected 1'"
  sleep 0.3 # the SUBACK
}
m() { metric "${HP[$1]}" "^$2"; }
received() { m "$1" 'sensorwire_bridge_messages_total\{result="accepted"\}'; }

prom_seqs() { # the distinct (ts - BASE == value) readings in Prometheus, one seq a line
  curl -sf "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode 'query=sensor_n[3h]' |
    jq -r --argjson base "$BASE" '.data.result[0].values // [] | .[] |
      select(((.[0] * 1000 | round) - $base) == (.[1] | tonumber)) | .[1]' | sort -n
}
prom_samples() {
  curl -sf "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode 'query=sensor_n[3h]' |
    jq '.data.result[0].values // [] | length'
}
influx_seqs() {
  curl -sf "http://127.0.0.1:$INFLUX/query" --data-urlencode db=sw --data-urlencode epoch=ms \
    --data-urlencode "q=SELECT n FROM sensor WHERE node = 'f'" |
    jq -r --argjson base "$BASE" '.results[0].series[0].values // [] | .[] |
      select(.[0] - $base == .[1]) | .[1]' | sort -n
}
n_lines() { "$@" | grep -c . || true; }
stored() { # N: both stores hold exactly 1..N
  [ "$(prom_seqs | tr '\n' ' ')" = "$(seq 1 "$1" | tr '\n' ' ')" ] &&
    [ "$(influx_seqs | tr '\n' ' ')" = "$(seq 1 "$1" | tr '\n' ' ')" ]
}
wait_stored() { # N SECONDS
  wait_for "$2" stored "$1" ||
    fail "expected 1..$1: Prometheus $(n_lines prom_seqs), InfluxDB $(n_lines influx_seqs)"
}

for r in r0 r1 r2; do replica $r; done
# /metrics says which group and which share each replica serves
for r in r0 r1 r2; do
  curl -sf "http://127.0.0.1:${HP[$r]}/metrics" >"$T/metrics-$r.txt"
  grep -q "sensorwire_bridge_mqtt_info{version=\"$MQTT_VERSION\",client_id=\"fault-$r\",share_group=\"g\"} 1" \
    "$T/metrics-$r.txt" || fail "$r: no mqtt_info: $(grep mqtt_ "$T/metrics-$r.txt")"
  # shellcheck disable=SC2016 # the literal $share/ filter
  grep -qF 'sensorwire_bridge_mqtt_subscription{filter="$share/g/sensors/+/+",shared="1"} 1' \
    "$T/metrics-$r.txt" || fail "$r: not on the shared filter"
  grep -qF 'sensorwire_bridge_mqtt_subscription{filter="sensors/+/status",shared="0"} 1' \
    "$T/metrics-$r.txt" || fail "$r: no unshared status filter"
done

# A. three replicas split a steady stream; a --dry-run beside them with the
# same settings gets its own copy of all of it, not a share
env MQTT_URL="tcp://127.0.0.1:$MQ" MQTT_CLIENT_ID=fault-r0 MQTT_SHARE_GROUP=g OUTPUTS=stdout \
  BATCH_MAX_DELAY_MS=100 "$BRIDGE" --dry-run >"$T/dry.txt" 2>"$T/dry.log" &
DRY=$!
track $DRY
wait_for 10 grep -q "subscribed to 'sensors/+/+'" "$T/dry.log"
stream 1 600 300
wait_stored 600 30
dry_lines() { grep -c '^sensor,node=f' "$T/dry.txt" || true; }
wait_for 10 is 600 dry_lines || fail "the dry run printed $(dry_lines) of 600"
stop_pid $DRY || true
for r in r0 r1 r2; do
  [ "$(received $r)" -ge 150 ] || fail "$r took only $(received $r) of 600"
done
note "A: 600 readings split $(received r0)/$(received r1)/$(received r2)"

# a status reaches every replica, not one of them
st0=$(m r0 'sensorwire_bridge_messages_total\{result="status"\}')
mosquitto_pub -p "$MQ" -q 1 -t sensors/f/status -m online
wait_for 10 is $((st0 + 1)) m r1 'sensorwire_bridge_messages_total\{result="status"\}' ||
  fail "r1 did not get the status"
wait_for 10 is $((st0 + 1)) m r2 'sensorwire_bridge_messages_total\{result="status"\}' ||
  fail "r2 did not get the status"

# B. kill -9 of r1 mid-stream: r0's and r2's shares keep flowing; r1's waits for it
kill -9 "${PID[r1]}"
wait "${PID[r1]}" 2>/dev/null || true
stream 601 1200 300
wait_for 15 sh -c "[ \$(curl -sf 'http://127.0.0.1:$PROM/api/v1/query' \
  --data-urlencode 'query=count_over_time(sensor_n[3h])' | jq -r '.data.result[0].value[1]') -ge 990 ]" ||
  fail "the other replicas' shares stalled: $(prom_samples) in Prometheus"
got=$(prom_samples)
[ "$got" -lt 1200 ] || fail "r1's share arrived without r1 ($got)"
note "B: with r1 killed, $((got - 600)) of 600 flowed through r0 and r2 at once"
replica r1
wait_stored 1200 30
note "B: r1 back, its queued share delivered: 1200 of 1200"

# C. scale 3 -> 2 -> 3: r2 leaves the group on SIGTERM, the other two take everything
stop_pid "${PID[r2]}" || fail "r2 exited with $?"
grep -q "left share group 'g'" "$T/bridge-r2.log" || fail "r2 did not leave the group"
stream 1201 1800 300
wait_stored 1800 30
note "C: 2 replicas: 1800 of 1800 without r2"
replica r2
before=$(received r2)
stream 1801 2400 300
wait_stored 2400 30
[ "$(received r2)" -gt "$before" ] || fail "r2 back in the group takes nothing"

# D. r0 restarted on an empty STATE_DIR
stop_pid "${PID[r0]}" || fail "r0 exited with $?"
rm -rf "$T/state-r0"
replica r0
stream 2401 3000 300
wait_stored 3000 30

# E. all three stopped together: r0 (the smallest id) keeps the share
for r in r0 r1 r2; do kill -TERM "${PID[$r]}"; done
for r in r0 r1 r2; do stop_pid "${PID[$r]}" || fail "$r exited with $?"; done
grep -q "the last replica of share group 'g' up: keeping" "$T/bridge-r0.log" ||
  fail "r0 gave its share up: $(grep -h "share group" "$T"/bridge-r*.log)"
stream 3001 3600 300 # nobody connected: queued for r0's session
for r in r0 r1 r2; do replica $r; done
wait_stored 3600 30
sleep 2 # nothing late, nothing twice
wait_stored 3600 1
assert_eq 3600 "$(prom_samples)" "Prometheus samples (once per timestamp)"
for r in r0 r1 r2; do
  for o in remote_write influx; do
    assert_eq 0 "$(m $r "sensorwire_bridge_output_samples_total\\{output=\"$o\",result=\"dropped\"\\}")" \
      "$r: $o samples refused"
  done
  assert_eq 0 "$(m $r 'sensorwire_bridge_seq_gaps_total')" "$r: gaps counted"
done
ooo=$(curl -sf "http://127.0.0.1:$PROM/metrics" |
  awk '/^prometheus_tsdb_head_out_of_order_samples_appended_total/ {print $NF}')
note "E: 3600 of 3600 in Prometheus and InfluxDB, once each; Prometheus took ${ooo:-?} samples out of order"

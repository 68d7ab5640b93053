#!/usr/bin/env bash
# test_bridge_replicas.sh - three bridge replicas in one MQTT_SHARE_GROUP
# against the real Mosquitto, Prometheus (with config/prometheus.yml's
# out-of-order window) and InfluxDB; exact counts in both stores at the end:
# every reading 1..N stored once per timestamp, with its own value, and no
# sample refused by either store. On the way:
#   - the share is split: every replica takes part of the stream;
#   - a status reaches every replica (the status filter is not shared);
#   - kill -9 of one replica mid-stream: its share keeps flowing within
#     seconds while it is still down (Mosquitto 2 keeps handing a shared
#     subscription's messages to a disconnected session: a survivor adopts
#     that session, drains it into its own log and ends it, bridge/replica.h);
#     the time from the kill to the share flowing again is printed; the
#     killed one comes back to no session and subscribes afresh;
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
m() { # NAME REGEX: a value from the replica's /metrics (reads it all: no SIGPIPE to curl)
  curl -sf "http://127.0.0.1:${HP[$1]}/metrics" |
    awk -v re="^$2" '!found && $0 ~ re { print $NF; found = 1 }'
}
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
has_range() { # FROM TO: both stores hold every reading FROM..TO
  local want; want=$(seq "$1" "$2" | tr '\n' ' ')
  [ "$(prom_seqs | awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b' | tr '\n' ' ')" = "$want" ] &&
    [ "$(influx_seqs | awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b' | tr '\n' ' ')" = "$want" ]
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
  grep -qF 'sensorwire_bridge_share_adopting{group="g",client_id=""} 0' "$T/metrics-$r.txt" ||
    fail "$r: adopting something already"
done
# and the others it sees up (after their retained "up" arrived)
for r in r0 r1 r2; do
  for o in r0 r1 r2; do
    [ $o = $r ] && continue
    wait_for 5 sh -c "curl -sf http://127.0.0.1:${HP[$r]}/metrics |
      grep -qF 'sensorwire_bridge_share_peer{group=\"g\",client_id=\"fault-$o\",state=\"up\"} 1'" ||
      fail "$r does not see fault-$o up"
  done
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

# B. kill -9 of r1 mid-stream: a survivor adopts r1's session, so r1's share
# (what it had queued and what keeps coming) is stored while r1 is down
stream 601 900 300 &
STREAM=$!
sleep 0.5
kill -9 "${PID[r1]}"
t_kill=$(date +%s%N)
wait "${PID[r1]}" 2>/dev/null || true
stream 901 960 1000 # right after the kill: a third of these are r1's share
# every reading published after the kill is stored while r1 is down, and
# so is what r1's session held; only what r1 had stored in its own log and
# not sent yet waits there for its return
wait_for 5 has_range 901 960 ||
  fail "r1's share did not flow without r1: $(prom_seqs | awk '$1 > 900' | wc -l) of 60 in Prometheus"
t_flow=$(date +%s%N) # (within the 0.2 s of wait_for's polling)
wait $STREAM
wait_for 10 has_range 901 960 # (still)
in_log=$(( 960 - $(n_lines influx_seqs) ))
kill -0 "${PID[r1]}" 2>/dev/null && fail "r1 is not down"
drained() { # the replica that drained r1's session, once one has
  local r
  for r in r0 r2; do
    [ "$(m $r 'sensorwire_bridge_share_adoptions_total\{result="drained"\}')" = 1 ] && echo $r
  done
  return 0
}
adopter=""
for _ in $(seq 50); do adopter=$(drained); [ -n "$adopter" ] && break; sleep 0.2; done
[ "$(wc -w <<<"$adopter")" = 1 ] || fail "no replica adopted r1's session: $(grep -h adopt "$T"/bridge-r[02].log)"
grep -q "drained and ended the session of 'fault-r1'" "$T/bridge-$adopter.log" ||
  fail "$adopter did not end r1's session"
note "B: kill -9 of r1 -> its share stored by $adopter within $(( (t_flow - t_kill) / 1000000 )) ms; $in_log readings wait in r1's own log"
stream 961 1200 300
wait_for 10 has_range 961 1200 || fail "961..1200 not stored with r1 down"
replica r1
grep -q "as 'fault-r1' (session new)" "$T/bridge-r1.log" || fail "r1 found its old session"
wait_stored 1200 30 # with what r1's log held
# the adopter drained readings older than what it had sent for the series:
# REMOTE_WRITE_OUT_OF_ORDER=auto sends them in a share group (Prometheus has
# config/prometheus.yml's out-of-order window), none skipped
assert_eq 0 "$(m "$adopter" 'sensorwire_bridge_output_samples_total\{output="remote_write",result="dropped"\}')" \
  "$adopter: remote_write samples dropped"
before=$(received r1)
stream 1201 1260 300
wait_stored 1260 30
[ "$(received r1)" -gt "$before" ] || fail "r1 back takes no share"
note "B: r1 back on a new session takes its share again"

# C. scale 3 -> 2 -> 3: r2 leaves the group on SIGTERM, the other two take everything
adoptions() { echo "$(m r0 'sensorwire_bridge_share_adoptions_total\{result="drained"\}')/$(m r1 'sensorwire_bridge_share_adoptions_total\{result="drained"\}')"; }
adopted_before=$(adoptions)
stop_pid "${PID[r2]}" || fail "r2 exited with $?"
grep -q "left share group 'g'" "$T/bridge-r2.log" || fail "r2 did not leave the group"
stream 1261 1800 300
wait_stored 1800 30
# a planned stop says "left", not "down": nobody adopts it
m r0 'sensorwire_bridge_share_peer\{group="g",client_id="fault-r2",state="left"\}' | grep -qx 1 ||
  fail "r0 does not see r2 'left'"
assert_eq "$adopted_before" "$(adoptions)" "adoptions after a planned stop (r0/r1)"
note "C: 2 replicas: 1800 of 1800 without r2, its session not adopted"
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

#!/usr/bin/env bash
# Fault: a node's link dies silently (Wi-Fi gone: no FIN, no RST) and comes
# back. The broker publishes the node's Will about 1.5 x keepalive later, so
# the bridge sends staleness markers; the node's outbox then replays what it
# read meanwhile, with the original ts, most of it older than the Will's
# arrival. Every reading the node made must land in Prometheus (started by
# lib.sh: no out-of-order window) and in InfluxDB, once each. A second node
# that stays away (kill -9) must still get its staleness marker: Prometheus
# has a value for it at its last sample and none 30 s later, inside the 5 min
# lookback that would otherwise keep drawing that last value.
#
# The silent cut is a TCP proxy between node wa and Mosquitto that stops
# forwarding (and holds new connections) while $T/cut exists, then closes
# what it held so the node reconnects.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port); PX=$(free_port); PROM=$(free_port); INFLUX=$(free_port); HP=$(free_port)
start_mosquitto "$MQ"
start_prometheus "$PROM"
start_influxdb "$INFLUX"
curl -sf -XPOST "http://127.0.0.1:$INFLUX/query" --data-urlencode "q=CREATE DATABASE sw" >/dev/null

cat >"$T/proxy.py" <<'EOF'
import os, select, socket, sys, threading, time
lport, uport, flag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
cut = lambda: os.path.exists(flag)
def hold(socks):
    while cut():
        time.sleep(0.05)
    for s in socks:
        s.close()
def pair(c):
    if cut():
        return hold([c])
    u = socket.create_connection(("127.0.0.1", uport))
    while True:
        if cut():
            return hold([c, u])
        r, _, _ = select.select([c, u], [], [], 0.05)
        for s in r:
            d = s.recv(65536)
            if not d:
                c.close(); u.close()
                return
            (u if s is c else c).sendall(d)
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", lport))
l.listen(16)
while True:
    c, _ = l.accept()
    threading.Thread(target=pair, args=(c,), daemon=True).start()
EOF
python3 "$T/proxy.py" "$PX" "$MQ" "$T/cut" 2>>"$T/proxy.log" &
track $!
wait_port "$PX"

# what the broker gets from the nodes (persistent session, arrival times)
mosquitto_sub -p "$MQ" -c -i it-wr-sub -q 1 -t 'sensors/+/+' -F '%U %t %p' >"$T/sub.txt" 2>>"$T/sub.log" &
track $!
sleep 0.3

env MQTT_URL="tcp://127.0.0.1:$MQ" MQTT_CLIENT_ID=it-wr OUTPUTS=remote_write,influx \
  REMOTE_WRITE_URL="http://127.0.0.1:$PROM/api/v1/write" INFLUX_URL="http://127.0.0.1:$INFLUX" \
  INFLUX_DB=sw STATE_DIR="$T/state" BATCH_MAX_DELAY_MS=100 WAL_SYNC=never HEALTH_PORT="$HP" \
  "$BRIDGE" >"$T/bridge.log" 2>&1 &
track $!
wait_for 20 grep -q subscribed "$T/bridge.log"

# MQTT_WILL_DELAY_S=0: the Will as soon as the broker notices (the delayed
# Will: test_publisher_will_delay.sh)
pub() { # NODE URL [VAR=value...]
  local node=$1 url=$2; shift 2
  env MQTT_URL="$url" NODE_NAME="$node" SENSORS="a=sim" INTERVAL_MS=200 MQTT_KEEPALIVE_S=2 \
    MQTT_WILL_DELAY_S=0 "$@" \
    "$PUBLISHER" 2>>"$T/publisher-$node.log" &
  PUB=$!
  track $PUB
}
pub wa "tcp://127.0.0.1:$PX" OUTBOX_DIR="$T/outbox"; WA=$PUB
pub wb "tcp://127.0.0.1:$MQ"; WB=$PUB

prom_q() { # QUERY [TIME]: the result array of an instant query
  curl -sf "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode "query=$1" \
    ${2:+--data-urlencode "time=$2"} | jq -c '.data.result'
}
prom_ts() { # NODE: the sample times (ms) of its temperature, sorted
  prom_q "sensor_temperature_celsius{node=\"$1\"}[3h]" |
    jq -r '.[0].values // [] | .[] | .[0] * 1000 | round' | sort -n
}
influx_ts() { # NODE
  curl -sf "http://127.0.0.1:$INFLUX/query" --data-urlencode db=sw --data-urlencode epoch=ms \
    --data-urlencode "q=SELECT temperature_celsius FROM sensor WHERE node = '$1'" |
    jq -r '.results[0].series[0].values // [] | .[] | .[0]' | sort -n
}
published_ts() { # NODE: the ts of each distinct reading the broker got (QoS 1 may repeat one)
  awk -v t="sensors/$1/a" '$2 == t {print $3}' "$T/sub.txt" |
    jq -r '"\(.boot) \(.seq) \(.ts)"' | sort -u -k1,2 | awk '{print $3}' | sort -n
}
n_lines() { "$@" | wc -l; }
at_least() { [ "$("${@:2}" | wc -l)" -ge "$1" ]; }
wait_for 20 at_least 10 prom_ts wa || fail "no readings of wa in Prometheus"
wait_for 20 at_least 10 prom_ts wb || fail "no readings of wb in Prometheus"

# --- wb goes away for good: kill -9, the broker sends its Will at once
kill -9 "$WB"
wait_for 10 grep -q "node 'wb' offline: 2 series marked stale" "$T/bridge.log" ||
  fail "no staleness markers for wb"

# --- wa's link goes silent; its Will comes after ~1.5 x keepalive
before=$(published_ts wa | tail -1)
touch "$T/cut"
offline_at() { # when the broker sent wa's Will, in ms (awk's numbers would lose digits)
  local t
  t=$(awk '$2 == "sensors/wa/status" && $3 == "offline" {print $1; exit}' "$T/sub.txt")
  [ -n "$t" ] && echo $(( ${t%.*} * 1000 + 10#$(echo "${t#*.}" | cut -c1-3) ))
}
wait_for 15 is 1 n_lines offline_at || fail "the broker sent no Will for wa"
wait_for 10 grep -q "node 'wa' offline: 2 series marked stale" "$T/bridge.log" ||
  fail "no staleness markers for wa"
sleep 2
rm "$T/cut"
online_again() { awk '$2 == "sensors/wa/status" {s = $3} END {print s}' "$T/sub.txt"; }
wait_for 30 is online online_again || fail "wa did not come back"
outbox_empty() { [ "$(find "$T/outbox" -name 'outbox-*.log' | wc -l)" -eq 0 ]; }
wait_for 30 outbox_empty || fail "wa's outbox was not replayed"
grep -q "keeping readings in the outbox" "$T/publisher-wa.log" || fail "wa never used its outbox"
sleep 1
stop_pid "$WA" || fail "wa exited with status $?"

# --- the precondition: replayed readings older than the Will's arrival
will=$(offline_at)
late=$(published_ts wa | awk -v a="$before" -v w="$will" '$1 > a && $1 < w' | wc -l)
[ "$late" -ge 5 ] || fail "only $late readings between the cut and the Will: the test proves nothing"

# --- every reading of wa in both stores, once each, at its own ts
published_ts wa >"$T/wa.want"
made=$(wc -l <"$T/wa.want")
wait_for 30 is "$made" n_lines prom_ts wa || fail "Prometheus has $(prom_ts wa | wc -l) of $made readings of wa"
wait_for 30 is "$made" n_lines influx_ts wa || fail "InfluxDB has $(influx_ts wa | wc -l) of $made readings of wa"
assert_eq "$(cat "$T/wa.want")" "$(prom_ts wa)" "wa's sample times in Prometheus"
assert_eq "$(cat "$T/wa.want")" "$(influx_ts wa)" "wa's point times in InfluxDB"
m() { curl -sf "http://127.0.0.1:$HP/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
assert_eq 0 "$(m 'sensorwire_bridge_output_samples_total{output="remote_write",result="dropped"}')" \
  "remote_write dropped samples"
assert_eq 0 "$(m 'sensorwire_bridge_output_samples_total{output="influx",result="dropped"}')" \
  "influx dropped samples"

# --- wb stayed away: every reading stored, and stale from its last sample on
published_ts wb >"$T/wb.want"
assert_eq "$(cat "$T/wb.want")" "$(prom_ts wb)" "wb's sample times in Prometheus"
last=$(tail -1 "$T/wb.want")
at() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
assert_eq 1 "$(prom_q 'sensor_temperature_celsius{node="wb"}' "$(at "$last")" | jq length)" \
  "wb's series at its last sample"
assert_eq 0 "$(prom_q 'sensor_temperature_celsius{node="wb"}' "$(at $((last + 30000)))" | jq length)" \
  "wb's series 30 s after its last sample (stale)"
assert_eq 0 "$(prom_q 'sensor_temperature_celsius{node="wb"}' | jq length)" "wb's series now"
note "wa: $made readings in both stores, $late of them older than its Will; wb stale after its last sample"

#!/usr/bin/env bash
# test_publisher_health.sh - the publisher's HEALTH_PORT against a real
# Mosquitto, with sim sensors (b fails 30% of its reads): /healthz, /readyz
# (ready while connected; unready while the broker is down and there is no
# OUTBOX_DIR; ready again after the reconnect; ready with an outbox while
# the broker is down), /metrics values (reads by result add up, failure
# kinds counted where they happen, acknowledged publishes equal to the
# readings a subscriber received, reconnects, outbox depth and bytes), the
# retained $stats JSON, and that the bridge takes $stats for the read
# counters, never for a sensor's reading.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
HP=$(free_port)
start_mosquitto "$PORT"
SUB="mosquitto_sub -h 127.0.0.1 -p $PORT"
URL=http://127.0.0.1:$HP

$SUB -q 1 -v -t 'sensors/n2/+' >"$T/sub.txt" 2>>"$T/sub.log" &
track $!
sleep 0.3

MQTT_URL=tcp://127.0.0.1:$PORT NODE_NAME=n2 SENSORS="a=sim b=sim,fail=0.3" INTERVAL_MS=1000 \
  MQTT_KEEPALIVE_S=2 SIM_SEED=7 HEALTH_PORT=$HP HEALTH_ADDR=127.0.0.1 STATS_INTERVAL_S=1 \
  "$PUBLISHER" 2>"$T/publisher.log" &
PUB=$!
track $PUB
wait_port "$HP"

metric() { # name{labels} -> value, from $T/m.txt
  awk -v k="sensorwire_publisher_$1" '$1 == k { print $2; found = 1 } END { exit !found }' "$T/m.txt"
}
scrape() { curl -sf "$URL/metrics" >"$T/m.txt"; }
readings() { grep -c '^sensors/n2/[ab] ' "$T/sub.txt" || true; }
code() { curl -s -o /dev/null -w '%{http_code}' "$URL$1"; }

assert_eq "ok" "$(curl -sf "$URL/healthz")" "/healthz"
enough() { scrape && [ "$(metric 'reads_total{sensor="b",result="checksum"}')" -ge 2 ] &&
  [ "$(metric 'reads_total{sensor="b",result="ok"}')" -ge 2 ]; }
wait_for 30 enough
assert_eq "ready: connected to the broker" "$(curl -sf "$URL/readyz")" "/readyz connected"
assert_eq 200 "$(code /readyz)" "/readyz status"
assert_eq 404 "$(code /nope)" "unknown path"
assert_eq 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/metrics")" "POST"
curl -sfI "$URL/metrics" | grep -qi '^Content-Type: text/plain; version=0.0.4' || fail "metrics type"

# exact: at a quiet moment (no reading between two counts of the
# subscriber's lines) acknowledged == received == reads ok of a + b
exact=0
for _ in $(seq 30); do
  c0=$(readings); scrape; c1=$(readings)
  acked=$(metric acknowledged_total)
  ok=$(( $(metric 'reads_total{sensor="a",result="ok"}') + $(metric 'reads_total{sensor="b",result="ok"}') ))
  # never more acknowledged than the broker passed on (plus the window in flight)
  [ "$acked" -le $((c1 + 32)) ] || fail "acknowledged $acked > received $c1"
  if [ "$c0" = "$c1" ] && [ "$acked" = "$c1" ] && [ "$ok" = "$c1" ]; then exact=1; break; fi
  sleep 0.13
done
[ $exact = 1 ] || fail "acknowledged ($acked), reads ok ($ok) and received ($c1) never agreed"
for s in a b; do
  total=0
  for r in ok io no_response timing checksum implausible; do
    total=$((total + $(metric "reads_total{sensor=\"$s\",result=\"$r\"}")))
  done
  failed=0
  for r in io no_response timing checksum implausible; do
    failed=$((failed + $(metric "reads_total{sensor=\"$s\",result=\"$r\"}")))
  done
  ok=$(metric "reads_total{sensor=\"$s\",result=\"ok\"}")
  assert_eq "$total" $((ok + failed)) "$s: reads by result"
  # the sim driver's failure is a transient checksum error, nothing else
  assert_eq "$failed" "$(metric "reads_total{sensor=\"$s\",result=\"checksum\"}")" "$s: kinds"
  assert_eq "$failed" "$(metric "reads_transient_total{sensor=\"$s\"}")" "$s: transient"
  assert_eq "$ok" "$(grep -c "^sensors/n2/$s " "$T/sub.txt")" "$s: reads ok = readings received"
  age=$(metric "last_reading_age_seconds{sensor=\"$s\"}")
  awk -v a="$age" 'BEGIN { exit !(a >= 0 && a < 3) }' || fail "$s: last reading age $age"
done
assert_eq 0 "$(metric 'reads_total{sensor="a",result="checksum"}')" "a never fails"
[ "$(metric 'reads_total{sensor="b",result="checksum"}')" -ge 2 ] || fail "b's failures"
assert_eq 1 "$(metric connected)" "connected"
assert_eq 0 "$(metric reconnects_total)" "reconnects before the outage"
assert_eq 0 "$(metric outbox_readings)" "outbox depth while connected"
grep -q "^sensorwire_publisher_info{node=\"n2\",boot=\"[0-9a-f]\{16\}\",version=\"" "$T/m.txt" ||
  fail "info metric"
boot=$(sed -n 's/.*info{node="n2",boot="\([0-9a-f]*\)".*/\1/p' "$T/m.txt")
# no family twice, every sample line "name[{labels}] number"
assert_eq 0 "$(grep '^# TYPE' "$T/m.txt" | sort | uniq -d | wc -l)" "repeated families"
assert_eq 0 "$(grep -v '^#' "$T/m.txt" | grep -cvE '^sensorwire_publisher_[a-z_]+(\{[^}]*\})? [0-9]+(\.[0-9]+)?$' || true)" \
  "malformed sample lines"

# the retained $stats: reads per sensor, ages, and no top-level number but ts
# shellcheck disable=SC2016 # the topic is literally $stats
$SUB -C 1 -W 5 -t 'sensors/n2/$stats' >"$T/stats.json"
jq -e --arg boot "$boot" '.boot == $boot and (.ts|type) == "number"
	and ([to_entries[] | select(.value|type == "number" or type == "boolean") | .key] == ["ts"])
	and .sensors.a.driver == "sim" and .sensors.a.reads.ok >= 1 and .sensors.a.reads.checksum == 0
	and .sensors.b.reads.checksum >= 1 and .sensors.b.transient == .sensors.b.reads.checksum
	and (.sensors.a.last_ok_age_s|type) == "number" and .publisher.connected == true
	and .publisher.acknowledged >= 1' "$T/stats.json" >/dev/null ||
  fail "\$stats payload: $(cat "$T/stats.json")"
# shellcheck disable=SC2016
assert_eq 1 "$($SUB -F '%r' -C 1 -W 5 -t 'sensors/n2/$stats')" "\$stats retained"

# the bridge takes readings from the same broker, never $stats
MQTT_URL=tcp://127.0.0.1:$PORT MQTT_CLIENT_ID=it-health-bridge OUTPUTS=stdout "$BRIDGE" \
  >"$T/bridge.out" 2>"$T/bridge.log" &
BR=$!
track $BR
bridge_got_a() { grep -q 'sensor=a ' "$T/bridge.out"; }
wait_for 15 bridge_got_a
sleep 1.5       # at least one more $stats (every second) while the bridge runs
stop_pid $BR || true
# $stats is the read counters, one reading per sensor (test_bridge_stats.sh
# checks the values): never a sensor "$stats", never refused as malformed
assert_eq 0 "$(grep -c 'stats' "$T/bridge.out" || true)" "bridge output lines for a sensor \$stats"
grep -q '^sensor,driver=sim,node=n2,sensor=b reads_checksum_total=' "$T/bridge.out" ||
  fail "the bridge printed no read counters of b: $(head -c 300 "$T/bridge.out")"
if grep -q 'malformed payload' "$T/bridge.log"; then fail "the bridge refused \$stats: $(grep 'malformed payload' "$T/bridge.log")"; fi

# broker down, no OUTBOX_DIR: alive, not ready
stop_pid "$MOSQ_PID" TERM || true
unready() { [ "$(code /readyz)" = 503 ]; }
wait_for 10 unready
assert_eq "not connected to the broker, and no OUTBOX_DIR keeps readings" \
  "$(curl -s "$URL/readyz")" "/readyz while the broker is down"
assert_eq 200 "$(code /healthz)" "/healthz while the broker is down"
scrape
assert_eq 0 "$(metric connected)" "connected while down"
[ "$(metric outbox_readings)" -ge 0 ] || fail "outbox depth"
start_mosquitto "$PORT"
ready() { [ "$(code /readyz)" = 200 ]; }
wait_for 20 ready
scrape
assert_eq 1 "$(metric reconnects_total)" "reconnects after the outage"
assert_eq 1 "$(metric connection_losses_total)" "connection losses"
stop_pid $PUB || fail "publisher exited with $?"

# broker down from the start, OUTBOX_DIR set: ready, readings on disk
stop_pid "$MOSQ_PID" TERM || true
HP2=$(free_port)
MQTT_URL=tcp://127.0.0.1:$PORT NODE_NAME=n3 SENSORS="a=sim" INTERVAL_MS=200 OUTBOX_DIR="$T/outbox" \
  HEALTH_PORT=$HP2 HEALTH_ADDR=127.0.0.1 "$PUBLISHER" 2>"$T/publisher2.log" &
PUB2=$!
track $PUB2
wait_port "$HP2"
URL=http://127.0.0.1:$HP2
queued() { scrape && [ "$(metric outbox_readings)" -ge 3 ]; }
wait_for 15 queued
assert_eq 200 "$(code /readyz)" "/readyz with an outbox"
assert_eq "ready: not connected; readings wait in OUTBOX_DIR" "$(curl -s "$URL/readyz")" "/readyz text"
[ "$(metric outbox_bytes)" -gt 100 ] || fail "outbox bytes $(metric outbox_bytes)"
[ "$(metric queued_total)" -ge "$(metric outbox_readings)" ] || fail "queued_total"
assert_eq 0 "$(metric acknowledged_total)" "nothing acknowledged without a broker"
stop_pid $PUB2 || fail "second publisher exited with $?"
note "exact at a quiet moment: $acked acknowledged = $c1 received; b: $(grep -c '^sensors/n2/b ' "$T/sub.txt") ok"

#!/usr/bin/env bash
# The bridge's HTTP behaviour where the exact request matters, against a
# recording receiver (tests/tools/fake_http.c) that answers what the test
# tells it (InfluxDB 2 is not packaged in Debian):
#   - the InfluxDB v2 request: path, org/bucket/precision query, Token
#     header, gzip body;
#   - the remote-write request: the four headers, bearer auth, extra headers;
#   - 503 and 429 with Retry-After are retried (same body, after the delay),
#     400 is dropped with a counter and a logged body, and the stream goes on.
. "$(dirname "$0")/lib.sh"
# the README's example payloads (ts from November 2024) are used verbatim:
# keep them inside TIMESTAMP_MAX_PAST, or the bridge clamps them to arrival
export TIMESTAMP_MAX_PAST=36500d

MQ=$(free_port); H1=$(free_port); H2=$(free_port); HP=$(free_port)
start_mosquitto "$MQ"
mkdir -p "$T/rec-influx" "$T/rec-rw"
"$TOOLS/fake_http" --port "$H1" --record "$T/rec-influx" >"$T/fake1.log" 2>&1 &
track $!
"$TOOLS/fake_http" --port "$H2" --record "$T/rec-rw" --script "$T/rw-script" >"$T/fake2.log" 2>&1 &
track $!
wait_port "$H1"; wait_port "$H2"
printf '503 Retry-After: 1\n429 Retry-After: 2\n' >"$T/rw-script"
echo "tok-rw" >"$T/rw-token"

MQTT_URL=tcp://127.0.0.1:$MQ MQTT_CLIENT_ID=http-it OUTPUTS=influx,remote_write \
INFLUX_URL=http://127.0.0.1:$H1 INFLUX_ORG="my org" INFLUX_BUCKET=b1 INFLUX_TOKEN=tok-influx \
REMOTE_WRITE_URL=http://127.0.0.1:$H2/api/v1/push REMOTE_WRITE_BEARER_TOKEN_FILE=$T/rw-token \
REMOTE_WRITE_HEADERS="X-Scope-OrgID: team1" BATCH_MAX_DELAY_MS=100 HEALTH_PORT=$HP \
  "$BRIDGE" >"$T/bridge.log" 2>&1 &
track $!
wait_for 20 grep -q subscribed "$T/bridge.log"

mosquitto_pub -p "$MQ" -q 1 -t sensors/rp3/desk \
  -m '{"ts":1732276800123,"seq":1,"boot":"9f3a0c1e5b7d2a64","temperature_celsius":21.4,"humidity_percent":48,"tags":{"location":"desk"}}'

# --- InfluxDB v2: exact request
wait_for 10 test -e "$T/rec-influx/0001.head"
head=$T/rec-influx/0001.head
assert_eq "POST /api/v2/write?org=my%20org&bucket=b1&precision=ms" "$(head -1 "$head")" "v2 request line"
grep -qix 'Authorization: Token tok-influx' "$head" || fail "no Token header: $(cat "$head")"
grep -qix 'Content-Encoding: gzip' "$head" || fail "body not declared gzip"
grep -qix 'Content-Type: text/plain; charset=utf-8' "$head" || fail "content type"
grep -qix 'User-Agent: sensorwire/[0-9.]*' "$head" || fail "user agent: $(grep -i user-agent "$head")"
assert_eq 'sensor,location=desk,node=rp3,sensor=desk humidity_percent=48,temperature_celsius=21.4 1732276800123' \
  "$(gzip -dc "$T/rec-influx/0001.body")" "v2 body"

# --- remote-write: 503, then 429, then accepted: three identical bodies
wait_for 15 test -e "$T/rec-rw/0003.head"
for i in 1 2 3; do
  h=$T/rec-rw/000$i.head
  assert_eq "POST /api/v1/push" "$(head -1 "$h")" "request line $i"
  for want in 'Content-Encoding: snappy' 'Content-Type: application/x-protobuf' \
    'X-Prometheus-Remote-Write-Version: 0.1.0' 'Authorization: Bearer tok-rw' 'X-Scope-OrgID: team1'; do
    grep -qix "$want" "$h" || fail "request $i lacks '$want': $(cat "$h")"
  done
done
cmp -s "$T/rec-rw/0001.body" "$T/rec-rw/0002.body" || fail "retry 1 sent a different body"
cmp -s "$T/rec-rw/0001.body" "$T/rec-rw/0003.body" || fail "retry 2 sent a different body"
t1=$(stat -c %.3Y "$T/rec-rw/0001.head"); t2=$(stat -c %.3Y "$T/rec-rw/0002.head"); t3=$(stat -c %.3Y "$T/rec-rw/0003.head")
awk -v a="$t1" -v b="$t2" 'BEGIN { exit !(b - a >= 0.9) }' || fail "Retry-After: 1 not honoured ($t1 -> $t2)"
awk -v a="$t2" -v b="$t3" 'BEGIN { exit !(b - a >= 1.9) }' || fail "Retry-After: 2 not honoured ($t2 -> $t3)"
sleep 0.5
[ -e "$T/rec-rw/0004.head" ] && fail "a fourth request after success"

# --- 400: that batch is dropped, counted, its body logged; the next one flows
echo '400 body=bad label set for the test' >"$T/rec-rw/next-status"
mosquitto_pub -p "$MQ" -q 1 -t sensors/rp3/desk -m '{"ts":1732276801123,"seq":2,"boot":"9f3a0c1e5b7d2a64","temperature_celsius":21.5}'
wait_for 10 test -e "$T/rec-rw/0004.head"
wait_for 10 grep -q "bad label set for the test" "$T/bridge.log"
mosquitto_pub -p "$MQ" -q 1 -t sensors/rp3/desk -m '{"ts":1732276802123,"seq":3,"boot":"9f3a0c1e5b7d2a64","temperature_celsius":21.6}'
wait_for 10 test -e "$T/rec-rw/0005.head"
sleep 0.5
[ -e "$T/rec-rw/0006.head" ] && fail "the dropped batch was retried"
metrics=$(curl -sf "http://127.0.0.1:$HP/metrics")
grep -qxF 'sensorwire_bridge_output_samples_total{output="remote_write",result="dropped"} 1' <<<"$metrics" ||
  fail "drop not counted: $(echo "$metrics" | grep remote_write)"
grep -qxF 'sensorwire_bridge_output_samples_total{output="remote_write",result="sent"} 3' <<<"$metrics" ||
  fail "sent count: $(echo "$metrics" | grep remote_write)"
grep -qxF 'sensorwire_bridge_output_samples_total{output="influx",result="sent"} 4' <<<"$metrics" ||
  fail "influx sent count: $(echo "$metrics" | grep influx)"
assert_eq ready "$(curl -sf "http://127.0.0.1:$HP/readyz")" "/readyz"
note "exact requests, retries honour Retry-After, 400 dropped and counted"

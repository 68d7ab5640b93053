#!/usr/bin/env bash
# test_bridge_https.sh - the bridge with TLS on both sides, against real
# services: MQTT over TLS from Mosquitto (client certificate, host name
# checked) in, HTTPS to VictoriaMetrics (-tls, a private CA given by
# TLS_CA_FILE) out, remote-write and line protocol, exact series checked;
#   - a bridge without TLS_CA_FILE does not trust that CA: it logs the
#     certificate error, keeps the readings and retries, and delivers them once
#     restarted with the CA (nothing lost);
#   - the health endpoint (libmicrohttpd) answers.
# Runs the statically linked bridge that `make` builds when make test passes
# its path (STATIC_BRIDGE): its libcurl/libmicrohttpd are built here from
# Debian's sources (scripts/static-deps.sh), so this is where they are proven.
. "$(dirname "$0")/lib.sh"

BR_BIN=$BRIDGE
if [ -n "${STATIC_BRIDGE:-}" ]; then
  [ -x "$STATIC_BRIDGE" ] || fail "STATIC_BRIDGE=$STATIC_BRIDGE is not a program"
  readelf -lW "$STATIC_BRIDGE" | grep -q 'INTERP' && fail "$STATIC_BRIDGE is not statically linked"
  BR_BIN=$STATIC_BRIDGE
  note "static bridge: $BR_BIN"
else
  note "STATIC_BRIDGE not set (make test sets it): testing $BR_BIN"
fi

make_certs "$T"
MQ=$(free_port) MQS=$(free_port) VMS=$(free_port) HP=$(free_port)
start_mosquitto "$MQ" \
  "listener $MQS 127.0.0.1" "cafile $T/ca.crt" "certfile $T/broker.crt" "keyfile $T/broker.key" \
  "require_certificate true"
wait_port "$MQS"
start_victoria "$VMS" -tls -tlsCertFile="$T/broker.crt" -tlsKeyFile="$T/broker.key"

# the bridge under test: TLS in (by name), HTTPS out, both outputs
env MQTT_URL="mqtts://localhost:$MQS" MQTT_CLIENT_ID=https-bridge \
  MQTT_CA_FILE="$T/ca.crt" MQTT_CERT_FILE="$T/client.crt" MQTT_KEY_FILE="$T/client.key" \
  OUTPUTS=remote_write,influx TLS_CA_FILE="$T/ca.crt" \
  REMOTE_WRITE_URL="https://localhost:$VMS/api/v1/write" \
  INFLUX_URL="https://127.0.0.1:$VMS" INFLUX_ORG=o INFLUX_BUCKET=b INFLUX_TOKEN=t \
  INFLUX_MEASUREMENT=lp BATCH_MAX_DELAY_MS=200 HEALTH_PORT="$HP" HEALTH_ADDR=127.0.0.1 \
  "$BR_BIN" >"$T/bridge.log" 2>&1 &
BR=$!
track $BR
# one that does not know the CA: system store only, durable log
DHP=$(free_port)
distrust() {
  env MQTT_URL="tcp://127.0.0.1:$MQ" MQTT_CLIENT_ID=distrust OUTPUTS=remote_write \
    METRIC_PREFIX=untrusted_ REMOTE_WRITE_URL="https://localhost:$VMS/api/v1/write" \
    STATE_DIR="$T/state" BATCH_MAX_DELAY_MS=200 HEALTH_PORT="$DHP" HEALTH_ADDR=127.0.0.1 \
    LOG_LEVEL=debug "$@" "$BR_BIN" >>"$T/distrust.log" 2>&1 &
  DT=$!
  track $DT
}
distrust
wait_for 20 grep -q 'subscribed' "$T/bridge.log" || fail "bridge did not subscribe over TLS"
wait_for 20 grep -q 'subscribed' "$T/distrust.log" || fail "second bridge did not subscribe"

now=$(( $(date +%s) * 1000 ))
T1=$((now - 20000 + 321)); T2=$((now - 10000 + 9))
pub() { mosquitto_pub -p "$MQ" -q 1 -t "$1" -m "$2"; }
pub sensors/pi7/attic "{\"ts\":$T1,\"seq\":1,\"boot\":\"0123456789abcdef\",\"temperature_celsius\":18.125,\"humidity_percent\":61,\"tags\":{\"model\":\"dht22\"}}"
pub sensors/pi7/attic "{\"ts\":$T2,\"seq\":2,\"boot\":\"0123456789abcdef\",\"temperature_celsius\":-0.5,\"humidity_percent\":62.25,\"tags\":{\"model\":\"dht22\"}}"

vm() { vm_export "https://localhost:$VMS" "$1" --cacert "$T/ca.crt"; }
vm_count() { vm "$1" | jq -s '[.[][1]|length]|add // 0'; }
wait_for 30 is 4 vm_count '{__name__=~"(sensor|lp)_temperature_celsius"}' ||
  fail "victoria-metrics did not get 4 temperature samples over https: $(tail -5 "$T/bridge.log")"
expect="[{\"__name__\":\"sensor_temperature_celsius\",\"model\":\"dht22\",\"node\":\"pi7\",\"sensor\":\"attic\"},[$T1,$T2],[18.125,-0.5]]"
assert_eq "$expect" "$(vm 'sensor_temperature_celsius')" "remote-write series over https"
assert_eq "${expect/sensor_temperature/lp_temperature}" "$(vm 'lp_temperature_celsius')" \
  "line-protocol series over https (gzip, v2 API)"
assert_eq "[{\"__name__\":\"lp_humidity_percent\",\"model\":\"dht22\",\"node\":\"pi7\",\"sensor\":\"attic\"},[$T1,$T2],[61,62.25]]" \
  "$(vm 'lp_humidity_percent')" "line-protocol humidity over https"

# --- the health endpoint
assert_eq ok "$(curl -sf "http://127.0.0.1:$HP/healthz")" "/healthz"
assert_eq ready "$(curl -sf "http://127.0.0.1:$HP/readyz")" "/readyz"
metrics=$(curl -sf "http://127.0.0.1:$HP/metrics")
grep -qx 'sensorwire_bridge_output_samples_total{output="remote_write",result="sent"} 4' <<<"$metrics" ||
  fail "metrics do not count 4 remote-write samples sent: $(grep output_samples <<<"$metrics")"
assert_eq 405 "$(curl -s -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$HP/healthz")" "POST /healthz"

# --- the bridge that does not trust the CA: a clear error, no data, retries
cert_error() { grep -q 'SSL certificate problem: unable to get local issuer certificate' "$T/distrust.log"; }
wait_for 15 cert_error || fail "no certificate error logged: $(tail -5 "$T/distrust.log")"
assert_eq 0 "$(vm_count '{__name__=~"untrusted_.*"}')" "samples through an untrusted certificate"
kill -0 $DT || fail "the bridge exited on a certificate error"
# the reason is logged once, not once per try (the tries go on, at debug level)
retries() { curl -sf "http://127.0.0.1:$DHP/metrics" | sed -n 's/^sensorwire_bridge_output_retries_total{output="remote_write"} //p'; }
# shellcheck disable=SC2016 # evaluated anew on each try
wait_for 15 eval '[ "$(retries)" -ge 3 ]' || fail "fewer than 3 retries: $(retries)"
assert_eq 1 "$(grep -c '^warn.*certificate problem' "$T/distrust.log")" "warnings for the same reason"
# restarted with the CA, it delivers what its log kept; on the way down it
# keeps backing off until the stop deadline (5 s) instead of retrying in a loop
# keeps backing off until the stop deadline (5 s) instead of retrying in a
# loop: every wait a try announced but the last (which the deadline cuts)
# was waited out, so they add up to no more than the 5 s. (Counting the
# tries is no test: the decorrelated jitter (common/backoff.c) draws any
# delay from 100 ms to 3x the last one, and more than 10 tries came in 5 %
# of simulated flushes; a loop that ignores the delays adds up to far more)
stop_pid $DT TERM || fail "distrusting bridge exited with status $?"
waits=$(sed -n '/SIGTERM: stopping/,$p' "$T/distrust.log" | sed -n 's/.*retrying in \([0-9]*\) ms.*/\1/p')
tries=$(grep -c . <<<"$waits" || true)
waited=$(head -n -1 <<<"$waits" | awk '{ s += $1 } END { print s + 0 }')
[ "$waited" -le 5500 ] ||
  fail "$tries tries in the 5 s shutdown flush announced $waited ms of waits before the last: backoff not honoured"
distrust TLS_CA_FILE="$T/ca.crt"
wait_for 30 is 4 vm_count '{__name__=~"untrusted_.*"}' ||
  fail "the kept readings were not delivered after the restart: $(tail -5 "$T/distrust.log")"

stop_pid $BR TERM || fail "bridge exited with status $?"
stop_pid $DT TERM || fail "second bridge exited with status $?"
note "https ok"

#!/usr/bin/env bash
# sensor-bridge's command line: --version, --help, --check-config (secrets
# masked, exit 0/1, file:line errors), --dry-run (prints instead of
# sending: line protocol, and decoded remote-write series), SIGTERM exit 0.
. "$(dirname "$0")/lib.sh"
# the README's example payloads (ts from November 2024) are used verbatim:
# keep them inside TIMESTAMP_MAX_PAST, or the bridge clamps them to arrival
export TIMESTAMP_MAX_PAST=36500d

grep -Eqx 'sensor-bridge [0-9]+\.[0-9]+\.[0-9]+' <<<"$("$BRIDGE" --version)" || fail "--version"
"$BRIDGE" --help >"$T/help"
for k in MQTT_URL MQTT_TOPICS OUTPUTS STATE_DIR WAL_SYNC INFLUX_TOKEN REMOTE_WRITE_HEADERS METRIC_PREFIX; do
  grep -q "^  $k " "$T/help" || fail "--help does not describe $k"
done

# --check-config: effective configuration, secret masked, origin shown
echo "s3cr3t-value" >"$T/token"
cat >"$T/ok.env" <<CONF
# comment
OUTPUTS=influx
INFLUX_URL=http://127.0.0.1:9/
INFLUX_ORG=home
INFLUX_BUCKET=b
INFLUX_TOKEN_FILE=$T/token
CONF
MQTT_QOS=0 "$BRIDGE" --config "$T/ok.env" --check-config --batch-max-samples 5 >"$T/check" 2>&1 ||
  fail "--check-config refused a good file: $(cat "$T/check")"
grep -q "s3cr3t" "$T/check" && fail "--check-config printed the secret"
grep -q '^INFLUX_TOKEN=\*\*\*\*\*\*\*\*' "$T/check" || fail "token not shown masked"
grep -q "^OUTPUTS=influx .*# $T/ok.env:2" "$T/check" || fail "file origin missing: $(grep OUTPUTS "$T/check")"
grep -q '^MQTT_QOS=0 .*# env' "$T/check" || fail "env origin missing"
grep -q '^BATCH_MAX_SAMPLES=5 .*# flag' "$T/check" || fail "flag origin missing"

# bad files and settings: exit 1 with a message that names the problem
printf 'OUTPUTS=stdout\nINFLUXDB_URL=http://x\n' >"$T/bad.env"
rc=0; "$BRIDGE" --config "$T/bad.env" --check-config >"$T/out" 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status for an unknown key"
grep -q "$T/bad.env:2: unknown key 'INFLUXDB_URL'" "$T/out" || fail "no file:line error: $(cat "$T/out")"
rc=0; OUTPUTS=influx,kafka "$BRIDGE" --check-config >"$T/out" 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status for an unknown output"
grep -q "unknown output 'kafka'" "$T/out" || fail "unknown output not named"
rc=0; OUTPUTS=influx "$BRIDGE" --check-config >"$T/out" 2>&1 || rc=$?
assert_eq 1 "$rc" "influx without INFLUX_URL"
grep -qi "INFLUX_URL" "$T/out" || fail "missing INFLUX_URL not named: $(cat "$T/out")"
rc=0; "$BRIDGE" --influx-token abc >"$T/out" 2>&1 || rc=$?
assert_eq 1 "$rc" "secret on the command line"

# --dry-run: prints what it would send, sends nothing (the URLs are dead)
MQ=$(free_port)
start_mosquitto "$MQ"
MQTT_URL=tcp://127.0.0.1:$MQ MQTT_CLIENT_ID=dry OUTPUTS=influx,remote_write \
INFLUX_URL=http://127.0.0.1:9 INFLUX_DB=x REMOTE_WRITE_URL=http://127.0.0.1:9/api/v1/write \
BATCH_MAX_DELAY_MS=100 "$BRIDGE" --dry-run >"$T/dry.out" 2>"$T/dry.log" &
DRY=$!; track $DRY
wait_for 10 grep -q subscribed "$T/dry.log"
mosquitto_pub -p "$MQ" -q 1 -t sensors/rp3/desk \
  -m '{"ts":1732276800123,"temperature_celsius":21.4,"humidity_percent":48,"tags":{"location":"desk"}}'
wait_for 10 grep -q 'sensor_humidity_percent' "$T/dry.out"
wait_for 10 grep -q '^sensor,' "$T/dry.out"
grep -qxF 'sensor,location=desk,node=rp3,sensor=desk humidity_percent=48,temperature_celsius=21.4 1732276800123' "$T/dry.out" ||
  fail "dry-run line protocol: $(cat "$T/dry.out")"
grep -qF 'sensor_temperature_celsius{location="desk",node="rp3",sensor="desk"} 21.4 @1732276800123' "$T/dry.out" ||
  fail "dry-run remote-write series: $(cat "$T/dry.out")"
grep -qi "retry\|failed" "$T/dry.log" && fail "dry-run tried to send: $(cat "$T/dry.log")"

# SIGTERM: exit 0
rc=0; stop_pid $DRY TERM || rc=$?
assert_eq 0 "$rc" "exit status after SIGTERM"
note "cli ok"

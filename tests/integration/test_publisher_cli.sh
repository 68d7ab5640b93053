#!/usr/bin/env bash
# test_publisher_cli.sh - sensor-publisher without a broker: --once (the
# wiring check on a Pi: one JSON line per sensor, exit 1 when a read
# fails), --check-config (effective config, secrets masked, exit 0/1) and
# the start-up refusals with a clear message.
. "$(dirname "$0")/lib.sh"

unset MQTT_URL NODE_NAME SENSORS TAGS OUTBOX_DIR INTERVAL_S INTERVAL_MS MQTT_PASSWORD

# --once: three sim sensors, three JSON lines, exit 0
NODE_NAME=pi1 SENSORS="a=sim b=sim,base=0 c=sim,pressure=1013" TAGS=room=lab \
  "$PUBLISHER" --once >"$T/once.txt" 2>"$T/once.log" || fail "--once exited $?"
assert_eq 3 "$(wc -l <"$T/once.txt")" "--once lines"
assert_eq 3 "$(jq -c 'select(.seq == 1 and (.boot | test("^[0-9a-f]{16}$"))
  and .tags == {"room":"lab"} and (.temperature_celsius | type) == "number")' \
  "$T/once.txt" | wc -l)" "--once payloads"
assert_eq 1 "$(jq -r .boot "$T/once.txt" | sort -u | wc -l)" "--once boot ids"
assert_eq '["ts","seq","boot","temperature_celsius","humidity_percent","pressure_hectopascals","tags"]' \
  "$(sed -n 3p "$T/once.txt" | jq -c keys_unsorted)" "--once keys of c"
grep -q "sensor 'c' (sim) -> sensors/pi1/c" "$T/once.log" || fail "--once does not name the topic"

# --once: a sensor that fails every read: exit 1, only the good line printed
rc=0
NODE_NAME=pi1 SENSORS="good=sim bad=sim,fail=1" "$PUBLISHER" --once >"$T/once2.txt" \
  2>"$T/once2.log" || rc=$?
assert_eq 1 "$rc" "--once exit status with a failing sensor"
assert_eq 1 "$(wc -l <"$T/once2.txt")" "--once lines with a failing sensor"
grep -q "error publisher: sensor 'bad' (sim): read failed" "$T/once2.log" || fail "failure not logged"

# --once: a DS18B20 that is not there (empty sysfs): exit 1
mkdir -p "$T/sys"
rc=0
NODE_NAME=pi1 SYSFS_ROOT="$T/sys" SENSORS="probe=ds18b20,id=28-0000075b6b7e" \
  "$PUBLISHER" --once >"$T/once3.txt" 2>"$T/once3.log" || rc=$?
assert_eq 1 "$rc" "--once exit status with a missing ds18b20"
assert_eq 0 "$(wc -l <"$T/once3.txt")" "--once lines with a missing ds18b20"

# --check-config: effective values with origins, the secret masked, defaults filled in
printf 's3cret-pw\n' >"$T/pw"
NODE_NAME=pi1 SENSORS="a=sim" MQTT_PASSWORD_FILE="$T/pw" "$PUBLISHER" --check-config \
  --interval-s 5 >"$T/check.txt" 2>"$T/check.log" || fail "--check-config exited $?"
grep -q '^MQTT_PASSWORD=\*\*\*\*\*\*\*\* ' "$T/check.txt" || fail "password not masked"
grep -q 's3cret' "$T/check.txt" "$T/check.log" && fail "secret printed"
grep -q '^MQTT_CLIENT_ID=sensor-publisher-pi1 ' "$T/check.txt" || fail "client id default"
grep -q '^INTERVAL_S=5 .*# flag' "$T/check.txt" || fail "flag origin"
grep -q '^NODE_NAME=pi1 .*# env' "$T/check.txt" || fail "env origin"
grep -q '^# configuration ok: 1 sensor(s), readings on sensors/pi1/<sensor>' "$T/check.txt" ||
  fail "summary line"
# without NODE_NAME the host name is used
SENSORS="a=sim" "$PUBLISHER" --check-config >"$T/check2.txt" 2>&1 || true
host=$(hostname)
if [[ "$host" =~ ^[A-Za-z0-9_.-]{1,64}$ ]]; then
  grep -q "^NODE_NAME=$host .*# host name" "$T/check2.txt" || fail "host name default"
fi

# refusals: exit 1 with a message naming the problem
refuse() { # expected-message-part, env assignments...
  local want=$1; shift
  local rc=0
  env "$@" "$PUBLISHER" --check-config >"$T/refuse.txt" 2>&1 || rc=$?
  assert_eq 1 "$rc" "exit status for: $*"
  grep -qF -- "$want" "$T/refuse.txt" || fail "for '$*' expected '$want', got: $(cat "$T/refuse.txt")"
}
refuse "TAGS: part 2 'oops' is not key=value" NODE_NAME=n SENSORS=a=sim TAGS=a=1,oops
refuse "TAGS: part 1: 'node' is taken from the topic" NODE_NAME=n SENSORS=a=sim TAGS=node=x
refuse "NODE_NAME 'a/b' cannot be a topic level" NODE_NAME=a/b SENSORS=a=sim
refuse "NODE_NAME 'x+' cannot be a topic level" NODE_NAME=x+ SENSORS=a=sim
refuse "sensor name 'status' is reserved" NODE_NAME=n SENSORS=status=sim
refuse "TOPIC_PREFIX 'a/#' must not contain the wildcards" NODE_NAME=n SENSORS=a=sim TOPIC_PREFIX=a/#
refuse "TOPIC_PREFIX 'a/' must not have empty levels" NODE_NAME=n SENSORS=a=sim TOPIC_PREFIX=a/
refuse "MQTT_URL 'http://x' must start with" NODE_NAME=n SENSORS=a=sim MQTT_URL=http://x
refuse "MQTT_QOS: 2 is out of range 0..1" NODE_NAME=n SENSORS=a=sim MQTT_QOS=2
refuse "SENSORS: no sensors" NODE_NAME=n
refuse "a dht22 needs at least 2000 ms between reads; the interval is 1000 ms" \
  NODE_NAME=n SENSORS=d=dht22,chip=gpiochip0,line=4 INTERVAL_S=1
refuse "need an ssl:// or mqtts:// MQTT_URL" NODE_NAME=n SENSORS=a=sim MQTT_CA_FILE=/etc/hosts
refuse "READ_SCHEDULE 'burst': use spread or aligned" NODE_NAME=n SENSORS=a=sim READ_SCHEDULE=burst
# a secret on the command line is refused (it would show in ps)
rc=0
NODE_NAME=n SENSORS=a=sim "$PUBLISHER" --check-config --mqtt-password x >"$T/refuse.txt" 2>&1 || rc=$?
assert_eq 1 "$rc" "secret flag"

# --version, --help
"$PUBLISHER" --version | grep -q '^sensor-publisher [0-9]' || fail "--version"
# (to a file first: grep -q stops reading at the first match, and under
# pipefail the publisher's SIGPIPE on the rest of its long help fails the test)
"$PUBLISHER" --help >"$T/help.txt" || fail "--help exited $?"
grep -q -- '--once' "$T/help.txt" || fail "--help lacks --once"
note "cli ok"

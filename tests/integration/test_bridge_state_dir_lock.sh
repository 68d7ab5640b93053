#!/usr/bin/env bash
# One bridge per STATE_DIR, and the two operator commands that run beside a
# live bridge with its very settings:
# - a bridge with STATE_DIR streams from a real Mosquitto into a real
#   VictoriaMetrics;
# - `--check-config` with the same settings: exit 0, says the directory is in
#   use, writes nothing (the directory's files are byte- and mtime-identical
#   across a check; a missing STATE_DIR is not created);
# - `--dry-run` with the same settings, long enough to see part of the
#   stream: it connects with a random client id and a clean session, and
#   leaves STATE_DIR alone;
# - a second full bridge on the same STATE_DIR: refused at once, exit 1,
#   naming the directory and the PID of the first;
# then: the first bridge is alive, never lost its MQTT connection, and the
# store holds every reading 1..N exactly once (nothing acknowledged was lost,
# nothing went to the dry run instead).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"

N=3000
MQ=$(free_port); VM=$(free_port); HP=$(free_port)
start_mosquitto "$MQ"
start_victoria "$VM"
SETTINGS=(MQTT_URL="tcp://127.0.0.1:$MQ" MQTT_CLIENT_ID=fault-live STATE_DIR="$T/state-live"
  BATCH_MAX_DELAY_MS=100 HTTP_TIMEOUT_MS=2000 WAL_SYNC=never
  OUTPUTS=remote_write REMOTE_WRITE_URL="http://127.0.0.1:$VM/api/v1/write")
start_bridge live "${SETTINGS[@]:3}" HEALTH_PORT="$HP" HEALTH_ADDR=127.0.0.1
LIVE=$BRIDGE_PID
[ -s "$T/state-live/bridge.lock" ] || fail "no lock file in STATE_DIR"
assert_eq "$LIVE" "$(cat "$T/state-live/bridge.lock")" "PID in the lock file"

stream 1 $N 300 &
GEN=$!; track $GEN
wait_for 20 sh -c "[ \"\$(curl -sf http://127.0.0.1:$HP/metrics | awk '/result=\"accepted\"/{print \$NF}')\" -gt 100 ]" ||
  fail "the live bridge does not take the stream"

# --- --check-config beside it, same settings
rc=0; env "${SETTINGS[@]}" "$BRIDGE" --check-config >"$T/check.out" 2>&1 || rc=$?
assert_eq 0 "$rc" "--check-config exit status beside a live bridge ($(tail -3 "$T/check.out"))"
grep -q "^# configuration ok" "$T/check.out" || fail "--check-config did not say ok"
grep -qF "STATE_DIR '$T/state-live' is a writable directory (checked read-only), in use by sensor-bridge PID $LIVE" "$T/check.out" ||
  fail "--check-config does not report the directory in use: $(grep STATE_DIR "$T/check.out")"
kill -0 "$LIVE" || fail "the live bridge died during --check-config"

# --- --dry-run beside it, same settings, while readings flow
env "${SETTINGS[@]}" "$BRIDGE" --dry-run >"$T/dry.out" 2>"$T/dry.log" &
DRY=$!; track $DRY
wait_for 20 grep -q "subscribed to" "$T/dry.log"
wait_for 20 grep -q '^sensor_n{' "$T/dry.out" || fail "the dry run saw none of the stream"
sleep 1
stop_pid $DRY || fail "dry run exit status $?"
grep -q "connected to .* as 'fault-live-dry-run-[0-9a-f]\{16\}' (session new)" "$T/dry.log" ||
  fail "dry run did not use its own client id: $(grep connected "$T/dry.log")"
grep -Eq "New client connected from .* as fault-live-dry-run-[0-9a-f]{16} \(p[0-9], c1," "$T/mosquitto.log" ||
  fail "the broker did not see a clean-session dry-run client: $(grep 'New client' "$T/mosquitto.log")"
grep -q "STATE_DIR '$T/state-live' is left alone" "$T/dry.log" || fail "dry run does not say it leaves STATE_DIR alone"
if grep -qi "retry\|failed" "$T/dry.log"; then fail "dry run tried to send: $(cat "$T/dry.log")"; fi
kill -0 "$LIVE" || fail "the live bridge died during --dry-run"

# --- a second full bridge on the same STATE_DIR: refused at once
rc=0; timeout 20 env "${SETTINGS[@]}" "$BRIDGE" >"$T/second.log" 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status of a second bridge on the same STATE_DIR"
grep -qF "STATE_DIR '$T/state-live' is in use by another sensor-bridge (PID $LIVE)" "$T/second.log" ||
  fail "the refusal does not name the directory and the PID: $(cat "$T/second.log")"
if grep -q "connecting to" "$T/second.log"; then fail "the second bridge got as far as MQTT"; fi
kill -0 "$LIVE" || fail "the live bridge died when a second one started"

wait $GEN
wait_vm sensor_n $N 60
kill -0 "$LIVE" || fail "the live bridge is gone"
if grep -q "connection to .* lost" "$T/bridge-live.log"; then
  fail "the live bridge lost its MQTT connection: $(grep lost "$T/bridge-live.log")"
fi
assert_eq 1 "$(grep -c "connected to tcp://127.0.0.1:$MQ as 'fault-live'" "$T/bridge-live.log")" \
  "the live bridge's connections (one, never taken over)"
assert_eq $N "$(metric "$HP" 'result="accepted"')" "readings the live bridge accepted"
assert_eq $N "$(metric "$HP" 'output="remote_write",result="sent"')" "samples the live bridge sent"
sleep 1
assert_eq $N "$(vm_count sensor_n)" "distinct readings in the store"
note "$N of $N readings with --check-config, --dry-run and a refused second bridge beside the live one"

# --- --check-config writes nothing: the files of a stopped bridge's STATE_DIR
# are identical (content, size, mode, mtime) after it; a missing one stays missing
stop_pid "$LIVE" || fail "live bridge exit status $?"
snap() { (cd "$1" && find . -printf '%p %y %s %m %T@\n' | sort && find . -type f -exec md5sum {} + | sort); }
snap "$T/state-live" >"$T/before"
sleep 1.1 # a write now would show in the mtimes
env "${SETTINGS[@]}" "$BRIDGE" --check-config >"$T/check2.out" 2>&1 || fail "--check-config on a stopped bridge's STATE_DIR"
snap "$T/state-live" >"$T/after"
diff "$T/before" "$T/after" >"$T/snap.diff" || fail "--check-config changed STATE_DIR: $(cat "$T/snap.diff")"
grep -q "wal/" "$T/before" || fail "the snapshot saw no log files"
rc=0; env "${SETTINGS[@]}" STATE_DIR="$T/fresh" "$BRIDGE" --check-config >"$T/check3.out" 2>&1 || rc=$?
assert_eq 0 "$rc" "--check-config with a STATE_DIR yet to be made"
grep -qF "STATE_DIR '$T/fresh' does not exist yet" "$T/check3.out" || fail "not reported: $(grep STATE_DIR "$T/check3.out")"
[ -e "$T/fresh" ] && fail "--check-config created STATE_DIR"
rc=0; env "${SETTINGS[@]}" STATE_DIR="$T/no/such/dir" "$BRIDGE" --check-config >"$T/check4.out" 2>&1 || rc=$?
assert_eq 1 "$rc" "--check-config with a STATE_DIR that cannot be made"
[ -e "$T/no" ] && fail "--check-config created a parent"
# the lock goes with the process: a new bridge takes the directory over
start_bridge live "${SETTINGS[@]:3}"
stop_pid "$BRIDGE_PID" || fail "restarted bridge exit status $?"
note "check-config wrote nothing; the lock is released at exit"

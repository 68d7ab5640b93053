#!/usr/bin/env bash
# Fault 2: kill -9 of the bridge five times during a stream: nothing lost.
# Fault 4: the last log record truncated on disk while the bridge is
# stopped: it starts, reports the repair, and loses at most that record.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"

MQ=$(free_port); VM=$(free_port)
start_mosquitto "$MQ"
start_victoria "$VM"
RW=(OUTPUTS=remote_write REMOTE_WRITE_URL="http://127.0.0.1:$VM/api/v1/write")
start_bridge crash "${RW[@]}"

stream 1 3000 400 &
GEN=$!; track $GEN
for _ in 1 2 3 4 5; do
  sleep 1
  kill -9 "$BRIDGE_PID"; wait "$BRIDGE_PID" 2>/dev/null || true
  start_bridge crash "${RW[@]}"
done
wait $GEN
wait_vm sensor_n 3000 60
note "3000 of 3000 readings after 5 kill -9"

# --- torn tail: readings wait in the log (storage down), the bridge stops,
# its last record is cut short on disk
stop_pid "$VM_PID"
stream 3001 3050 200
wait_for 10 grep -q "retrying with backoff" "$T/bridge-crash.log"
stop_pid "$BRIDGE_PID"
# shellcheck disable=SC2012 # the bridge's own numbered segments
seg=$(ls "$T/state-crash/wal/"*.log | sort | tail -1)
size=$(stat -c %s "$seg")
truncate -s $((size - 5)) "$seg"
start_victoria "$VM"
start_bridge crash "${RW[@]}"
grep -q "torn or corrupt record" "$T/bridge-crash.log" || fail "no repair reported"
wait_vm sensor_n 3049 30
sleep 1
assert_eq 3049 "$(vm_count sensor_n)" "readings after cutting the last record"
note "repair reported, only the cut record lost"

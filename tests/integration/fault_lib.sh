# shellcheck shell=bash
# fault_lib.sh - helpers for the delivery fault tests: a numbered stream of
# readings (field n = seq, ts = BASE + seq, so every reading is identifiable
# in the store), a bridge with a durable STATE_DIR, and exact checks in
# VictoriaMetrics. Source after lib.sh.

BASE=$(( ($(date +%s) - 3600) * 1000 ))
BOOT=00000000000000aa

# payload of reading number $1
reading() { printf '{"ts":%d,"seq":%d,"boot":"%s","n":%d}\n' $((BASE + $1)) "$1" "$BOOT" "$1"; }

# stream FROM TO RATE: publishes readings FROM..TO at about RATE/s (QoS 1, one
# connection) on sensors/f/s; waits until mosquitto_pub has sent them all.
stream() {
  local from=$1 to=$2 rate=$3 i
  local pause; pause=$(awk "BEGIN{printf \"%.4f\", 10/$rate}")
  for ((i = from; i <= to; i++)); do
    reading $i
    (( (i - from) % 10 == 9 )) && sleep "$pause"
  done | mosquitto_pub -p "$MQ" -q 1 -l -t sensors/f/s -i "gen-$from"
}

# start_bridge NAME [VAR=value...]: a bridge with STATE_DIR=$T/state-NAME
start_bridge() {
  local name=$1; shift
  local log="$T/bridge-$name.log" before=0
  [ -e "$log" ] && before=$(wc -l <"$log")
  env MQTT_URL="tcp://127.0.0.1:$MQ" MQTT_CLIENT_ID="fault-$name" STATE_DIR="$T/state-$name" \
    BATCH_MAX_DELAY_MS=100 HTTP_TIMEOUT_MS=2000 WAL_SYNC=never "$@" \
    "$BRIDGE" >>"$T/bridge-$name.log" 2>&1 &
  BRIDGE_PID=$!
  track $BRIDGE_PID
  # this start's own "connected" line, not one from an earlier run
  wait_for 20 sh -c "tail -n +$((before + 1)) '$log' | grep -q 'connected to'"
}

# vm_check METRIC N: the store holds readings 1..N exactly once per timestamp,
# each with its own value.
vm_check() {
  local metric=$1 n=$2
  curl -sf "http://127.0.0.1:$VM/api/v1/export" --data-urlencode "match[]=$metric" >"$T/export.json"
  local got
  got=$(jq -s --argjson base "$BASE" --argjson n "$n" '
    [ .[] | [.timestamps, .values] | transpose[] ] | unique |
    { distinct_ts: (map(.[0]) | unique | length),
      ok: (map(.[0] - $base == .[1]) | all),
      seqs: (map(.[1]) | sort == [range(1; $n + 1)]) }' "$T/export.json" | jq -c .)
  [ "$got" = "{\"distinct_ts\":$n,\"ok\":true,\"seqs\":true}" ]
}

vm_count() {
  curl -sf "http://127.0.0.1:$VM/api/v1/export" --data-urlencode "match[]=$1" |
    jq -s '[.[].timestamps[]] | unique | length'
}

wait_vm() { # METRIC N SECONDS
  wait_for "$3" vm_check "$1" "$2" ||
    fail "$1: expected readings 1..$2 once each, store has $(vm_count "$1") distinct; $(jq -c '.values|length' "$T/export.json" 2>/dev/null | head -3)"
}

metric() { # PORT NAME-REGEX: a value from the bridge's /metrics
  # awk reads to the end: one that stopped at the first match would close the
  # pipe under curl, which then fails (pipefail) once /metrics is long
  curl -sf "http://127.0.0.1:$1/metrics" | awk -v re="$2" '!found && $0 ~ re { v = $NF; found = 1 } END { if (found) print v }'
}

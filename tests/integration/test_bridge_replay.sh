#!/usr/bin/env bash
# After an outage the bridge replays its backlog paced by
# REPLAY_MAX_SAMPLES_PER_S; and it counts, per publisher sensor, readings
# that never arrived (seq gaps, with a warning naming the topic) and
# duplicates.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port); H=$(free_port); HP=$(free_port)
start_mosquitto "$MQ"
mkdir -p "$T/rec"
echo '503' >"$T/rec/next-status"
"$TOOLS/fake_http" --port "$H" --record "$T/rec" >"$T/fake.log" 2>&1 &
track $!
wait_port "$H"

MQTT_URL=tcp://127.0.0.1:$MQ MQTT_CLIENT_ID=replay OUTPUTS=remote_write STATE_DIR=$T/state \
REMOTE_WRITE_URL=http://127.0.0.1:$H/api/v1/write BATCH_MAX_SAMPLES=50 BATCH_MAX_DELAY_MS=100 \
REPLAY_MAX_SAMPLES_PER_S=200 HEALTH_PORT=$HP "$BRIDGE" >"$T/bridge.log" 2>&1 &
track $!
wait_for 20 grep -q subscribed "$T/bridge.log"

# 400 readings while the receiver answers 503 once, then is slow to come back:
# the first batch fails, the rest piles up in the log
base=$(( ($(date +%s) - 600) * 1000 ))
for i in $(seq 400); do
  printf '{"ts":%d,"seq":%d,"boot":"00000000000000bb","n":%d}\n' "$((base + i))" "$i" "$i"
done | mosquitto_pub -p "$MQ" -q 1 -l -t sensors/r/s
sent() { curl -sf "http://127.0.0.1:$HP/metrics" | awk '/output_samples_total.*result="sent"/ {print $NF}'; }
wait_for 30 is 400 sent || fail "sent $(sent) of 400 samples"
# 400 samples at 200/s take about 2 s once the backlog is replayed: the
# successful requests must be spread over at least 1.5 s
# shellcheck disable=SC2012 # the receiver's own numbered files, in order
first=$(stat -c %.3Y "$(ls "$T"/rec/*.head | sed -n 2p)")
# shellcheck disable=SC2012
last=$(stat -c %.3Y "$(ls "$T"/rec/*.head | tail -1)")
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b - a >= 1.5) }' ||
  fail "replay not paced: 400 samples delivered in $(awk -v a="$first" -v b="$last" 'BEGIN{print b-a}') s"
# shellcheck disable=SC2012
n_req=$(ls "$T"/rec/*.head | wc -l)
[ "$n_req" -ge 9 ] || fail "expected at least 8 batches of 50 after the failed one, got $((n_req - 1))"

# gaps and duplicates: seq 401, 402, then 405 (2 never arrived), then 405 again
for s in 401 402 405 405; do
  printf '{"ts":%d,"seq":%d,"boot":"00000000000000bb","n":%d}\n' $((base + s)) $s $s
done | mosquitto_pub -p "$MQ" -q 1 -l -t sensors/r/s
wait_for 10 grep -q "'sensors/r/s': 2 readings never arrived (seq jumped to 405)" "$T/bridge.log" ||
  fail "no gap warning"
metrics=$(curl -sf "http://127.0.0.1:$HP/metrics")
grep -qxF 'sensorwire_bridge_seq_gaps_total 2' <<<"$metrics" || fail "gaps: $(grep seq_ <<<"$metrics")"
grep -qxF 'sensorwire_bridge_seq_duplicates_total 1' <<<"$metrics" || fail "duplicates: $(grep seq_ <<<"$metrics")"
note "replay paced; gaps and duplicates counted"

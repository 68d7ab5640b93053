#!/usr/bin/env bash
# Upgrade: a log left by sensor-bridge 0.1.0 (log format 1: <lsn>.seg files,
# the JSON payloads as received) is sent by this bridge, which writes format 2
# (<lsn>.log, parsed readings as binary records). The old readings come out
# first, in order, then new ones; the old segment goes once it is sent.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port)
start_mosquitto "$MQ"
mkdir -p "$T/state/wal"
# three format 1 frames: u32 len | u32 crc32 | i64 arrival | u16 topic len | topic | payload
python3 - "$T/state/wal/0000000000000001.seg" <<'EOF'
import struct, sys, zlib
recs = [(b"sensors/old/s", b'{"ts":1700000000001,"seq":1,"boot":"00000000000000cc","v":1}'),
        (b"sensors/old/status", b"online"),
        (b"sensors/old/s", b'{"ts":1700000000002,"seq":2,"boot":"00000000000000cc","v":2,'
                           b'"tags":{"room":"attic"}}')]
out = b""
for i, (topic, payload) in enumerate(recs):
    body = struct.pack("<qH", 1700000000000 + i, len(topic)) + topic + payload
    out += struct.pack("<II", len(body), zlib.crc32(body)) + body
open(sys.argv[1], "wb").write(out)
EOF

MQTT_URL=tcp://127.0.0.1:$MQ MQTT_CLIENT_ID=fmt1 OUTPUTS=stdout STATE_DIR=$T/state \
BATCH_MAX_DELAY_MS=100 "$BRIDGE" >"$T/out.lp" 2>"$T/bridge.log" &
BR=$!
track $BR
wait_for 20 grep -q subscribed "$T/bridge.log"
grep -q "resuming with 3 readings to send" "$T/bridge.log" || fail "old log not found"
# a fresh reading carries a current ts (one from 2023 would be clamped by
# TIMESTAMP_MAX_PAST); the old log's records are replayed as stored
now=$(date +%s%3N)
mosquitto_pub -p "$MQ" -q 1 -t sensors/new/s -m "{\"ts\":$now,\"v\":3}"
wait_for 10 sh -c "[ \$(wc -l <'$T/out.lp') -ge 3 ]" || fail "expected 3 lines, got: $(cat "$T/out.lp")"
expect='sensor,node=old,sensor=s v=1 1700000000001
sensor,node=old,room=attic,sensor=s v=2 1700000000002
sensor,node=new,sensor=s v=3 '"$now"
assert_eq "$expect" "$(cat "$T/out.lp")" "lines from the old and the new log"
compgen -G "$T/state/wal/*.log" >/dev/null || fail "no format 2 segment: $(ls "$T/state/wal")"
wait_for 10 sh -c "! ls '$T/state/wal/' | grep -q '\.seg\$'" ||
  fail "the sent format 1 segment is still there: $(ls "$T/state/wal")"
note "format 1 log sent after the upgrade, then new readings"

#!/usr/bin/env bash
# test_mqtt_version_auto.sh - MQTT_VERSION=auto: MQTT 5 where the broker
# speaks it, 3.1.1 where it refuses 5 with "unacceptable protocol version".
# Mosquitto 2 accepts every version on every listener, so the broker that
# knows only 3.1.1 is played by a small proxy in front of the real Mosquitto
# (the only fake part): it answers an MQTT 5 CONNECT with the 3.1.1 CONNACK
# code 1, as a 3.1.1 broker does, and passes every other connection through.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"

MQ=$(free_port); VM=$(free_port); OLD=$(free_port)
start_mosquitto "$MQ"
start_victoria "$VM"

python3 - "$OLD" "$MQ" >>"$T/proxy.log" 2>&1 <<'EOF' &
import socket, sys, threading
lport, uport = int(sys.argv[1]), int(sys.argv[2])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", lport))
srv.listen(16)

def read_n(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            raise EOFError
        b += d
    return b

def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

def handle(c):
    try:
        first = read_n(c, 1)
        rl, mult, raw = 0, 1, b""
        while True:
            x = read_n(c, 1)
            raw += x
            rl += (x[0] & 127) * mult
            mult *= 128
            if not x[0] & 128:
                break
        body = read_n(c, rl)
        n = body[0] << 8 | body[1]
        level = body[2 + n]
        if level == 5:
            print("refused MQTT 5", flush=True)
            c.sendall(b"\x20\x02\x00\x01")
            c.close()
            return
        print("passed level %d" % level, flush=True)
        u = socket.create_connection(("127.0.0.1", uport))
        u.sendall(first + raw + body)
        threading.Thread(target=pipe, args=(u, c), daemon=True).start()
        pipe(c, u)
    except (EOFError, OSError, IndexError):
        c.close()

while True:
    conn, _ = srv.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
EOF
track $!
wait_port "$OLD"

# 1. auto against the "3.1.1 broker": refused once, then 3.1.1, and readings flow
start_bridge auto MQTT_URL="tcp://127.0.0.1:$OLD" MQTT_VERSION=auto OUTPUTS=remote_write \
  REMOTE_WRITE_URL="http://127.0.0.1:$VM/api/v1/write"
AUTO=$BRIDGE_PID
grep -q "refuses MQTT 5 (unacceptable protocol version): MQTT_VERSION=auto falls back to 3.1.1" \
  "$T/bridge-auto.log" || fail "no fallback logged: $(cat "$T/bridge-auto.log")"
grep -q "(session new), MQTT 3.1.1" "$T/bridge-auto.log" || fail "not connected with 3.1.1"
wait_for 10 grep -q subscribed "$T/bridge-auto.log"
stream 1 50 500
wait_vm sensor_n 50 20
assert_eq 1 "$(grep -c "refused MQTT 5" "$T/proxy.log")" "MQTT 5 CONNECTs the proxy refused"

# the publisher falls back the same way
MQTT_URL=tcp://127.0.0.1:$OLD MQTT_VERSION=auto NODE_NAME=old TOPIC_PREFIX=home SENSORS=t=sim \
  INTERVAL_MS=200 "$PUBLISHER" 2>>"$T/publisher.log" &
track $!
wait_for 10 grep -q "(session new), MQTT 3.1.1" "$T/publisher.log"
got=$(mosquitto_sub -p "$MQ" -t home/old/status -C 1 -W 5)
assert_eq online "$got" "the publisher's status through the 3.1.1-only broker"
grep -q "falls back to 3.1.1" "$T/publisher.log" || fail "publisher: no fallback logged"

# 2. MQTT_VERSION=5 against it: refused with the reason, never connected
env MQTT_URL="tcp://127.0.0.1:$OLD" MQTT_CLIENT_ID=only5 MQTT_VERSION=5 "$BRIDGE" \
  >>"$T/bridge-5.log" 2>&1 &
FIVE=$!
track $FIVE
wait_for 10 grep -q "cannot connect to" "$T/bridge-5.log"
sleep 2
grep -q "connected to" "$T/bridge-5.log" && fail "MQTT_VERSION=5 connected to a 3.1.1 broker"
note "MQTT_VERSION=5 refused: $(grep -m1 "cannot connect" "$T/bridge-5.log")"
stop_pid $FIVE || true

# 3. auto against Mosquitto itself: MQTT 5, no fallback
start_bridge direct MQTT_VERSION=auto
grep -q "(session new), MQTT 5" "$T/bridge-direct.log" || fail "auto did not use MQTT 5"
grep -q "falls back" "$T/bridge-direct.log" && fail "auto fell back against Mosquitto 2"
stop_pid "$AUTO" || fail "bridge exited with $?"
note "auto: 3.1.1 behind a 3.1.1-only broker (50 of 50 readings), 5 against Mosquitto"

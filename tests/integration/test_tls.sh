#!/usr/bin/env bash
# test_tls.sh - MQTT over TLS against a real Mosquitto with TLS listeners:
#   - publisher and bridge connect with the CA, a client certificate (the
#     listener requires one) and the host name checked; readings flow
#     publisher -> broker -> bridge;
#   - a broker whose certificate names another host is refused (hostname
#     verification is on), and so is a publisher without a client certificate;
#   - the static publisher that `make` builds (two Paho variants, see
#     common/paho.h) over tcp:// and over ssl:// alike.
# Certificates are made with the openssl command (make_certs in lib.sh).
. "$(dirname "$0")/lib.sh"

# --- a CA, a broker certificate for 127.0.0.1/localhost, one for another
# host, and a client certificate (lib.sh)
make_certs "$T"

PLAIN=$(free_port) TLS=$(free_port) WRONG=$(free_port)
start_mosquitto "$PLAIN" \
  "listener $TLS 127.0.0.1" "cafile $T/ca.crt" "certfile $T/broker.crt" "keyfile $T/broker.key" \
  "require_certificate true" \
  "listener $WRONG 127.0.0.1" "cafile $T/ca.crt" "certfile $T/elsewhere.crt" "keyfile $T/elsewhere.key"
wait_port "$TLS"
wait_port "$WRONG"

# the plain listener is only for watching
mosquitto_sub -h 127.0.0.1 -p "$PLAIN" -v -t 'sensors/#' >"$T/sub.txt" 2>>"$T/sub.log" &
track $!
sleep 0.3

TLS_ENV=(MQTT_CA_FILE="$T/ca.crt" MQTT_CERT_FILE="$T/client.crt" MQTT_KEY_FILE="$T/client.key")

# --- the bridge over TLS (by name: localhost), printing line protocol
env "${TLS_ENV[@]}" MQTT_URL="mqtts://localhost:$TLS" MQTT_CLIENT_ID=tls-bridge OUTPUTS=stdout \
  BATCH_MAX_DELAY_MS=200 "$BRIDGE" >"$T/bridge.out" 2>"$T/bridge.log" &
BR=$!
track $BR
bridge_subscribed() { grep -q 'subscribed' "$T/bridge.log"; }
wait_for 15 bridge_subscribed || fail "bridge did not subscribe over TLS: $(tail -5 "$T/bridge.log")"

# --- publishers: run BIN against URL until 3 readings arrived, or (refused)
# until it logged that it cannot connect and 2 s more; echo how many arrived
publish() { # name bin url [env...]
  local name=$1 bin=$2 url=$3 pid
  shift 3
  env "$@" MQTT_URL="$url" NODE_NAME="$name" SENSORS="t=sim" INTERVAL_MS=200 \
    "$bin" >"$T/$name.out" 2>"$T/$name.log" &
  pid=$!
  track $pid
  # shellcheck disable=SC2317 # run by wait_for
  arrived() { [ "$(grep -c "^sensors/$name/t " "$T/sub.txt")" -ge 3 ]; }
  refused() { grep -q 'cannot connect' "$T/$name.log"; }
  wait_for 15 eval 'arrived || refused' || true
  refused && sleep 2
  stop_pid $pid TERM || fail "publisher $name exited with status $?"
  grep -c "^sensors/$name/t " "$T/sub.txt" || true
}
n=$(publish tls-pub "$PUBLISHER" "ssl://127.0.0.1:$TLS" "${TLS_ENV[@]}")
[ "$n" -ge 3 ] || fail "publisher over TLS: $n readings arrived; log: $(tail -5 "$T/tls-pub.log")"
grep -q "connected to ssl://127.0.0.1:$TLS" "$T/tls-pub.log" || fail "publisher did not say it connected over TLS"

# the bridge got them over its TLS session: line protocol with node and sensor tags
bridge_has() { grep -q 'node=tls-pub,sensor=t' "$T/bridge.out"; }
wait_for 10 bridge_has || fail "bridge printed no reading of tls-pub: $(tail -3 "$T/bridge.out")"

# --- refused: a broker certificate for another host name
n=$(publish wrong-host "$PUBLISHER" "ssl://127.0.0.1:$WRONG" "${TLS_ENV[@]}")
assert_eq 0 "$n" "readings through a broker with a certificate for another host"
grep -qi 'cannot connect' "$T/wrong-host.log" || fail "no connect error logged for the wrong host: $(tail -3 "$T/wrong-host.log")"
grep -q '^sensors/wrong-host/status online' "$T/sub.txt" && fail "wrong-host came online"

# --- refused: no client certificate where the listener requires one
n=$(publish no-cert "$PUBLISHER" "ssl://127.0.0.1:$TLS" MQTT_CA_FILE="$T/ca.crt")
assert_eq 0 "$n" "readings without a client certificate"

# --- the static publisher, as `make` builds it (make test passes its path)
if [ -n "${STATIC_PUBLISHER:-}" ]; then
  [ -x "$STATIC_PUBLISHER" ] || fail "STATIC_PUBLISHER=$STATIC_PUBLISHER is not a program"
  readelf -lW "$STATIC_PUBLISHER" | grep -q 'INTERP' && fail "$STATIC_PUBLISHER is not statically linked"
  n=$(publish static-tcp "$STATIC_PUBLISHER" "tcp://127.0.0.1:$PLAIN")
  [ "$n" -ge 3 ] || fail "static publisher over tcp://: $n readings; log: $(tail -5 "$T/static-tcp.log")"
  n=$(publish static-tls "$STATIC_PUBLISHER" "ssl://localhost:$TLS" "${TLS_ENV[@]}")
  [ "$n" -ge 3 ] || fail "static publisher over ssl://: $n readings; log: $(tail -5 "$T/static-tls.log")"
  n=$(publish static-wrong "$STATIC_PUBLISHER" "ssl://127.0.0.1:$WRONG" "${TLS_ENV[@]}")
  assert_eq 0 "$n" "static publisher through a broker with a certificate for another host"
  has_static() { grep -q 'node=static-tls,sensor=t' "$T/bridge.out"; }
  wait_for 10 has_static || fail "bridge printed no reading of the static publisher"
  note "static publisher ok over tcp:// and ssl://"
else
  note "STATIC_PUBLISHER not set (run by make test): static publisher not checked"
fi

stop_pid $BR TERM || fail "bridge exited with status $?"
note "tls ok"

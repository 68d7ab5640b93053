#!/usr/bin/env bash
# test_deploy_mosquitto.sh - every Mosquitto config we ship (config/,
# k8s/base/, compose/dev/) runs in the real mosquitto 2.0, changed only in
# paths and port: it must stay up and accept a connection. With the
# Kubernetes config, its password file and its ACL, the ACL must do what it
# promises: a publisher writes only under sensors/<its user>/, the bridge
# and the viewer only read. A config with an unknown directive must make
# mosquitto exit.
. "$(dirname "$0")/lib.sh"
cd "$SW_ROOT"
command -v mosquitto_pub >/dev/null || fail "mosquitto-clients are not installed"

# adapt CONF PORT OUT: our config on 127.0.0.1:PORT with files under $T
adapt() {
  local d
  d=$T/$(basename "$(dirname "$1")")
  mkdir -p "$d/data"
  sed -e "s|^listener 1883.*|listener $2 127.0.0.1|" \
      -e "s|^persistence_location .*|persistence_location $d/data/|" \
      -e "s|^password_file .*|password_file $T/auth/passwd|" \
      -e "s|^acl_file .*|acl_file $T/auth/acl|" \
      -e "s|^log_dest .*|log_dest stderr|" "$1" >"$3"
  # as root, mosquitto drops to its own user: let that user in
  if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    chmod 711 "$T"
    chown -R mosquitto "$d" "$T/auth"
  fi
  grep -q "^listener $2 127.0.0.1$" "$3" || fail "$1 has no 'listener 1883' line"
}

# run_conf CONF: starts mosquitto on it, checks it stays up and serves
run_conf() {
  local port pid
  port=$(free_port)
  adapt "$1" "$port" "$T/run.conf"
  /usr/sbin/mosquitto -c "$T/run.conf" >>"$T/mosquitto.log" 2>&1 &
  pid=$!
  track $pid
  wait_port "$port"
  sleep 0.5
  kill -0 $pid 2>/dev/null || fail "mosquitto exited with $1"
  # a connection that is accepted (CONNACK 0) and a round trip where allowed
  # (exit 27: connected, nothing arrived within -W 1; a refusal is 5)
  local rc=0
  mosquitto_sub -h 127.0.0.1 -p "$port" -u viewer -P viewer-pw -t 'sensors/#' -W 1 -C 1 \
    >/dev/null 2>"$T/sub.err" || rc=$?
  if [ $rc != 0 ] && [ $rc != 27 ] || grep -qiE 'refused|error|not authori[sz]ed' "$T/sub.err"; then
    cat "$T/sub.err"; fail "mosquitto with $1 refused a connection (mosquitto_sub exit $rc)"
  fi
  kill -0 $pid 2>/dev/null || fail "mosquitto died with $1"
  PORT=$port
  PID=$pid
}

# users for the authenticated configs: two nodes, the bridge, a viewer
mkdir -p "$T/auth"
: >"$T/auth/passwd"
for u in rp3:rp3-pw rp4:rp4-pw sensor-bridge:bridge-pw viewer:viewer-pw; do
  mosquitto_passwd -b "$T/auth/passwd" "${u%%:*}" "${u#*:}"
done
chmod 0600 "$T/auth/passwd"
cp k8s/base/mosquitto.acl "$T/auth/acl"

for conf in config/mosquitto.conf k8s/base/mosquitto.conf compose/dev/mosquitto.conf; do
  run_conf "$conf"
  note "$conf: mosquitto up on port $PORT, accepted a connection"
  stop_pid "$PID" || true
done

# --- the ACL, with the Kubernetes config --------------------------------------
run_conf k8s/base/mosquitto.conf
sub() { # user pass out
  mosquitto_sub -h 127.0.0.1 -p "$PORT" -u "$1" -P "$2" -q 1 -v -t 'sensors/#' >"$3" 2>"$3.err" &
  track $!
  SUBS+=($!)
}
SUBS=()
sub sensor-bridge bridge-pw "$T/bridge.out"
sub rp4 rp4-pw "$T/rp4.out"
sleep 0.5
pub() { mosquitto_pub -h 127.0.0.1 -p "$PORT" -u "$1" -P "$2" -q 1 -t "$3" -m "$4"; }
pub rp3 rp3-pw sensors/rp3/desk '{"temperature_celsius":21.5}'   # allowed
pub rp3 rp3-pw sensors/rp4/desk '{"temperature_celsius":99}'     # another node: denied
pub viewer viewer-pw sensors/rp3/desk '{"temperature_celsius":-1}' # viewer: denied
pub sensor-bridge bridge-pw sensors/rp3/desk '{"temperature_celsius":-2}' # bridge: denied
pub rp3 wrong-pw sensors/rp3/desk '{"temperature_celsius":-3}' 2>/dev/null &&
  fail "a wrong password was accepted"
pub rp3 rp3-pw sensors/rp3/status online                          # allowed (own status)
wait_for 5 grep -q 'sensors/rp3/status online' "$T/bridge.out" || { cat "$T/bridge.out"; fail "the bridge did not receive rp3's status"; }
sleep 0.5
for s in "${SUBS[@]}"; do stop_pid "$s" || true; done
expect='sensors/rp3/desk {"temperature_celsius":21.5}
sensors/rp3/status online'
assert_eq "$expect" "$(cat "$T/bridge.out")" "what the bridge user received"
assert_eq "" "$(cat "$T/rp4.out")" "what another publisher could read"
note "ACL: rp3 wrote only under sensors/rp3/, viewer and bridge could not write, rp4 could not read"
stop_pid "$PID" || true

# --- negative self-check: mosquitto must refuse a broken config -----------
sed 's/^max_queued_messages /max_queued_mesages /' k8s/base/mosquitto.conf >"$T/broken.conf"
adapt "$T/broken.conf" "$(free_port)" "$T/broken-run.conf"
if timeout 5 /usr/sbin/mosquitto -c "$T/broken-run.conf" >"$T/broken.log" 2>&1; then
  fail "mosquitto accepted a config with an unknown directive"
fi
grep -qi 'unknown configuration variable\|error' "$T/broken.log" || { cat "$T/broken.log"; fail "mosquitto failed, but not on the config"; }
note "broken config rejected: $(grep -i -m1 'error' "$T/broken.log")"

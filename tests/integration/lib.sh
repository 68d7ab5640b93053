# shellcheck shell=bash
# lib.sh - shared helpers for integration tests: a private temporary
# directory, free loopback ports, the real services from Debian (Mosquitto,
# VictoriaMetrics, Prometheus, InfluxDB 1.x) started on them, and cleanup that
# stops every process this test started, by PID. Source it first:
#   . "$(dirname "$0")/lib.sh"
set -euo pipefail

SW_ROOT=${SW_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SW_BIN=${SW_BIN:-$SW_ROOT/${BUILD:-build}}
# (for the tests that source this)
# shellcheck disable=SC2034
BRIDGE=$SW_BIN/sensor-bridge PUBLISHER=$SW_BIN/sensor-publisher TOOLS=$SW_BIN/tools
T=$(mktemp -d "${TMPDIR:-/tmp}/sw-it.XXXXXX")
SW_PIDS=()

cleanup() {
  local rc=$?
  for ((i = ${#SW_PIDS[@]} - 1; i >= 0; i--)); do
    kill "${SW_PIDS[i]}" 2>/dev/null || true
  done
  for p in "${SW_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [ $rc -ne 0 ]; then
    for f in "$T"/*.log; do
      [ -e "$f" ] || continue
      echo "--- $f (last 30 lines)"; tail -n 30 "$f"
    done
  fi
  if [ -n "${KEEP_T:-}" ]; then echo "# kept $T"; else rm -rf "$T"; fi
  exit $rc
}
trap cleanup EXIT
# a failing command under set -e says where it was
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*"; }
assert_eq() { # expected actual what
  [ "$1" == "$2" ] || fail "$3: expected '$1', got '$2'"
}

# Registers a PID for cleanup.
track() { SW_PIDS+=("$1"); }
# Stops one tracked PID (SIGTERM, then SIGKILL after 15 s); returns its status.
stop_pid() {
  local pid=$1 sig=${2:-TERM}
  kill -"$sig" "$pid" 2>/dev/null || return 0
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  return $rc
}

# A TCP port nobody listens on (loopback).
free_port() {
  local p
  for _ in $(seq 100); do
    # below the kernel's ephemeral range (32768-60999), which outgoing
    # connections use: a port one of them holds would refuse our bind
    # tests run side by side (tests/run.sh TEST_JOBS) each take ports from
    # their own slot's share of that range
    p=$((10000 + (${TEST_SLOT:-1} - 1) * (22000 / ${TEST_JOBS:-1}) + RANDOM % (22000 / ${TEST_JOBS:-1})))
    # and never one this test was given already: the two calls of
    # `mq=$(free_port) hp=$(free_port)` come before either port is bound,
    # and a run of make test once drew the same port for both (the callers
    # are subshells, so the list is a file)
    grep -qx "$p" "$T/.ports" 2>/dev/null && continue
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
      echo "$p" >>"$T/.ports"
      echo "$p"; return 0
    fi
  done
  fail "no free port"
}

wait_port() { # port [seconds]
  local n=$(( ${2:-20} * 10 ))
  for _ in $(seq $n); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  fail "nothing listens on 127.0.0.1:$1"
}

# is EXPECTED CMD...: CMD's output equals EXPECTED (for wait_for: the
# command runs anew each try, unlike a "$(...)" in wait_for's arguments).
is() { local want=$1; shift; [ "$("$@")" = "$want" ]; }

# wait_for SECONDS CMD...: retries CMD every 0.2 s until it succeeds.
wait_for() {
  local n=$(( $1 * 5 )); shift
  for _ in $(seq $n); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  "$@"
}

# make_certs DIR: a test CA (DIR/ca.crt) and, signed by it, DIR/broker.{crt,key}
# for 127.0.0.1 and localhost, DIR/elsewhere.{crt,key} for another host name,
# and DIR/client.{crt,key}; made with the openssl command, valid for 2 days.
make_certs() {
  local d=$1 log=$1/openssl.log
  mkdir -p "$d"
  _ossl() { openssl "$@" >>"$log" 2>&1 || fail "openssl $1 failed: $(tail -3 "$log")"; }
  _ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sensorwire test CA" \
    -keyout "$d/ca.key" -out "$d/ca.crt"
  local name san
  for name in broker elsewhere client; do
    case $name in
    broker) san="IP:127.0.0.1,DNS:localhost" ;;
    elsewhere) san="DNS:broker.elsewhere.example" ;;
    client) san="DNS:client" ;;
    esac
    _ossl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$d/$name.key" -out "$d/$name.csr"
    printf 'subjectAltName=%s\n' "$san" >"$d/$name.ext"
    _ossl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
      -days 2 -extfile "$d/$name.ext" -out "$d/$name.crt"
  done
}

# start_mosquitto PORT [extra config lines]: sets MOSQ_PID, MOSQ_CONF.
start_mosquitto() {
  local port=$1; shift || true
  MOSQ_CONF=${MOSQ_CONF:-$T/mosquitto.conf}
  mkdir -p "$T/mosquitto"
  {
    echo "listener $port 127.0.0.1"
    echo "allow_anonymous true"
    # as root, mosquitto would drop to its own user, which cannot write in $T
    echo "user $(id -un)"
    echo "persistence true"
    echo "persistence_location $T/mosquitto/"
    echo "autosave_interval 1"
    echo "max_queued_messages 100000"
    printf '%s\n' "$@"
  } >"$MOSQ_CONF"
  /usr/sbin/mosquitto -c "$MOSQ_CONF" >>"$T/mosquitto.log" 2>&1 &
  MOSQ_PID=$!
  track $MOSQ_PID
  wait_port "$port"
}

# start_victoria PORT [flags]: sets VM_PID (data in $T/vm survives a restart). Fresh data is queryable at once.
# With -tls among the flags it serves https (its readiness is probed without
# checking the certificate; the tests check that themselves).
start_victoria() {
  local port=$1 scheme=http; shift
  [[ " $* " == *" -tls "* ]] && scheme=https
  victoria-metrics -httpListenAddr=127.0.0.1:"$port" -storageDataPath="$T/vm" \
    -retentionPeriod=100y -search.latencyOffset=0s -search.disableCache \
    -loggerLevel=ERROR "$@" >>"$T/victoria.log" 2>&1 &
  VM_PID=$!
  track $VM_PID
  wait_for 20 curl -sfk "$scheme://127.0.0.1:$port/health"
}

# vm_export BASE_URL MATCH [curl options]: the series matching MATCH, one
# line each: [labels sorted by name, timestamps, values], lines sorted
vm_export() {
  local base=$1 match=$2; shift 2
  curl -sf "$@" "$base/api/v1/export" --data-urlencode "match[]=$match" |
    jq -c '[(.metric|to_entries|sort_by(.key)|from_entries), .timestamps, .values]' | sort
}

# start_prometheus PORT: remote-write receiver on /api/v1/write. Sets PROM_PID.
start_prometheus() {
  local port=$1
  printf 'global:\n  scrape_interval: 1h\n' >"$T/prometheus.yml"
  prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
    --web.listen-address=127.0.0.1:"$port" --web.enable-remote-write-receiver \
    --storage.tsdb.retention.time=100y --log.level=warn >>"$T/prometheus.log" 2>&1 &
  PROM_PID=$!
  track $PROM_PID
  wait_for 30 curl -sf "http://127.0.0.1:$port/-/ready"
}

# start_influxdb PORT: InfluxDB 1.x with its HTTP API on PORT. Sets INFLUX_PID.
start_influxdb() {
  local port=$1 rpc
  rpc=$(free_port)
  mkdir -p "$T/influx"
  cat >"$T/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$T/influx/meta"
[data]
  dir = "$T/influx/data"
  wal-dir = "$T/influx/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$port"
  log-enabled = false
[monitor]
  store-enabled = false
CONF
  influxd -config "$T/influxdb.conf" >>"$T/influxdb.log" 2>&1 &
  INFLUX_PID=$!
  track $INFLUX_PID
  wait_for 30 curl -sf "http://127.0.0.1:$port/ping"
}

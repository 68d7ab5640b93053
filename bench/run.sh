#!/usr/bin/env bash
# bench/run.sh - `make bench`: throughput and footprint of sensor-bridge and
# sensor-publisher on this machine, next to the obvious yardsticks
# (mosquitto_sub on the same broker; a Python publisher on python3-paho-mqtt).
#
# Everything runs on loopback with real services, started here and stopped by
# PID (tests/integration/lib.sh). The bench reports; it never fails the build
# because a goal is missed (exit 0 unless something could not run at all).
#
#   BUILD=build/bench bench/run.sh          (what `make bench` does)
#
# Knobs (environment):
#   BENCH_N=100000        messages per throughput phase
#   BENCH_SENSORS=1000    distinct topics the load is spread over
#   BENCH_STEADY_RATE=10000 BENCH_STEADY_S=10   the footprint run
#   BENCH_PUB_S=20 BENCH_PUB_INTERVAL_MS=100 BENCH_PUB_SENSORS=4   publishers
#   BENCH_PUB_ROUNDS=5    side-by-side publisher rounds (the median counts)
#   BENCH_PACE_RUNS=5     drains into VictoriaMetrics per pacing mode (the median counts)
#   BENCH_ONLY=bridge|publisher|pacing   run one section (pacing: only the
#     bridge's pacing phases, which bridge runs too)
#   BENCH_THROTTLE_RATE=20000   the throttling receiver's rate, samples/s
#   BENCH_THROTTLE_S=30         each throttled backlog holds this many seconds
#                               of samples at that rate
#
# The bridge runs with its default configuration plus a durable log
# (STATE_DIR set, WAL_SYNC=1000, the default), as deployed.
export BUILD=${BUILD:-build/bench}
SW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export SW_ROOT SW_BIN=$SW_ROOT/$BUILD
. "$SW_ROOT/tests/integration/lib.sh"

N=${BENCH_N:-100000}
SENSORS=${BENCH_SENSORS:-1000}
STEADY_RATE=${BENCH_STEADY_RATE:-10000}
STEADY_S=${BENCH_STEADY_S:-10}
PUB_S=${BENCH_PUB_S:-20}
PUB_INTERVAL_MS=${BENCH_PUB_INTERVAL_MS:-100}
PUB_SENSORS=${BENCH_PUB_SENSORS:-4}
PUB_ROUNDS=${BENCH_PUB_ROUNDS:-5}
PACE_RUNS=${BENCH_PACE_RUNS:-5}
ONLY=${BENCH_ONLY:-all}
THROTTLE_RATE=${BENCH_THROTTLE_RATE:-20000}
THROTTLE_S=${BENCH_THROTTLE_S:-30}
FIELDS=2                       # loadgen payloads: temperature + humidity
THROTTLE_SAMPLES=$((THROTTLE_RATE * THROTTLE_S))
TCK=$(getconf CLK_TCK)
LOADGEN=$TOOLS/loadgen
DISCARD=$TOOLS/discard_http
PY=/usr/bin/python3

# a file descriptor that never has data: `read -t` on it is a sleep without a fork
exec {NAP_FD}<> <(:)
nap() { read -rt "$1" -u "$NAP_FD" _ || true; }

# --- measuring a process -----------------------------------------------------
cpu_ticks() { # pid -> utime+stime in clock ticks
  local s
  s=$(<"/proc/$1/stat")
  s=${s##*) }
  local -a f
  read -r -a f <<<"$s"
  echo $((f[11] + f[12]))
}
cpu_ns() { # pid -> CPU time of its live threads in ns (schedstat: finer than ticks)
  local t v sum=0
  for t in /proc/"$1"/task/*/schedstat; do
    read -r v _ <"$t" && sum=$((sum + v))
  done
  echo $sum
}
ctx_switches() { # pid -> voluntary + involuntary context switches of its live threads
  local t k v sum=0
  for t in /proc/"$1"/task/*/status; do
    while read -r k v; do
      case $k in voluntary_ctxt_switches: | nonvoluntary_ctxt_switches:) sum=$((sum + v)) ;; esac
    done <"$t"
  done
  echo $sum
}
status_kb() { # pid field -> kB
  local k v _
  while read -r k v _; do
    [ "$k" = "$2:" ] && { echo "$v"; return; }
  done <"/proc/$1/status"
  echo 0
}
# Where the resident memory is: "rss pss anon file" in kB (smaps_rollup).
mem_split() {
  local k v _ rss=0 pss=0 anon=0 file=0
  while read -r k v _; do
    case $k in
    Rss:) rss=$v ;; Pss:) pss=$v ;; Pss_Anon:) anon=$v ;; Pss_File:) file=$v ;;
    esac
  done <"/proc/$1/smaps_rollup"
  echo "$rss $pss $anon $file"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.0f}" 'BEGIN { if (b > 0 && a != "-") printf f, a / b; else printf "-" }'; }
us_per() { # ticks count -> µs per item
  awk -v t="$1" -v n="$2" -v hz="$TCK" 'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else printf "-" }'
}

# GET over bash's /dev/tcp (no fork, so polling costs the machine nothing).
http_get() { # port path -> body on stdout
  local fd resp
  exec {fd}<>"/dev/tcp/127.0.0.1/$1" 2>/dev/null || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&"$fd"
  read -r -d '' -u "$fd" resp || true
  exec {fd}>&-
  printf '%s' "${resp#*$'\r\n\r\n'}"
}
discard_samples() { # port
  local b
  b=$(http_get "$1" /stats) || { echo 0; return; }
  [[ $b =~ samples=([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo 0
}
bridge_sent() { # health-port output -> readings the output had acknowledged
  local b re
  b=$(http_get "$1" /metrics) || { echo 0; return; }
  re="output_samples_total\{output=\"$2\",result=\"sent\"\} ([0-9]+)"
  [[ $b =~ $re ]] && echo "${BASH_REMATCH[1]}" || echo 0
}
file_lines() { # file written by mosquitto_sub -F . (2 bytes a message)
  local s
  s=$(stat -c %s "$1" 2>/dev/null) || { echo 0; return; }
  echo $((s / 2))
}

# follow TARGET TIMEOUT_S CMD...: polls CMD (prints a count) every 50 ms until
# it reaches TARGET. Sets P_T5 P_C5 P_T95 P_C95 (first poll at >= 5 % / 95 %),
# P_END (time TARGET was seen) and P_LAST (last count). Returns 1 on timeout.
follow() {
  local target=$1 timeout=$2; shift 2
  local deadline c now
  deadline=$(awk -v t="$EPOCHREALTIME" -v d="$timeout" 'BEGIN { printf "%d", t + d }')
  P_T5='' P_T95='' P_END='' P_LAST=0
  while :; do
    c=$("$@")
    now=$EPOCHREALTIME
    P_LAST=$c
    if [ -z "$P_T5" ] && [ "$c" -ge $((target / 20)) ]; then P_T5=$now P_C5=$c; fi
    if [ -z "$P_T95" ] && [ "$c" -ge $((target * 19 / 20)) ]; then P_T95=$now P_C95=$c; fi
    if [ "$c" -ge "$target" ]; then P_END=$now; return 0; fi
    [ "${now%.*}" -ge "$deadline" ] && return 1
    nap 0.05
  done
}
# rate over the 5..95 % stretch of the last follow (per `per` counted units)
# rate_between T0 T1 C0 C1 [UNITS]: (C1 - C0) / UNITS per second between two
# EPOCHREALTIME stamps, "-" if T1 is not after T0
rate_between() {
  awk -v a="$1" -v b="$2" -v ca="$3" -v cb="$4" -v u="${5:-1}" \
    'BEGIN { if (b > a) printf "%.0f", (cb - ca) / u / (b - a); else printf "-" }'
}
sustained() { rate_between "$P_T5" "$P_T95" "$P_C5" "$P_C95" "$1"; } # units-per-message

# --- the services ------------------------------------------------------------
MQ=$(free_port)
MQTT=tcp://127.0.0.1:$MQ
# mosquitto for a bench: nothing dropped, a deep QoS 1 window towards each
# subscriber, no periodic save of a queue of 100k messages (a broker cost that
# both consumers would pay alike, and not the one measured here)
# A TLS listener too, for the publisher over ssl:// (certificates: lib.sh).
MQS=$(free_port)
make_certs "$T/certs"
start_mosquitto "$MQ" "persistence false" "max_queued_messages 0" "max_queued_bytes 0" \
  "max_inflight_messages 1000" \
  "listener $MQS 127.0.0.1" "cafile $T/certs/ca.crt" "certfile $T/certs/broker.crt" \
  "keyfile $T/certs/broker.key"

LOADGEN_ARGS=(--url "$MQTT" --sensors "$SENSORS" --inflight 20 --connections 1)
# loadgen NAME ARGS...: runs it to the end; sets LG_RATE and LG_FIRST (unix
# time of the first publish). loadgen_bg NAME ARGS... starts it (LG_PID);
# loadgen_done NAME waits for it and sets the same.
loadgen_bg() {
  local name=$1; shift
  "$LOADGEN" "${LOADGEN_ARGS[@]}" --client-id "bench-$name" "$@" \
    >"$T/lg-$name.out" 2>>"$T/loadgen.log" &
  LG_PID=$!
  track $LG_PID
}
loadgen_done() {
  wait "$LG_PID" || fail "loadgen $1 failed"
  local out
  out=$(<"$T/lg-$1.out")
  [[ $out =~ rate=([0-9]+) ]] && LG_RATE=${BASH_REMATCH[1]}
  [[ $out =~ t_first=([0-9.]+) ]] && LG_FIRST=${BASH_REMATCH[1]}
  return 0
}
loadgen() { loadgen_bg "$@"; loadgen_done "$1"; }

# Ends a persistent session (so the broker stops queueing for it).
drop_session() { mosquitto_sub -p "$MQ" -i "$1" -t sw/none -E >/dev/null 2>&1 || true; }

# start_bridge NAME ENV...: a fresh bridge with a fresh STATE_DIR; sets BR_PID
# and BR_HP (its health port). Waits until it is subscribed.
start_bridge() {
  local name=$1; shift
  BR_HP=$(free_port)
  rm -rf "$T/state-$name"
  # each start waits for its own "subscribed": an earlier start's log goes
  # to .old, or its line would be taken for this one's
  if [ -s "$T/bridge-$name.log" ]; then
    cat "$T/bridge-$name.log" >>"$T/bridge-$name.old.log" && : >"$T/bridge-$name.log"
  fi
  # REPLAY_MAX_SAMPLES_PER_S=0 (the default: no hard cap) stated, as the
  # figures depend on it; the adaptive pacing (PACING) is on, as by default
  env MQTT_URL="$MQTT" MQTT_CLIENT_ID="bench-$name" STATE_DIR="$T/state-$name" \
    HEALTH_PORT="$BR_HP" HEALTH_ADDR=127.0.0.1 LOG_LEVEL=info REPLAY_MAX_SAMPLES_PER_S=0 "$@" \
    "$BRIDGE" >>"$T/bridge-$name.log" 2>&1 &
  BR_PID=$!
  track $BR_PID
  wait_for 20 grep -q "subscribed to\|session resumed" "$T/bridge-$name.log" ||
    fail "bridge $name did not subscribe"
}

declare -A R_RATE R_SUST R_CPU R_RSS R_NOTE R_RUNS
ROWS=()
# row KEY LABEL RATE SUSTAINED CPU RSS [NOTE]: a table row. A phase run again
# (the comparisons with mosquitto_sub run three times, alternating) keeps its
# better run, by the rate its goal uses: the 5-95% rate for a drain
# (*_drain), end to end for the others; R_RUNS lists every run's.
row() {
  local by=$3 old
  [[ $1 == *_drain ]] && by=$4
  R_RUNS[$1]="${R_RUNS[$1]:-}${R_RUNS[$1]:+ }$by"
  if [ -n "${R_LABEL[$1]:-}" ]; then
    old=${R_RATE[$1]}
    [[ $1 == *_drain ]] && old=${R_SUST[$1]}
    [ "$(verdict "$by" '>=' "$old")" = PASS ] || return 0
  else
    ROWS+=("$1")
  fi
  R_LABEL[$1]=$2 R_RATE[$1]=$3 R_SUST[$1]=$4 R_CPU[$1]=$5 R_RSS[$1]=$6 R_NOTE[$1]=${7:-}
  R_MACH[$1]=${MACH:-}
  MACH=
}
declare -A R_MACH
# machine KEY=TICKS...: "KEY a + KEY b = total" in us of CPU per message (N)
machine() {
  local out="" sum=0 kv
  for kv in "$@"; do
    out+="${out:+ + }${kv%%=*} $(us_per "${kv#*=}" "$N")"
    sum=$((sum + ${kv#*=}))
  done
  echo "$out = $(us_per "$sum" "$N")"
}
declare -A R_LABEL

# --- bridge ------------------------------------------------------------------
# the receivers: a discard HTTP server (DP, RW_DISCARD: the bridge's settings
# for it) and VictoriaMetrics (VM)
start_receivers() {
  DP=$(free_port)
  "$DISCARD" --port "$DP" >>"$T/discard.log" 2>&1 &
  DP_PID=$!
  track $DP_PID
  wait_port "$DP"
  VM=$(free_port)
  start_victoria "$VM"
  VM_PROC=$VM_PID
  RW_DISCARD=(OUTPUTS=remote_write "REMOTE_WRITE_URL=http://127.0.0.1:$DP/api/v1/write")
}

# messages per second from START (unix time) to the end of the last follow
e2e_rate() { div "$N" "$(awk -v a="$P_END" -v b="$1" 'BEGIN{print a-b}')"; }

# sub_row KEY LABEL TIMEFILE RATE: a mosquitto_sub row, its CPU and peak RSS
# from /usr/bin/time's "%U %S %M" in TIMEFILE
sub_row() {
  local u s m
  read -r u s m <"$3"
  row "$1" "$2" "$4" "$(sustained 1)" \
    "$(awk -v u="$u" -v s="$s" -v n="$N" 'BEGIN { printf "%.1f", (u + s) * 1e6 / n }')" \
    "$(mib "$m")"
}

# end_bridge NAME: the bridge's counters checked, the bridge stopped and its
# session ended
end_bridge() {
  check_bridge "$BR_HP" "$1"
  stop_pid "$BR_PID" || true
  drop_session "bench-$1"
}

# 0. the generator alone: the ceiling of every "live" figure below
bench_gen_alone() {
  loadgen lg0 -n "$N"
  GEN_RATE=$LG_RATE
  note "loadgen alone (no subscriber): $GEN_RATE msg/s"
}

# 1. mosquitto_sub, live: subscribed, then the load
bench_sub_live() {
  local sp e2e
  : >"$T/sub-live.out"
  /usr/bin/time -f "%U %S %M" -o "$T/sub-live.time" \
    mosquitto_sub -p "$MQ" -q 1 -t 'sensors/+/+' -C "$N" -F . >"$T/sub-live.out" &
  sp=$!
  track $sp
  nap 0.5
  loadgen_bg lg1 -n "$N"
  follow "$N" 120 file_lines "$T/sub-live.out" || fail "mosquitto_sub got $P_LAST of $N"
  loadgen_done lg1
  wait $sp || true
  e2e=$(e2e_rate "$LG_FIRST")
  sub_row sub_live "mosquitto_sub, live load" "$T/sub-live.time" "$e2e"
}

# 2. bridge -> discard, live
bench_bridge_live() {
  local base c0 c1 rss e2e note=
  start_bridge live "${RW_DISCARD[@]}"
  base=$(discard_samples "$DP")
  c0=$(cpu_ticks "$BR_PID")
  loadgen_bg lg2 -n "$N"
  follow $((N * FIELDS)) 120 rel_discard "$DP" "$base" ||
    note="INCOMPLETE: $((P_LAST / FIELDS)) of $N"
  loadgen_done lg2
  c1=$(cpu_ticks "$BR_PID")
  rss=$(status_kb "$BR_PID" VmHWM)
  e2e=$(e2e_rate "$LG_FIRST")
  row br_live "bridge -> discard, live load" "$e2e" "$(sustained $FIELDS)" \
    "$(us_per $((c1 - c0)) "$N")" "$(mib "$rss")" "$note"
  end_bridge live
}

# 3. backlog: N messages wait in the broker, then the consumer connects
bench_sub_drain() {
  local sp t0 e2e m0 m1 u st
  mosquitto_sub -p "$MQ" -c -i bench-drain -q 1 -t 'sensors/+/+' -E >/dev/null
  loadgen lg3 -n "$N"
  : >"$T/sub-drain.out"
  m0=$(cpu_ticks "$MOSQ_PID")
  t0=$EPOCHREALTIME
  /usr/bin/time -f "%U %S %M" -o "$T/sub-drain.time" \
    mosquitto_sub -p "$MQ" -c -i bench-drain -q 1 -t 'sensors/+/+' -C "$N" -F . \
    >"$T/sub-drain.out" &
  sp=$!
  track $sp
  follow "$N" 120 file_lines "$T/sub-drain.out" || fail "mosquitto_sub drained $P_LAST of $N"
  m1=$(cpu_ticks "$MOSQ_PID")
  wait $sp || true
  e2e=$(e2e_rate "$t0")
  read -r u st _ <"$T/sub-drain.time"
  MACH=$(machine "mosquitto_sub=$(awk -v u="$u" -v s="$st" -v hz="$TCK" 'BEGIN { printf "%d", (u + s) * hz + 0.5 }')" \
    "mosquitto=$((m1 - m0))")
  sub_row sub_drain "mosquitto_sub, backlog drain" "$T/sub-drain.time" "$e2e"
  drop_session bench-drain
}

# the same backlog for the bridge
bench_bridge_drain() {
  local base t0 c1 rss e2e note='' m0 d0
  # the bridge's session must exist before the backlog is made
  start_bridge drain "${RW_DISCARD[@]}"
  stop_pid "$BR_PID" || true
  loadgen lg4 -n "$N"
  base=$(discard_samples "$DP")
  m0=$(cpu_ticks "$MOSQ_PID") d0=$(cpu_ticks "$DP_PID")
  t0=$EPOCHREALTIME
  start_bridge drain "${RW_DISCARD[@]}"
  follow $((N * FIELDS)) 120 rel_discard "$DP" "$base" ||
    note="INCOMPLETE: $((P_LAST / FIELDS)) of $N"
  c1=$(cpu_ticks "$BR_PID")
  MACH=$(machine "bridge=$c1" "mosquitto=$(($(cpu_ticks "$MOSQ_PID") - m0))" \
    "receiver=$(($(cpu_ticks "$DP_PID") - d0))")
  rss=$(status_kb "$BR_PID" VmHWM)
  e2e=$(e2e_rate "$t0")
  row br_drain "bridge -> discard, backlog drain" "$e2e" "$(sustained $FIELDS)" \
    "$(us_per "$c1" "$N")" "$(mib "$rss")" "$note"
  end_bridge drain
}

# vm_count QUERY: the value of an instant query at VictoriaMetrics (0 if none)
vm_count() {
  curl -sf "http://127.0.0.1:$VM/api/v1/query" --data-urlencode "query=$1" |
    jq -r '.data.result[0].value[1] // 0'
}

# 4. bridge -> VictoriaMetrics, remote-write and line protocol at once, live
bench_bridge_vm() {
  local c0 c1 rss e2e rw lp vmnote
  start_bridge vm OUTPUTS=remote_write,influx \
    REMOTE_WRITE_URL="http://127.0.0.1:$VM/api/v1/write" \
    INFLUX_URL="http://127.0.0.1:$VM" INFLUX_ORG=o INFLUX_BUCKET=b INFLUX_TOKEN=t \
    INFLUX_MEASUREMENT=lp
  c0=$(cpu_ticks "$BR_PID")
  loadgen_bg lg5 -n "$N"
  follow $((N * 2)) 120 vm_sent "$BR_HP" ||
    R_NOTE[br_vm]="INCOMPLETE: $P_LAST of $((N * 2)) readings acknowledged"
  loadgen_done lg5
  c1=$(cpu_ticks "$BR_PID")
  rss=$(status_kb "$BR_PID" VmHWM)
  e2e=$(e2e_rate "$LG_FIRST")
  for _ in $(seq 50); do
    rw=$(vm_count "sum(count_over_time({__name__=~\"sensor_.*\",node=~\"bench.*\"}[1h]))")
    lp=$(vm_count "sum(count_over_time({__name__=~\"lp_.*\",node=~\"bench.*\"}[1h]))")
    [ "$rw" = $((N * FIELDS)) ] && [ "$lp" = $((N * FIELDS)) ] && break
    nap 0.2
  done
  vmnote="VM holds rw=$rw lp=$lp of $((N * FIELDS)) samples each"
  [ "$rw" = $((N * FIELDS)) ] && [ "$lp" = $((N * FIELDS)) ] || vmnote="MISSING: $vmnote"
  row br_vm "bridge -> VictoriaMetrics (rw + influx), live" "$e2e" "$(sustained 2)" \
    "$(us_per $((c1 - c0)) "$N")" "$(mib "$rss")" "${R_NOTE[br_vm]:-$vmnote}"
  end_bridge vm
}

# 5. footprint at a steady rate: bench_steady default (the default allocator)
# or arena2 (MALLOC_ARENA_MAX=2)
bench_steady() {
  local variant=$1 steady_n=$((STEADY_RATE * STEADY_S))
  local extra=() base c0 c1 rss achieved lag label m_rss m_anon m_file
  [ "$variant" = arena2 ] && extra=(MALLOC_ARENA_MAX=2)
  start_bridge "steady-$variant" "${RW_DISCARD[@]}" "${extra[@]}"
  base=$(discard_samples "$DP")
  c0=$(cpu_ticks "$BR_PID")
  loadgen "lg6$variant" -n "$steady_n" --rate "$STEADY_RATE"
  achieved=$LG_RATE
  follow $((steady_n * FIELDS)) 30 rel_discard "$DP" "$base" ||
    R_NOTE[steady_$variant]="INCOMPLETE: $((P_LAST / FIELDS)) of $steady_n"
  lag=$(awk -v a="$P_END" -v b="$LG_FIRST" -v s="$steady_n" -v r="$STEADY_RATE" \
    'BEGIN { printf "%.2f", a - b - s / r }')
  c1=$(cpu_ticks "$BR_PID")
  rss=$(status_kb "$BR_PID" VmHWM)
  read -r m_rss _ m_anon m_file <<<"$(mem_split "$BR_PID")"
  label="bridge -> discard, steady $STEADY_RATE msg/s"
  [ "$variant" = arena2 ] && label="  same, MALLOC_ARENA_MAX=2"
  row "steady_$variant" "$label" "$achieved" "-" "$(us_per $((c1 - c0)) "$steady_n")" \
    "$(mib "$rss")" "${R_NOTE[steady_$variant]:-last sample ${lag}s after the last publish; now rss $(mib "$m_rss") = pss file $(mib "$m_file") + anon $(mib "$m_anon") MiB, $(status_kb "$BR_PID" Threads) threads}"
  [ "$variant" = default ] && STEADY_RSS=$rss
  [ "$variant" = arena2 ] && STEADY_RSS2=$rss
  end_bridge "steady-$variant"
}

bench_bridge() {
  start_receivers
  note "bridge: $N QoS 1 messages per phase over $SENSORS topics, 1 loadgen connection"
  bench_gen_alone
  # one run of each is at the mercy of where the scheduler puts the broker's
  # and the consumer's threads on two cores (+-30 %): three times, alternating
  for _ in 1 2 3; do
    bench_sub_live
    bench_bridge_live
    bench_sub_drain
    bench_bridge_drain
  done
  SUB_LIVE=${R_RATE[sub_live]} BR_LIVE=${R_RATE[br_live]}
  SUB_DRAIN=${R_RATE[sub_drain]} BR_DRAIN=${R_RATE[br_drain]}
  bench_bridge_vm
  bench_steady default
  bench_steady arena2
  bench_pacing
}

# --- pacing ------------------------------------------------------------------
# The adaptive pacing (bridge/pacer.c): a backlog drained into a healthy
# VictoriaMetrics with the defaults and with PACING=off (the defaults must
# not cost the drain more than 10 %), then into discard_http throttling at
# THROTTLE_RATE samples/s (a token bucket: 429 without and with Retry-After,
# or late answers), where the bridge must settle near that rate with few
# throttled answers.

# pace_metric PORT NAME: an output's counter or gauge (one output)
pace_metric() {
  local b re
  b=$(http_get "$1" /metrics) || { echo 0; return; }
  re="$2\{output=\"[a-z_]+\"\} ([0-9]+)"
  [[ $b =~ $re ]] && echo "${BASH_REMATCH[1]}" || echo 0
}
discard_stat() { # port field
  local b
  b=$(http_get "$1" /stats) || { echo 0; return; }
  [[ $b =~ $2=([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo 0
}

# backlog NAME ENV...: N messages (PB_N, if the caller sets it) wait in the
# broker for the session of a bridge named PB_NAME (NAME-<run>: every run its
# own session and logs); then that bridge starts (t0 = PB_T0)
PB_RUN=0
backlog() {
  PB_RUN=$((PB_RUN + 1))
  PB_NAME=$1-$PB_RUN
  shift
  start_bridge "$PB_NAME" "$@"
  stop_pid "$BR_PID" || true
  # so that start_bridge waits for the new bridge's "session resumed"
  mv "$T/bridge-$PB_NAME.log" "$T/bridge-$PB_NAME-session.log"
  loadgen "lg-$PB_NAME" -n "${PB_N:-$N}"
  PB_T0=$EPOCHREALTIME
  start_bridge "$PB_NAME" "$@"
}

# bench_pacing_vm defaults|off: the backlog into VictoriaMetrics (remote
# write); the better of the runs of a mode is kept (the first run of all
# also pays for creating the series in VictoriaMetrics)
bench_pacing_vm() {
  local mode=$1 extra=() key=pv_$1 e2e sust vm0 mq0 br
  [ "$mode" = off ] && extra=(PACING=off)
  backlog "pace-vm-$mode" OUTPUTS=remote_write \
    REMOTE_WRITE_URL="http://127.0.0.1:$VM/api/v1/write" "${extra[@]}"
  # the CPU of the drain's three processes, from the bridge's start (the
  # broker's and VictoriaMetrics' from when it has subscribed)
  vm0=$(cpu_ticks "$VM_PROC") mq0=$(cpu_ticks "$MOSQ_PID")
  follow $((N * FIELDS)) 120 bridge_sent "$BR_HP" remote_write ||
    R_NOTE[$key]="INCOMPLETE: $((P_LAST / FIELDS)) of $N"
  br=$(cpu_ticks "$BR_PID")
  e2e=$(e2e_rate "$PB_T0")
  sust=$(sustained "$FIELDS")
  P_RUNS[$key]="${P_RUNS[$key]:-}${P_RUNS[$key]:+ }$sust"
  if [ "$(verdict "$sust" '>=' "${P_SUST[$key]:-0}")" = PASS ]; then
    P_RATE[$key]=$e2e P_SUST[$key]=$sust
    P_CPU[$key]="bridge $(us_per "$br" "$N"), VictoriaMetrics $(us_per $(($(cpu_ticks "$VM_PROC") - vm0)) "$N"), mosquitto $(us_per $(($(cpu_ticks "$MOSQ_PID") - mq0)) "$N")"
  fi
  P_DEC[$key]=$((${P_DEC[$key]:-0} + $(pace_metric "$BR_HP" sensorwire_bridge_output_pace_decreases_total)))
  P_RETRY[$key]=$((${P_RETRY[$key]:-0} + $(pace_metric "$BR_HP" sensorwire_bridge_output_retries_total)))
  end_bridge "$PB_NAME"
}

# bench_throttle KIND: a backlog of THROTTLE_S seconds at THROTTLE_RATE into
# a receiver throttling at that rate (429, 429ra = 429 with Retry-After: 1,
# slow = 200 ms late). From an unpaced drain (hundreds of thousands of
# samples/s here) the descent to the store's rate takes a halving per cut,
# five or six of them; with Retry-After: 1 each costs a second, so the
# descent alone takes about 5 s. The backlog is long enough for the window
# that measures the settled rate (20 % to 95 %) to start after it; the
# whole drain's rate, descent included, is printed beside it.
bench_throttle() {
  local kind=$1 key=pt_$1 port args=() t20='' c20 t95='' c95 tend='' c now deadline
  local PB_N=$((THROTTLE_SAMPLES / FIELDS))  # backlog's message count (see backlog)
  local target=$((PB_N * FIELDS))
  port=$(free_port)
  case $kind in
  429) args=(--throttle 429) ;;
  429ra) args=(--throttle 429 --retry-after 1) ;;
  slow) args=(--throttle slow --slow-ms 200) ;;
  esac
  "$DISCARD" --port "$port" --rate "$THROTTLE_RATE" "${args[@]}" >>"$T/discard-$kind.log" 2>&1 &
  local dpid=$!
  track $dpid
  wait_port "$port"
  backlog "pace-$kind" OUTPUTS=remote_write "REMOTE_WRITE_URL=http://127.0.0.1:$port/api/v1/write"
  # the settled rate: from 20 % of the samples (the descent done) to 95 %
  deadline=$((${EPOCHREALTIME%.*} + 20 + 3 * target / THROTTLE_RATE))
  while :; do
    c=$(discard_stat "$port" samples)
    now=$EPOCHREALTIME
    if [ -z "$t20" ] && [ "$c" -ge $((target / 5)) ]; then t20=$now c20=$c; fi
    if [ -z "$t95" ] && [ "$c" -ge $((target * 19 / 20)) ]; then t95=$now c95=$c; fi
    [ "$c" -ge "$target" ] && { tend=$now; break; }
    [ "${now%.*}" -ge "$deadline" ] && { R_NOTE[$key]="INCOMPLETE: $c of $target samples"; break; }
    nap 0.05
  done
  P_SETTLED[$key]=- P_WHOLE[$key]=-
  [ -n "$t95" ] && P_SETTLED[$key]=$(rate_between "$t20" "$t95" "$c20" "$c95")
  [ -n "$tend" ] && P_WHOLE[$key]=$(rate_between "$PB_T0" "$tend" 0 "$target")
  P_DEC[$key]=$(pace_metric "$BR_HP" sensorwire_bridge_output_pace_decreases_total)
  P_RETRY[$key]=$(pace_metric "$BR_HP" sensorwire_bridge_output_retries_total)
  P_THR[$key]=$(discard_stat "$port" throttled)
  P_SAMPLES[$key]=$(discard_stat "$port" samples)
  end_bridge "$PB_NAME"
  stop_pid "$dpid" || true
}

declare -A P_RATE P_SUST P_DEC P_RETRY P_SETTLED P_WHOLE P_THR P_SAMPLES P_RUNS P_CPU
bench_pacing() {
  note "pacing: $N-message backlogs; VictoriaMetrics with the defaults and PACING=off," \
    "then a receiver throttling at $THROTTLE_RATE samples/s"
  local r
  for ((r = 1; r <= PACE_RUNS; r++)); do
    bench_pacing_vm off
    bench_pacing_vm defaults
  done
  bench_throttle 429
  bench_throttle 429ra
  bench_throttle slow
}

print_pacing() {
  local k label ratio ratio_e r_ret r_thr verdict
  echo
  echo "== sensor-bridge pacing: backlog drain of $N messages ($((N * FIELDS)) samples), remote write"
  printf '%-52s %9s %9s %10s %8s\n' "" "msg/s" "5-95%" "decreases" "retries"
  for k in defaults off; do
    label="bridge -> VictoriaMetrics, drain, PACING=adaptive"
    [ "$k" = off ] && label="bridge -> VictoriaMetrics, drain, PACING=off"
    printf '%-52s %9s %9s %10s %8s\n' "$label" "${P_RATE[pv_$k]}" "${P_SUST[pv_$k]}" \
      "${P_DEC[pv_$k]}" "${P_RETRY[pv_$k]}"
    printf '%-6s%s\n' "" "5-95% of each run: ${P_RUNS[pv_$k]} (the best one shown; decreases and retries: all runs)"
    printf '%-6s%s\n' "" "CPU us/msg in it: ${P_CPU[pv_$k]:-}"
    [ -n "${R_NOTE[pv_$k]:-}" ] && printf '%-6s%s\n' "" "${R_NOTE[pv_$k]}"
  done
  echo "   throttling receiver: discard_http --rate $THROTTLE_RATE (token bucket, burst half a second);" \
    "backlogs of $THROTTLE_S s at that rate ($THROTTLE_SAMPLES samples)"
  printf '%-52s %9s %8s %8s %10s %10s %10s\n' "" "settled" "x set" "whole x" "decreases" "retries/1k" "throttled/1k"
  for k in 429 429ra slow; do
    case $k in
    429) label="  429 over the rate" ;;
    429ra) label="  429 + Retry-After: 1 over the rate" ;;
    slow) label="  answers 200 ms late over the rate" ;;
    esac
    r_ret=$(div "$((${P_RETRY[pt_$k]:-0} * 1000))" "${P_SAMPLES[pt_$k]:-0}" %.2f)
    r_thr=$(div "$((${P_THR[pt_$k]:-0} * 1000))" "${P_SAMPLES[pt_$k]:-0}" %.2f)
    printf '%-52s %9s %8s %8s %10s %10s %10s\n' "$label" "${P_SETTLED[pt_$k]}" \
      "$(div "${P_SETTLED[pt_$k]}" "$THROTTLE_RATE" %.2f)" \
      "$(div "${P_WHOLE[pt_$k]:--}" "$THROTTLE_RATE" %.2f)" "${P_DEC[pt_$k]}" "$r_ret" "$r_thr"
    [ -n "${R_NOTE[pt_$k]:-}" ] && printf '%-6s%s\n' "" "${R_NOTE[pt_$k]}"
  done
  echo "   settled: samples/s the receiver took from 20 % to 95 % of the backlog (after the descent"
  echo "   from the unpaced rate); whole: the whole drain, descent included, from the bridge's start;"
  echo "   throttled: answers over the rate (429s, or late answers), per 1000 samples taken"
  # the two modes against each other by their median runs: where the pacer
  # never cuts they do the same thing, and the best run picks whichever
  # run the VM's noise favoured (0.75x once, with no cut in any run)
  local med_d med_o
  # shellcheck disable=SC2086 # the runs are a list of numbers
  med_d=$(median ${P_RUNS[pv_defaults]}) med_o=$(median ${P_RUNS[pv_off]})
  ratio=$(div "$med_d" "$med_o" %.2f)
  ratio_e=$(div "${P_SUST[pv_defaults]}" "${P_SUST[pv_off]}" %.2f)
  echo
  echo "goal: drain into VictoriaMetrics, defaults >= 0.9x PACING=off:  ${ratio}x  $(judge "$med_d" "$med_o" '>=' 0.9)" \
    "(median 5-95% rates, $med_d against $med_o msg/s; best runs ${ratio_e}x)"
  # the issue's other half of the same goal: that drain, with the defaults,
  # against mosquitto_sub draining the same backlog from the same broker
  # (measured in the bridge section; BENCH_ONLY=pacing has no such figure)
  if [ -n "${R_SUST[sub_drain]:-}" ]; then
    ratio=$(div "${P_SUST[pv_defaults]}" "${R_SUST[sub_drain]}" %.2f)
    echo "goal: drain into VictoriaMetrics, defaults >= 0.8x mosquitto_sub: ${ratio}x  $(judge "${P_SUST[pv_defaults]}" "${R_SUST[sub_drain]}" '>=' 0.8)" \
      "(5-95% rates: ${P_SUST[pv_defaults]} against ${R_SUST[sub_drain]} msg/s)"
  else
    echo "goal: drain into VictoriaMetrics, defaults >= 0.8x mosquitto_sub: n/a (no mosquitto_sub drain in this run)"
  fi
  for k in 429 429ra slow; do
    local x
    x=$(div "${P_SETTLED[pt_$k]}" "$THROTTLE_RATE" %.2f)
    r_thr=$(div "$((${P_THR[pt_$k]:-0} * 1000))" "${P_SAMPLES[pt_$k]:-0}" %.2f)
    verdict=FAIL
    [ "$(judge "${P_SETTLED[pt_$k]}" "$THROTTLE_RATE" '>=' 0.7)" = PASS ] &&
      [ "$(judge "${P_SETTLED[pt_$k]}" "$THROTTLE_RATE" '<' 1.1000001)" = PASS ] &&
      [ "$(verdict "$r_thr" '<' 5)" = PASS ] && verdict=PASS
    [ "$x" = - ] && verdict=n/a
    printf 'goal: throttled (%-5s) settles at 0.7-1.1x, < 5 throttled/1k:  %sx %s/1k  %s\n' \
      "$k" "$x" "$r_thr" "$verdict"
  done
}

# samples at the discard receiver since `base`
rel_discard() { echo $(($(discard_samples "$1") - $2)); }
# readings acknowledged by both outputs (the smaller of the two), x2
vm_sent() {
  local a b
  a=$(bridge_sent "$1" remote_write)
  b=$(bridge_sent "$1" influx)
  echo $(((a < b ? a : b) * 2))
}
# Bridge counters after a phase: gaps, duplicates, malformed, lost.
check_bridge() { # health-port name
  local b gaps dups lost
  b=$(http_get "$1" /metrics) || return 0
  [[ $b =~ seq_gaps_total\ ([0-9]+) ]] && gaps=${BASH_REMATCH[1]}
  [[ $b =~ seq_duplicates_total\ ([0-9]+) ]] && dups=${BASH_REMATCH[1]}
  [[ $b =~ result=\"lost\"\}\ ([0-9]+) ]] && lost=${BASH_REMATCH[1]}
  if [ "${gaps:-0}" != 0 ] || [ "${dups:-0}" != 0 ] || [ "${lost:-0}" != 0 ]; then
    note "bridge $2: seq gaps=${gaps:-?} duplicates=${dups:-?} lost=${lost:-?}"
  fi
}

median() { # numbers... -> their median (the lower middle one of an even count)
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'
}
verdict() { # value op limit -> PASS/FAIL
  awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
    if (v == "" || v == "-") { print "n/a"; exit }
    ok = op == ">=" ? v >= l : v < l; print ok ? "PASS" : "FAIL" }'
}
# judge A B op limit: the verdict on A / B unrounded (a ratio printed as
# 0.70 may be 0.696: the goals are judged on the figures, not on the print)
judge() { verdict "$(div "$1" "$2" %.6f)" "$3" "$4"; }

cpu_model() {
  local m
  m=$(awk -F'\t*: *' '$1 == "model name" || $1 == "Model" { print $2; exit }' /proc/cpuinfo 2>/dev/null)
  echo "${m:-unknown}"
}

print_bridge() {
  local k
  echo
  echo "== sensor-bridge: QoS 1, MQTT in -> acknowledged HTTP out ($N messages, $SENSORS topics)"
  echo "   bridge config: defaults + STATE_DIR (durable log, WAL_SYNC=1000), adaptive pacing, $(nproc) cores,"
  echo "   everything on this machine (load generator, broker, receiver included)"
  # the ratios against mosquitto_sub move with the processor (README Performance)
  echo "   processor: $(cpu_model)"
  printf '%-48s %9s %9s %8s %10s %9s\n' "" "msg/s" "5-95%" "x sub" "CPU us/msg" "peak RSS"
  for k in "${ROWS[@]}"; do
    local ref=""
    case $k in
    br_live|br_vm) ref=$SUB_LIVE ;;
    br_drain) ref=$SUB_DRAIN ;;
    esac
    printf '%-48s %9s %9s %8s %10s %6s MiB\n' "${R_LABEL[$k]}" "${R_RATE[$k]}" \
      "${R_SUST[$k]}" "$([ -n "$ref" ] && div "${R_RATE[$k]}" "$ref" %.2f)" \
      "${R_CPU[$k]}" "${R_RSS[$k]}"
    [ -n "${R_NOTE[$k]}" ] && printf '%-6s%s\n' "" "${R_NOTE[$k]}"
    case $k in
    sub_live|br_live) printf '%-6s%s\n' "" "msg/s of each run: ${R_RUNS[$k]} (the best one shown)" ;;
    sub_drain|br_drain) printf '%-6s%s\n%-6s%s\n' "" "5-95% of each run: ${R_RUNS[$k]} (the best one shown)" \
      "" "CPU us/msg in it, all on these 2 cores: ${R_MACH[$k]}" ;;
    esac
  done
  echo "   msg/s: first publish -> last sample acknowledged by the receiver (live), or"
  echo "   consumer start -> last message (backlog); 5-95%: the rate in between. The"
  echo "   load generator alone (no subscriber) publishes $GEN_RATE msg/s."
  local r1 r2 r2e
  r1=$(div "$BR_LIVE" "$SUB_LIVE" %.2f)
  # the drain is judged on the sustained (5-95%) rates: the end-to-end one
  # depends on whether the last batch is full (BATCH_MAX_SAMPLES) or waits
  # BATCH_MAX_DELAY_MS, i.e. on N, not on the bridge (bench/README.md)
  r2=$(div "${R_SUST[br_drain]}" "${R_SUST[sub_drain]}" %.2f)
  r2e=$(div "$BR_DRAIN" "$SUB_DRAIN" %.2f)
  echo
  echo "goal: bridge >= 0.8x mosquitto_sub, live load:       ${r1}x  $(judge "$BR_LIVE" "$SUB_LIVE" '>=' 0.8)"
  echo "goal: bridge >= 0.8x mosquitto_sub, backlog drain:   ${r2}x  $(judge "${R_SUST[br_drain]}" "${R_SUST[sub_drain]}" '>=' 0.8)" \
    "(5-95% rates; end to end ${r2e}x)"
  echo "goal: peak RSS < 8 MiB at $STEADY_RATE msg/s:           $(mib "$STEADY_RSS") MiB  $(verdict "$(mib "$STEADY_RSS")" '<' 8)" \
    "(MALLOC_ARENA_MAX=2: $(mib "$STEADY_RSS2") MiB)"
}

# --- publisher -----------------------------------------------------------------
# The publishers run side by side for PUB_S seconds with the same sensors,
# interval, tags and QoS; a mosquitto_sub per node counts what arrived. CPU and
# wake-ups (context switches, voluntary + involuntary, of all threads) are
# taken from 2 s in (start-up excluded: interpreter and library loading are a
# one-off) to the end, per reading delivered in that stretch. Two schedules,
# each run by both: spread (sensor i at i x interval / n, sensor-publisher's
# default) and all sensors at the interval's start (READ_SCHEDULE=aligned,
# PY_SCHEDULE=burst); each C row is judged against the Python row of its
# schedule and its transport (tcp://, or ssl:// to the TLS listener).
PUB_RUNS=(c tls py pyt ca pyb)
declare -A PUB_LABEL=(
  [c]="sensor-publisher (C, tcp://)" [tls]="sensor-publisher (C, ssl://)"
  [py]="py_publisher.py (Python 3)" [pyt]="py_publisher.py (ssl://)"
  [ca]="sensor-publisher, aligned" [pyb]="py_publisher.py, burst"
)
declare -A PUB_PID PUB_CPU PUB_N PUB_WAKE PUB_RSS PUB_ANON PUB_FILE PUB_THREADS
# pub_start RUN: starts that publisher as node pub-RUN (its mosquitto_sub
# already counts)
pub_start() {
  local run=$1
  local env=(MQTT_URL="$MQTT" SENSORS="$PUB_SENSOR_LIST" INTERVAL_MS="$PUB_INTERVAL_MS"
    "TAGS=location=bench,model=sim" LOG_LEVEL=warn NODE_NAME="pub-$run")
  local cmd=("$PUBLISHER")
  case $run in
  tls) env+=(MQTT_URL="ssl://localhost:$MQS" MQTT_CA_FILE="$T/certs/ca.crt") ;;
  ca) env+=(READ_SCHEDULE=aligned) ;;
  py) cmd=("$PY" "$SW_ROOT/bench/py_publisher.py") ;;
  pyt) cmd=("$PY" "$SW_ROOT/bench/py_publisher.py")
    env+=(MQTT_URL="ssl://localhost:$MQS" MQTT_CA_FILE="$T/certs/ca.crt") ;;
  pyb) cmd=("$PY" "$SW_ROOT/bench/py_publisher.py"); env+=(PY_SCHEDULE=burst) ;;
  esac
  env "${env[@]}" "${cmd[@]}" >>"$T/pub-$run.log" 2>&1 &
  PUB_PID[$run]=$!
  track $!
}
# bench_publisher: PUB_ROUNDS rounds of the side-by-side run, each with all
# publishers started afresh; per row the median round's CPU and wake-ups
# count and the highest peak RSS. One round's figures moved by up to 50 %
# between runs on the 2-core VM (the C publisher over tcp:// cost more than
# over TLS in one), with every publisher of the round moved alike or not.
bench_publisher() {
  local r run
  declare -gA PUB_CPU_R PUB_WAKE_R PUB_RSS_MAX
  for ((r = 1; r <= PUB_ROUNDS; r++)); do
    pub_round
    for run in "${PUB_RUNS[@]}"; do
      PUB_CPU_R[$run]="${PUB_CPU_R[$run]:-}${PUB_CPU_R[$run]:+ }${PUB_CPU[$run]}"
      PUB_WAKE_R[$run]="${PUB_WAKE_R[$run]:-}${PUB_WAKE_R[$run]:+ }${PUB_WAKE[$run]}"
      [ "${PUB_RSS[$run]}" -gt "${PUB_RSS_MAX[$run]:-0}" ] && PUB_RSS_MAX[$run]=${PUB_RSS[$run]}
    done
  done
  for run in "${PUB_RUNS[@]}"; do
    # shellcheck disable=SC2086 # lists of numbers
    PUB_CPU[$run]=$(median ${PUB_CPU_R[$run]}) PUB_WAKE[$run]=$(median ${PUB_WAKE_R[$run]})
    PUB_RSS[$run]=${PUB_RSS_MAX[$run]}
  done
}

pub_round() {
  local i run sub_pids=()
  PUB_SENSOR_LIST=""
  for ((i = 1; i <= PUB_SENSORS; i++)); do PUB_SENSOR_LIST+="s$i=sim "; done
  # Peak RSS counts the program's file pages it maps. Straight after the link
  # the page cache holds the program as the linker wrote it, and faults then
  # map much more of it (this 6.18 kernel: a 3.1 MiB peak over tcp:// against
  # 1.8 MiB for the same bytes read back from disk): write it back and drop it
  # from the cache, so the figure is that of a program loaded from disk.
  { sync "$PUBLISHER" && dd if="$PUBLISHER" iflag=nocache count=0 status=none; } || true
  for run in "${PUB_RUNS[@]}"; do
    mosquitto_sub -p "$MQ" -q 1 -t "sensors/pub-$run/+" -F %t >"$T/pub-$run.topics" &
    track $!
    sub_pids+=($!)
  done
  nap 0.3
  for run in "${PUB_RUNS[@]}"; do pub_start "$run"; done
  nap 2
  local -A cpu0 n0 w0
  for run in "${PUB_RUNS[@]}"; do
    cpu0[$run]=$(cpu_ns "${PUB_PID[$run]}") w0[$run]=$(ctx_switches "${PUB_PID[$run]}")
    n0[$run]=$(readings "$T/pub-$run.topics")
  done
  nap $((PUB_S - 2))
  local pid n
  for run in "${PUB_RUNS[@]}"; do
    pid=${PUB_PID[$run]}
    n=$(($(readings "$T/pub-$run.topics") - n0[$run]))
    PUB_N[$run]=$n
    PUB_CPU[$run]=$(div $((($(cpu_ns "$pid") - cpu0[$run]) / 1000)) "$n" %.1f)
    PUB_WAKE[$run]=$(div $(($(ctx_switches "$pid") - w0[$run])) "$n" %.2f)
    PUB_RSS[$run]=$(status_kb "$pid" VmHWM) PUB_THREADS[$run]=$(status_kb "$pid" Threads)
    read -r _ _ "PUB_ANON[$run]" "PUB_FILE[$run]" <<<"$(mem_split "$pid")"
  done
  PUB_LINK=static
  readelf -lW "$PUBLISHER" 2>/dev/null | grep -q INTERP && PUB_LINK=dynamic
  for run in "${PUB_RUNS[@]}"; do stop_pid "${PUB_PID[$run]}" || true; done
  for i in "${sub_pids[@]}"; do stop_pid "$i" || true; done
}
readings() { # a mosquitto_sub -F %t file -> lines that are not status
  local n=0 t
  while read -r t; do [[ $t == */status ]] || n=$((n + 1)); done <"$1"
  echo $n
}

# pub_ratio A B: A's figure over B's (CPU per reading or peak RSS), "-" if
# either is missing
pub_ratio() { # array-name a b
  local -n arr=$1
  if [ "${arr[$2]:-}" = - ] || [ "${arr[$3]:-}" = - ]; then echo -; else div "${arr[$2]}" "${arr[$3]}" %.2f; fi
}

print_publisher() {
  local expect run
  expect=$(awk -v s="$PUB_S" -v n="$PUB_SENSORS" -v i="$PUB_INTERVAL_MS" \
    'BEGIN { printf "%d", (s - 2) * n * 1000 / i }')
  echo
  echo "== sensor-publisher vs the same publisher in Python (python3-paho-mqtt), side by side"
  echo "   $PUB_SENSORS sim sensors every $PUB_INTERVAL_MS ms, QoS 1, ${PUB_S} s; CPU from 2 s in"
  printf '%-30s %9s %14s %8s %10s %24s\n' "" "readings" "CPU us/reading" "wake-ups" "peak RSS" \
    "now: pss file + anon"
  for run in "${PUB_RUNS[@]}"; do
    [ "$run" = ca ] && echo "   all sensors at the start of each interval:"
    printf '%-30s %9s %14s %8s %6s MiB %12s + %4s MiB  %s threads\n' "${PUB_LABEL[$run]}" \
      "${PUB_N[$run]}" "${PUB_CPU[$run]}" "${PUB_WAKE[$run]}" "$(mib "${PUB_RSS[$run]}")" \
      "$(mib "${PUB_FILE[$run]}")" "$(mib "${PUB_ANON[$run]}")" "${PUB_THREADS[$run]}"
  done
  for run in "${PUB_RUNS[@]}"; do
    printf '      %-24s CPU of each round: %s\n' "$run" "${PUB_CPU_R[$run]}"
  done
  echo "   $PUB_ROUNDS rounds, all publishers started afresh in each: the median round's CPU and"
  echo "   wake-ups, the highest peak RSS; readings and memory now: the last round"
  echo "   expected about $expect readings each; wake-ups: context switches of all threads per reading"
  echo "   schedules: the first four read sensor i at i x interval / n of each interval (the"
  echo "   publisher's default); the last two read all of them at its start (READ_SCHEDULE=aligned,"
  echo "   PY_SCHEDULE=burst: one wake-up of Python's one thread for $PUB_SENSORS readings)"
  echo "   sensor-publisher is linked $PUB_LINK; ssl:// rows publish to the broker's TLS listener"
  local cpu_c cpu_s cpu_a rss_c rss_s
  cpu_c=$(pub_ratio PUB_CPU c py) cpu_s=$(pub_ratio PUB_CPU tls pyt) cpu_a=$(pub_ratio PUB_CPU ca pyb)
  rss_c=$(pub_ratio PUB_RSS c py) rss_s=$(pub_ratio PUB_RSS tls pyt)
  echo
  echo "goal: publisher CPU per reading <= 0.5x Python: tcp:// ${cpu_c}x $(judge "${PUB_CPU[c]}" "${PUB_CPU[py]}" '<' 0.5000001)," \
    "ssl:// ${cpu_s}x $(judge "${PUB_CPU[tls]}" "${PUB_CPU[pyt]}" '<' 0.5000001)," \
    "aligned/burst ${cpu_a}x $(judge "${PUB_CPU[ca]}" "${PUB_CPU[pyb]}" '<' 0.5000001)" \
    "(each against Python on the same schedule and transport; spread C against burst Python: $(pub_ratio PUB_CPU c pyb)x," \
    "ssl:// C against tcp:// Python: $(pub_ratio PUB_CPU tls py)x)"
  echo "goal: publisher RSS <= 0.15x Python:   tcp:// ${rss_c}x $(judge "${PUB_RSS[c]}" "${PUB_RSS[py]}" '<' 0.1500001)," \
    "ssl:// ${rss_s}x $(judge "${PUB_RSS[tls]}" "${PUB_RSS[pyt]}" '<' 0.1500001) (ssl:// C against tcp:// Python: $(pub_ratio PUB_RSS tls py)x)"
  echo "goal: publisher RSS < 2 MiB:           tcp:// $(mib "${PUB_RSS[c]}") MiB $(verdict "$(mib "${PUB_RSS[c]}")" '<' 2)," \
    "ssl:// $(mib "${PUB_RSS[tls]}") MiB $(verdict "$(mib "${PUB_RSS[tls]}")" '<' 2)"
}

if [ "$ONLY" = all ] || [ "$ONLY" = bridge ]; then
  bench_bridge
elif [ "$ONLY" = pacing ]; then
  start_receivers
  bench_pacing
fi
if [ "$ONLY" = all ] || [ "$ONLY" = publisher ]; then
  if [ -x "$PUBLISHER" ]; then
    note "publishers: $PUB_SENSORS sensors every $PUB_INTERVAL_MS ms for $PUB_S s"
    bench_publisher
  else
    note "no $PUBLISHER: publisher section skipped"
  fi
fi
if [ "$ONLY" = all ] || [ "$ONLY" = bridge ]; then
  print_bridge
fi
if [ "$ONLY" = all ] || [ "$ONLY" = bridge ] || [ "$ONLY" = pacing ]; then
  print_pacing
fi
if [ "$ONLY" = all ] || [ "$ONLY" = publisher ]; then
  [ -x "$PUBLISHER" ] && print_publisher
fi
# the bridge next to Node-RED, and how its cost grows with the work
. "$SW_ROOT/bench/peer_nodered.sh"
. "$SW_ROOT/bench/scaling.sh"
bench_peer_and_scaling
echo
echo "(logs and data in $T are removed on exit; figures vary with what else runs on the machine)"

# shellcheck shell=bash
# bench/peer_nodered.sh - sourced by bench/run.sh: the bridge next to a real
# peer doing the same job, Node-RED (npm `node-red` + `node-red-contrib-influxdb`,
# installed into $BUILD/node-red, never system-wide) with bench/nodered/flow.json:
# MQTT in (QoS 1, persistent session: clean session off, client id
# bench-nodered) -> reading to point -> join (500 readings or 1 s) -> influxdb
# batch into VictoriaMetrics' InfluxDB line-protocol endpoint (/write). The
# bridge runs with OUTPUTS=influx into the same VictoriaMetrics (/api/v2/write).
#
# Phases, the same for both, one after the other on the same broker:
#   live at each of PEER_RATES msg/s (loadgen --rate) for PEER_LIVE_S s;
#   backlog: consumer stopped, PEER_BACKLOG messages published, consumer
#     started: start -> last reading stored;
#   kill -9 mid-stream: PEER_KILL_N messages at PEER_KILL_RATE, the consumer
#     killed PEER_KILL_AT s in, restarted once the load is over; then
#     lost readings = published - distinct (series, ts) stored.
# VictoriaMetrics runs with -dedup.minScrapeInterval=1ms, so a reading stored
# twice (a redelivery) counts once; loadgen's ts are distinct per sensor.
#
# Knobs: BENCH_PEERS=0 skips it; BENCH_ONLY=nodered runs only this;
# BENCH_PEER_RATES="2000 5000 10000" BENCH_PEER_LIVE_S=5 BENCH_PEER_BACKLOG=100000
# BENCH_PEER_KILL_N=30000 BENCH_PEER_KILL_RATE=5000 BENCH_PEER_KILL_AT=3
#
# Uses run.sh's helpers and variables (loadgen, follow, cpu_ticks, status_kb,
# mib, div, us_per, nap, MQ, MQTT, T, BRIDGE, SW_ROOT, BUILD).
# shellcheck disable=SC2154 # variables set by run.sh and lib.sh, which source this

PEER_RATES=${BENCH_PEER_RATES:-2000 5000 10000}
PEER_LIVE_S=${BENCH_PEER_LIVE_S:-5}
PEER_BACKLOG=${BENCH_PEER_BACKLOG:-100000}
PEER_KILL_N=${BENCH_PEER_KILL_N:-30000}
PEER_KILL_RATE=${BENCH_PEER_KILL_RATE:-5000}
PEER_KILL_AT=${BENCH_PEER_KILL_AT:-3}
NR_DIR=$SW_ROOT/$BUILD/node-red
NR_RED=$NR_DIR/node_modules/node-red/red.js

# Node-RED and the influxdb nodes, from npm into the build tree (once)
nr_install() {
  [ -f "$NR_RED" ] && [ -d "$NR_DIR/node_modules/node-red-contrib-influxdb" ] && return 0
  command -v npm >/dev/null || return 1
  note "installing node-red and node-red-contrib-influxdb into $NR_DIR (npm)"
  mkdir -p "$NR_DIR"
  npm install --prefix "$NR_DIR" --no-audit --no-fund --loglevel=error \
    node-red@4 node-red-contrib-influxdb@0.7 >>"$T/npm.log" 2>&1
}
nr_version() { # package -> version
  jq -r .version "$NR_DIR/node_modules/$1/package.json" 2>/dev/null || echo "?"
}

# readings of MEASUREMENT stored in the peer VictoriaMetrics (one field counted)
peer_stored() {
  curl -sf "http://127.0.0.1:$PVM/api/v1/query" \
    --data-urlencode "query=sum(count_over_time(${1}_temperature_celsius[2h]))" |
    jq -r '.data.result[0].value[1] // 0'
}

# peer_start KIND: starts the bridge or Node-RED (state kept between starts);
# sets PEER_PID, PEER_T0 (start time); waits until it is subscribed
PEER_STARTS=0
peer_start() {
  local kind=$1 log
  PEER_STARTS=$((PEER_STARTS + 1))
  log=$T/peer-$kind-$PEER_STARTS.log
  PEER_T0=$EPOCHREALTIME
  if [ "$kind" = bridge ]; then
    env MQTT_URL="$MQTT" MQTT_CLIENT_ID=bench-peer-bridge STATE_DIR="$T/state-peer" \
      HEALTH_PORT="$(free_port)" HEALTH_ADDR=127.0.0.1 LOG_LEVEL=info REPLAY_MAX_SAMPLES_PER_S=0 \
      OUTPUTS=influx INFLUX_URL="http://127.0.0.1:$PVM" INFLUX_ORG=o INFLUX_BUCKET=b \
      INFLUX_TOKEN=t INFLUX_MEASUREMENT=pb "$BRIDGE" >>"$log" 2>&1 &
    PEER_PID=$!
    track "$PEER_PID"
    wait_for 20 grep -q "subscribed to\|session resumed" "$log" || fail "bridge did not subscribe"
  else
    env NR_PORT="$(free_port)" NR_USER_DIR="$T/nodered" NR_FLOW_FILE="$T/nodered/flow.json" \
      NR_MQTT_PORT="$MQ" NR_VM_PORT="$PVM" NR_MEASUREMENT=nr \
      node "$NR_RED" --settings "$SW_ROOT/bench/nodered/settings.js" >>"$log" 2>&1 &
    PEER_PID=$!
    track "$PEER_PID"
    wait_for 60 grep -q "Connected to broker" "$log" || fail "Node-RED did not connect"
    nap 0.5 # the SUBSCRIBE follows the CONNACK
  fi
}
peer_stop() { stop_pid "$PEER_PID" || true; }
# kill -9, reaped here so that bash's "Killed" job notice stays out of the output
peer_kill() {
  kill -9 "$PEER_PID" 2>/dev/null || true
  { wait "$PEER_PID" || true; } 2>/dev/null
}

# peer_wait MEASUREMENT TARGET TIMEOUT: until TARGET readings are stored, or
# no progress for 5 s, or TIMEOUT s; sets PW_END (time the last count rose)
# and PW_N (the count)
peer_wait() {
  local m=$1 target=$2 timeout=$3 n last=-1 t_last=$EPOCHREALTIME deadline
  deadline=$(awk -v t="$EPOCHREALTIME" -v d="$timeout" 'BEGIN { printf "%d", t + d }')
  PW_END=$t_last
  while :; do
    n=$(peer_stored "$m")
    if [ "$n" != "$last" ]; then last=$n t_last=$EPOCHREALTIME PW_END=$t_last; fi
    PW_N=$n
    [ "$n" -ge "$target" ] && return 0
    awk -v a="$EPOCHREALTIME" -v b="$t_last" 'BEGIN { exit !(a - b > 5) }' && return 1
    [ "${EPOCHREALTIME%.*}" -ge "$deadline" ] && return 1
    nap 0.2
  done
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

# peer_run KIND MEASUREMENT: all phases for one consumer; results in P_<KIND>_*
declare -A PR
peer_run() {
  local kind=$1 m=$2 pub=0 c0 c1 n r t_pub stored base
  peer_start "$kind"
  for r in $PEER_RATES; do
    n=$((r * PEER_LIVE_S))
    c0=$(cpu_ticks "$PEER_PID")
    loadgen "peer-$kind-$r" -n "$n" --rate "$r"
    t_pub=$(awk -v a="$LG_FIRST" -v n="$n" -v r="$LG_RATE" 'BEGIN { printf "%.6f", a + n / r }')
    pub=$((pub + n))
    peer_wait "$m" "$pub" 60 || true
    c1=$(cpu_ticks "$PEER_PID")
    PR[$kind,live$r,cpu]=$(us_per $((c1 - c0)) "$n")
    PR[$kind,live$r,lag]=$(secs "$PW_END" "$t_pub")
    PR[$kind,live$r,stored]=$((PW_N - (pub - n)))
    PR[$kind,live$r,n]=$n
  done
  # backlog: stopped, N published, started: start -> last reading stored
  peer_stop
  loadgen "peer-$kind-backlog" -n "$PEER_BACKLOG"
  pub=$((pub + PEER_BACKLOG))
  base=$(peer_stored "$m")
  peer_start "$kind"
  peer_wait "$m" "$pub" 300 || true
  c1=$(cpu_ticks "$PEER_PID")
  PR[$kind,backlog,cpu]=$(us_per "$c1" "$PEER_BACKLOG")
  PR[$kind,backlog,s]=$(secs "$PW_END" "$PEER_T0")
  PR[$kind,backlog,rate]=$(div "$((PW_N - base))" "${PR[$kind,backlog,s]}")
  PR[$kind,backlog,stored]=$((PW_N - base))
  PR[$kind,rss]=$(status_kb "$PEER_PID" VmHWM)
  # kill -9 mid-stream, restart, count
  base=$(peer_stored "$m")
  loadgen_bg "peer-$kind-kill" -n "$PEER_KILL_N" --rate "$PEER_KILL_RATE"
  nap "$PEER_KILL_AT"
  peer_kill
  loadgen_done "peer-$kind-kill"
  pub=$((pub + PEER_KILL_N))
  peer_start "$kind"
  peer_wait "$m" "$pub" 120 || true
  stored=$(peer_stored "$m")
  PR[$kind,kill,lost]=$((PEER_KILL_N - (stored - base)))
  PR[$kind,lost]=$((pub - stored))
  PR[$kind,pub]=$pub
  PR[$kind,stored]=$stored
  peer_stop
  drop_session "bench-peer-bridge"
  drop_session "bench-nodered"
}

bench_nodered() {
  if [ "${BENCH_PEERS:-1}" = 0 ]; then
    note "BENCH_PEERS=0: Node-RED peer skipped"
    return 0
  fi
  if ! nr_install || [ ! -f "$NR_RED" ] || ! command -v node >/dev/null; then
    note "Node-RED not installable here (npm/node missing or npm failed: $T/npm.log): peer skipped"
    return 0
  fi
  PVM=$(free_port)
  start_victoria "$PVM" -storageDataPath="$T/vm-peer" -dedup.minScrapeInterval=1ms
  mkdir -p "$T/nodered"
  cp "$SW_ROOT/bench/nodered/flow.json" "$T/nodered/flow.json"
  note "peer: bridge and Node-RED $(nr_version node-red) (node-red-contrib-influxdb" \
    "$(nr_version node-red-contrib-influxdb)), live at $PEER_RATES msg/s, a $PEER_BACKLOG backlog," \
    "kill -9 at ${PEER_KILL_AT}s of $PEER_KILL_N"
  peer_run bridge pb
  peer_run nodered nr
  print_nodered
}

print_nodered() {
  local r b n
  echo
  echo "== the bridge next to Node-RED $(nr_version node-red) + node-red-contrib-influxdb" \
    "$(nr_version node-red-contrib-influxdb): MQTT QoS 1 -> line protocol -> VictoriaMetrics"
  echo "   same broker, same load, one after the other; Node-RED: join 500 readings or 1 s -> influxdb batch"
  printf '%-28s %22s %22s %9s\n' "" "sensor-bridge" "Node-RED" "CPU"
  printf '%-28s %11s %10s %11s %10s %9s\n' "phase" "CPU us/msg" "lag/rate" "CPU us/msg" "lag/rate" "NR/bridge"
  for r in $PEER_RATES; do
    printf '%-28s %11s %9ss %11s %9ss %8sx\n' "live $r msg/s" "${PR[bridge,live$r,cpu]}" \
      "${PR[bridge,live$r,lag]}" "${PR[nodered,live$r,cpu]}" "${PR[nodered,live$r,lag]}" \
      "$(div "${PR[nodered,live$r,cpu]}" "${PR[bridge,live$r,cpu]}" %.1f)"
    for n in bridge nodered; do
      if [ "${PR[$n,live$r,stored]}" -lt "${PR[$n,live$r,n]}" ]; then
        printf '%6s%s stored %s of %s\n' "" "$n" "${PR[$n,live$r,stored]}" "${PR[$n,live$r,n]}"
      fi
    done
  done
  printf '%-28s %11s %7s/s %11s %7s/s %8sx\n' "backlog $PEER_BACKLOG (start->stored)" \
    "${PR[bridge,backlog,cpu]}" "${PR[bridge,backlog,rate]}" "${PR[nodered,backlog,cpu]}" \
    "${PR[nodered,backlog,rate]}" "$(div "${PR[nodered,backlog,cpu]}" "${PR[bridge,backlog,cpu]}" %.1f)"
  b=$(mib "${PR[bridge,rss]}") n=$(mib "${PR[nodered,rss]}")
  printf '%-28s %18s MiB %18s MiB %8sx\n' "peak RSS (VmHWM)" "$b" "$n" "$(div "$n" "$b" %.1f)"
  printf '%-28s %22s %22s\n' "lost, kill -9 phase" "${PR[bridge,kill,lost]}" "${PR[nodered,kill,lost]}"
  printf '%-28s %22s %22s\n' "lost, all phases" "${PR[bridge,lost]}" "${PR[nodered,lost]}"
  echo "   lag: last publish -> last reading stored; rate: backlog readings / (start -> last stored),"
  echo "   start-up included (CPU too). Lost = published ($PEER_KILL_N in the kill phase, ${PR[bridge,pub]} in all)"
  echo "   - distinct (series, ts) stored; a QoS 1 message Node-RED has acknowledged but not yet written"
  echo "   (join buffer, request in flight) dies with the process, the bridge acknowledges what its log holds."
}

# run.sh's entry point for both extra sections (this file and scaling.sh):
# BENCH_ONLY=all runs both, =nodered or =scaling one; anything else skips both
bench_peer_and_scaling() {
  case $ONLY in
  all) bench_nodered; bench_scaling ;;
  nodered) bench_nodered ;;
  scaling) bench_scaling ;;
  *) note "BENCH_ONLY=$ONLY: the Node-RED peer and the scaling curve skipped" ;;
  esac
}

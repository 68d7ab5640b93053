# shellcheck shell=bash
# bench/scaling.sh - sourced by bench/run.sh: how the bridge's cost grows with
# the work. Every point is a backlog drain (the bridge's session exists, the
# bridge is stopped, loadgen publishes, the bridge starts: start -> last
# sample at the discard receiver), with the bench's configuration (durable
# log, remote write to bench/discard_http):
#   distinct series: SCALE_SERIES sensors (loadgen --sensors), SCALE_N messages each run;
#   backlog size: SCALE_BACKLOGS messages over the bench's 1000 sensors.
# Reported: drain rate, CPU per message (all the bridge's CPU since its start,
# start-up included), peak RSS (VmHWM) and the anonymous part of RSS at the end.
#
# Knobs: BENCH_SCALING=0 skips it; BENCH_ONLY=scaling runs only this;
# BENCH_SCALE_SERIES="1000 10000 100000" BENCH_SCALE_N=100000
# BENCH_SCALE_BACKLOGS="10000 100000 1000000"
#
# Uses run.sh's helpers and variables (loadgen, follow, start_bridge,
# discard_samples, cpu_ticks, status_kb, mem_split, mib, div, us_per).
# shellcheck disable=SC2154 # variables set by run.sh and lib.sh, which source this

SCALE_SERIES=${BENCH_SCALE_SERIES:-1000 10000 100000}
SCALE_N=${BENCH_SCALE_N:-100000}
SCALE_BACKLOGS=${BENCH_SCALE_BACKLOGS:-10000 100000 1000000}
SCALE_ROWS=()
declare -A SC

# scale_drain KEY LABEL SENSORS N: one backlog drain, one row
scale_drain() {
  local key=$1 label=$2 k=$3 n=$4 base t0 c1 rss anon s
  start_bridge "scale-$key" "${SC_RW[@]}"
  stop_pid "$BR_PID" || true
  "$LOADGEN" --url "$MQTT" --sensors "$k" --inflight 20 --connections 1 \
    --client-id "bench-scale-$key" -n "$n" >"$T/lg-scale-$key.out" 2>>"$T/loadgen.log" ||
    fail "loadgen scale-$key failed"
  base=$(discard_samples "$SC_DP")
  t0=$EPOCHREALTIME
  start_bridge "scale-$key" "${SC_RW[@]}"
  follow $((n * FIELDS)) 600 rel_discard "$SC_DP" "$base" ||
    SC[$key,note]="INCOMPLETE: $((P_LAST / FIELDS)) of $n"
  c1=$(cpu_ticks "$BR_PID")
  rss=$(status_kb "$BR_PID" VmHWM)
  read -r _ _ anon _ <<<"$(mem_split "$BR_PID")"
  s=$(awk -v a="$P_END" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
  SCALE_ROWS+=("$key")
  SC[$key,label]=$label SC[$key,n]=$n SC[$key,k]=$k
  SC[$key,rate]=$(div "$n" "$s") SC[$key,sust]=$(sustained "$FIELDS")
  SC[$key,cpu]=$(us_per "$c1" "$n") SC[$key,rss]=$(mib "$rss") SC[$key,anon]=$(mib "$anon")
  end_bridge "scale-$key"
}

bench_scaling() {
  local k b
  if [ "${BENCH_SCALING:-1}" = 0 ]; then
    note "BENCH_SCALING=0: scaling section skipped"
    return 0
  fi
  SC_DP=$(free_port)
  "$DISCARD" --port "$SC_DP" >>"$T/discard-scale.log" 2>&1 &
  track $!
  wait_port "$SC_DP"
  SC_RW=(OUTPUTS=remote_write "REMOTE_WRITE_URL=http://127.0.0.1:$SC_DP/api/v1/write")
  note "scaling: sensors $SCALE_SERIES ($SCALE_N messages each), backlogs $SCALE_BACKLOGS (1000 sensors)"
  for k in $SCALE_SERIES; do
    scale_drain "series$k" "$k sensors, $SCALE_N-message backlog" "$k" "$SCALE_N"
  done
  for b in $SCALE_BACKLOGS; do
    scale_drain "backlog$b" "1000 sensors, $b-message backlog" 1000 "$b"
  done
  print_scaling
}

print_scaling() {
  local key
  echo
  echo "== how the bridge's cost grows: backlog drains (durable log, remote write -> discard)"
  printf '%-40s %9s %9s %10s %9s %9s\n' "" "msg/s" "5-95%" "CPU us/msg" "peak RSS" "anon now"
  for key in "${SCALE_ROWS[@]}"; do
    printf '%-40s %9s %9s %10s %5s MiB %5s MiB\n' "${SC[$key,label]}" "${SC[$key,rate]}" \
      "${SC[$key,sust]}" "${SC[$key,cpu]}" "${SC[$key,rss]}" "${SC[$key,anon]}"
    if [ -n "${SC[$key,note]:-}" ]; then printf '%6s%s\n' "" "${SC[$key,note]}"; fi
  done
  echo "   sensors: loadgen --sensors, 2 series each (two fields); msg/s: bridge start -> last"
  echo "   sample acknowledged (start-up included, as is its CPU);"
  echo "   anon: the bridge's own memory at the end (smaps_rollup Pss_Anon)"
}

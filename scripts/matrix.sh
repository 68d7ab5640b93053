#!/usr/bin/env bash
# matrix.sh - builds and tests sensorwire for every target users run it on:
# Debian 12 (bookworm) and 13 (trixie), each for amd64 (native), arm64,
# armhf (ARMv7) and armhf with Raspberry Pi OS 32-bit's ARMv6 baseline
# (ARCH_FLAGS='-march=armv6+fp -marm'), cross-built in a cached Debian chroot
# (scripts/chroot.sh) and run there under qemu-user. Per target:
#
#   build   make all unit-bins, the default build (static publisher,
#           dynamic bridge), in build/matrix/<target> of a copy of the tree
#   unit    the unit tests (tests/run.sh unit), foreign ones under qemu
#   elf     scripts/elf-check.sh on every static program built (qemu cannot
#           show an unmapped RELRO page or a too small p_align)
#   isa     (armv6) readelf -A: our own objects are ARMv6 with no Thumb-2
#   arm1176 (armv6, INFO, not counted) the programs under qemu -cpu arm1176,
#           a Pi Zero/1 CPU: Debian's armhf libraries in them are ARMv7
#   smoke   publisher (two sim sensors) -> Mosquitto on a free 127.0.0.1
#           port -> bridge (OUTPUTS=stdout): every reading the publisher sent
#           (its JSON, seen by mosquitto_sub) comes out as line protocol with
#           the same values and time stamp, seq 1..n per sensor, nothing lost
#
# Prints one line per target and step (PASS/FAIL/SKIP, seconds) and ends with
# "N passed, N failed"; exits 1 on any failure. Logs stay in a temporary
# directory (printed at the end). Needs root, debootstrap and
# qemu-user-static; the chroots (minutes to make, once), their packages and
# the build trees in them are kept between runs.
#
#   scripts/matrix.sh [--quick] [--suite S]... [--target T]... [--bridge-static[=T]] [--rev REV]
#     --quick            Debian 12 arm64 only: build, unit tests under qemu and
#                        the ELF check (what make test runs)
#     --suite S          bookworm|trixie (or 12|13); repeatable, or S1,S2
#     --target T         amd64|arm64|armhf|armv6; repeatable, or T1,T2
#     --bridge-static[=T] also build target T (default arm64) of the first
#                        suite with BRIDGE_STATIC=1 (libraries compiled from
#                        Debian's sources: minutes, and the network, once)
#     --rev REV          test that commit (git archive) instead of the working tree
#     -j N               make jobs (default: nproc)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
all_suites=(bookworm trixie)
all_targets=(amd64 arm64 armhf armv6)
suites=() targets=() quick=0 static_target="" jobs=$(nproc) rev=""

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
add_list() { # array-name comma-list allowed...
  local -n into=$1
  local v ok a
  for v in ${2//,/ }; do
    case $v in 12 | debian12) v=bookworm ;; 13 | debian13) v=trixie ;; esac
    ok=0
    for a in "${@:3}"; do [ "$v" = "$a" ] && ok=1; done
    [ $ok = 1 ] || { echo "matrix: unknown '$v' (one of: ${*:3})" >&2; exit 2; }
    into+=("$v")
  done
}
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --suite) add_list suites "${2:?--suite needs a value}" "${all_suites[@]}"; shift ;;
    --suite=*) add_list suites "${1#*=}" "${all_suites[@]}" ;;
    --target) add_list targets "${2:?--target needs a value}" "${all_targets[@]}"; shift ;;
    --target=*) add_list targets "${1#*=}" "${all_targets[@]}" ;;
    --bridge-static) static_target=arm64 ;;
    --bridge-static=*)
      static_target=${1#*=}
      case " ${all_targets[*]} " in *" $static_target "*) ;; *)
        echo "matrix: unknown target '$static_target' (one of: ${all_targets[*]})" >&2; exit 2 ;;
      esac
      ;;
    --rev) rev=${2:?--rev needs a value}; shift ;;
    --rev=*) rev=${1#*=} ;;
    -j) jobs=${2:?-j needs a value}; shift ;;
    -j*) jobs=${1#-j} ;;
    -h | --help) usage; exit 0 ;;
    *) echo "matrix: unknown option '$1' (--help)" >&2; exit 2 ;;
  esac
  shift
done
if [ $quick = 1 ]; then
  [ ${#suites[@]} -gt 0 ] || suites=(bookworm)
  [ ${#targets[@]} -gt 0 ] || targets=(arm64)
fi
[ ${#suites[@]} -gt 0 ] || suites=("${all_suites[@]}")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

if [ -n "$rev" ]; then
  # one commit for the whole run, even if the branch moves meanwhile
  rev=$(git -C "$src" rev-parse --verify -q "$rev^{commit}") || { echo "matrix: no commit '$rev'" >&2; exit 2; }
  rev=${rev:0:12}
fi
[ "$(id -u)" = 0 ] || { echo "matrix: needs root (chroot, mount)" >&2; exit 1; }
for q in qemu-aarch64-static qemu-arm-static; do
  [ -x /usr/bin/$q ] || { echo "matrix: needs /usr/bin/$q (apt-get install qemu-user-static)" >&2; exit 1; }
done

# what the chroots need: the native and cross toolchains, each architecture's
# libraries, and Mosquitto, its clients and jq for the smoke test
LIB_PKGS="libpaho-mqtt-dev libcurl4-openssl-dev libcjson-dev libprotobuf-c-dev libsnappy-dev
  zlib1g-dev libgpiod-dev libcmocka-dev libmicrohttpd-dev libssl-dev"
PKGS="build-essential make pkg-config protobuf-c-compiler crossbuild-essential-arm64
  crossbuild-essential-armhf mosquitto mosquitto-clients jq rsync"
for a in amd64 arm64 armhf; do
  for p in $LIB_PKGS; do PKGS+=" $p:$a"; done
done
# the ARMv6 programs call libatomic for 64-bit atomics (README "Supported
# systems"); running them under qemu needs the armhf runtime library, which
# Raspberry Pi OS installs and a fresh chroot does not (the cross toolchain's
# copy is not on the loader's path): without it, a chroot made anew failed
# armv6 unit and smoke with "libatomic.so.1: cannot open shared object file"
PKGS+=" libatomic1:armhf"
# BRIDGE_STATIC=1: scripts/static-deps.sh runs autoreconf for curl
if [ -n "$static_target" ]; then PKGS+=" autoconf automake libtool"; fi

logs=$(mktemp -d "${TMPDIR:-/tmp}/sw-matrix.XXXXXX")
passed=0 failed=0 failures=() mounted=() lock_fd=""
t_start=$EPOCHREALTIME

on_exit() {
  local m
  for m in ${mounted[@]+"${mounted[@]}"}; do umount "$m" 2>/dev/null || true; done
}
trap on_exit EXIT
trap 'exit 130' INT TERM

label_of() { case $1 in bookworm) echo debian12 ;; trixie) echo debian13 ;; esac; }
elapsed() { # start -> seconds with one decimal
  local now=${EPOCHREALTIME//[.,]/} then=${1//[.,]/}
  local d=$((now - then))
  printf '%d.%d' $((d / 1000000)) $((d % 1000000 / 100000))
}

# result STATUS LABEL TARGET STEP START [NOTE] [LOG]
result() {
  local status=$1 label=$2 target=$3 step=$4 start=$5 note=${6:-} log=${7:-}
  printf '%-4s  %-8s  %-12s %-6s %6ss  %s\n' "$status" "$label" "$target" "$step" "$(elapsed "$start")" "$note"
  case $status in
    PASS) passed=$((passed + 1)) ;;
    FAIL)
      failed=$((failed + 1)) failures+=("$label $target $step")
      if [ -n "$log" ]; then tail -n 40 "$log" | sed 's/^/      | /'; fi
      ;;
  esac
}

# run_step LABEL TARGET STEP FUNC ARGS...: FUNC runs in a subshell with its
# output in the step's log; its last line "note: ..." becomes the note
step_ok=0
run_step() {
  local label=$1 target=$2 step=$3 start=$EPOCHREALTIME log note; shift 3
  log=$logs/$label-$target-$step.log
  if [ "$target" = - ]; then log=$logs/$label-$step.log; fi
  if ("$@") >"$log" 2>&1; then
    note=$(sed -n 's/^note: //p' "$log" | tail -n 1)
    result PASS "$label" "$target" "$step" "$start" "$note"
    step_ok=1
  else
    note=$(sed -n 's/^note: //p' "$log" | tail -n 1)
    result FAIL "$label" "$target" "$step" "$start" "${note:-see $log}" "$log"
    step_ok=0
  fi
}
skip() { printf '%-4s  %-8s  %-12s %-6s %6s   %s\n' SKIP "$1" "$2" "$3" - "$4"; }

# --- the chroot -------------------------------------------------------------
root=""
in_chroot() { # [NAME=VALUE...] CMD...: in the chroot, with a clean environment
  chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    LC_ALL=C.UTF-8 TMPDIR=/tmp "$@"
}
# the same for `chroot_exec ... &`: the background subshell becomes the
# program (chroot and env exec it too), so $! is the program's own PID
chroot_exec() { exec chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root LC_ALL=C.UTF-8 TMPDIR=/tmp "$@"; }

step_chroot() { # suite
  SW_CHROOT_PKGS=$PKGS "$here/chroot.sh" "$1" >"$logs/chroot-$1.path" || return 1
  local r
  r=$(tail -n 1 "$logs/chroot-$1.path")
  [ -d "$r/usr" ] || { echo "chroot.sh printed no chroot: $r"; return 1; }
  echo "note: $r"
}

# the source tree as it is now (without build/ and .git), or commit --rev,
# into /src/sensorwire of the chroot: staged with tar (the host may lack
# rsync), then rsync'd in the chroot by content: deleted files go, changed
# ones are written anew (so make sees them newer than their objects, even
# when the source's own time went back), unchanged ones are left alone
step_sync() {
  rm -rf "$root/src/stage"
  mkdir -p "$root/src/stage" "$root/src/sensorwire" "$root/usr/local/bin"
  if [ -n "$rev" ]; then
    git -C "$src" archive "$rev" | tar -C "$root/src/stage" -x || return 1
  else
    tar -C "$src" -c --exclude=./.git --exclude=./build --exclude='./build-*' --exclude=node_modules . |
      tar -C "$root/src/stage" -x || return 1
  fi
  in_chroot rsync -rlp --checksum --delete --exclude=/build/ /src/stage/ /src/sensorwire/ || return 1
  rm -rf "$root/src/stage"
  # qemu-user for the foreign programs (no binfmt_misc: called explicitly)
  local q
  for q in qemu-aarch64-static qemu-arm-static; do
    cmp -s /usr/bin/$q "$root/usr/local/bin/$q" || install -m 0755 /usr/bin/$q "$root/usr/local/bin/$q"
  done
  echo "note: $(find "$root/src/sensorwire" -path "$root/src/sensorwire/build" -prune -o -type f -print | wc -l)" \
    "files of ${rev:-the working tree}"
}

# --- per target ---------------------------------------------------------------
# make_args TARGET: sets MAKE_ARGS, RUNNER (qemu command, empty for native)
# and BUILD_DIR (inside the chroot)
set_target() {
  local t=$1 base=${1%+static}
  BUILD_DIR=build/matrix/$t
  MAKE_ARGS=(BUILD="$BUILD_DIR")
  RUNNER=()
  case $base in
    amd64) ;;
    arm64) MAKE_ARGS+=(CROSS=aarch64-linux-gnu-) RUNNER=(/usr/local/bin/qemu-aarch64-static) ;;
    armhf) MAKE_ARGS+=(CROSS=arm-linux-gnueabihf-) RUNNER=(/usr/local/bin/qemu-arm-static) ;;
    armv6)
      MAKE_ARGS+=(CROSS=arm-linux-gnueabihf- "ARCH_FLAGS=-march=armv6+fp -marm")
      RUNNER=(/usr/local/bin/qemu-arm-static)
      ;;
  esac
  case $t in *+static) MAKE_ARGS+=(BRIDGE_STATIC=1) ;; esac
}

step_build() {
  local start=$SECONDS t w=$root/src/sensorwire
  in_chroot make -C /src/sensorwire -j"$jobs" "${MAKE_ARGS[@]}" all unit-bins || return 1
  # tests/run.sh runs every program under tests/unit: not those of tests
  # whose source is gone (another commit, a deleted test)
  while IFS= read -r t; do
    if [ ! -f "$w/tests/unit/${t#"$w/$BUILD_DIR/tests/unit/"}.c" ]; then
      echo "stale unit test removed: ${t#"$w/"}"
      rm -f "$t"
    fi
  done < <(find "$w/$BUILD_DIR/tests/unit" -type f -perm -u+x 2>/dev/null)
  echo "note: $(file_kinds) ($((SECONDS - start))s of make)"
}
file_kinds() { # publisher and bridge: static or dynamic
  local p kinds=""
  for p in sensor-publisher sensor-bridge; do
    if is_static "$root/src/sensorwire/$BUILD_DIR/$p"; then kinds+="${kinds:+, }${p#sensor-} static"
    else kinds+="${kinds:+, }${p#sensor-} dynamic"; fi
  done
  echo "$kinds"
}
is_static() { ! readelf -lW "$1" 2>/dev/null | grep -q 'Requesting program interpreter'; }

step_unit() {
  local out rc=0
  # under qemu the DHT property test's 300000 traces take a minute on 32-bit
  # ARM, and the payload test's 200000 printf comparisons 4 1/2 minutes on
  # Debian 13 arm64; the native runs cover the samples, the foreign ones a
  # tenth of them
  local sample=()
  if [ ${#RUNNER[@]} -gt 0 ]; then sample=(DHT_PROPERTY_TRACES=30000 PAYLOAD_NUMBERS=20000); fi
  out=$(in_chroot TEST_RUNNER="${RUNNER[*]}" ${sample[@]+"${sample[@]}"} make -C /src/sensorwire "${MAKE_ARGS[@]}" unit 2>&1) || rc=$?
  echo "$out"
  # run.sh keeps its logs; the tails of failing ones are in ours already
  local d
  d=$(sed -n 's|^logs: \(/tmp/sw-tests\.[A-Za-z0-9]*\)$|\1|p' <<<"$out" | tail -n 1)
  if [ -n "$d" ]; then rm -rf "${root:?}$d"; fi
  echo "note: $(grep -E '^[0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -n 1)${RUNNER[0]:+ (under ${RUNNER[0]##*/})}"
  return $rc
}

step_elf() {
  local p progs=()
  for p in sensor-publisher sensor-bridge; do
    if is_static "$root/src/sensorwire/$BUILD_DIR/$p"; then progs+=("/src/sensorwire/$BUILD_DIR/$p"); fi
  done
  if [ ${#progs[@]} -eq 0 ]; then echo "note: no static program"; return 0; fi
  # the chroot's own readelf, on its copy of the script
  local out rc=0
  out=$(in_chroot bash /src/sensorwire/scripts/elf-check.sh "${progs[@]}" 2>&1) || rc=$?
  echo "$out"
  if [ $rc -eq 0 ]; then
    echo "note: OK: ${progs[*]##*/}"
  else
    echo "note: $(grep -c '^elf-check: /' <<<"$out") violation(s), first:" \
      "$(grep -m1 '^elf-check: /' <<<"$out" | sed 's|^elf-check: /src/sensorwire/[^ ]*/||')"
  fi
  return $rc
}

# our own objects must be ARMv6 (Tag_CPU_arch: v6) without Thumb-2; the
# programs are also reported, since Debian's armhf libraries are ARMv7
step_isa() {
  local o n=0 bad=0 arch thumb p
  while IFS= read -r o; do
    n=$((n + 1))
    arch=$(readelf -A "$o" | sed -n 's/^ *Tag_CPU_arch: //p')
    thumb=$(readelf -A "$o" | sed -n 's/^ *Tag_THUMB_ISA_use: //p')
    if [ "$arch" != v6 ] || [ "$thumb" = Thumb-2 ]; then
      echo "${o#"$root/src/sensorwire/"}: Tag_CPU_arch ${arch:-none}, Tag_THUMB_ISA_use ${thumb:-none}"
      bad=$((bad + 1))
    fi
  done < <(find "$root/src/sensorwire/$BUILD_DIR/obj" -name '*.o' | sort)
  [ $n -gt 0 ] || { echo "note: no objects"; return 1; }
  local linked=""
  for p in sensor-publisher sensor-bridge; do
    arch=$(readelf -A "$root/src/sensorwire/$BUILD_DIR/$p" | sed -n 's/^ *Tag_CPU_arch: //p')
    thumb=$(readelf -A "$root/src/sensorwire/$BUILD_DIR/$p" | sed -n 's/^ *Tag_THUMB_ISA_use: //p')
    echo "$p as linked: Tag_CPU_arch $arch, Tag_THUMB_ISA_use $thumb"
    linked+=" ${p#sensor-} $arch/$thumb"
  done
  if [ $bad -gt 0 ]; then echo "note: $bad of $n objects are not ARMv6 ARM/Thumb-1"; return 1; fi
  echo "note: $n objects v6, no Thumb-2; as linked with Debian's libraries:$linked"
}

# the ARMv6 programs on an ARM1176 (Pi Zero/1) CPU model: informational, as
# Debian's armhf libraries are ARMv7 (see the isa step)
probe_arm1176() {
  local p rc out=""
  for p in sensor-publisher sensor-bridge; do
    rc=0
    in_chroot /usr/local/bin/qemu-arm-static -cpu arm1176 "/src/sensorwire/$BUILD_DIR/$p" --version \
      >"$logs/$label-$target-arm1176-$p.log" 2>&1 || rc=$?
    case $rc in
      0) out+=" ${p#sensor-} runs;" ;;
      132) out+=" ${p#sensor-} SIGILL;" ;;
      *) out+=" ${p#sensor-} exit $rc;" ;;
    esac
  done
  printf '%-4s  %-8s  %-12s %-6s %6s   %s\n' INFO "$label" "$target" arm1176 - \
    "qemu-arm -cpu arm1176 --version:${out%;} (Debian's armhf libc is ARMv7: not a Pi Zero/1 build)"
}

at_least() { [ "$(grep -c "$2" "$3")" -ge "$1" ]; } # N REGEX FILE

# publisher -> Mosquitto -> bridge, the programs of this target; the helpers
# (free ports, PIDs stopped at exit, logs shown on failure) are lib.sh's, with
# its temporary directory inside the chroot so both sides see it
step_smoke() {
  # shellcheck source=tests/integration/lib.sh
  TMPDIR=$root/tmp . "$src/tests/integration/lib.sh"
  set +e
  trap - ERR
  local in=${T#"$root"} bin=/src/sensorwire/$BUILD_DIR port node=matrix-$target
  node=${node//+/-}
  port=$(free_port)
  printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser %s\n' "$port" "$(id -un)" >"$T/mosquitto.conf"
  # this machine's Mosquitto if it has one, else the chroot's (native too)
  local broker
  if [ -x /usr/sbin/mosquitto ]; then
    broker="this machine's Mosquitto"
    /usr/sbin/mosquitto -c "$T/mosquitto.conf" >"$T/mosquitto.log" 2>&1 &
  else
    broker="the chroot's Mosquitto"
    chroot_exec /usr/sbin/mosquitto -c "$in/mosquitto.conf" >"$T/mosquitto.log" 2>&1 &
  fi
  track $!
  wait_port "$port"
  chroot_exec mosquitto_sub -h 127.0.0.1 -p "$port" -i matrix-watch -q 1 -v -t 'sensors/#' \
    >"$T/sub.out" 2>"$T/sub.log" &
  track $!
  chroot_exec MQTT_URL="tcp://127.0.0.1:$port" MQTT_CLIENT_ID="$node-bridge" OUTPUTS=stdout \
    BATCH_MAX_DELAY_MS=100 ${RUNNER[@]+"${RUNNER[@]}"} "$bin/sensor-bridge" >"$T/bridge.out" 2>"$T/bridge.log" &
  local br=$!
  track $br
  wait_for 60 grep -q 'subscribed' "$T/bridge.log" || fail "the bridge did not subscribe"
  wait_for 20 grep -q 'as matrix-watch' "$T/mosquitto.log" || fail "mosquitto_sub did not connect"
  sleep 0.5
  chroot_exec MQTT_URL="tcp://127.0.0.1:$port" NODE_NAME="$node" SENSORS='a=sim b=sim,base=5,humidity=70' \
    SIM_SEED=7 INTERVAL_MS=100 ${RUNNER[@]+"${RUNNER[@]}"} "$bin/sensor-publisher" \
    >"$T/publisher.out" 2>"$T/publisher.log" &
  local pub=$! rc
  track $pub
  wait_for 60 at_least 10 "^sensors/$node/b {" "$T/sub.out" || fail "fewer than 10 readings of sensor b arrived in 60 s"
  rc=0; stop_pid $pub || rc=$?
  [ $rc -eq 0 ] || fail "the publisher exited with status $rc on SIGTERM"
  # every reading the broker passed on, as node sensor seq ts field value
  # shellcheck disable=SC2016 # jq's own $variables
  grep "^sensors/$node/[ab] {" "$T/sub.out" | in_chroot jq -R -r '
    capture("^sensors/(?<n>[^/ ]+)/(?<s>[^/ ]+) (?<p>.*)$") | . as $m | ($m.p | fromjson) as $j
    | $j | to_entries[] | select(.key != "ts" and .key != "seq" and (.value | type) == "number")
    | "\($m.n) \($m.s) \($j.seq) \($j.ts) \(.key) \(.value)"' >"$T/sent.txt" ||
    fail "cannot read the published JSON"
  local want
  want=$(grep -c "^sensors/$node/[ab] {" "$T/sub.out")
  wait_for 30 at_least "$want" "^sensor,.*node=$node" "$T/bridge.out" || fail "the bridge printed $(grep -c '^sensor,' "$T/bridge.out") of $want readings"
  sleep 0.3
  rc=0; stop_pid $br || rc=$?
  [ $rc -eq 0 ] || fail "the bridge exited with status $rc on SIGTERM"
  grep -q 'malformed=0 .*lost=0 gaps=0 duplicates=0' "$T/bridge.log" ||
    fail "bridge counters: $(grep 'received=' "$T/bridge.log")"
  # line protocol as node sensor ts field value
  awk '/^sensor,/ {
      node = sensor = ""; n = split($1, tag, ",")
      for (i = 2; i <= n; i++) { split(tag[i], kv, "="); if (kv[1] == "node") node = kv[2]; if (kv[1] == "sensor") sensor = kv[2] }
      n = split($2, f, ",")
      for (i = 1; i <= n; i++) { split(f[i], kv, "="); sub(/i$/, "", kv[2]); print node, sensor, $3, kv[1], kv[2] }
    }' "$T/bridge.out" >"$T/got.txt"
  local summary
  summary=$(awk -v node="$node" '
    function abs(x) { return x < 0 ? -x : x }
    FNR == NR { k = $1 SUBSEP $2 SUBSEP $4 SUBSEP $5; want[k] = $6; nw++
      if ($1 == node) { seen[$2, $3] = 1; if ($3 > max[$2]) max[$2] = $3 }; next }
    { k = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4
      if (k in got) { print "duplicate: " $0; bad++ }
      got[k] = $5; ng++
      if (!(k in want)) { print "not published: " $0; bad++ }
      else if (abs(want[k] - $5) > 1e-9 * (abs(want[k]) > 1 ? abs(want[k]) : 1)) {
        print "value differs: " $0 " (published " want[k] ")"; bad++ } }
    END {
      for (k in want) if (!(k in got)) { split(k, p, SUBSEP); print "missing: " p[1], p[2], p[3], p[4]; bad++ }
      for (s in max) for (i = 1; i <= max[s]; i++) if (!((s, i) in seen)) { print "seq gap: " s " " i; bad++ }
      if (!("a" in max) || !("b" in max)) { print "a sensor sent nothing"; bad++ }
      if (bad) exit 1
      printf "a seq 1-%d, b seq 1-%d: %d values published = %d in line protocol\n", max["a"], max["b"], nw, ng
    }' "$T/sent.txt" "$T/got.txt") || fail "line protocol does not match what was published: $summary"
  echo "note: $summary (via $broker)"
}

# --- the matrix -----------------------------------------------------------------
echo "matrix: ${suites[*]} x ${targets[*]}${static_target:+ (+ $static_target with BRIDGE_STATIC=1)}" \
  "of ${rev:-the working tree}; logs in $logs"
first_suite=${suites[0]}
for suite in "${suites[@]}"; do
  label=$(label_of "$suite")
  # one matrix at a time per chroot (its source copy and build trees)
  base=${SW_CHROOT_DIR:-/var/cache/sensorwire/chroot}
  mkdir -p "$base"
  exec {lock_fd}>"$base/$suite.matrix.lock"
  flock -n "$lock_fd" || { echo "matrix: waiting for another matrix on $suite"; flock "$lock_fd"; }

  run_step "$label" - chroot step_chroot "$suite"
  if [ $step_ok = 0 ]; then exec {lock_fd}>&-; continue; fi
  root=$(tail -n 1 "$logs/chroot-$suite.path")
  if ! mountpoint -q "$root/proc"; then mount -t proc proc "$root/proc" && mounted+=("$root/proc"); fi
  run_step "$label" - sync step_sync
  if [ $step_ok = 0 ]; then exec {lock_fd}>&-; continue; fi

  suite_targets=("${targets[@]}")
  if [ -n "$static_target" ] && [ "$suite" = "$first_suite" ]; then suite_targets+=("$static_target+static"); fi
  for target in "${suite_targets[@]}"; do
    set_target "$target"
    run_step "$label" "$target" build step_build
    if [ $step_ok = 0 ]; then
      for s in unit elf smoke; do skip "$label" "$target" "$s" "build failed"; done
      continue
    fi
    if [ "$target" = "${target%+static}" ]; then run_step "$label" "$target" unit step_unit; fi
    run_step "$label" "$target" elf step_elf
    if [ "${target%+static}" = armv6 ]; then
      run_step "$label" "$target" isa step_isa
      probe_arm1176
    fi
    if [ $quick = 0 ]; then run_step "$label" "$target" smoke step_smoke; fi
  done
  if [ ${#mounted[@]} -gt 0 ] && [ "${mounted[-1]}" = "$root/proc" ]; then
    umount "$root/proc" 2>/dev/null || true
    unset 'mounted[-1]'
  fi
  exec {lock_fd}>&-
done

echo "matrix: $(elapsed "$t_start")s in all; logs in $logs"
for f in ${failures[@]+"${failures[@]}"}; do echo "failed: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

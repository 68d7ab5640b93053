#!/usr/bin/env bash
# run.sh - opt-in hardware check (make check-hw): reads the sensors wired to
# this machine with the real publisher (`sensor-publisher --once`, no MQTT)
# and checks that each one gave a JSON reading with temperature_celsius.
# Not part of `make test`: it needs a Raspberry Pi (or similar) with sensors,
# or the gpio-sim kernel module for a wiring-free check of the GPIO path.
# Either GPIO backend (gpio_v1.c for libgpiod 1.x, gpio_v2.c for 2.x, chosen
# by the build from the installed libgpiod) is checked the same way; the
# first line says which one the publisher was built with.
#
#   SENSORS='desk=dht22,line=4' make check-hw        # one DHT22 on BCM GPIO 4
#   SENSORS='room=iio,name=dht11 probe=ds18b20,id=28-0000075b6b7e' make check-hw
#   HW_READS=20 SENSORS='desk=dht22,line=4' make check-hw   # 20 rounds, 2 s apart
#   HW_GPIO_SIM=1 make check-hw                      # root; gpio-sim, no sensor
#
# Environment: SENSORS (as for the publisher; required unless HW_GPIO_SIM=1),
# HW_READS (rounds, default 1), HW_MIN_OK (rounds that must succeed, default
# all), HW_FIELD (field every payload must carry, default temperature_celsius),
# HW_PAUSE_S (seconds between rounds, default 2: a DHT22's minimum).
# Any other publisher setting (SYSFS_ROOT, LOG_LEVEL ...) passes through.
# Exit: 0 pass, 1 fail, 2 not set up (usage printed).
set -u
BUILD=${BUILD:-build}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$root/$BUILD/sensor-publisher
field=${HW_FIELD:-temperature_celsius}
reads=${HW_READS:-1}
min_ok=${HW_MIN_OK:-$reads}
pause=${HW_PAUSE_S:-2}

usage() {
  sed -n '2,/^set -u/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ -x "$bin" ] || { echo "check-hw: $bin not built (run make first)" >&2; exit 2; }

# Which backend: the one in the library the publisher was linked from (the
# Makefile puts only gpio_v$(GPIOD_API).o there), else the installed libgpiod.
backend=$(${AR:-ar} t "$root/$BUILD/libpublisher.a" 2>/dev/null | grep -o 'gpio_v[0-9]*' | head -n 1)
gpiod_ver=$(${PKG_CONFIG:-pkg-config} --modversion libgpiod 2>/dev/null)
[ -n "$backend" ] || backend=${gpiod_ver:+gpio_v${gpiod_ver%%.*}}
echo "check-hw: GPIO backend ${backend:-unknown}.c${gpiod_ver:+, libgpiod $gpiod_ver installed}"

# --- gpio-sim: a simulated chip exercises chip lookup, the start pulse and
# the edge request end to end; nothing answers, so the read must fail with
# the driver's "no answer" message (a DHT's answer cannot be faked from a
# shell at microsecond timing).
if [ "${HW_GPIO_SIM:-0}" = 1 ]; then
  cfs=/sys/kernel/config/gpio-sim
  if [ ! -d "$cfs" ]; then
    modprobe gpio-sim 2>/dev/null
    mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config 2>/dev/null
  fi
  if [ ! -d "$cfs" ]; then
    echo "check-hw: gpio-sim not available (needs root, CONFIG_GPIO_SIM, configfs)" >&2
    exit 2
  fi
  dev=$cfs/sensorwire-hw.$$
  # shellcheck disable=SC2317 # run by the EXIT trap
  cleanup() {
    [ -e "$dev/live" ] && echo 0 >"$dev/live"
    rmdir "$dev/bank0" "$dev" 2>/dev/null
  }
  trap cleanup EXIT
  { mkdir "$dev" "$dev/bank0" && echo 8 >"$dev/bank0/num_lines" && echo 1 >"$dev/live"; } || {
    echo "check-hw: could not create a gpio-sim chip" >&2; exit 2; }
  chip=$(cat "$dev/bank0/chip_name")
  out=$(SENSORS="sim0=dht22,chip=$chip,line=3" "$bin" --once 2>&1 >/dev/null)
  rc=$?
  # shellcheck disable=SC2001 # a prefix on every line
  echo "$out" | sed 's/^/  | /'
  if [ $rc -ne 0 ] && echo "$out" | grep -Eq "no answer: [0-9]+ edges"; then
    echo "check-hw: PASS gpio-sim $chip line 3: GPIO path works, no sensor answered (as expected)"
    exit 0
  fi
  echo "check-hw: FAIL gpio-sim $chip: expected a 'no answer' read failure" >&2
  exit 1
fi

[ -n "${SENSORS:-}" ] || usage
export SENSORS
n_sensors=$(echo "$SENSORS" | wc -w)
ok_rounds=0
for round in $(seq 1 "$reads"); do
  [ "$round" -gt 1 ] && sleep "$pause"
  errf=$(mktemp)
  out=$("$bin" --once 2>"$errf")
  rc=$?
  good=0
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    echo "  $line"
    if command -v jq >/dev/null; then
      echo "$line" | jq -e --arg f "$field" 'has($f) and (.[$f] | type == "number")' \
        >/dev/null && good=$((good + 1))
    else
      echo "$line" | grep -Eq "\"$field\":-?[0-9]" && good=$((good + 1))
    fi
  done <<<"$out"
  sed 's/^/  | /' "$errf"
  rm -f "$errf"
  if [ $rc -eq 0 ] && [ "$good" -eq "$n_sensors" ]; then
    ok_rounds=$((ok_rounds + 1))
  else
    echo "check-hw: round $round: $good of $n_sensors sensors gave $field (exit $rc)"
  fi
done
if [ "$ok_rounds" -ge "$min_ok" ]; then
  echo "check-hw: PASS $ok_rounds of $reads rounds, $n_sensors sensor(s) each"
  exit 0
fi
echo "check-hw: FAIL $ok_rounds of $reads rounds complete (need $min_ok)" >&2
exit 1

#!/usr/bin/env bash
# test_deploy_systemd.sh - the unit files in systemd/: `make install` puts
# them in $(PREFIX)/lib/systemd/system (checked with make -n); `systemd-analyze verify` accepts
# them without a single warning (pointed at the built binaries); their
# exposure score stays low (`systemd-analyze security --offline`); they read
# /etc/sensorwire/*.env as a dedicated user with the hardening options on.
# A unit with a misspelt option and one stripped of its hardening must fail.
. "$(dirname "$0")/lib.sh"
cd "$SW_ROOT"
command -v systemd-analyze >/dev/null || fail "systemd-analyze is not installed (package systemd)"
{ [ -x "$BRIDGE" ] && [ -x "$PUBLISHER" ]; } || fail "build the daemons first ($BRIDGE, $PUBLISHER)"
THRESHOLD=30 # systemd counts tenths: 30 = exposure 3.0 of 10

# what `make install` does with the units (dry run: this test builds nothing)
make -n --no-print-directory BUILD="${BUILD:-build}" install DESTDIR="$T/dest" PREFIX=/usr/local >"$T/install.log" 2>&1 ||
  { cat "$T/install.log"; fail "make -n install failed"; }
grep -q "install -m 0644 systemd/\*.service $T/dest/usr/local/lib/systemd/system/" "$T/install.log" ||
  { cat "$T/install.log"; fail "make install does not install systemd/*.service into \$(PREFIX)/lib/systemd/system"; }

# verify UNIT...: no output at all (systemd-analyze only warns on stderr)
verify() {
  local out
  out=$(systemd-analyze verify "$@" 2>&1) || { echo "$out"; return 1; }
  [ -z "$out" ] || { echo "$out"; return 1; }
}
mkdir -p "$T/units"
stage() { # unit -> $T/units/unit with ExecStart on the built binary
  local name bin
  name=$(basename "$1")
  bin=$SW_BIN/${name%.service}
  sed "s|^ExecStart=\(sensor-[a-z]*\)|ExecStart=$bin|" "$1" >"$T/units/$name"
  grep -q "^ExecStart=$bin" "$T/units/$name" || fail "$1: ExecStart is not sensor-bridge/sensor-publisher"
}
for u in systemd/*.service; do
  name=$(basename "$u")
  stage "$u"
  verify "$T/units/$name" || fail "systemd-analyze verify $u warned"
  systemd-analyze security --offline=yes --threshold=$THRESHOLD "$T/units/$name" >"$T/security.log" 2>&1 ||
    { tail -n 5 "$T/security.log"; fail "$u: exposure above 3.0"; }
  note "$u: $(grep -o 'Overall exposure level.*' "$T/security.log")"
  for want in '^User=sensorwire$' '^NoNewPrivileges=yes$' '^ProtectSystem=strict$' \
    '^EnvironmentFile=/etc/sensorwire/[a-z]*\.env$' '^CapabilityBoundingSet=$' '^Restart=on-failure$'; do
    grep -q "$want" "$u" || fail "$u: no line matching $want"
  done
done
grep -q '^DeviceAllow=char-gpiochip rw$' systemd/sensor-publisher.service ||
  fail "sensor-publisher.service does not allow the GPIO chip"
grep -q '^DevicePolicy=closed$' systemd/sensor-publisher.service ||
  fail "sensor-publisher.service does not close other devices"
# reload = a restart without 'offline' (SIGUSR2, then systemd starts it again)
# shellcheck disable=SC2016 # the literal $MAINPID of the unit
grep -qxF 'ExecReload=/bin/kill -USR2 $MAINPID' systemd/sensor-publisher.service ||
  fail "sensor-publisher.service: reload is not SIGUSR2 (the restart stop)"
grep -qx 'RestartForceExitStatus=0' systemd/sensor-publisher.service ||
  fail "sensor-publisher.service: the exit after SIGUSR2 would not be restarted"
grep -q 'SIGUSR2' "$SW_ROOT/publisher/main.c" || fail "the publisher no longer handles SIGUSR2"
# the bridge's planned stop (SIGTERM) leaves its share group: time for it
sec=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' systemd/sensor-bridge.service)
[ "${sec:-0}" -ge 10 ] || fail "sensor-bridge.service: TimeoutStopSec ${sec:-unset} < 10 s"

# --- negative self-checks --------------------------------------------------
sed -i 's/^ProtectSystem=strict/ProtectSystm=strict/' "$T/units/sensor-bridge.service"
verify "$T/units/sensor-bridge.service" >/dev/null 2>&1 && fail "verify accepted a misspelt option"
note "misspelt option rejected"
sed -E '/^(NoNewPrivileges|CapabilityBoundingSet|ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|SystemCallFilter|RestrictAddressFamilies|ProtectKernel[A-Za-z]*|RestrictNamespaces|MemoryDenyWriteExecute|User|Group)=/d' \
  systemd/sensor-bridge.service | sed "s|^ExecStart=sensor-bridge|ExecStart=$BRIDGE|" >"$T/units/weak.service"
systemd-analyze security --offline=yes --threshold=$THRESHOLD "$T/units/weak.service" >/dev/null 2>&1 &&
  fail "a unit without hardening passed the exposure threshold"
note "unhardened unit rejected"

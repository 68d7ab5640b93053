#!/usr/bin/env bash
# test_deploy_systemd_paths.sh - the systemd units and the example env files
# docs/deploy.md installs unchanged agree on where the daemons write. Under
# ProtectSystem=strict a unit can write only what it names in
# StateDirectory= (/var/lib/X), CacheDirectory=, LogsDirectory=,
# RuntimeDirectory= and ReadWritePaths=; and EnvironmentFile= overrides
# Environment=, so the value that counts is the env file's. For each unit:
# every value its env file (config/<basename of EnvironmentFile=>) sets for
# a writable-path key, commented-out examples included, and every such
# Environment= value of the unit, lies inside one of those directories; the
# effective value (file over Environment=) is set at all. The writable-path
# keys are STATE_DIR (bridge) and OUTBOX_DIR (publisher); any other *_DIR key
# either daemon accepts fails the test until it is classified here.
# Negative controls: the old values (/var/lib/sensorwire...), a unit without
# its StateDirectory=, a path escaping with "..", and a prefix look-alike
# (/var/lib/sensor-bridge-old) must each be refused.
. "$(dirname "$0")/lib.sh"
cd "$SW_ROOT"
{ [ -x "$BRIDGE" ] && [ -x "$PUBLISHER" ]; } || fail "build the daemons first ($BRIDGE, $PUBLISHER)"

WRITABLE_KEYS="STATE_DIR OUTBOX_DIR"
# keys that name a directory the daemon reads, never writes
READ_ONLY_DIR_KEYS=""
for bin in "$BRIDGE" "$PUBLISHER"; do
  for k in $("$bin" --print-keys | grep '_DIR$'); do
    case " $WRITABLE_KEYS $READ_ONLY_DIR_KEYS " in
    *" $k "*) ;;
    *) fail "$(basename "$bin") accepts $k: say in this test whether it is written" ;;
    esac
  done
done

# unit_values UNIT KEY: the values of KEY= lines in UNIT, one per word
unit_values() {
  sed -n "s/^$2=//p" "$1" | tr ' ' '\n' | sed '/^$/d'
}

# writable_dirs UNIT: the directories UNIT makes writable, one per line
writable_dirs() {
  local u=$1 d
  for d in $(unit_values "$u" StateDirectory); do echo "/var/lib/${d%%:*}"; done
  for d in $(unit_values "$u" CacheDirectory); do echo "/var/cache/${d%%:*}"; done
  for d in $(unit_values "$u" LogsDirectory); do echo "/var/log/${d%%:*}"; done
  for d in $(unit_values "$u" RuntimeDirectory); do echo "/run/${d%%:*}"; done
  # ReadWritePaths=: a leading "-" (ignore if missing) or "+" is not part of the path
  for d in $(unit_values "$u" ReadWritePaths); do d=${d#-}; echo "${d#+}"; done
}

# inside PATH DIR: PATH is DIR or below it (absolute, no "." or ".." levels)
inside() {
  local p=$1 d=${2%/}
  [[ $p == /* ]] || return 1
  [[ /$p/ == */../* || /$p/ == */./* ]] && return 1
  p=${p%/}
  [ "$p" = "$d" ] || [[ $p == "$d"/* ]]
}

# env_values FILE KEY: values of KEY=, set or commented out (#KEY=), unquoted
env_values() {
  sed -n -E "s/^#?[[:space:]]*$2=//p" "$1" | sed -E 's/^"(.*)"$/\1/; s/^'\''(.*)'\''$/\1/'
}
# env_effective FILE KEY: the value the daemon sees from FILE (last KEY= line wins)
env_effective() {
  sed -n -E "s/^$2=//p" "$1" | tail -n 1 | sed -E 's/^"(.*)"$/\1/; s/^'\''(.*)'\''$/\1/'
}

# check UNIT ENVFILE KEY: prints each problem, fails if there is one
check() {
  local u=$1 env=$2 key=$3 bad=0 v d ok
  local dirs; dirs=$(writable_dirs "$u")
  [ -n "$dirs" ] || { echo "$u: makes no directory writable"; return 1; }
  while read -r origin v; do
    [ -n "$v" ] || continue
    ok=0
    for d in $dirs; do inside "$v" "$d" && ok=1; done
    # shellcheck disable=SC2086,SC2116 # $dirs on one line, one space between
    [ $ok = 1 ] || { echo "$origin: $key=$v is not inside what $(basename "$u") makes writable ($(echo $dirs))"; bad=1; }
  done < <(env_values "$env" "$key" | sed "s|^|$env |"; unit_values "$u" Environment | sed -n "s|^$key=|$u(Environment=) |p")
  v=$(env_effective "$env" "$key")
  [ -n "$v" ] || v=$(unit_values "$u" Environment | sed -n "s|^$key=||p" | tail -n 1)
  [ -n "$v" ] || { echo "$u: $key is set neither in $env nor by Environment="; bad=1; }
  return $bad
}

# check_unit UNIT [ENV_DIR]: every writable-path key the unit's env file or
# Environment= sets, for the daemon the unit runs
check_unit() {
  local u=$1 dir=${2:-config} envf name key bad=0 keys=""
  envf=$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$u")
  [ -n "$envf" ] || { echo "$u: no EnvironmentFile="; return 1; }
  name=$dir/$(basename "$envf")
  [ -f "$name" ] || { echo "$u: reads $envf, but there is no example $name"; return 1; }
  for key in $WRITABLE_KEYS; do
    if grep -Eq "^#?[[:space:]]*$key=" "$name" || unit_values "$u" Environment | grep -q "^$key="; then
      keys="$keys $key"
    fi
  done
  [ -n "$keys" ] || { echo "$u: neither $name nor the unit sets a writable path ($WRITABLE_KEYS)"; return 1; }
  for key in $keys; do check "$u" "$name" "$key" || bad=1; done
  return $bad
}

n=0
for u in systemd/*.service; do
  out=$(check_unit "$u") || fail "$out"
  n=$((n + 1))
done
assert_eq 2 "$n" "units checked"
# what each daemon really needs: the bridge a durable STATE_DIR, the publisher an outbox
assert_eq /var/lib/sensor-bridge "$(env_effective config/bridge.env STATE_DIR)" "STATE_DIR of config/bridge.env"
assert_eq /var/lib/sensor-publisher/outbox "$(env_effective config/publisher.env OUTBOX_DIR)" "OUTBOX_DIR of config/publisher.env"
note "the example env files write only where the units allow"

# --- negative controls -------------------------------------------------------
mkdir -p "$T/old" "$T/units"
# the old values
sed 's|^STATE_DIR=.*|STATE_DIR=/var/lib/sensorwire|' config/bridge.env >"$T/old/bridge.env"
sed 's|^OUTBOX_DIR=.*|OUTBOX_DIR=/var/lib/sensorwire/outbox|' config/publisher.env >"$T/old/publisher.env"
out=$(check_unit systemd/sensor-bridge.service "$T/old") && fail "STATE_DIR=/var/lib/sensorwire passed"
grep -q "STATE_DIR=/var/lib/sensorwire is not inside what sensor-bridge.service makes writable (/var/lib/sensor-bridge)" <<<"$out" ||
  fail "old STATE_DIR refused for the wrong reason: $out"
out=$(check_unit systemd/sensor-publisher.service "$T/old") && fail "OUTBOX_DIR=/var/lib/sensorwire/outbox passed"
grep -q "OUTBOX_DIR=/var/lib/sensorwire/outbox is not inside" <<<"$out" || fail "old OUTBOX_DIR refused for the wrong reason: $out"
# a commented-out example counts too
cp config/bridge.env "$T/old/commented.env"
echo "#STATE_DIR=/srv/sensorwire" >>"$T/old/commented.env"
out=$(check "systemd/sensor-bridge.service" "$T/old/commented.env" STATE_DIR) && fail "a commented-out STATE_DIR outside passed"
# a unit without StateDirectory=
sed '/^StateDirectory=/d' systemd/sensor-bridge.service >"$T/units/sensor-bridge.service"
out=$(check_unit "$T/units/sensor-bridge.service") && fail "a unit without StateDirectory= passed"
grep -q "makes no directory writable" <<<"$out" || fail "unit without StateDirectory= refused for the wrong reason: $out"
# ... which ReadWritePaths= can replace
sed 's|^StateDirectory=.*|ReadWritePaths=-/var/lib/sensor-bridge|' systemd/sensor-bridge.service >"$T/units/sensor-bridge.service"
out=$(check_unit "$T/units/sensor-bridge.service") || fail "ReadWritePaths= not understood: $out"
# the unit's own Environment= is checked too
sed 's|^Environment=STATE_DIR=.*|Environment=STATE_DIR=/var/lib/elsewhere|' systemd/sensor-bridge.service >"$T/units/sensor-bridge.service"
out=$(check_unit "$T/units/sensor-bridge.service") && fail "Environment=STATE_DIR=/var/lib/elsewhere passed"
# path tricks
inside /var/lib/sensor-bridge/../sensorwire /var/lib/sensor-bridge && fail "'..' accepted"
inside /var/lib/sensor-bridge-old /var/lib/sensor-bridge && fail "a prefix look-alike accepted"
inside var/lib/sensor-bridge /var/lib/sensor-bridge && fail "a relative path accepted"
inside /var/lib/sensor-bridge/ /var/lib/sensor-bridge || fail "a trailing slash refused"
inside /var/lib/sensor-publisher/outbox /var/lib/sensor-publisher || fail "a subdirectory refused"
# an env file that sets nothing leaves only the unit's Environment=; without it, nothing
grep -v '^STATE_DIR=' config/bridge.env >"$T/old/unset.env"
check systemd/sensor-bridge.service "$T/old/unset.env" STATE_DIR >/dev/null || fail "Environment= fallback not seen"
sed '/^Environment=STATE_DIR=/d' systemd/sensor-bridge.service >"$T/units/sensor-bridge.service"
out=$(check "$T/units/sensor-bridge.service" "$T/old/unset.env" STATE_DIR) && fail "STATE_DIR set nowhere passed"
grep -q "STATE_DIR is set neither" <<<"$out" || fail "unset STATE_DIR refused for the wrong reason: $out"
note "old values, a unit without StateDirectory=, and path tricks refused"

#!/usr/bin/env bash
# test_deploy_compose.sh - compose/storage and compose/dev against the
# Compose Specification's JSON schema (the copy in npm dclint), after
# compose's own variable interpolation with .env.example as the .env; every
# file, Dockerfile, service and volume they name exists; sensorwire's
# containers are read-only, without capabilities or privilege; other images
# have fixed tags. Broken copies must be rejected.
. "$(dirname "$0")/lib.sh"
. "$SW_ROOT/tests/deploy/setup.sh"
deploy_npm
cd "$SW_ROOT"

files=(compose/*/compose.yaml)
[ ${#files[@]} -ge 2 ] || fail "expected compose/storage and compose/dev"
validate compose "${files[@]}"

# the provisioned dashboard and data source are where Grafana looks
[ -f compose/storage/grafana/provisioning/datasources/influxdb.yaml ] || fail "no provisioned data source"
[ -n "$(ls compose/storage/grafana/dashboards/*.json 2>/dev/null)" ] || fail "no dashboard JSON"

# --- negative self-checks, on a copy of the files the stacks refer to ---
mkdir -p "$T/tree"
cp -r compose config docker "$T/tree/"
bad() { # name sed-expression source: sets f to the broken copy
  f=$T/tree/$(dirname "$3")/bad-$1.compose.yaml
  sed "$2" "$3" >"$f"
  cmp -s "$3" "$f" && fail "self-check $1: the sed did not change $3"
  return 0
}
bad key 's/^    restart: unless-stopped/    restrat: unless-stopped/' compose/storage/compose.yaml
must_reject 'additional properties ("restrat")' compose "$f"
bad type 's/test: \[CMD, influx, ping\]/test: 42/' compose/storage/compose.yaml
must_reject "test must be" compose "$f"
bad readonly '/^  bridge:/,/^  sim:/{/read_only: true/d}' compose/dev/compose.yaml
must_reject "read_only is not true" compose "$f"
bad depends 's/depends_on: \[mosquitto\]/depends_on: [mosquito]/' compose/dev/compose.yaml
must_reject 'unknown service "mosquito"' compose "$f"
bad env 's/INFLUX_TOKEN:?set INFLUX_TOKEN/INFLUX_TOKN:?set INFLUX_TOKEN/' compose/storage/compose.yaml
must_reject 'INFLUX_TOKN' compose "$f"
bad tag 's|image: grafana/grafana:11.3.1|image: grafana/grafana|' compose/storage/compose.yaml
must_reject "has no fixed tag" compose "$f"

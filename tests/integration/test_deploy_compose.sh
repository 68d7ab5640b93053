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
[ ${#files[@]} -ge 3 ] || fail "expected compose/storage, compose/dev and compose/replicas"
validate compose "${files[@]}"

# compose/replicas: bridge replicas in one share group, each with its own
# client id and STATE_DIR volume (README "Replicas")
replicas_check() { # FILE: prints what is wrong, exits 1 if anything
  # shellcheck disable=SC2016 # JavaScript, not shell
  NODE_PATH=$DEPLOY_DIR/node_modules node -e '
    const fs = require("fs"), YAML = require("yaml"), f = process.argv[1];
    const doc = YAML.parse(fs.readFileSync(f, "utf8"));
    const envf = (p) => Object.fromEntries(fs.readFileSync(require("path").resolve(
      require("path").dirname(f), p), "utf8").split("\n").filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    const bad = [], ids = new Set(), vols = new Set(), groups = new Set();
    const br = Object.entries(doc.services).filter(([, s]) => /sensor-bridge/.test(s.image || ""));
    if (br.length < 2) bad.push(`${br.length} bridge services, not 2 or more`);
    for (const [n, s] of br) {
      const env = Object.assign({}, ...[].concat(s.env_file || []).map(envf), s.environment || {});
      const id = env.MQTT_CLIENT_ID, group = env.MQTT_SHARE_GROUP, dir = env.STATE_DIR;
      if (!id) bad.push(`${n}: no MQTT_CLIENT_ID`); else if (ids.has(id)) bad.push(`${n}: client id ${id} twice`);
      ids.add(id);
      if (!group) bad.push(`${n}: no MQTT_SHARE_GROUP`);
      groups.add(group);
      const v = (s.volumes || []).map((x) => String(x).split(":")).find((x) => x[1] === dir);
      if (!dir || !v) bad.push(`${n}: no volume at its STATE_DIR ${dir}`);
      else if (vols.has(v[0])) bad.push(`${n}: STATE_DIR volume ${v[0]} shared with another replica`);
      else if (!(doc.volumes || {}).hasOwnProperty(v[0])) bad.push(`${n}: volume ${v[0]} not declared`);
      if (v) vols.add(v[0]);
    }
    if (groups.size > 1) bad.push(`share groups differ: ${[...groups].join(", ")}`);
    if (bad.length) { console.log(bad.join("\n")); process.exit(1); }
    console.log(`${br.length} replicas, group ${[...groups][0]}, own client ids and STATE_DIR volumes`);
  ' "$1"
}
out=$(replicas_check compose/replicas/compose.yaml) || fail "compose/replicas: $out"
note "compose/replicas: $out"
rep_bad() { # name sed-expression pattern: a broken copy must be refused, naming pattern
  sed "$2" compose/replicas/compose.yaml >"$T/tree/compose/replicas/bad-$1.yaml"
  cmp -s compose/replicas/compose.yaml "$T/tree/compose/replicas/bad-$1.yaml" &&
    fail "self-check $1: the sed changed nothing"
  if out=$(replicas_check "$T/tree/compose/replicas/bad-$1.yaml"); then
    fail "replicas self-check $1 accepted: $out"
  fi
  grep -q -- "$3" <<<"$out" || fail "replicas self-check $1: not '$3': $out"
}

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
rep_bad volume 's|- bridge-state-1:/var|- bridge-state-0:/var|' 'shared with another replica'
rep_bad client 's/MQTT_CLIENT_ID: sensor-bridge-2/MQTT_CLIENT_ID: sensor-bridge-1/' 'twice'
rep_bad group 's/MQTT_SHARE_GROUP: sensor-bridge$/MQTT_SHARE_GROUP: other/;T;:a;n;ba' 'share groups differ'
rep_bad nostate '/- bridge-state-2:/d' 'no volume at its STATE_DIR'

#!/usr/bin/env bash
# test_deploy_keys.sh - every configuration name in k8s/ (what each
# container really sees: env plus the ConfigMaps of its envFrom, after
# kustomize), compose/ (environment and env_file of the sensorwire
# services), config/*.env and systemd/ (Environment=) is one the daemon that
# reads it accepts: `sensor-bridge --print-keys`, `sensor-publisher
# --print-keys`. So the manifests cannot drift from the code's tables.
# A missing binary fails the test; an unknown name must be rejected.
. "$(dirname "$0")/lib.sh"
. "$SW_ROOT/tests/deploy/setup.sh"
deploy_npm
cd "$SW_ROOT"

print_keys "$BRIDGE" "$T/bridge.keys"
print_keys "$PUBLISHER" "$T/publisher.keys"

args=(--bridge "$T/bridge.keys" --publisher "$T/publisher.keys")
for dir in k8s k8s/overlays/*; do
  name=$(basename "$dir")
  kustomize_build "$dir" "$T/$name.yaml"
  args+=(--k8s "$T/$name.yaml")
done
note "k8s built with $KUSTOMIZE"
for f in compose/*/compose.yaml; do args+=(--compose "$f"); done
for f in config/*.env; do [ -e "$f" ] && args+=(--env "$f"); done
for f in systemd/*.service; do args+=(--systemd "$f"); done
validate keys "${args[@]}"

# --- negative self-checks --------------------------------------------------
cp k8s/base/bridge.env "$T/bridge.env"
mkdir -p "$T/bad" && cp -r k8s "$T/bad/" && echo "INFLUX_TOKENFILE=/run/x" >>"$T/bad/k8s/base/bridge.env"
node "$VALIDATE" kustomize "$T/bad/k8s" >"$T/bad.yaml"
must_reject "INFLUX_TOKENFILE is not a configuration key of sensor-bridge" keys \
  --bridge "$T/bridge.keys" --publisher "$T/publisher.keys" --k8s "$T/bad.yaml"
# a bridge key in the publisher's ConfigMap is wrong too
printf 'STATE_DIR=/var/lib/x\n' >"$T/publisher-extra.env"
must_reject "STATE_DIR is not a configuration key of sensor-publisher" keys \
  --bridge "$T/bridge.keys" --publisher "$T/publisher.keys" --env "$T/publisher-extra.env"
sed 's/^Environment=STATE_DIR=/Environment=STATEDIR=/' systemd/sensor-bridge.service >"$T/sensor-bridge.service"
must_reject "STATEDIR is not a configuration key" keys \
  --bridge "$T/bridge.keys" --publisher "$T/publisher.keys" --systemd "$T/sensor-bridge.service"
: >"$T/empty.keys"
must_reject "printed 0 keys" keys --bridge "$T/empty.keys" --publisher "$T/publisher.keys" --env "$T/bridge.env"

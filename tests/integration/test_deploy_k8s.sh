#!/usr/bin/env bash
# test_deploy_k8s.sh - k8s/ and every overlay, assembled as `kubectl apply -k`
# would (real kustomize when installed, compared with the subset in
# tests/deploy/kustomize.mjs), validated against the Kubernetes schemas with
# no unknown fields, and held to the policy: no root, no privilege (outside
# the overlay named privileged-*), read-only root file systems, no
# capabilities, no service-account token, the publisher a DaemonSet with a
# nodeSelector. Then the same checks on deliberately broken copies, which
# must be rejected.
. "$(dirname "$0")/lib.sh"
. "$SW_ROOT/tests/deploy/setup.sh"
deploy_npm
cd "$SW_ROOT"

k=$(real_kustomize)
note "kustomize: ${k:-none installed, subset only}"
for dir in k8s k8s/overlays/*; do
  name=$(basename "$dir")
  node "$VALIDATE" kustomize "$dir" >"$T/$name.subset.yaml" || fail "subset kustomize failed on $dir"
  built=$T/$name.subset.yaml
  if [ -n "$k" ]; then
    $k "$dir" >"$T/$name.yaml" || fail "$k $dir failed"
    validate compare "$T/$name.yaml" "$T/$name.subset.yaml"
    built=$T/$name.yaml
  fi
  priv=()
  case $name in privileged-*) priv=(--allow-privileged) ;; esac
  validate k8s "$built" --overlay "$name" --docs docs/deploy.md "${priv[@]}"
done

# --- negative self-checks: each broken copy must be rejected --------------
break_k8s() { # name sed-expression file-under-k8s
  rm -rf "$T/bad" && cp -r k8s "$T/bad"
  sed -i "$2" "$T/bad/$3"
  cmp -s "k8s/$3" "$T/bad/$3" && fail "self-check $1: the sed did not change $3"
  node "$VALIDATE" kustomize "$T/bad" >"$T/bad.yaml" || fail "self-check $1: subset kustomize failed"
}
break_k8s privileged 's/allowPrivilegeEscalation: false/privileged: true/' base/publisher.yaml
must_reject "privileged container" k8s "$T/bad.yaml"
break_k8s root 's/runAsUser: 10001/runAsUser: 0/' base/bridge.yaml
must_reject "runs as root" k8s "$T/bad.yaml"
break_k8s typo 's/readOnlyRootFilesystem: true/readOnlyRootFileSystem: true/' base/publisher.yaml
must_reject 'unknown field "readOnlyRootFileSystem"' k8s "$T/bad.yaml"
break_k8s type 's/replicas: 1/replicas: one/' base/bridge.yaml
must_reject "replicas must be integer" k8s "$T/bad.yaml"
break_k8s nodeselector '/nodeSelector:/,+1d' base/publisher.yaml
must_reject "has no nodeSelector" k8s "$T/bad.yaml"
break_k8s daemonset 's/kind: DaemonSet/kind: Deployment/; s/updateStrategy:/strategy:/' base/publisher.yaml
must_reject "must be a DaemonSet" k8s "$T/bad.yaml"
break_k8s token 's/automountServiceAccountToken: false/automountServiceAccountToken: true/' base/mosquitto.yaml
must_reject "automountServiceAccountToken" k8s "$T/bad.yaml"
break_k8s memory 's/memory: 64Mi/memory: 512Mi/' base/publisher.yaml
must_reject "does not fit a 1 GB Pi 3" k8s "$T/bad.yaml"
break_k8s probe 's/HEALTH_PORT=8080/HEALTH_PORT=9090/' base/bridge.env
must_reject "is not HEALTH_PORT" k8s "$T/bad.yaml"
break_k8s secret 's/secretName: sensor-bridge-secrets/secretName: bridge-tokens/' base/bridge.yaml
must_reject "neither in the build nor a documented" k8s "$T/bad.yaml"
break_k8s statedir 's|STATE_DIR=/var/lib/sensor-bridge|STATE_DIR=/tmp/state|' base/bridge.env
must_reject "is not on a PersistentVolumeClaim" k8s "$T/bad.yaml"
break_k8s clientid 's/fieldPath: metadata.name/fieldPath: spec.nodeName/' base/bridge.yaml
must_reject "MQTT_CLIENT_ID does not come from the pod name" k8s "$T/bad.yaml"
break_k8s sharegroup 's/^MQTT_SHARE_GROUP=.*/MQTT_SHARE_GROUP=/' base/bridge.env
must_reject "needs MQTT_SHARE_GROUP" k8s "$T/bad.yaml"
break_k8s parallel 's/podManagementPolicy: OrderedReady/podManagementPolicy: Parallel/' base/bridge.yaml
must_reject "replicas must stop one at a time" k8s "$T/bad.yaml"
# the subset refuses what it does not implement instead of ignoring it
rm -rf "$T/bad" && cp -r k8s "$T/bad" && printf 'replicas:\n  - name: sensor-bridge\n    count: 2\n' >>"$T/bad/base/kustomization.yaml"
must_reject 'field "replicas" is not supported' kustomize "$T/bad"
# two builds that differ must not compare equal
sed 's/memory: 64Mi/memory: 65Mi/' "$T/k8s.subset.yaml" >"$T/other.yaml"
must_reject "differs between" compare "$T/k8s.subset.yaml" "$T/other.yaml"
note "k8s: all overlays valid, every broken copy rejected"

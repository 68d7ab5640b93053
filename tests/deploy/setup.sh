# shellcheck shell=bash
# setup.sh - sourced by tests/integration/test_deploy_*.sh after lib.sh:
# installs the pinned npm packages of tests/deploy (npm ci, once per
# package-lock.json change; needs the npm registry) and defines helpers.
DEPLOY_DIR=$SW_ROOT/tests/deploy
VALIDATE=$DEPLOY_DIR/validate.mjs

deploy_npm() {
  command -v node >/dev/null || fail "node is not installed (scripts/deps.sh installs nodejs and npm)"
  local stamp=$DEPLOY_DIR/node_modules/.package-lock.json lock fd
  # the deploy tests run side by side (tests/run.sh TEST_JOBS): one npm ci
  # at a time, the others wait for it and then find it done
  lock=${TMPDIR:-/tmp}/sensorwire-npm-$(printf '%s' "$DEPLOY_DIR" | cksum | cut -d' ' -f1).lock
  exec {fd}>"$lock"
  flock "$fd"
  if [ ! -e "$stamp" ] || [ "$DEPLOY_DIR/package-lock.json" -nt "$stamp" ]; then
    note "npm ci in tests/deploy"
    (cd "$DEPLOY_DIR" && npm ci --no-audit --no-fund --loglevel=error) >"$T/npm.log" 2>&1 ||
      { cat "$T/npm.log"; flock -u "$fd"; fail "npm ci in tests/deploy failed (needs the npm registry)"; }
  fi
  flock -u "$fd"
  exec {fd}>&-
}

# validate ARGS...: runs the validator, which must succeed
validate() {
  node "$VALIDATE" "$@" || fail "validate.mjs $1 rejected what it should accept"
}

# must_reject PATTERN ARGS...: the validator must fail, naming PATTERN
must_reject() {
  local pattern=$1; shift
  local out
  if out=$(node "$VALIDATE" "$@" 2>&1); then
    echo "$out"; fail "validate.mjs $1 accepted a broken input (expected: $pattern)"
  fi
  grep -q -- "$pattern" <<<"$out" || { echo "$out"; fail "validate.mjs $1 failed, but not with: $pattern"; }
  note "rejected as expected: $(grep -m1 -- "$pattern" <<<"$out")"
}

# the daemons' key lists; a missing binary is a failure, never a skip
print_keys() { # binary-path out-file
  [ -x "$1" ] || fail "$1 is missing: build it first (make BUILD=${BUILD:-build} all)"
  "$1" --print-keys >"$2" || fail "$1 --print-keys failed"
  [ -s "$2" ] || fail "$1 --print-keys printed nothing"
}

# kustomize_build DIR OUT: the real kustomize when there is one, else the
# subset in tests/deploy/kustomize.mjs. Sets KUSTOMIZE to what was used.
# (SW_KUSTOMIZE_SUBSET=1 pretends there is none, to test that path)
real_kustomize() {
  if [ -n "${SW_KUSTOMIZE_SUBSET:-}" ]; then return 0
  elif command -v kustomize >/dev/null; then echo "kustomize build"
  elif command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1; then echo "kubectl kustomize"
  fi
}
kustomize_build() {
  local k
  k=$(real_kustomize)
  if [ -n "$k" ]; then
    KUSTOMIZE=$k
    $k "$1" >"$2" || fail "$k $1 failed"
  else
    # shellcheck disable=SC2034 # for the tests that source this
    KUSTOMIZE="tests/deploy/kustomize.mjs (no kustomize or kubectl here)"
    node "$VALIDATE" kustomize "$1" >"$2" || fail "kustomize subset failed on $1"
  fi
}

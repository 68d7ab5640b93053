#!/usr/bin/env bash
# run.sh - runs the unit tests (cmocka binaries) and the integration tests
# (tests/integration/test_*.sh, which start real services on loopback), and
# ends with one summary line "N passed, N failed".
#   tests/run.sh [unit|integration] [name-filter]
# TEST_RUNNER is a command prefix put before each unit-test binary, e.g.
# TEST_RUNNER=qemu-aarch64-static for a cross build (scripts/matrix.sh).
set -u
BUILD=${BUILD:-build}
what=${1:-all}
filter=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export BUILD SW_ROOT="$root" SW_BIN="$root/$BUILD"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0 failed=0 failures=()
read -r -a runner <<<"${TEST_RUNNER:-}"
logdir=$(mktemp -d "${TMPDIR:-/tmp}/sw-tests.XXXXXX")

run_one() { # name, command...
  local name=$1; shift
  local log="$logdir/${name//\//_}.log" start=$SECONDS
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1))
    printf 'ok    %-48s %3ds\n' "$name" $((SECONDS - start))
  else
    failed=$((failed + 1))
    failures+=("$name")
    printf 'FAIL  %-48s %3ds\n' "$name" $((SECONDS - start))
    sed 's/^/      | /' "$log" | tail -n 60
  fi
}

if [ "$what" = all ] || [ "$what" = unit ]; then
  # one test per source (a binary left from a removed source is not run)
  for src in "$root"/tests/unit/*/test_*.c; do
    rel=${src#"$root/tests/unit/"}
    name=unit/${rel%.c}
    t=$root/$BUILD/tests/unit/${rel%.c}
    case "$name" in *"$filter"*) ;; *) continue ;; esac
    if [ -x "$t" ]; then
      run_one "$name" ${runner[@]+"${runner[@]}"} "$t"
    else
      run_one "$name" sh -c "echo '$t is not built (make unit builds every test)'; exit 1"
    fi
  done
fi
if [ "$what" = all ] || [ "$what" = integration ]; then
  for t in "$here"/integration/test_*.sh; do
    [ -e "$t" ] || continue
    name=integration/$(basename "$t" .sh)
    case "$name" in *"$filter"*) run_one "$name" bash "$t" ;; esac
  done
fi

echo "logs: $logdir"
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

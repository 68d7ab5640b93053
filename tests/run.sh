#!/usr/bin/env bash
# run.sh - runs the unit tests (cmocka binaries) and the integration tests
# (tests/integration/test_*.sh, which start real services on loopback), and
# ends with one summary line "N passed, N failed".
#   tests/run.sh [unit|integration] [name-filter]
# TEST_RUNNER is a command prefix put before each unit-test binary, e.g.
# TEST_RUNNER=qemu-aarch64-static for a cross build (scripts/matrix.sh).
# TEST_JOBS (default 3) integration tests run at once: most of their time is
# spent waiting (for a keepalive, a session expiry, a receiver's retry), not
# computing. Each gets its own TEST_SLOT (1..TEST_JOBS), which lib.sh's
# free_port uses to pick ports from a range of its own. A test whose header
# has a line "# sw-test: alone" (a build, or one that measures time on a
# quiet machine) runs with no other test beside it. TEST_JOBS=1 runs one
# test at a time, in name order.
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
    return 1
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
# Integration tests: those marked "alone" first, one by one, then the others
# in a pool of TEST_JOBS; a test's result line is printed when it ends.
# Results go through files, since each test runs in a subshell.
jobs=${TEST_JOBS:-3}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "TEST_JOBS: '$jobs' is not a number >= 1" >&2; exit 2; }
run_bg() { # slot name command...
  local slot=$1 name=$2; shift 2
  (
    rc=0
    TEST_SLOT=$slot TEST_JOBS=$jobs run_one "$name" "$@" >"$logdir/${name//\//_}.out" || rc=1
    echo "$rc" >"$logdir/${name//\//_}.rc"
    cat "$logdir/${name//\//_}.out"
  ) &
  slot_pid[$slot]=$!
  slot_name[$slot]=$name
}
collect() { # name: adds a finished test's result to the counters
  local rc
  rc=$(cat "$logdir/${1//\//_}.rc" 2>/dev/null || echo 1)
  if [ "$rc" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}
wait_slot() { # -> free_slot: waits until a running test ends, collects it
  local done_pid s
  wait -n -p done_pid "${slot_pid[@]}" 2>/dev/null || true
  for s in "${!slot_pid[@]}"; do
    if [ "${slot_pid[$s]}" = "${done_pid:-}" ] || ! kill -0 "${slot_pid[$s]}" 2>/dev/null; then
      wait "${slot_pid[$s]}" 2>/dev/null || true
      collect "${slot_name[$s]}"
      unset "slot_pid[$s]" "slot_name[$s]"
      free_slot=$s
      return 0
    fi
  done
  free_slot=""
}
if [ "$what" = all ] || [ "$what" = integration ]; then
  alone=() pooled=()
  for t in "$here"/integration/test_*.sh; do
    [ -e "$t" ] || continue
    name=integration/$(basename "$t" .sh)
    case "$name" in *"$filter"*) ;; *) continue ;; esac
    if [ "$jobs" -gt 1 ] && grep -q '^# sw-test: alone' "$t"; then alone+=("$t"); else pooled+=("$t"); fi
  done
  for t in ${alone[@]+"${alone[@]}"}; do
    TEST_SLOT=1 run_one "integration/$(basename "$t" .sh)" bash "$t"
  done
  declare -A slot_pid=() slot_name=()
  for t in ${pooled[@]+"${pooled[@]}"}; do
    free_slot=""
    for ((s = 1; s <= jobs; s++)); do [ -n "${slot_pid[$s]:-}" ] || { free_slot=$s; break; }; done
    while [ -z "$free_slot" ]; do wait_slot; done
    run_bg "$free_slot" "integration/$(basename "$t" .sh)" bash "$t"
  done
  while [ "${#slot_pid[@]}" -gt 0 ]; do wait_slot; done
fi

echo "logs: $logdir"
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# sw-test: alone (it builds: beside other tests it would slow their timing)
# Every fuzz target (tests/fuzz/fuzz_<name>.c) replays its committed corpus,
# tests/fuzz/corpus/<name>/ (seeds and every input that ever found a bug),
# once (-runs=0): any crash, sanitizer report or failed check fails the test.
# Built with clang and libFuzzer, or with gcc and tests/fuzz/replay_main.c
# where clang is missing (Makefile "fuzzing").
set -u
root=${SW_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root" || exit 1
out=$(make --no-print-directory fuzz-replay 2>&1)
rc=$?
echo "$out"
[ "$rc" -eq 0 ] || { echo "FAIL: make fuzz-replay exited $rc" >&2; exit 1; }
n=$(grep -c '^  REPLAY .*inputs)$' <<<"$out")
want=$(compgen -G 'tests/fuzz/fuzz_*.c' | wc -l)
[ "$n" -eq "$want" ] || { echo "FAIL: $n of $want targets replayed" >&2; exit 1; }

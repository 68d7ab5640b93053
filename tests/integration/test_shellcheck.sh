#!/usr/bin/env bash
# test_shellcheck.sh - every tracked shell script passes shellcheck at its
# default severity (style): each *.sh, and the scripts without an extension
# whose first line names sh or bash (.ci/run). Sourced files are followed
# (-x) from the sourcing script's own directory (lib.sh, fault_lib.sh,
# scripts/lib/apt.sh, tests/deploy/setup.sh); a finding that is meant is
# silenced where it is, with a "# shellcheck disable=SCnnnn # why" line.
. "$(dirname "$0")/lib.sh"
cd "$SW_ROOT" || exit 1
command -v shellcheck >/dev/null || fail "no shellcheck (scripts/deps.sh test installs it)"

scripts=()
while IFS= read -r f; do
  [ -f "$f" ] || continue
  case ${f##*/} in
    *.sh) scripts+=("$f") ;;
    *.*) ;;
    *) head -n 1 "$f" | grep -Eq '^#!.*[/ ](ba)?sh( |$)' && scripts+=("$f") ;;
  esac
done < <(git ls-files)
[ ${#scripts[@]} -ge 40 ] || fail "only ${#scripts[@]} shell scripts found: ${scripts[*]}"
in_list() { local x; for x in "${@:2}"; do [ "$x" = "$1" ] && return 0; done; return 1; }
for want in .ci/run tests/integration/lib.sh bench/run.sh scripts/deps.sh scripts/lib/apt.sh; do
  in_list "$want" "${scripts[@]}" || fail "$want is not among the scripts checked"
done

sc() { shellcheck -x -P SCRIPTDIR -f gcc "$@" 2>&1; }
out=$(sc "${scripts[@]}") || fail "shellcheck findings:
$out"
[ -z "$out" ] || fail "shellcheck printed: $out"
note "${#scripts[@]} scripts clean ($(shellcheck --version | sed -n 's/^version: //p'))"

# negative control: an unquoted variable and a source beside the script are
# reported / followed the same way
mkdir -p "$T/sc"
# shellcheck disable=SC2016 # the scripts' text, not expanded here
printf '# shellcheck shell=bash\nx() { echo $1; }\n' >"$T/sc/helper.sh"
# shellcheck disable=SC2016
printf '#!/usr/bin/env bash\n. "$(dirname "$0")/helper.sh"\nx "a b"\n' >"$T/sc/main.sh"
out=$(sc "$T/sc/main.sh" "$T/sc/helper.sh") && fail "shellcheck passed a script with an unquoted \$1"
grep -q 'helper.sh:2:.*SC2086' <<<"$out" || fail "unexpected: $out"
grep -q 'SC1091' <<<"$out" && fail "the source beside the script was not followed: $out"
note "rejected: $(head -n 1 <<<"$out")"

#!/usr/bin/env bash
# test_deps.sh - what scripts/deps.sh installs is exactly what the docs list:
# every group in README's "Packages" table, and the apt-get install of
# docs/deploy.md's systemd section (the build group), compared as sets, both
# ways. --arch turns a group into a cross build's packages. A doc that drops
# or adds a package must be caught.
. "$(dirname "$0")/lib.sh"
cd "$SW_ROOT" || exit 1

# packages of a group as the README table shows it: a cell may name other
# groups in backquotes ("`build`, plus ...") and list packages in one
# backquoted string
readme_group() { # group readme
  local row cell q
  row=$(grep -E "^\| \`$1\` \|" "$2") || { echo "no row for group $1" >&2; return 1; }
  cell=$(awk -F'|' '{print $4}' <<<"$row")
  # shellcheck disable=SC2016 # backquotes as text
  while read -r q; do
    case $q in
      build | publisher | release | unit | test) readme_group "$q" "$2" ;;
      *) tr ' ' '\n' <<<"$q" | grep . ;;
    esac
  done < <(grep -oE '`[^`]+`' <<<"$cell" | tr -d '`')
}
same_set() { # what listA listB
  local a b
  a=$(tr ' ' '\n' <<<"$2" | grep . | sort -u)
  b=$(tr ' ' '\n' <<<"$3" | grep . | sort -u)
  [ "$a" = "$b" ] || { echo "$1 differ:"; diff <(echo "$a") <(echo "$b") | grep '^[<>]'; return 1; }
}
check_readme() { # readme
  local g
  for g in build publisher release unit test; do
    same_set "group $g (deps.sh < > README)" "$(bash scripts/deps.sh --list "$g")" \
      "$(readme_group "$g" "$1" | xargs)" || return 1
  done
}
# the apt-get install lines of docs/deploy.md's systemd section
deploy_pkgs() { # file
  sed -n '/^## 8\./,/^## 9\./p' "$1" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' |
    grep 'apt-get install' | sed 's/.*apt-get install//; s/#.*//' | tr ' ' '\n' | grep -v '^-' | grep .
}

check_readme README.md || fail "README's Packages table and scripts/deps.sh disagree"
same_set "deploy.md section 8 and deps.sh build" "$(deploy_pkgs docs/deploy.md | xargs)" \
  "$(bash scripts/deps.sh --list build)" || fail "docs/deploy.md's package list is not deps.sh build"
note "README and docs/deploy.md list exactly scripts/deps.sh's groups"

# the groups are sane: build holds every -dev the Makefile's pkg-config lists name
for pc in $(make -s --no-print-directory print-PUB_PKGS print-BRIDGE_PKGS); do
  pkg=$(dpkg -S "$(pkg-config --variable=pcfiledir "$pc")/$pc.pc" | cut -d: -f1)
  grep -qw -- "$pkg" <<<"$(bash scripts/deps.sh --list build)" || fail "deps.sh build lacks $pkg ($pc)"
done
# --arch: libraries for the target, tools native, the cross compiler added
cross=$(bash scripts/deps.sh --arch arm64 --list build)
for want in crossbuild-essential-arm64 libgpiod-dev:arm64 libcurl4-openssl-dev:arm64 \
  protobuf-c-compiler pkg-config; do
  grep -qw -- "$want" <<<"$cross" || fail "deps.sh --arch arm64 build lacks $want: $cross"
done
grep -qw 'protobuf-c-compiler:arm64' <<<"$cross" && fail "the protobuf compiler must stay native"
note "--arch arm64 build: $cross"

# negative controls: a doc without a package, or with an extra one, fails
sed 's/ libsnappy-dev / /' README.md >"$T/readme1"
out=$(check_readme "$T/readme1") && fail "a README without libsnappy-dev passed"
grep -q 'libsnappy-dev' <<<"$out" || fail "unexpected: $out"
# shellcheck disable=SC2016 # backquotes as text
sed 's/| `libcmocka-dev` |/| `libcmocka-dev valgrind` |/' README.md >"$T/readme2"
out=$(check_readme "$T/readme2") && fail "a README with an extra package passed"
grep -q '> valgrind' <<<"$out" || fail "unexpected: $out"
sed 's/ libssl-dev$//' docs/deploy.md >"$T/deploy.md"
[ "$(deploy_pkgs "$T/deploy.md" | xargs)" != "$(deploy_pkgs docs/deploy.md | xargs)" ] ||
  fail "the negative control did not change docs/deploy.md's list"
same_set x "$(deploy_pkgs "$T/deploy.md" | xargs)" "$(bash scripts/deps.sh --list build)" >/dev/null &&
  fail "a deploy.md without libssl-dev passed"
note "rejected: a package missing, a package extra"

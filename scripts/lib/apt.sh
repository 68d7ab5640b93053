# shellcheck shell=bash
# apt.sh - sourced by scripts that fetch from Debian's archive. Everything
# comes from this machine's own apt configuration (its mirrors, proxies and
# keyrings), never from a host name written into the tree.

# apt_site ARCHIVE: the URL this machine's apt uses for ARCHIVE, which is
# "main" (the release itself, e.g. bookworm) or "security" (bookworm-security).
# Prints nothing when there is none.
apt_site() {
  local want=$1 site rel
  # shellcheck disable=SC2016 # apt's own $(FIELD) syntax
  apt-get indextargets --format '$(SITE) $(RELEASE)' 2>/dev/null | sort -u |
    while read -r site rel; do
      case $want:$rel in
        main:*-*) ;;
        main:*) echo "$site"; break ;;
        security:*-security) echo "$site"; break ;;
      esac
    done | head -n 1
}

# apt_proxy_env: exports http_proxy/https_proxy from apt's own proxy setting,
# for tools (debootstrap's wget) that do not read apt.conf.
apt_proxy_env() {
  local p
  p=$(apt-config shell p Acquire::http::Proxy 2>/dev/null) && eval "$p"
  if [ -n "${p:-}" ] && [ -z "${http_proxy:-}" ]; then export http_proxy=$p; fi
  p=
  p=$(apt-config shell p Acquire::https::Proxy 2>/dev/null) && eval "$p"
  if [ -n "${p:-}" ] && [ -z "${https_proxy:-}" ]; then export https_proxy=$p; fi
  return 0
}

# apt_src_parts DIR: writes into DIR a copy of this machine's binary apt
# sources (sources.list and sources.list.d, both formats) turned into
# source-package entries, keeping each entry's options and Signed-By.
apt_src_parts() {
  local dir=$1 f
  mkdir -p "$dir"
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >>"$dir/from-host.list"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    sed 's/^Types:.*/Types: deb-src/' "$f" >"$dir/$(basename "$f")"
  done
}

#!/usr/bin/env bash
# Fetches the current Docker engine the end-to-end suite runs beside bookworm's 20.10: docker.io
# 28.5.2 (dockerd and the client), containerd 2.1.9 and the Compose v2 plugin 2.40.3 from
# Debian's unstable suite, unpacked into $D4D_DOCKER28_DIR (default /var/lib/d4d-lab/docker28).
# The system's packages are not touched: apt runs with a private state (sources, lists, cache)
# and the packages are only downloaded and unpacked with dpkg -x. Bookworm's runc 1.1 and
# docker-init (tini) are used with it: unstable's runc needs a newer glibc than bookworm's.
#
# Unstable moves: the pinned versions can be replaced there at any time. Then this falls back,
# loudly, to Debian stable's (trixie) docker.io 26.1.5, containerd 1.7.24 and Compose 2.26.1
# rather than to whatever unstable holds that day. Every binary's glibc needs are checked
# against this system's glibc before it is accepted. What was installed is written to
# $D4D_DOCKER28_DIR/engine.env, which the tests read and print.
#
# Safe to run again: with the pinned set in place it does nothing (no network).
set -euo pipefail

dest="${D4D_DOCKER28_DIR:-/var/lib/d4d-lab/docker28}"
# Pins: suite, then package=version for each package. The fallback is tried only if the
# first set cannot be downloaded or does not run on this glibc.
primary_suite=sid
primary=(docker.io=28.5.2+dfsg4-5 docker-cli=28.5.2+dfsg4-5 containerd=2.1.9+ds1-5 docker-compose=2.40.3-3)
fallback_suite=trixie
fallback=(docker.io=26.1.5+dfsg1-9+deb13u1+b1 docker-cli=26.1.5+dfsg1-9+deb13u1+b1 containerd=1.7.24~ds1-6+deb13u1 docker-compose=2.26.1-4)
# The binaries the tests run; each must exist and start on this system.
binaries=(usr/sbin/dockerd usr/bin/docker usr/bin/containerd usr/bin/containerd-shim-runc-v2 usr/libexec/docker/cli-plugins/docker-compose)

say() { echo "docker28: $*" >&2; }

# Highest GLIBC_x.y symbol version a binary asks for (read from its bytes: no binutils needed).
glibc_need() { grep -aoE 'GLIBC_2\.[0-9]+' "$1" | sort -t. -k2,2n -u | tail -1 | sed 's/GLIBC_//'; }
system_glibc() { getconf GNU_LIBC_VERSION | awk '{print $2}'; }
# version_le A B: A <= B for x.y versions.
version_le() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$1" ]; }

# check_tree DIR: every binary is there, needs no newer glibc than ours, and runs.
check_tree() {
  local dir=$1 have need b
  have=$(system_glibc)
  for b in "${binaries[@]}"; do
    [ -x "$dir/$b" ] || { say "$b is missing from the unpacked packages"; return 1; }
    need=$(glibc_need "$dir/$b")
    if [ -n "$need" ] && ! version_le "$need" "$have"; then
      say "$b needs glibc $need, this system has $have"
      return 1
    fi
  done
  "$dir/usr/sbin/dockerd" --version >/dev/null && "$dir/usr/bin/containerd" --version >/dev/null \
    && "$dir/usr/libexec/docker/cli-plugins/docker-compose" version >/dev/null \
    || { say "the unpacked binaries do not run here"; return 1; }
}

# fetch SUITE PKG=VER...: download into a private apt state and unpack into a staging dir.
fetch() {
  local suite=$1; shift
  local a; a=$(mktemp -d /tmp/d4d-docker28-apt.XXXXXX)
  mkdir -p "$a/lists/partial" "$a/cache/archives/partial" "$a/debs" "$a/root"
  echo "deb http://deb.debian.org/debian $suite main" >"$a/sources.list"
  local o=(-o "Dir::Etc::SourceList=$a/sources.list" -o Dir::Etc::SourceParts=/dev/null
           -o "Dir::State::Lists=$a/lists" -o "Dir::Cache=$a/cache" -o Debug::NoLocking=1
           -o APT::Sandbox::User=root)
  say "downloading $* from Debian $suite (private apt state in $a)"
  if ! apt-get -qq "${o[@]}" update >"$a/apt.log" 2>&1 \
     || ! (cd "$a/debs" && apt-get -qq "${o[@]}" download "$@" >>"$a/apt.log" 2>&1); then
    say "apt could not fetch $* from $suite:"; tail -5 "$a/apt.log" >&2
    rm -rf "$a"; return 1
  fi
  local d
  for d in "$a"/debs/*.deb; do dpkg -x "$d" "$a/root"; done
  if ! check_tree "$a/root"; then rm -rf "$a"; return 1; fi
  staged=$a
}

# install SUITE FALLBACK_REASON PKG=VER...: fetch, then move into place with engine.env.
install_set() {
  local suite=$1 reason=$2; shift 2
  fetch "$suite" "$@" || return 1
  local dockerv containerdv composev
  dockerv=$("$staged/root/usr/sbin/dockerd" --version | sed -E 's/^Docker version ([^,+]+).*/\1/')
  containerdv=$("$staged/root/usr/bin/containerd" --version | awk '{print $3}' | sed 's/[+~].*//')
  composev=$("$staged/root/usr/libexec/docker/cli-plugins/docker-compose" version --short | sed 's/-.*//')
  rm -rf "$dest.new" && mkdir -p "$(dirname "$dest")"
  mv "$staged/root" "$dest.new"
  {
    echo "D4D_ENGINE_SUITE=$suite"
    echo "D4D_ENGINE_PACKAGES='$*'"
    echo "D4D_ENGINE_DOCKER=$dockerv"
    echo "D4D_ENGINE_CONTAINERD=$containerdv"
    echo "D4D_ENGINE_COMPOSE=$composev"
    echo "D4D_ENGINE_FALLBACK='$reason'"
  } >"$dest.new/engine.env"
  rm -rf "$staged" "$dest" && mv "$dest.new" "$dest"
  say "installed Docker $dockerv, containerd $containerdv, Compose $composev (Debian $suite) in $dest"
}

if [ -f "$dest/engine.env" ] && grep -qxF "D4D_ENGINE_PACKAGES='${primary[*]}'" "$dest/engine.env" && check_tree "$dest"; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  say "Docker 28 is not installed in $dest; run scripts/setup.sh as root" && exit 1
fi
if install_set "$primary_suite" "" "${primary[@]}"; then exit 0; fi
reason="Debian $primary_suite no longer offers ${primary[*]} that run on glibc $(system_glibc)"
say "WARNING: $reason; falling back to Debian $fallback_suite's engine"
if [ -f "$dest/engine.env" ] && grep -qxF "D4D_ENGINE_PACKAGES='${fallback[*]}'" "$dest/engine.env" && check_tree "$dest"; then
  say "WARNING: keeping the $fallback_suite engine already in $dest"; exit 0
fi
install_set "$fallback_suite" "$reason" "${fallback[@]}"

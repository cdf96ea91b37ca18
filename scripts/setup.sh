#!/usr/bin/env bash
# Installs what d4d's tests and lab need on a Debian machine (bookworm): the three DHCP servers,
# perfdhcp, iproute2, busybox (test image and udhcpc), tcpdump, the Docker engine (docker.io,
# 20.10), Docker 28.5 with Compose v2 beside it (scripts/docker28.sh); then the npm packages.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# rpm, binutils (strip), man-db, systemd (systemd-analyze): ./build-rpm.sh and its tests;
# systemd (systemd-socket-activate) also for the socket activation tests.
for pkg in isc-dhcp-server kea-dhcp4-server dnsmasq kea-admin iproute2 busybox-static tcpdump docker.io rpm binutils man-db systemd; do
  have "$pkg" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages ${need[*]}; run as root (or install them) first" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}"
  apt-get update -qq
  # The packages' own init scripts try to start the servers; the lab runs its own copies.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian starts these as services where it can; they must not answer on the lab's links.
# (A running dockerd is left alone: the end-to-end tests use it, or start their own.)
for svc in isc-dhcp-server kea-dhcp4-server dnsmasq; do
  if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done
# The current engine the end-to-end suite also runs against, unpacked beside the system's.
bash scripts/docker28.sh

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

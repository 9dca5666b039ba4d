#!/usr/bin/env bash
# Installs the Debian 12 packages of scripts/packages.txt that are missing.
# usage: scripts/deps.sh build|test   (test = build + test sections)
# Idempotent: does nothing (not even apt-get update) when everything is installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
want=${1:-build}
pkgs=$(awk -v want="$want" '
  /^# build:/ {sec="build"; next}
  /^# test:/  {sec="test"; next}
  /^#/ || NF == 0 {next}
  sec == "build" || (want == "test" && sec == "test") {print $1}' "$here/packages.txt")
missing=()
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${want} packages present"
  exit 0
fi
echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: run as root (or install: ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"

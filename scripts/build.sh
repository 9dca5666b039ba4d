#!/usr/bin/env bash
# Configures and builds one tree. usage: scripts/build.sh DIR [cmake options...]
# PD_BUILD_TARGETS (optional, space-separated) limits what is built.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$1
shift
cmake -S "$root" -B "$root/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$root/$dir.configure.log" 2>&1 ||
  { cat "$root/$dir.configure.log"; exit 1; }
targets=()
for t in ${PD_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$root/$dir" -j"$(nproc)" "${targets[@]}"

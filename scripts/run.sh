#!/usr/bin/env bash
# The main job on its embedded default: installs what is missing, builds, runs the demo
# (generated traffic through the shipped pipeline on an embedded Kafka mock cluster).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/deps.sh build
bash scripts/build.sh build >/dev/null
exec ./build/postured demo "$@"

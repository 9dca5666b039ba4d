#!/usr/bin/env bash
# Runs the decoder fuzz target for a bounded time under ASan+UBSan (libFuzzer).
# usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]   (BUILD_DIR configured with -DPD_FUZZ=ON, clang)
# Seeds: tests/fuzz/seeds (own templates and hostile cases) plus every file in the shared
# samples (PD_SAMPLES_DIR, default ../shared/samples), the JSON-lines log split per line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:?usage: run.sh BUILD_DIR [SECONDS]}
secs=${2:-60}
case $build in /*) ;; *) build="$root/$build" ;; esac
bin="$build/tests/fuzz/fuzz_decode"
if [ ! -x "$bin" ]; then
  echo "fuzz: $bin not built (configure with CC=clang -DPD_FUZZ=ON)" >&2
  exit 1
fi
samples=${PD_SAMPLES_DIR:-$root/../shared/samples}
corpus="$build/fuzz-corpus/decode"
artifacts="$build/fuzz-artifacts/"
mkdir -p "$corpus" "$artifacts"
cp "$here"/seeds/* "$corpus"/
if [ -d "$samples" ]; then
  for f in "$samples"/*.json; do
    [ -f "$f" ] && cp "$f" "$corpus/sample-$(basename "$f")"
  done
  for f in "$samples"/*.log; do
    [ -f "$f" ] || continue
    n=0
    while IFS= read -r line || [ -n "$line" ]; do
      n=$((n + 1))
      printf '%s' "$line" >"$corpus/sample-$(basename "$f" .log)-$n.json"
    done <"$f"
  done
else
  echo "fuzz: samples not found at $samples (seeding from tests/fuzz/seeds only)" >&2
fi
echo "fuzz: $(ls "$corpus" | wc -l) corpus files, ${secs}s"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
log="$build/fuzz-decode.log"
set +e
"$bin" -max_total_time="$secs" -max_len=262144 -timeout=10 -rss_limit_mb=2048 \
  -dict="$here/decode.dict" -artifact_prefix="$artifacts" -print_final_stats=1 "$corpus" >"$log" 2>&1
status=$?
set -e
# The progress lines are noise here; the summary and any report are not.
grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED)' "$log" | tail -40
if [ "$status" -ne 0 ]; then
  echo "fuzz: fuzz_decode FAILED (status $status); crashing inputs in $artifacts, log $log" >&2
  exit 1
fi
echo "fuzz: fuzz_decode passed"

#!/usr/bin/env bash
# Runs one fuzz target for a bounded time under ASan+UBSan (libFuzzer).
# usage: tests/fuzz/run.sh BUILD_DIR [SECONDS] [TARGET]   (BUILD_DIR configured with
# -DPD_FUZZ=ON, clang). TARGET: decode (default) or event_pack.
# decode seeds: tests/fuzz/seeds (own templates and hostile cases) plus every file in the shared
# samples (PD_SAMPLES_DIR, default ../shared/samples), the JSON-lines log split per line.
# event_pack seeds: tests/fuzz/seeds_event_pack (packed events).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:?usage: run.sh BUILD_DIR [SECONDS] [TARGET]}
secs=${2:-60}
target=${3:-decode}
case $build in /*) ;; *) build="$root/$build" ;; esac
bin="$build/tests/fuzz/fuzz_$target"
if [ ! -x "$bin" ]; then
  echo "fuzz: $bin not built (configure with CC=clang -DPD_FUZZ=ON)" >&2
  exit 1
fi
samples=${PD_SAMPLES_DIR:-$root/../shared/samples}
corpus="$build/fuzz-corpus/$target"
artifacts="$build/fuzz-artifacts/"
mkdir -p "$corpus" "$artifacts"
opts=(-max_len=262144 -dict="$here/decode.dict")
if [ "$target" = decode ]; then
  cp "$here"/seeds/* "$corpus"/
else
  cp "$here/seeds_$target"/* "$corpus"/
  opts=(-max_len=65536)
fi
if [ "$target" != decode ]; then
  : # packed events: the JSON samples are no seeds for it
elif [ -d "$samples" ]; then
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
log="$build/fuzz-$target.log"
set +e
"$bin" -max_total_time="$secs" "${opts[@]}" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$artifacts" -print_final_stats=1 "$corpus" >"$log" 2>&1
status=$?
set -e
# The progress lines are noise here; the summary and any report are not.
grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED)' "$log" | tail -40
if [ "$status" -ne 0 ]; then
  echo "fuzz: fuzz_$target FAILED (status $status); crashing inputs in $artifacts, log $log" >&2
  exit 1
fi
echo "fuzz: fuzz_$target passed"

#!/usr/bin/env bash
# bench_decode.sh: decode only, postured's decoder against jansson's json_loadb over the same
# events in one run (issue 10 item 1; target of issue 3: ratio >= 10). A thin wrapper around
# `postured bench decode`, which alternates the two decoders and prints medians of 5 rounds.
#   bench_decode.sh [--quick] [--bin POSTURED]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${PD_BIN:-$root/build/postured}"
args=(--events 20000 --seconds 10)
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) args=(--events 2000 --seconds 0.5); shift ;;
    --bin) bin="$2"; shift 2 ;;
    *) echo "usage: bench_decode.sh [--quick] [--bin POSTURED]" >&2; exit 2 ;;
    esac
done
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg)"
echo "# postured bench decode ${args[*]}"
out="$("$bin" bench decode "${args[@]}")"
echo "$out"
# The run must have decoded every message and printed both rates and the ratio.
grep -q '^ratio: [0-9.]*x' <<<"$out" || { echo "bench_decode: no ratio in the output" >&2; exit 1; }
grep -q 'errors 0)' <<<"$out" || { echo "bench_decode: decode errors" >&2; exit 1; }

#!/usr/bin/env bash
# run_all.sh: every benchmark of issue 10 at full size, one after the other, raw outputs
# appended to build/bench/results-DATE.txt (JSON lines in build/bench/*.jsonl). About 10 min
# on a 2-core machine. Copy what you keep into tests/bench/RESULTS.md.
#   run_all.sh [--quick] [--bin POSTURED]     (--quick: every step in its smoke size)
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${PD_BIN:-$root/build/postured}"
q=()
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) q=(--quick); shift ;;
    --bin) bin="$2"; shift 2 ;;
    *) echo "usage: run_all.sh [--quick] [--bin POSTURED]" >&2; exit 2 ;;
    esac
done
export PD_BIN="$bin"
out="$root/build/bench/results-$(date -u +%Y%m%dT%H%M%SZ).txt"
mkdir -p "$root/build/bench"
fail=0
step() { printf '\n## %s\n$ %s\n' "$1" "${*:2}" | tee -a "$out"; "${@:2}" 2>&1 | grep -v '^%[0-9]|' | tee -a "$out"; [ "${PIPESTATUS[0]}" -eq 0 ] || fail=1; }
{
    echo "# postured benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2 " GB"}'), $(uname -r)"
    echo "# postured $(git -C "$root" rev-parse --short HEAD), $("$bin" --version 2>&1 | head -1)"
} | tee "$out"
# One broker for the Kafka steps (each script would start its own otherwise).
state="$root/build/bench/broker"
if [ -z "${PD_KAFKA_BOOTSTRAP:-}" ]; then
    PD_KAFKA_WATCH_PID=$$ bash "$root/tests/kafka/broker.sh" start "$state" >/dev/null &&
        export "$(grep '^PD_KAFKA_BOOTSTRAP=' "$state/env")" &&
        trap 'bash "$root/tests/kafka/broker.sh" stop "$state" >/dev/null' EXIT
fi
step "decode only" bash "$here/bench_decode.sh" "${q[@]}"
step "engine: 10k/1M/4M pairs" bash "$here/bench_engine.sh" "${q[@]}"
step "end to end, 1,000,000 events" /usr/bin/python3 "$here/e2e.py" "${q[@]}" --json "$root/build/bench/e2e.jsonl"
step "latency at 50% of the maximum rate" /usr/bin/python3 "$here/latency.py" "${q[@]}" --json "$root/build/bench/latency.jsonl"
step "latency of the Python reference at 50% of its maximum rate" /usr/bin/python3 "$here/latency.py" "${q[@]}" --contender python --json "$root/build/bench/latency.jsonl"
step "callgrind gate" bash "$here/callgrind-gate.sh"
echo "results: $out"
exit $fail

#!/usr/bin/env bash
# bench_engine.sh: the goals engine alone (issue 10 item 2, targets of issue 4): per-event cost
# at 10k and 1M tracked pairs in one run (ratio <= 1.5), then memory per tracked pair at 4M
# pairs (<= 64 bytes), then the state restore rate at 4M pairs (issue 8: >= 2M entries/s, by
# `postured bench restore` when the build has it). A thin wrapper around `postured bench engine` (src/engine), which
# reports CPU time per event (best of its repeats) and bytes per pair by allocator accounting
# and by RSS delta.
#   bench_engine.sh [--quick] [--bin POSTURED]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${PD_BIN:-$root/build/postured}"
quick=0
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1; shift ;;
    --bin) bin="$2"; shift 2 ;;
    *) echo "usage: bench_engine.sh [--quick] [--bin POSTURED]" >&2; exit 2 ;;
    esac
done
help="$("$bin" bench engine --help 2>&1 || true)"
if ! grep -q 'bench engine' <<<"$help"; then
    echo "SKIP: this build's 'postured bench' has no 'engine' subcommand"
    exit 77
fi
engine=("$bin" bench engine)
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg)"
run() {
    echo "# postured bench engine $*"
    local out
    out="$("${engine[@]}" "$@")"
    echo "$out"
    grep -q '^ratio large/small' <<<"$out" || { echo "bench_engine: no ratio in the output" >&2; exit 1; }
}
restore() {
    local help
    help="$("$bin" bench restore --help 2>&1 || true)"
    if ! grep -q 'bench restore' <<<"$help"; then
        echo "# restore: not available ('postured bench restore' is not in this build)"
        return 0
    fi
    echo "# postured bench restore $*"
    local out
    out="$("$bin" bench restore "$@" --dir "${TMPDIR:-/tmp}")"
    echo "$out"
    grep -q '^restore rate:' <<<"$out" || { echo "bench_engine: no restore rate in the output" >&2; exit 1; }
}
if [ "$quick" = 1 ]; then
    run --small 10000 --pairs 100000 --events 20000 --repeat 1
    restore --pairs 100000 --repeat 1
else
    run --small 10000 --pairs 1000000 --events 200000 --repeat 5
    run --small 10000 --pairs 4000000 --events 200000 --repeat 5
    restore --pairs 4000000 --repeat 3
    # Peer: the Python reference consumer's pair dict (status only) at the same size.
    echo "# /usr/bin/python3 tests/bench/py_pairs_mem.py --pairs 4000000"
    /usr/bin/python3 "$root/tests/bench/py_pairs_mem.py" --pairs 4000000
fi

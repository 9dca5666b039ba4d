#!/usr/bin/env bash
# callgrind-gate.sh: the performance regression gate. Counts the instructions postured
# executes per event (valgrind --tool=callgrind, so the count is stable on a shared,
# noisy machine, unlike wall time) for `postured replay -p pipelines/default.yaml` over a
# fixed generated file, and compares it with tests/bench/callgrind-baseline.txt.
#
#   callgrind-gate.sh [--bin POSTURED] [--build-type TYPE]            check (ctest runs this)
#   callgrind-gate.sh [--bin POSTURED] [--build-type TYPE] --update   rewrite the baseline
#   callgrind-gate.sh --regen-input      regenerate the input file from today's generator
#                                        (then --update: the workload changed)
#
# The input is committed (tests/bench/gate-input.jsonl.xz, `postured gen --seed 1 --events
# 20000`, 340 KB compressed) so that work on the generator does not move the figure: only
# changes to decoding, the engines and the replay path do.
# Per event = (Ir of the replay over the file - Ir of the same replay over an empty file)
# / events, so start-up (loading goals, rules, the control table) is not counted.
# Fails (exit 1) when the figure is more than PD_GATE_TOLERANCE percent (default 10) above
# the baseline. Skips (exit 77) when valgrind is missing or the build type differs from
# the baseline's (instruction counts of -O0 and -O2 builds are not comparable).
# After a deliberate change of the per-event work (a new goal kind in the default pack, a
# faster decoder), run with --update and commit the new baseline with the change.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
baseline="$here/callgrind-baseline.txt"
bin="${PD_BIN:-$root/build/postured}"
build_type="${PD_BUILD_TYPE:-RelWithDebInfo}"
update=0
regen=0
tolerance="${PD_GATE_TOLERANCE:-10}"
while [ $# -gt 0 ]; do
    case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --build-type) build_type="$2"; shift 2 ;;
    --update) update=1; shift ;;
    --regen-input) regen=1; shift ;;
    *) echo "usage: callgrind-gate.sh [--bin POSTURED] [--build-type TYPE] [--update]" >&2; exit 2 ;;
    esac
done

# The workload. Changing any of these changes the figure: --update afterwards.
seed=1
events=20000
pipeline="pipelines/default.yaml"
input="$here/gate-input.jsonl.xz"
workload="tests/bench/gate-input.jsonl.xz (gen --seed $seed --events $events) | replay --quiet -p $pipeline"

command -v valgrind >/dev/null || { echo "SKIP: valgrind not installed (apt-get install valgrind)"; exit 77; }
[ -x "$bin" ] || { echo "callgrind-gate: no postured binary at $bin" >&2; exit 1; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/pd-gate.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
if [ "$regen" = 1 ]; then
    "$bin" gen --seed "$seed" --events "$events" | xz -9 >"$input"
    echo "callgrind-gate: wrote $input; now run $0 --update"
    exit 0
fi
# xz-utils is in every Debian install; Python's lzma is the fallback.
xz -dc "$input" >"$tmp/in.jsonl" 2>/dev/null ||
    python3 -c 'import lzma,sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())' "$input" >"$tmp/in.jsonl"
events="$(wc -l <"$tmp/in.jsonl")"
: >"$tmp/empty.jsonl"

# Ir (instructions executed) of one replay under callgrind.
irs() {
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" \
        "$bin" replay --quiet -p "$root/$pipeline" "$1" >/dev/null 2>"$tmp/cg.err" || {
        tail -20 "$tmp/cg.err" >&2
        echo "callgrind-gate: replay failed under valgrind" >&2
        exit 1
    }
    awk '/^totals:/ {print $2}' "$tmp/cg.out"
}
full="$(irs "$tmp/in.jsonl")"
empty="$(irs "$tmp/empty.jsonl")"
per=$(( (full - empty) / events ))
echo "callgrind-gate: $workload: $full Ir total, $empty Ir start-up, $per Ir/event ($build_type)"

if [ "$update" = 1 ]; then
    {
        echo "# Instructions per event under valgrind --tool=callgrind; compared by"
        echo "# tests/bench/callgrind-gate.sh (ctest bench_callgrind_gate). Regenerate with"
        echo "# tests/bench/callgrind-gate.sh --update and commit it with the change that moved it."
        echo "workload=$workload"
        echo "build_type=$build_type"
        echo "ir_per_event=$per"
        echo "recorded=$(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(valgrind --version)"
    } >"$baseline"
    echo "callgrind-gate: baseline written to $baseline"
    exit 0
fi

[ -f "$baseline" ] || { echo "callgrind-gate: no baseline; run $0 --update" >&2; exit 1; }
get() { sed -n "s/^$1=//p" "$baseline"; }
base="$(get ir_per_event)"
if [ "$(get build_type)" != "$build_type" ]; then
    echo "SKIP: baseline is for a $(get build_type) build, this is $build_type"
    exit 77
fi
if [ "$(get workload)" != "$workload" ]; then
    echo "callgrind-gate: the baseline was recorded for '$(get workload)'; run $0 --update" >&2
    exit 1
fi
limit=$(( base * (100 + tolerance) / 100 ))
pct=$(awk -v a="$per" -v b="$base" 'BEGIN {printf "%+.1f", (a - b) * 100 / b}')
echo "callgrind-gate: baseline $base Ir/event, now $per ($pct%), limit $limit (+$tolerance%)"
if [ "$per" -gt "$limit" ]; then
    echo "FAIL: $per instructions per event is more than $tolerance% above the baseline $base." >&2
    echo "Profile it: valgrind --tool=callgrind $bin replay -p $pipeline FILE; callgrind_annotate." >&2
    echo "If the extra work is intended, run tests/bench/callgrind-gate.sh --update and commit." >&2
    exit 1
fi
if [ "$per" -lt $(( base * 90 / 100 )) ]; then
    echo "note: more than 10% better than the baseline; tests/bench/callgrind-gate.sh --update locks it in"
fi
echo "PASS"

#!/usr/bin/env bash
# `postured demo` on the embedded mock cluster: exits 0 within 60 s, prints the goal status
# table and the signals raised, and processed every event it generated.
set -uo pipefail
bin="${PD_BIN:?PD_BIN}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
start=$(date +%s%N)
"$bin" demo >"$out" 2>&1
rc=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
cat "$out"
echo "demo: exit $rc in ${elapsed_ms} ms"
fail=0
[ "$rc" -eq 0 ] || { echo "FAIL: exit code $rc"; fail=1; }
[ "$elapsed_ms" -lt 60000 ] || { echo "FAIL: took ${elapsed_ms} ms (limit 60 s)"; fail=1; }
grep -q '^GOAL .*KIND .*VALUE .*TARGET .*STATUS' "$out" || { echo "FAIL: no goal table"; fail=1; }
grep -Eq '^edr-coverage +coverage' "$out" || { echo "FAIL: no edr-coverage row"; fail=1; }
grep -Eq '^Signals raised: [1-9][0-9]* drift, [1-9][0-9]* breach' "$out" ||
    { echo "FAIL: no signals"; fail=1; }
for rule in alert-on-weak-resource kill-chain-progression lateral-spread drift-then-alert \
    defense-tampering alert-burst; do
    grep -q "breach.$rule" "$out" || { echo "FAIL: no breach.$rule signal"; fail=1; }
done
exit $fail

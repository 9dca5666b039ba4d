#!/usr/bin/env bash
# The whole test suite: installs what is missing, checks formatting, builds and tests an
# ASan+UBSan tree, runs the fuzz targets, then builds the normal tree and runs every ctest
# label (unit, scenario, kafka against a real broker, fuzz, bench-smoke, ...). Exits
# non-zero when anything fails; ctest's summary is the last thing printed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fail=0
step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
bash scripts/deps.sh test || exit 1

step "format (clang-format --dry-run -Werror)"
if ! git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run -Werror; then
  echo "format: run clang-format -i on the files above"
  fail=1
fi

step "ASan+UBSan build and tests (unit, scenario)"
if bash scripts/build.sh build-asan -DPD_SANITIZE=ON -DPD_WERROR=ON >build-asan.log 2>&1; then
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest -L 'unit|scenario' -LE dashboard --output-on-failure -j2) || fail=1
else
  tail -50 build-asan.log
  fail=1
fi

if [ -f tests/fuzz/run.sh ]; then
  step "fuzz (libFuzzer, ASan+UBSan)"
  if CC=clang PD_BUILD_TARGETS="fuzz_decode fuzz_event_pack" bash scripts/build.sh build-fuzz -DPD_FUZZ=ON -DPD_WERROR=ON >build-fuzz.log 2>&1; then
    # The time split 3:1: the JSON decoder is the larger surface.
    secs=${PD_FUZZ_SECONDS:-60}
    bash tests/fuzz/run.sh build-fuzz $((secs * 3 / 4)) || fail=1
    bash tests/fuzz/run.sh build-fuzz $((secs - secs * 3 / 4)) event_pack || fail=1
  else
    tail -50 build-fuzz.log
    fail=1
  fi
fi

step "build (-Werror) and the whole ctest suite"
if bash scripts/build.sh build -DPD_WERROR=ON >build.log 2>&1; then
  (cd build && ctest --output-on-failure) || fail=1
else
  tail -50 build.log
  fail=1
fi
exit $fail

#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is missing,
# builds a release tree and an AddressSanitizer+UBSan tree, runs the unit tests
# under the sanitizers and every test (unit, integration against a real
# PostgreSQL 15 started by the tests, fuzz smoke runs) on the release build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# Each phase's wall time, printed as it ends and again at the end.
phases=()
phase_start=$SECONDS
end_phase() {
  local took=$((SECONDS - phase_start))
  phases+=("$1: ${took} s")
  echo "== phase \"$1\" took ${took} s =="
  phase_start=$SECONDS
}
trap 'printf "== phase times ==\n"; printf "  %s\n" "${phases[@]}"' EXIT

fuzz_flag=""
command -v clang++-14 >/dev/null 2>&1 && fuzz_flag="--fuzz"
scripts/setup.sh --asan $fuzz_flag
end_phase "set-up and builds"

jobs="$(nproc)"
echo "== all tests, AddressSanitizer + UndefinedBehaviorSanitizer build (unit, and the proxy under test) =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs"
end_phase "tests, ASan+UBSan build"

echo "== all tests, release build =="
ctest --test-dir build --output-on-failure -j "$jobs"
end_phase "tests, release build"

if [ -d build-fuzz/tests/fuzz ]; then
  echo "== fuzz smoke runs (libFuzzer, 15 s each; long campaigns: bench/fuzz.sh) =="
  for f in build-fuzz/tests/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    corpus="tests/fuzz/corpus/$(basename "$f")"
    args=()
    # libFuzzer writes new inputs into the first corpus directory: give it a
    # scratch one so that the committed seeds stay as they are.
    scratch="build-fuzz/corpus/$(basename "$f")"
    mkdir -p "$scratch"
    args+=("$scratch")
    [ -d "$corpus" ] && args+=("$corpus")
    "$f" -max_total_time=15 -print_final_stats=0 "${args[@]}" >"build-fuzz/$(basename "$f").log" 2>&1 \
      || { echo "fuzz target $f failed:"; tail -40 "build-fuzz/$(basename "$f").log"; exit 1; }
    echo "$(basename "$f"): ok"
  done
fi
end_phase "fuzz smoke runs"

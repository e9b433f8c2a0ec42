#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is missing,
# builds a release tree and an AddressSanitizer+UBSan tree, runs the unit tests
# under the sanitizers and every test (unit, integration against a real
# PostgreSQL 15 started by the tests, fuzz smoke runs) on the release build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

fuzz_flag=""
command -v clang++-14 >/dev/null 2>&1 && fuzz_flag="--fuzz"
scripts/setup.sh --asan $fuzz_flag

jobs="$(nproc)"
echo "== unit tests, AddressSanitizer + UndefinedBehaviorSanitizer =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L unit --output-on-failure -j "$jobs"

echo "== all tests, release build =="
ctest --test-dir build --output-on-failure -j "$jobs"

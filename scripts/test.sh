#!/usr/bin/env bash
# The test suite, from a fresh Debian 12 machine: installs what is missing,
# builds, and runs the tests (docs/testing.md).
#   scripts/test.sh          CI (.ci/run): a release tree without benchmarks, an
#                            AddressSanitizer+UBSan tree and, with clang, the
#                            fuzz targets; every test on the release build; under
#                            the sanitizers every test but those labelled `long`
#                            (long randomized and differential runs, listed in
#                            docs/testing.md); the fuzz build and its smoke runs
#                            (nproc at a time) go beside the tests, niced.
#   scripts/test.sh --quick  day to day: the release build only, its unit,
#                            integration and cli tests; no sanitizers, no fuzz.
#   scripts/test.sh --full   CI plus what it leaves out: the `long` tests under the
#                            sanitizers too, and the benchmarks built.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

mode=ci
for arg in "$@"; do
  case "$arg" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --fuzz-smoke) mode=fuzz-smoke ;;  # internal: the smoke runs of an existing build-fuzz/
    *) echo "test.sh: unknown option $arg (--quick, --full, or none for the CI run)" >&2; exit 2 ;;
  esac
done

if [ "$mode" = fuzz-smoke ]; then
  jobs="$(nproc)"
  echo "== fuzz smoke runs (libFuzzer, 15 s each, $jobs at a time; long campaigns: bench/fuzz.sh) =="
  # One target: its log in build-fuzz/<target>.log, its exit status in .status.
  fuzz_one() {
    local f="$1" name
    name="$(basename "$f")"
    local corpus="tests/fuzz/corpus/$name"
    # libFuzzer writes new inputs into the first corpus directory: give it a
    # scratch one so that the committed seeds stay as they are.
    local scratch="build-fuzz/corpus/$name"
    mkdir -p "$scratch"
    local args=("$scratch")
    [ -d "$corpus" ] && args+=("$corpus")
    local rc=0
    "$f" -max_total_time=15 -print_final_stats=0 "${args[@]}" >"build-fuzz/$name.log" 2>&1 || rc=$?
    echo "$rc" >"build-fuzz/$name.status"
  }
  targets=()
  for f in build-fuzz/tests/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    targets+=("$f")
    rm -f "build-fuzz/$(basename "$f").status"
  done
  for f in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    fuzz_one "$f" &
  done
  wait
  failed=0
  for f in "${targets[@]}"; do
    name="$(basename "$f")"
    if [ "$(cat "build-fuzz/$name.status" 2>/dev/null)" = 0 ]; then
      echo "$name: ok"
    else
      echo "fuzz target $f failed:"
      tail -40 "build-fuzz/$name.log"
      failed=1
    fi
  done
  [ "$failed" = 0 ] || exit 1
  exit 0
fi

# Each phase's wall time, printed as it ends and again at the end.
phases=()
phase_start=$SECONDS
end_phase() {
  local took=$((SECONDS - phase_start))
  phases+=("$1: ${took} s")
  echo "== phase \"$1\" took ${took} s =="
  phase_start=$SECONDS
}
fuzz_pid=""
trap 'printf "== phase times (%s) ==\n" "$mode"; printf "  %s\n" "${phases[@]}"
      [ -z "$fuzz_pid" ] || kill -- "-$fuzz_pid" 2>/dev/null || true' EXIT

jobs="$(nproc)"
setup_flags=()
case "$mode" in
  quick) setup_flags=(--no-bench) ;;
  ci) setup_flags=(--no-bench --asan) ;;
  full) setup_flags=(--asan) ;;
esac
scripts/setup.sh "${setup_flags[@]}"
end_phase "set-up and builds"

# The libFuzzer tree (clang) and its smoke runs go beside the tests, at a lower
# priority: the tests leave the cores idle while they wait on PostgreSQL and on
# the proxy, and the fuzzing fills that time instead of adding its own.
if [ "$mode" != quick ] && command -v clang++-14 >/dev/null 2>&1; then
  mkdir -p build-fuzz
  rm -f build-fuzz/pipeline.status
  # A process group of its own (setsid), so that a failing test phase can stop it.
  setsid bash -c 'rc=0
    nice -n 10 bash -c "scripts/setup.sh --fuzz-only && scripts/test.sh --fuzz-smoke" >build-fuzz/pipeline.log 2>&1 || rc=$?
    echo "$rc" >build-fuzz/pipeline.status' &
  fuzz_pid=$!
fi

if [ "$mode" != quick ]; then
  asan_filter=(-LE long)
  [ "$mode" = full ] && asan_filter=()
  echo "== tests, AddressSanitizer + UndefinedBehaviorSanitizer build${asan_filter:+ (all but the label long)} =="
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs" "${asan_filter[@]}"
  end_phase "tests, ASan+UBSan build"
fi

echo "== all tests, release build =="
ctest --test-dir build --output-on-failure -j "$jobs"
end_phase "tests, release build"

if [ -n "$fuzz_pid" ]; then
  echo "== the libFuzzer build and smoke runs (beside the tests; build-fuzz/pipeline.log) =="
  wait "$fuzz_pid" || true
  fuzz_pid=""
  grep -E '^fuzz_[a-z_]+: ok$|^fuzz target ' build-fuzz/pipeline.log || true
  if [ "$(cat build-fuzz/pipeline.status 2>/dev/null)" != 0 ]; then
    echo "the libFuzzer build or a smoke run failed:"
    tail -60 build-fuzz/pipeline.log
    exit 1
  fi
  end_phase "rest of the fuzz build and smoke runs"
fi

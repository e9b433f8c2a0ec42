#!/usr/bin/env bash
# A longer fuzzing campaign than the test suite's smoke runs: builds the
# libFuzzer targets (clang-14, ASan+UBSan) and runs each for SECONDS, keeping
# what it finds in build-fuzz/corpus/<target> (new inputs) and crash files in
# build-fuzz/crashes/<target>. Not part of CI.
# Usage: bench/fuzz.sh [SECONDS per target, default 300] [target name ...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds="${1:-300}"
shift || true
scripts/setup.sh --fuzz >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in build-fuzz/tests/fuzz/fuzz_*; do [ -x "$f" ] && targets+=("$(basename "$f")"); done
fi
status=0
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/crashes/$t"
  seeds=()
  [ -d "tests/fuzz/corpus/$t" ] && seeds+=("tests/fuzz/corpus/$t")
  echo "== $t: ${seconds}s"
  if ! "build-fuzz/tests/fuzz/$t" -max_total_time="$seconds" -artifact_prefix="build-fuzz/crashes/$t/" \
       "build-fuzz/corpus/$t" "${seeds[@]}" 2>"build-fuzz/$t.campaign.log"; then
    echo "$t: FOUND A CRASH (build-fuzz/crashes/$t/, log build-fuzz/$t.campaign.log)"
    status=1
  fi
  grep -E "^#[0-9]+.*(DONE|pulse)" "build-fuzz/$t.campaign.log" | tail -1 || true
done
exit $status

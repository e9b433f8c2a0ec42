#!/usr/bin/env bash
# Installs the Debian packages in scripts/packages.txt that are missing (apt-get)
# and builds ddlgate into build/ (release) and, with --asan, build-asan/.
# Usage: scripts/setup.sh [--asan] [--fuzz | --fuzz-only] [--no-bench]
#   --fuzz-only: only the libFuzzer tree (build-fuzz/), after the packages; test.sh
#               builds it beside the tests.
#   --no-bench: the release tree without the microbenchmarks (bench/*.cpp); the
#               CI run does not need them. Without it they are built, so that a
#               tree configured with --no-bench gets them back.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

want_asan=0; want_fuzz=0; fuzz_only=0; bench=ON
for arg in "$@"; do
  case "$arg" in
    --asan) want_asan=1 ;;
    --fuzz) want_fuzz=1 ;;
    --fuzz-only) want_fuzz=1; fuzz_only=1 ;;
    --no-bench) bench=OFF ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

mapfile -t pkgs < <(grep -v '^\s*#' scripts/packages.txt | grep -v '^\s*$')
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Real migration tools from the npm registry for the integration tests (dbmate
# ships its binary in the package; node-postgres is a driver; node-pg-migrate runs
# SQL migrations). Pinned versions.
if ! command -v npm >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# node-pg-migrate 7.9 is the last release that runs on Debian 12's Node.js 18. knex,
# sequelize-cli (with sequelize and pg-hstore, its PostgreSQL dialect's needs) and typeorm
# (with reflect-metadata, which it loads) are recorded by `ddlgate bundle record` in
# tests/integration/record_test.cpp. The stamp holds the list installed: a changed list
# installs again.
npm_packages="dbmate@2.36.0 pg@8.16.3 node-pg-migrate@7.9.1 knex@3.1.0 sequelize-cli@6.6.2 sequelize@6.37.3 pg-hstore@2.3.4 typeorm@0.3.20 reflect-metadata@0.2.2"
if [ ! -x .tools/npm/node_modules/.bin/dbmate ] || [ "$(cat .tools/npm/.packages 2>/dev/null)" != "$npm_packages" ]; then
  mkdir -p .tools/npm
  # shellcheck disable=SC2086 # one word per package
  npm install --prefix .tools/npm --no-audit --no-fund --loglevel=error $npm_packages >/dev/null
  printf '%s\n' "$npm_packages" > .tools/npm/.packages
fi

# PostgreSQL 15's own encoding conversion maps (issue 22), from Debian's source
# package, unpacked once outside the clone (scripts/pg-source.sh).
pg_source=(-DDDLGATE_PG_SOURCE_DIR="$(scripts/pg-source.sh)")

jobs="$(nproc)"
# ccache (scripts/packages.txt) keeps compiled objects between builds and between
# clones on the same machine: paths below the checkout are hashed relative to it,
# and not the directory itself (debug info may then name an older clone's path).
launcher=()
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
# Line tables only (-g1): enough for stack traces, sanitizer reports, perf and
# callgrind, and about a third less compile time than full debug information.
# For a debugger, configure a tree of your own with -g.
release_flags=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG")
if ((!fuzz_only)); then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${release_flags[@]}" -DDDLGATE_BENCH="$bench" "${pg_source[@]}" "${launcher[@]}" >/dev/null
  cmake --build build -j "$jobs"
  if ((want_asan)); then
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DCMAKE_C_FLAGS_DEBUG=-g1 \
      -DDDLGATE_SANITIZE=ON -DDDLGATE_BENCH=OFF "${pg_source[@]}" "${launcher[@]}" >/dev/null
    cmake --build build-asan -j "$jobs"
  fi
fi
if ((want_fuzz)); then
  CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${release_flags[@]}" \
    -DDDLGATE_FUZZ=ON -DDDLGATE_TESTS=OFF -DDDLGATE_BENCH=OFF "${pg_source[@]}" "${launcher[@]}" >/dev/null
  cmake --build build-fuzz -j "$jobs" --target fuzz_all
fi

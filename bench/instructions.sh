#!/usr/bin/env bash
# CPU instructions ddlgate spends per pgbench transaction, counted by valgrind
# (callgrind), for ddlgate in passthrough and with enforcement, and for PgBouncer
# (session mode) counted the same way when it is installed. Instruction
# counts do not depend on how loaded the machine is, so this shows what a change
# costs when wall-clock benchmarks (bench/pgbench.sh) are too noisy to tell.
#
# Each configuration runs twice under callgrind, with SMALL and LARGE
# transactions of one pgbench client; (LARGE - SMALL) / (LARGE_N - SMALL_N)
# removes start-up and shutdown.
#
# Usage: bench/instructions.sh [--ddlgate PATH] [--tpcb] [--keep DIR]
#   --keep DIR  keep the callgrind output files in DIR (for callgrind_annotate)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/lib/pg.sh
source "$root/scripts/lib/pg.sh"

ddlgate="$root/build/cli/ddlgate"
script="select"
small=200
large=2200
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --ddlgate) ddlgate="$2"; shift ;;
    --tpcb) script="tpcb" ;;
    --keep) keep="$2"; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "instructions.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is missing (apt-get install valgrind)" >&2; exit 2; }
[ -n "$keep" ] && mkdir -p "$keep"

work="$(mktemp -d /tmp/ddlgate-instr-XXXXXX)"
chmod 755 "$work"
pgdata="$work/pgdata"
proxy_pid=""
bouncer_pid=""
cleanup() {
  set +e
  [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null
  # Only a PgBouncer still running: a stale pid file may name a recycled pid.
  [ -n "$bouncer_pid" ] && kill -INT "$bouncer_pid" 2>/dev/null && sleep 1
  pg_stop "$pgdata"
  rm -rf "$work"
}
trap cleanup EXIT

pg_port="$(free_port)"
give_to_server_user "$work"
pg_init "$pgdata" "$pg_port" "$work" "max_connections = 50"
pg_start "$pgdata" "$work/postgres.log"
"$PGBIN/pgbench" -h 127.0.0.1 -p "$pg_port" -U postgres -i -q -s 1 postgres >"$work/init.log" 2>&1 \
  || { cat "$work/init.log" >&2; exit 1; }

mkdir -p "$work/bundles"
"$ddlgate" keygen --out "$work/ledger" >/dev/null
"$ddlgate" keygen --out "$work/registry" >/dev/null
cat >"$work/enforce.toml" <<TOML
[enforcement]
mode = "enforce"
superusers = ["postgres"]
[ledger]
directory = "$work/ledger-dir"
checkpoint_key_file = "$work/ledger.key"
[bundles]
registry_dir = "$work/bundles"
environment = "bench"
[bundles.trust.roles.registry]
threshold = 1
keys = ["$work/registry.pub"]
TOML

# instructions CONFIG PROTOCOL TRANSACTIONS -> total instructions of the ddlgate process
instructions() {
  local config=() out="$work/callgrind.out" ready="$work/ready"
  [ "$1" = "enforce" ] && config=(--config "$work/enforce.toml")
  # A fresh ledger for every run: each start records its configuration, and reading back a
  # ledger that earlier runs grew would be counted against the longer run.
  rm -rf "$out" "$ready" "$work/ledger-dir"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$ddlgate" serve "${config[@]}" \
    --listen 127.0.0.1:0 --upstream "127.0.0.1:$pg_port" --ready-file "$ready" 2>"$work/valgrind.log" &
  proxy_pid=$!
  wait_for_file "$ready" 60 "$proxy_pid" || { echo "instructions.sh: ddlgate did not start" >&2; tail "$work/valgrind.log" >&2; exit 1; }
  local port args=()
  port="$(head -1 "$ready" | sed 's/.*://')"
  [ "$script" = "select" ] && args+=(-S)
  "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n "${args[@]}" -M "$2" -c 1 -t "$3" postgres \
    >"$work/pgbench.log" 2>&1 || { cat "$work/pgbench.log" >&2; exit 1; }
  kill -TERM "$proxy_pid"
  wait "$proxy_pid" || true
  proxy_pid=""
  [ -n "$keep" ] && cp "$out" "$keep/callgrind.$1.$2.$3"
  sed -nE 's/^(summary|totals): ([0-9]+).*/\2/p' "$out" | head -1
}

# PgBouncer (session mode, trust) counted the same way, for comparison; it
# refuses to run as root, so it runs as the server's user.
pgbouncer_instructions() {
  local out="$work/callgrind.pgbouncer" pidfile="$work/pgbouncer.pid" port
  port="$(free_port)"
  write_pgbouncer_ini "$work" "$pg_port" "$port" 10
  rm -f "$out" "$pidfile"
  give_to_server_user "$work"
  as_server_user valgrind --tool=callgrind --callgrind-out-file="$out" /usr/sbin/pgbouncer -q "$work/pgbouncer.ini" \
    2>"$work/valgrind-pgbouncer.log" &
  local runner=$!
  wait_for_file "$pidfile" 60 "$runner" || { echo "instructions.sh: PgBouncer did not start" >&2; cat "$work/pgbouncer.log" >&2; exit 1; }
  local args=()
  [ "$script" = "select" ] && args+=(-S)
  # Under valgrind the first connection can take longer than pgbench waits; retry it.
  local tries=0
  until "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n "${args[@]}" -M "$1" -c 1 -t "$2" postgres \
    >"$work/pgbench.log" 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -lt 3 ] || { cat "$work/pgbench.log" >&2; exit 1; }
    sleep 1
  done
  bouncer_pid="$(cat "$pidfile")"
  kill -INT "$bouncer_pid"
  wait "$runner" || true
  bouncer_pid=""
  rm -f "$pidfile"
  [ -n "$keep" ] && cp "$out" "$keep/callgrind.pgbouncer.$1.$2"
  sed -nE 's/^(summary|totals): ([0-9]+).*/\2/p' "$out" | head -1
}

echo "| proxy | protocol | instructions per transaction |"
echo "|---|---|---:|"
if [ -x /usr/sbin/pgbouncer ]; then
  for protocol in simple prepared; do
    a="$(pgbouncer_instructions "$protocol" "$small")"
    b="$(pgbouncer_instructions "$protocol" "$large")"
    echo "| PgBouncer $(/usr/sbin/pgbouncer --version | head -1 | sed 's/^PgBouncer //') | $protocol | $(((b - a) / (large - small))) |"
  done
fi
for config in passthrough enforce; do
  for protocol in simple prepared; do
    a="$(instructions "$config" "$protocol" "$small")"
    b="$(instructions "$config" "$protocol" "$large")"
    echo "| ddlgate $config | $protocol | $(((b - a) / (large - small))) |"
  done
done
echo
echo "pgbench ${script} script, 1 client, $(date -u '+%Y-%m-%d %H:%M UTC'); $("$ddlgate" --version 2>/dev/null)"

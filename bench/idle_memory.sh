#!/usr/bin/env bash
# Resident memory per idle client session: opens N (default 1000) idle client
# connections (startup + trust authentication, bench/idle_clients.py) through
# ddlgate, and through PgBouncer 1.18 (session mode) for reference, and reports
# the growth of the proxy's VmRSS per connection. Starts its own throwaway
# PostgreSQL 15 (max_connections = N + 100); cleans up on exit. Runs as root
# (servers as `postgres`) or as a normal user.
#
# Usage: bench/idle_memory.sh [--connections N] [--ddlgate PATH] [--out FILE]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/lib/pg.sh
source "$root/scripts/lib/pg.sh"

count=1000
ddlgate="$root/build/cli/ddlgate"
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) count="$2"; shift ;;
    --ddlgate) ddlgate="$2"; shift ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "idle_memory.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
# Each session holds a socket on each side of the proxy.
ulimit -n "$((count * 2 + 200))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work="$(mktemp -d /tmp/ddlgate-idle-XXXXXX)"
chmod 755 "$work"
pgdata="$work/pgdata"
ddlgate_pid=""
cleanup() {
  set +e
  [ -n "$ddlgate_pid" ] && kill "$ddlgate_pid" 2>/dev/null && wait "$ddlgate_pid" 2>/dev/null
  [ -f "$work/pgbouncer.pid" ] && kill "$(cat "$work/pgbouncer.pid")" 2>/dev/null
  pg_stop "$pgdata"
  for _ in 1 2 3 4 5 6 7 8 9 10; do [ -f "$work/pgbouncer.pid" ] || break; sleep 0.1; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pg_port="$(free_port)"
give_to_server_user "$work"
echo "idle_memory: PostgreSQL 15 on 127.0.0.1:$pg_port, max_connections $((count + 100))" >&2
pg_init "$pgdata" "$pg_port" "$work" "max_connections = $((count + 100))" "shared_buffers = 64MB"
pg_start "$pgdata" "$work/postgres.log"

bouncer_port="$(free_port)"
write_pgbouncer_ini "$work" "$pg_port" "$bouncer_port" $((count + 50))
# PgBouncer inherits the fd limit raised above.
as_server_user /usr/sbin/pgbouncer -q -d "$work/pgbouncer.ini"
wait_for_file "$work/pgbouncer.pid" 10 || { echo "idle_memory.sh: PgBouncer did not start" >&2; cat "$work/pgbouncer.log" >&2; exit 1; }

rows=()
measure() {  # measure LABEL PORT PID
  local result before after n
  if ! result="$(python3 "$root/bench/idle_clients.py" --port "$2" --pid "$3" --count "$count")"; then
    rows+=("| $1 | – | – | – | failed (see above) |")
    return
  fi
  read -r before after n <<<"$result"
  rows+=("| $1 | $n | $before | $after | $(awk -v a="$after" -v b="$before" -v n="$n" 'BEGIN { printf "%.1f", (a - b) / n }') |")
}

echo "idle_memory: $count idle sessions through PgBouncer" >&2
measure "PgBouncer 1.18 (session)" "$bouncer_port" "$(cat "$work/pgbouncer.pid")"

ddlgate_note=""
if ddlgate_has_serve "$ddlgate"; then
  "$ddlgate" serve --listen 127.0.0.1:0 --upstream "127.0.0.1:$pg_port" --ready-file "$work/ddlgate.ready" \
    2>"$work/ddlgate.log" &
  ddlgate_pid=$!
  if wait_for_file "$work/ddlgate.ready" 10 "$ddlgate_pid"; then
    echo "idle_memory: $count idle sessions through ddlgate" >&2
    measure "ddlgate" "$(head -1 "$work/ddlgate.ready" | sed 's/.*://')" "$ddlgate_pid"
  else
    ddlgate_note="ddlgate did not become ready: $(tail -3 "$work/ddlgate.log" | tr '\n' ' ')"
  fi
else
  ddlgate_note="ddlgate not measured: $ddlgate has no \`serve\` subcommand yet"
fi

report() {
  echo "## Idle client sessions: proxy resident memory"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); host: $(nproc) CPU(s), $(lscpu 2>/dev/null | sed -nE 's/^Model name:[[:space:]]+//p' | head -1), kernel $(uname -r)"
  echo "- $count sessions, each after startup + trust authentication up to ReadyForQuery, held idle; VmRSS from /proc/PID/status"
  [ -z "$ddlgate_note" ] || echo "- $ddlgate_note"
  echo
  echo "| proxy | sessions | VmRSS before KiB | VmRSS after KiB | KiB per session |"
  echo "|---|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
}
if [ -n "$out" ]; then report | tee "$out"; else report; fi

#!/usr/bin/env bash
# CPU time and context switches a proxy spends per pgbench transaction, kernel
# included, for PgBouncer (session mode) and ddlgate (passthrough) under the same
# load. bench/instructions.sh counts user-space instructions only; on a host
# where PostgreSQL, pgbench and the proxy share the cores, the system calls,
# wake-ups and context switches a proxy causes cost more than its own code.
#
# Each target runs pgbench -S with CLIENTS clients for TRANSACTIONS transactions
# each, in a rotating order, REPEAT times; the proxy's user + system time
# (/proc/PID/stat, all threads) and context switches (/proc/PID/task/*/status)
# are read before and after. Each cell is the median of the repeats.
#
# Usage: bench/cpu_per_txn.sh [--ddlgate PATH] [--clients N] [--transactions N]
#                             [--protocol simple|prepared] [--repeat N] [--workers "0 1"] [--tls]
#   --workers  one ddlgate per value of server.workers (0 = one per core, the default)
#   --tls      clients connect with TLS (sslmode=require, a self-signed RSA 2048
#              certificate); both proxies reach PostgreSQL in plaintext
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/lib/pg.sh
source "$root/scripts/lib/pg.sh"

ddlgate="$root/build/cli/ddlgate"
clients=16
transactions=8000
protocol=simple
repeat=3
workers="0"
tls=0
while [ $# -gt 0 ]; do
  case "$1" in
    --ddlgate) ddlgate="$2"; shift ;;
    --clients) clients="$2"; shift ;;
    --transactions) transactions="$2"; shift ;;
    --protocol) protocol="$2"; shift ;;
    --repeat) repeat="$2"; shift ;;
    --workers) workers="$2"; shift ;;
    --tls) tls=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "cpu_per_txn.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$protocol" in simple|prepared) ;; *) echo "cpu_per_txn.sh: --protocol is simple or prepared" >&2; exit 2 ;; esac
for n in "$clients" "$transactions" "$repeat"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "cpu_per_txn.sh: $n is not a positive number" >&2; exit 2; }
done
[ -x /usr/sbin/pgbouncer ] || { echo "cpu_per_txn.sh: PgBouncer is missing (apt-get install pgbouncer)" >&2; exit 2; }
[ -x "$ddlgate" ] || { echo "cpu_per_txn.sh: no ddlgate at $ddlgate (build it first)" >&2; exit 2; }

work="$(mktemp -d /tmp/ddlgate-cpu-XXXXXX)"
chmod 755 "$work"
pgdata="$work/pgdata"
proxy_pids=()
bouncer_pid=""
cleanup() {
  set +e
  for p in "${proxy_pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  [ -n "$bouncer_pid" ] && kill -INT "$bouncer_pid" 2>/dev/null && sleep 1
  pg_stop "$pgdata"
  rm -rf "$work"
}
trap cleanup EXIT

pg_port="$(free_port)"
give_to_server_user "$work"
pg_init "$pgdata" "$pg_port" "$work" "max_connections = $((clients * 2 + 20))"
pg_start "$pgdata" "$work/postgres.log"
"$PGBIN/pgbench" -h 127.0.0.1 -p "$pg_port" -U postgres -i -q -s 10 postgres >"$work/init.log" 2>&1 \
  || { cat "$work/init.log" >&2; exit 1; }

# With --tls: one self-signed certificate for both proxies (PgBouncer runs as the
# server's user, who must own the key).
ddlgate_tls=""
if [ "$tls" = 1 ]; then
  self_signed_cert "$work/tls" || exit 1
  ddlgate_tls="$(printf '[tls]\nmode = "require"\ncert_file = "%s"\nkey_file = "%s"\n' \
    "$work/tls/server.crt" "$work/tls/server.key")"
fi

bouncer_port="$(free_port)"
write_pgbouncer_ini "$work" "$pg_port" "$bouncer_port" $((clients + 10))
if [ "$tls" = 1 ]; then
  printf 'client_tls_sslmode = require\nclient_tls_cert_file = %s\nclient_tls_key_file = %s\n' \
    "$work/tls/server.crt" "$work/tls/server.key" >>"$work/pgbouncer.ini"
fi
as_server_user /usr/sbin/pgbouncer -q -d "$work/pgbouncer.ini"
wait_for_file "$work/pgbouncer.pid" 10 || { echo "cpu_per_txn.sh: PgBouncer did not start" >&2; exit 1; }
bouncer_pid="$(cat "$work/pgbouncer.pid")"

# name:port:pid per target
targets=("pgbouncer:$bouncer_port:$bouncer_pid")
for w in $workers; do
  printf '[server]\nworkers = %s\n%s\n' "$w" "$ddlgate_tls" >"$work/ddlgate-$w.toml"
  "$ddlgate" serve --config "$work/ddlgate-$w.toml" --listen 127.0.0.1:0 --upstream "127.0.0.1:$pg_port" \
    --ready-file "$work/ready-$w" 2>"$work/ddlgate-$w.log" &
  proxy_pids+=($!)
  wait_for_file "$work/ready-$w" 20 "$!" || { echo "cpu_per_txn.sh: ddlgate did not start" >&2; tail -3 "$work/ddlgate-$w.log" >&2; exit 1; }
  targets+=("ddlgate(workers=$w):$(head -1 "$work/ready-$w" | sed 's/.*://'):$!")
done

tick_us=$((1000000 / $(getconf CLK_TCK)))
# cpu PID -> user + system clock ticks of the whole process
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# switches PID KEY -> the sum over the process's threads
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk -v k="$2:" '$1 == k {s += $2} END {print s + 0}'; }

# Every pgbench below connects through a proxy.
[ "$tls" = 1 ] && export PGSSLMODE=require
total=$((clients * transactions))
declare -A results
n=${#targets[@]}
for round in $(seq 0 $((repeat - 1))); do
  for i in $(seq 0 $((n - 1))); do
    IFS=: read -r name port pid <<<"${targets[$(((i + round) % n))]}"
    # A short warm-up, so that every target's sessions and caches start equal.
    "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -S -M "$protocol" -c "$clients" -j 2 -t 50 postgres \
      >/dev/null 2>&1
    c0="$(cpu "$pid")"; v0="$(switches "$pid" voluntary_ctxt_switches)"; i0="$(switches "$pid" nonvoluntary_ctxt_switches)"
    out="$("$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -S -M "$protocol" -c "$clients" -j 2 \
      -t "$transactions" postgres 2>&1)" || { echo "$out" >&2; exit 1; }
    c1="$(cpu "$pid")"; v1="$(switches "$pid" voluntary_ctxt_switches)"; i1="$(switches "$pid" nonvoluntary_ctxt_switches)"
    tps="$(sed -nE 's/^tps = ([0-9]+).*/\1/p' <<<"$out")"
    results[$name]+="$tps $(((c1 - c0) * tick_us * 100 / total)) $(((v1 - v0) * 1000 / total)) $(((i1 - i0) * 1000 / total))
"
  done
done

# median COLUMN <<< rows
median() { awk -v c="$1" 'NF {print $c}' | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
fixed() { awk -v v="$1" -v d="$2" 'BEGIN {printf "%.*f", (d == 100 ? 1 : 2), v / d}'; }
echo "| proxy | TPS | CPU µs per transaction | voluntary switches per transaction | involuntary switches per transaction |"
echo "|---|---:|---:|---:|---:|"
for t in "${targets[@]}"; do
  name="${t%%:*}"
  rows="${results[$name]}"
  echo "| $name | $(median 1 <<<"$rows") | $(fixed "$(median 2 <<<"$rows")" 100) | $(fixed "$(median 3 <<<"$rows")" 1000) | $(fixed "$(median 4 <<<"$rows")" 1000) |"
done
echo
tls_note=""
[ "$tls" = 1 ] && tls_note=", TLS on the client leg"
echo "pgbench -S -M $protocol$tls_note, $clients clients, $transactions transactions each, median of $repeat;" \
  "$(date -u '+%Y-%m-%d %H:%M UTC'); $("$ddlgate" --version 2>/dev/null); $(nproc) cores"

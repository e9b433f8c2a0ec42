#!/usr/bin/env bash
# Throughput and latency of ddlgate against PostgreSQL directly and PgBouncer
# (session mode), with pgbench, on a throwaway PostgreSQL 15 (initdb in /tmp,
# pgbench -i -s SCALE). Prints a Markdown table; everything it started is
# stopped and removed on exit. Runs as root (servers then run as `postgres`)
# or as a normal user.
#
# Usage: bench/pgbench.sh [-T SECONDS] [--warmup SECONDS] [--clients "1 16 64"] [--scale N]
#                         [--tpcb] [--tls] [--record-all] [--repeat N] [--workers N] [--ddlgate PATH]
#                         [--out FILE]
#   -T SECONDS   duration of each pgbench run (default 15)
#   --warmup S   measure the steady state: each run lasts S + SECONDS + 1 s, and
#                TPS and latency are those of the whole seconds after the first S
#                (pgbench's per-second aggregate log, each thread's own clock);
#                a column gives ddlgate/PgBouncer over the whole run as well.
#                Every target gets the same rule. Default 0: pgbench's own figures
#                over the whole run. Why it matters: a new backend is slow at first
#                (about 30 s on the benchmark VM), and only PgBouncer keeps
#                backends from run to run (docs/benchmarks.md)
#   --clients    client counts to run (default "1 16 64"); -j is min(2, clients)
#   --protocols  pgbench -M values (default "simple prepared")
#   --scale N    pgbench -i scale (default 10)
#   --tpcb       pgbench's default TPC-B-like script instead of -S (select only)
#   --tls        clients connect with TLS (sslmode=require; a self-signed RSA 2048
#                certificate made for the run) to PostgreSQL, PgBouncer
#                (client_tls_sslmode) and ddlgate ([tls] mode = "require"); the
#                proxies reach PostgreSQL in plaintext over loopback
#   --record-all the enforcing ddlgate also records every statement in its ledger
#                (enforcement.record_all_statements, durable before it is forwarded)
#   --workers N  both ddlgates run with server.workers = N (default: their default, one per core)
#   --repeat N   run every cell N times, the targets in a rotating order, and
#                report the median TPS and latency of each (default 1)
#   --ddlgate    the binary (default build/cli/ddlgate); its column is skipped
#                if the binary has no `serve` subcommand
#   --out FILE   also write the report to FILE
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/lib/pg.sh
source "$root/scripts/lib/pg.sh"

duration=15
warmup=0
clients_list="1 16 64"
protocols="simple prepared"
scale=10
script="select"
ddlgate="$root/build/cli/ddlgate"
out=""
repeat=1
tls=0
record_all=false
workers=""
while [ $# -gt 0 ]; do
  case "$1" in
    -T) duration="$2"; shift ;;
    --warmup) warmup="$2"; shift ;;
    --clients) clients_list="$2"; shift ;;
    --protocols) protocols="$2"; shift ;;
    --scale) scale="$2"; shift ;;
    --tpcb) script="tpcb" ;;
    --tls) tls=1 ;;
    --record-all) record_all=true ;;
    --repeat) repeat="$2"; shift ;;
    --workers) workers="$2"; shift ;;
    --ddlgate) ddlgate="$2"; shift ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
    *) echo "pgbench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for tool in "$PGBIN/initdb" "$PGBIN/pgbench" /usr/sbin/pgbouncer python3 openssl; do
  command -v "$tool" >/dev/null || { echo "pgbench.sh: $tool is missing (scripts/setup.sh installs it)" >&2; exit 2; }
done

work="$(mktemp -d /tmp/ddlgate-bench-XXXXXX)"
chmod 755 "$work"
pgdata="$work/pgdata"
ddlgate_pid=""
enforce_pid=""
cleanup() {
  set +e
  [ -n "$ddlgate_pid" ] && kill "$ddlgate_pid" 2>/dev/null && wait "$ddlgate_pid" 2>/dev/null
  [ -n "$enforce_pid" ] && kill "$enforce_pid" 2>/dev/null && wait "$enforce_pid" 2>/dev/null
  [ -f "$work/pgbouncer.pid" ] && kill "$(cat "$work/pgbouncer.pid")" 2>/dev/null
  pg_stop "$pgdata"
  # PgBouncer removes its pid file on exit; give it a moment.
  for _ in 1 2 3 4 5 6 7 8 9 10; do [ -f "$work/pgbouncer.pid" ] || break; sleep 0.1; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pg_port="$(free_port)"
give_to_server_user "$work"
echo "bench: PostgreSQL 15 in $pgdata on 127.0.0.1:$pg_port" >&2
# With --tls: one self-signed certificate for the three servers (all run as the
# server's user, who must own the key), and every client leg with sslmode=require.
tls_conf=()
sslmode=disable
if [ "$tls" = 1 ]; then
  self_signed_cert "$work/tls" || exit 1
  tls_conf=("ssl = on" "ssl_cert_file = '$work/tls/server.crt'" "ssl_key_file = '$work/tls/server.key'")
  sslmode=require
fi
pg_init "$pgdata" "$pg_port" "$work" "max_connections = 200" "shared_buffers = 256MB" "${tls_conf[@]}"
pg_start "$pgdata" "$work/postgres.log"
"$PGBIN/pgbench" -h 127.0.0.1 -p "$pg_port" -U postgres -i -q -s "$scale" postgres >"$work/init.log" 2>&1 \
  || { cat "$work/init.log" >&2; exit 1; }

# PgBouncer 1.18, session pooling, trust (it refuses to run as root).
bouncer_port="$(free_port)"
write_pgbouncer_ini "$work" "$pg_port" "$bouncer_port" 150
if [ "$tls" = 1 ]; then
  printf 'client_tls_sslmode = require\nclient_tls_cert_file = %s\nclient_tls_key_file = %s\n' \
    "$work/tls/server.crt" "$work/tls/server.key" >>"$work/pgbouncer.ini"
fi
as_server_user /usr/sbin/pgbouncer -q -d "$work/pgbouncer.ini"
wait_for_file "$work/pgbouncer.pid" 10 || { echo "pgbench.sh: PgBouncer did not start" >&2; cat "$work/pgbouncer.log" >&2; exit 1; }

targets="direct pgbouncer"
ddlgate_note="not measured: $ddlgate has no \`serve\` subcommand yet"
# ddlgate's [tls] table (empty without --tls), for both ddlgate processes.
ddlgate_tls=""
[ "$tls" = 1 ] && ddlgate_tls="[tls]
mode = \"require\"
cert_file = \"$work/tls/server.crt\"
key_file = \"$work/tls/server.key\"
"
[ -z "$workers" ] || [[ "$workers" =~ ^[0-9]+$ ]] || { echo "pgbench.sh: --workers takes a number" >&2; exit 2; }
[ -z "$workers" ] || ddlgate_tls="[server]
workers = $workers
$ddlgate_tls"
printf '%s' "$ddlgate_tls" >"$work/ddlgate.toml"
if ddlgate_has_serve "$ddlgate"; then
  "$ddlgate" serve --config "$work/ddlgate.toml" --listen 127.0.0.1:0 --upstream "127.0.0.1:$pg_port" --ready-file "$work/ddlgate.ready" \
    2>"$work/ddlgate.log" &
  ddlgate_pid=$!
  if wait_for_file "$work/ddlgate.ready" 10 "$ddlgate_pid"; then
    ddlgate_port="$(head -1 "$work/ddlgate.ready" | sed 's/.*://')"
    targets="direct pgbouncer ddlgate"
    ddlgate_note="$("$ddlgate" --version 2>/dev/null || echo ddlgate), listening on 127.0.0.1:$ddlgate_port"
  else
    ddlgate_note="not measured: ddlgate did not become ready (log: $(tail -3 "$work/ddlgate.log" | tr '\n' ' '))"
    ddlgate_pid=""
  fi
fi

# A second ddlgate with enforcement on: every Query and Parse classified (the
# per-worker statement cache), a ledger with signed checkpoints, an empty bundle
# registry. pgbench sends no controlled statement, so nothing is denied or
# ledgered: this measures what enforcement costs ordinary traffic.
if [ -n "$ddlgate_pid" ]; then
  mkdir -p "$work/enforce/bundles"
  "$ddlgate" keygen --out "$work/enforce/ledger" >/dev/null
  "$ddlgate" keygen --out "$work/enforce/registry" >/dev/null
  cat >"$work/enforce/ddlgate.toml" <<TOML
${ddlgate_tls}[enforcement]
mode = "enforce"
superusers = ["postgres"]
record_all_statements = $record_all
[ledger]
directory = "$work/enforce/ledger-dir"
checkpoint_key_file = "$work/enforce/ledger.key"
[bundles]
registry_dir = "$work/enforce/bundles"
environment = "bench"
[bundles.trust.roles.registry]
threshold = 1
keys = ["$work/enforce/registry.pub"]
TOML
  "$ddlgate" serve --config "$work/enforce/ddlgate.toml" --listen 127.0.0.1:0 --upstream "127.0.0.1:$pg_port" \
    --ready-file "$work/enforce.ready" 2>"$work/enforce.log" &
  enforce_pid=$!
  if wait_for_file "$work/enforce.ready" 10 "$enforce_pid"; then
    enforce_port="$(head -1 "$work/enforce.ready" | sed 's/.*://')"
    targets="$targets enforce"
  else
    echo "pgbench.sh: ddlgate with enforcement did not start: $(tail -3 "$work/enforce.log")" >&2
    enforce_pid=""
  fi
fi

port_of() {
  case "$1" in
    direct) echo "$pg_port" ;;
    pgbouncer) echo "$bouncer_port" ;;
    ddlgate) echo "$ddlgate_port" ;;
    enforce) echo "$enforce_port" ;;
  esac
}

# steady_state WARMUP LOGFILE... -> "tps latency_ms" over the whole seconds after
# the first WARMUP of each per-thread aggregate log (lines: interval_start
# transactions latency_sum_us ...). A thread's first interval holds the warm-up's
# start and its last the run's end, partial both: the window is [first + WARMUP,
# last). Threads' TPS add up; the latency is the mean over all their transactions.
steady_state() {
  local w="$1"
  shift
  awk -v w="$w" '
    FNR == 1 { f++ }
    { start[f, FNR] = $1; tx[f, FNR] = $2; lat[f, FNR] = $3; lines[f] = FNR
      if (FNR == 1 || $1 < first[f]) first[f] = $1
      if (FNR == 1 || $1 > last[f]) last[f] = $1 }
    END {
      tps = 0; n = 0; sum = 0
      for (i = 1; i <= f; i++) {
        secs = last[i] - (first[i] + w)
        if (secs <= 0) { print "- -"; exit }
        t = 0
        for (j = 1; j <= lines[i]; j++) {
          if (start[i, j] >= first[i] + w && start[i, j] < last[i]) { t += tx[i, j]; sum += lat[i, j] }
        }
        tps += t / secs; n += t
      }
      if (f == 0 || n == 0) print "- -"; else printf "%.1f %.3f\n", tps, sum / n / 1000
    }' "$@"
}

# run_one TARGET PROTOCOL CLIENTS -> "tps latency_ms whole_run_tps" (the first two
# over the steady state with --warmup, else the same as the whole run)
run_one() {
  local port jobs log args=() run_for="$duration"
  port="$(port_of "$1")"
  jobs=$(($3 < 2 ? $3 : 2))
  [ "$script" = "select" ] && args+=(-S)
  log="$work/pgbench-$1-$2-$3.log"
  local prefix="$work/agg-$1-$2-$3"
  rm -f "$prefix".*
  if [ "$warmup" -gt 0 ]; then
    run_for=$((warmup + duration + 1))
    args+=(-l --aggregate-interval=1 --log-prefix="$prefix")
  fi
  if ! PGSSLMODE="$sslmode" "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n "${args[@]}" -M "$2" -c "$3" -j "$jobs" \
      -T "$run_for" postgres >"$log" 2>&1; then
    echo "pgbench.sh: pgbench against $1 failed:" >&2
    tail -5 "$log" >&2
    echo "- - -"
    return
  fi
  local tps lat
  tps="$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$log" | head -1)"
  lat="$(sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' "$log" | head -1)"
  if [ "$warmup" -gt 0 ]; then
    local steady
    steady="$(steady_state "$warmup" "$prefix".*)"
    echo "$steady ${tps:--}"
  else
    echo "${tps:--} ${lat:--} ${tps:--}"
  fi
}

[[ "$repeat" =~ ^[1-9][0-9]*$ ]] || { echo "pgbench.sh: --repeat wants a positive number" >&2; exit 2; }
[[ "$warmup" =~ ^[0-9]+$ ]] || { echo "pgbench.sh: --warmup wants a number of seconds" >&2; exit 2; }
[[ "$duration" =~ ^[1-9][0-9]*$ ]] || { echo "pgbench.sh: -T wants a positive number of seconds" >&2; exit 2; }

# median: of the numbers on standard input, one per line ("-" for none).
median() {
  grep -E '^[0-9.]+$' | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

declare -A tps lat whole all_tps all_lat all_whole
read -r -a target_list <<<"$targets"
for proto in $protocols; do
  for c in $clients_list; do
    for ((round = 0; round < repeat; round++)); do
      # A rotating order, so that no target always runs first (or right after another).
      for ((i = 0; i < ${#target_list[@]}; i++)); do
        t="${target_list[$(((i + round) % ${#target_list[@]}))]}"
        echo "bench: $t, -M $proto, $c client(s), ${duration}s$([ "$warmup" -gt 0 ] && echo " after ${warmup}s of warm-up") (run $((round + 1)) of $repeat)" >&2
        read -r one_tps one_lat one_whole < <(run_one "$t" "$proto" "$c")
        all_tps["$t/$proto/$c"]+="$one_tps"$'\n'
        all_lat["$t/$proto/$c"]+="$one_lat"$'\n'
        all_whole["$t/$proto/$c"]+="$one_whole"$'\n'
      done
    done
    for t in $targets; do
      tps["$t/$proto/$c"]="$(printf '%s' "${all_tps["$t/$proto/$c"]}" | median)"
      lat["$t/$proto/$c"]="$(printf '%s' "${all_lat["$t/$proto/$c"]}" | median)"
      whole["$t/$proto/$c"]="$(printf '%s' "${all_whole["$t/$proto/$c"]}" | median)"
    done
  done
done

fmt_tps() { [ "$1" = "-" ] || [ -z "$1" ] && echo "–" || printf '%.0f' "$1"; }
fmt_lat() { [ "$1" = "-" ] || [ -z "$1" ] && echo "–" || printf '%.3f' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b == 0) print "–"; else printf "%.2f", a / b }'; }
added() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-") print "–"; else printf "%+.3f", a - b }'; }

report() {
  echo "## pgbench: direct vs PgBouncer (session) vs ddlgate"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- host: $(nproc) CPU(s), $(lscpu 2>/dev/null | sed -nE 's/^Model name:[[:space:]]+//p' | head -1), kernel $(uname -r)"
  echo "- PostgreSQL: $("$PGBIN/postgres" --version | sed 's/^postgres (PostgreSQL) //'), PgBouncer: $(/usr/sbin/pgbouncer --version | head -1 | sed 's/^PgBouncer //')"
  echo "- ddlgate: $ddlgate_note"
  echo "- workload: pgbench $([ "$script" = select ] && echo '-S (select only)' || echo 'TPC-B-like (default script)'), scale $scale, ${duration} s per run$([ "$warmup" -gt 0 ] && echo " (measured, after ${warmup} s of warm-up)"), -j min(2, clients), all on one host over 127.0.0.1"
  if [ "$tls" = 1 ]; then
    echo "- TLS on every client leg (sslmode=require, self-signed RSA 2048, $(openssl version | cut -d' ' -f1-2)); the proxies reach PostgreSQL in plaintext"
  else
    echo "- no TLS (sslmode=disable)"
  fi
  if [ "$warmup" -gt 0 ]; then
    echo "- steady state: each run lasts $((warmup + duration + 1)) s; TPS and latency count only the whole seconds after the first $warmup s (pgbench --aggregate-interval=1), for every target alike; the last column is ddlgate/PgBouncer over the whole run, warm-up included"
  fi
  echo "- latency: pgbench's average, ms; added = proxy minus direct"
  [ "$repeat" -gt 1 ] && echo "- each cell: the median of $repeat runs, the targets in a rotating order"
  local every=""
  [ "$record_all" = true ] && every=", recording every statement (enforcement.record_all_statements)"
  echo "- ddlgate: transparent (no [enforcement]); enforce: the same binary with enforcement, a ledger and an empty registry$every"
  [ -z "$workers" ] || echo "- both ddlgates: server.workers = $workers (default: one per core)"
  echo
  local head="| protocol | clients | direct TPS | direct ms | PgBouncer TPS | PgBouncer ms | ddlgate TPS | ddlgate ms | enforce TPS | enforce ms | ddlgate/PgBouncer TPS | enforce/PgBouncer TPS | enforce/ddlgate TPS | PgBouncer added ms | ddlgate added ms |"
  local rule="|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  if [ "$warmup" -gt 0 ]; then
    head+=" ddlgate/PgBouncer TPS, whole run |"
    rule+="---:|"
  fi
  echo "$head"
  echo "$rule"
  for proto in $protocols; do
    for c in $clients_list; do
      local d="direct/$proto/$c" b="pgbouncer/$proto/$c" g="ddlgate/$proto/$c" e="enforce/$proto/$c"
      echo "| $proto | $c | $(fmt_tps "${tps[$d]:-}") | $(fmt_lat "${lat[$d]:-}") | $(fmt_tps "${tps[$b]:-}") | $(fmt_lat "${lat[$b]:-}") | $(fmt_tps "${tps[$g]:-}") | $(fmt_lat "${lat[$g]:-}") | $(fmt_tps "${tps[$e]:-}") | $(fmt_lat "${lat[$e]:-}") | $(ratio "${tps[$g]:-}" "${tps[$b]:-}") | $(ratio "${tps[$e]:-}" "${tps[$b]:-}") | $(ratio "${tps[$e]:-}" "${tps[$g]:-}") | $(added "${lat[$b]:-}" "${lat[$d]:-}") | $(added "${lat[$g]:-}" "${lat[$d]:-}") |$([ "$warmup" -gt 0 ] && echo " $(ratio "${whole[$g]:-}" "${whole[$b]:-}") |")"
    done
  done
}

if [ -n "$out" ]; then
  report | tee "$out"
else
  report
fi

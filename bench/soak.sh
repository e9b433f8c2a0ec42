#!/usr/bin/env bash
# Soak: an enforcing ddlgate (ledger, signed bundle, admin listener), preferably
# the AddressSanitizer + UBSan build, under a random mix of client actions from
# bench/soak.py for a while (default 10 minutes), with SIGHUP reloads every 5 s.
# Not part of CI. Afterwards it checks that:
#   - every client action got the answer it should (soak.py checks each one);
#   - no session is left behind once the clients have gone (/metrics);
#   - ddlgate exits 0 on SIGTERM, and the sanitizers said nothing;
#   - the ledger verifies, every refusal a client saw is a `denied` record, every
#     statement run under the break-glass token is a `break_glass` decision, and
#     none of the refused tables exists in PostgreSQL.
# Starts its own throwaway PostgreSQL 15; cleans up on exit (--keep keeps the
# work directory). Exit status 0 when every check passed, 1 otherwise.
#
# Usage: bench/soak.sh [--duration SECONDS] [--clients N] [--seed N] [--ddlgate PATH] [--keep]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/lib/pg.sh
source "$root/scripts/lib/pg.sh"
# shellcheck source=scripts/lib/bundle.sh
source "$root/scripts/lib/bundle.sh"

duration=600
clients=16
seed="$(date +%s)"
ddlgate=""
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift ;;
    --clients) clients="$2"; shift ;;
    --seed) seed="$2"; shift ;;
    --ddlgate) ddlgate="$2"; shift ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$ddlgate" ]; then
  ddlgate="$root/build-asan/cli/ddlgate"
  [ -x "$ddlgate" ] || ddlgate="$root/build/cli/ddlgate"
fi
[ -x "$ddlgate" ] || { echo "soak.sh: no ddlgate binary at $ddlgate (build first: scripts/test.sh builds both)" >&2; exit 2; }
py=/usr/bin/python3  # Debian's, with python3-psycopg

work="$(mktemp -d /tmp/ddlgate-soak-XXXXXX)"
chmod 755 "$work"
pgdata="$work/pgdata"
ddlgate_pid=""
passed=0
cleanup() {
  set +e
  if [ -n "$ddlgate_pid" ] && kill -0 "$ddlgate_pid" 2>/dev/null; then kill -KILL "$ddlgate_pid"; wait "$ddlgate_pid"; fi
  pg_stop "$pgdata"
  # Kept when asked, and after any failure (also an early one): the logs say what happened.
  if [ "$keep" = 1 ] || [ "$passed" != 1 ]; then echo "soak: work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "soak: $*" >&2; }
problems=()

pg_port="$(free_port)"
give_to_server_user "$work"
pg_init "$pgdata" "$pg_port" "$work" "max_connections = $((clients * 3 + 50))"
pg_start "$pgdata" "$work/postgres.log"
# For the fuzz corpus texts: a role without privileges, in a database of its own.
"$PGBIN/psql" -X -q "host=127.0.0.1 port=$pg_port user=postgres dbname=postgres" \
  -c "create role soak_hostile login" -c "create database soak_hostile"

# Trust material and a signed bundle of the demo migrations, as CI would publish it.
make_keys "$ddlgate" "$work/keys" ledger breakglass
demo_signed_bundle "$ddlgate" "$root" "$work" soak
cat >"$work/ddlgate.toml" <<TOML
[listen]
addresses = ["127.0.0.1:0"]
[upstream]
address = "127.0.0.1:$pg_port"
[admin]
listen = "127.0.0.1:0"
[limits]
# Refusals are paced per user (the clients are all postgres): above this the soak's
# refusals wait their turn, which it then exercises too.
denials_per_second = 50
[enforcement]
mode = "enforce"
superusers = ["postgres"]
record_all_statements = false
[ledger]
directory = "$work/ledger"
checkpoint_key_file = "$work/keys/ledger.key"
checkpoint_every_records = 1000
checkpoint_interval_ms = 2000
[bundles]
registry_dir = "$work/bundles"
environment = "soak"
trust_file = "$work/trust.toml"
[break_glass]
keys = ["$work/keys/breakglass.pub"]
max_lifetime = "24h"
TOML
# A multi-use break-glass token for the whole run: the clients open sessions with it.
token="$("$ddlgate" breakglass issue --key "$work/keys/breakglass.key" --user postgres --database postgres \
  --environment soak --lifetime "$((duration / 60 + 30))m" --reason "soak test" --ticket SOAK-1)"

export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
"$ddlgate" serve --config "$work/ddlgate.toml" --ready-file "$work/ready" 2>"$work/ddlgate.log" &
ddlgate_pid=$!
wait_for_file "$work/ready" 30 "$ddlgate_pid" || { tail -20 "$work/ddlgate.log" >&2; exit 1; }
port="$(head -1 "$work/ready" | sed 's/.*://')"
admin="$(grep '^http://' "$work/ready")"
say "ddlgate $ddlgate (pid $ddlgate_pid) on 127.0.0.1:$port, admin $admin; PostgreSQL on 127.0.0.1:$pg_port"

# The approved migrations, applied through ddlgate.
sed -n '/migrate:up/,/migrate:down/p' "$root"/docs/demo/migrations/*.sql | grep -v '^-- migrate' >"$work/up.sql"
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$port user=postgres dbname=postgres" -f "$work/up.sql"

say "$clients clients for $duration s (seed $seed)"
started=$(date +%s)
"$py" "$root/bench/soak.py" --port "$port" --admin "$admin" --pid "$ddlgate_pid" --config "$work/ddlgate.toml" \
  --clients "$clients" --duration "$duration" --seed "$seed" --break-glass-token-file <(printf '%s' "$token") \
  --corpus "$root/tests/fuzz/corpus/fuzz_classifier" \
  >"$work/clients.json" || problems+=("soak.py failed")
ended=$(date +%s)

status=0
if kill -TERM "$ddlgate_pid" 2>/dev/null; then
  wait "$ddlgate_pid" || status=$?
  [ "$status" = 0 ] || problems+=("ddlgate exited with status $status on SIGTERM")
else
  wait "$ddlgate_pid" || status=$?
  problems+=("ddlgate was gone before the end of the run (exit status $status)")
fi
ddlgate_pid=""
if grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$work/ddlgate.log"; then
  problems+=("sanitizer report in the log (below)")
  grep -E -A30 "AddressSanitizer|LeakSanitizer|runtime error:" "$work/ddlgate.log" | head -60 >&2
fi

"$ddlgate" ledger verify "$work/ledger" --pubkey "$work/keys/ledger.pub" >"$work/verify.txt" 2>&1 ||
  problems+=("ledger verify failed: $(tail -1 "$work/verify.txt")")
"$ddlgate" ledger export "$work/ledger" --format jsonl --out "$work/ledger.jsonl" >/dev/null 2>&1 ||
  problems+=("ledger export failed")
tables="$("$PGBIN/psql" -X -At "host=127.0.0.1 port=$pg_port user=postgres dbname=postgres" \
  -c "select string_agg(relname, ',') from pg_class where relname like 'soak\_%'")"
[ -z "$tables" ] || problems+=("refused tables exist in PostgreSQL: ${tables:0:200}")

# The clients' view against the ledger's.
if ! "$py" - "$work/clients.json" "$work/ledger.jsonl" >"$work/summary.txt" <<'PY'; then problems+=("$(tail -3 "$work/summary.txt")"); fi
import json, sys
clients = json.load(open(sys.argv[1]))
denied, allowed, kinds, glass = set(), set(), {}, set()
runs = 0  # session_statement records of a later run of a prepared statement (at its Execute)
for line in open(sys.argv[2]):
    entry = json.loads(line)
    if entry.get("kind") != "record":
        continue
    r = json.loads(entry["payload"])
    kinds[r["type"]] = kinds.get(r["type"], 0) + 1
    f = r.get("fields", {})
    if r["type"] == "session_statement" and "execution" in f:
        runs += 1
    if r["type"] == "decision":
        sql = f.get("display_sql", "")
        for word in sql.replace('"', " ").replace("(", " ").split():
            if word.startswith("soak_"):
                (denied if f.get("decision") == "denied" else allowed).add(word)
            if word.startswith("glass_") and f.get("decision") == "break_glass":
                glass.add(word)
missing = [t for t in clients["denied_tables"] if t not in denied]
unrecorded = [t for t in clients["break_glass_tables"] if t not in glass]
print("actions:", json.dumps(clients["actions"], sort_keys=True))
print("ledger records by type:", json.dumps(kinds, sort_keys=True))
print("later runs of prepared statements recorded at their Execute:", runs)
print(f"refusals seen by clients: {len(clients['denied_tables'])}, in the ledger as denied: "
      f"{len(clients['denied_tables']) - len(missing)}")
for f in clients["failures"][:20]:
    print("client failure:", f)
ok = True
if clients["failures"]:
    print(f"{len(clients['failures'])} client failure(s)"); ok = False
if missing:
    print(f"{len(missing)} refusal(s) a client saw are not in the ledger, e.g. {missing[:5]}"); ok = False
print(f"tables created under break-glass: {len(clients['break_glass_tables'])}, recorded as break_glass: "
      f"{len(clients['break_glass_tables']) - len(unrecorded)}")
if unrecorded:
    print(f"{len(unrecorded)} break-glass statement(s) not in the ledger, e.g. {unrecorded[:5]}"); ok = False
if allowed:
    print(f"soak_ statements recorded as other than denied: {sorted(allowed)[:5]}"); ok = False
sys.exit(0 if ok else 1)
PY
cat "$work/summary.txt"
echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), $((ended - started)) s, $clients clients, seed $seed, $(basename "$(dirname "$(dirname "$ddlgate")")")/cli/ddlgate"
if [ ${#problems[@]} -eq 0 ]; then
  echo "soak: every check passed"
  passed=1
  exit 0
fi
for p in "${problems[@]}"; do echo "soak: FAILED: $p"; done
exit 1

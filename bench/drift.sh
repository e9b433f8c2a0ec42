#!/usr/bin/env bash
# What `ddlgate drift` costs on a schema of N tables (issue 25: "under 5 s for 500 tables").
# Starts a PostgreSQL 15 of its own (initdb in a temporary directory, as postgres when run as
# root), signs one dbmate bundle whose migration makes N tables (five columns, a primary key, a
# check, an index, a comment) and N views and N functions, applies it to the "production"
# database with psql, then times `ddlgate drift` into a fresh scratch database, twice: a clean
# run (exit 0) and one after an out-of-band change (exit 1).
# Usage: bench/drift.sh [N]   (default 500; needs build/cli/ddlgate)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-500}"
ddlgate="$root/build/cli/ddlgate"
bin=/usr/lib/postgresql/15/bin
[ -x "$ddlgate" ] || { echo "drift.sh: $ddlgate is missing (scripts/setup.sh builds it)" >&2; exit 2; }
work="$(mktemp -d /tmp/ddlgate-drift-XXXXXX)"
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); chown postgres "$work"; fi
port=$((20000 + RANDOM % 20000))
cleanup() { "${as_pg[@]}" "$bin/pg_ctl" -D "$work/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
"${as_pg[@]}" "$bin/initdb" -D "$work/data" -U postgres -A trust >/dev/null
"${as_pg[@]}" "$bin/pg_ctl" -D "$work/data" -l "$work/log" -w \
  -o "-p $port -k $work -c listen_addresses=''" start >/dev/null
psql=("$bin/psql" -X -q -h "$work" -p "$port" -U postgres -v ON_ERROR_STOP=1)
"${psql[@]}" -d postgres -c "CREATE DATABASE prod" -c "CREATE ROLE reporting"
mkdir -p "$work/m" "$work/registry"
{
  echo "-- migrate:up"
  for ((i = 0; i < n; i++)); do
    echo "CREATE TABLE t$i (id bigint PRIMARY KEY, a text NOT NULL DEFAULT 'x', b int CHECK (b > 0), c timestamptz DEFAULT now(), d numeric(10,2));"
    echo "CREATE INDEX t${i}_a ON t$i (a);"
    echo "COMMENT ON TABLE t$i IS 'table $i';"
    echo "GRANT SELECT ON t$i TO reporting;"
    echo "CREATE VIEW v$i AS SELECT id, a FROM t$i;"
    echo "CREATE FUNCTION f$i(x int) RETURNS int LANGUAGE sql AS \$\$ select x + $i \$\$;"
  done
} >"$work/m/001_schema.sql"
"$ddlgate" keygen --out "$work/registry-key" >/dev/null
"$ddlgate" keygen --out "$work/approver-key" >/dev/null
printf '[roles.registry]\nthreshold = 1\nkeys = ["registry-key.pub"]\n[roles.approver]\nthreshold = 1\nkeys = ["approver-key.pub"]\n' >"$work/trust.toml"
"$ddlgate" bundle build "$work/m" --tool dbmate --out "$work/registry/app-v1" --app app --version 1 \
  --environment prod --database prod >/dev/null
"$ddlgate" bundle sign "$work/registry/app-v1" --key "$work/registry-key.key" --role registry >/dev/null
"$ddlgate" bundle sign "$work/registry/app-v1" --key "$work/approver-key.key" --role approver >/dev/null
sed -n '/migrate:up/,$p' "$work/m/001_schema.sql" | "${psql[@]}" -d prod -f -
"${psql[@]}" -d prod -c "create table if not exists public.schema_migrations (version varchar primary key)"  # dbmate 2.x
echo "$n tables (+ $n views, $n functions), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo "| run | exit | wall s |"
echo "|---|---:|---:|"
run() {
  local label="$1"
  "${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS scratch" -c "CREATE DATABASE scratch TEMPLATE template0"
  local start end code=0
  start=$(date +%s.%N)
  "$ddlgate" drift --url "host=$work port=$port user=postgres dbname=prod" \
    --scratch-url "host=$work port=$port user=postgres dbname=scratch" --bundles "$work/registry" \
    --trust "$work/trust.toml" --environment prod >"$work/out" 2>&1 || code=$?
  end=$(date +%s.%N)
  printf '| %s | %d | %.2f |\n' "$label" "$code" "$(echo "$end - $start" | bc)"
}
run "clean"
"${psql[@]}" -d prod -c "ALTER TABLE t7 ADD COLUMN sneaky int"
run "one column added out of band"
tail -2 "$work/out"

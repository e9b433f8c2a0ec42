#!/usr/bin/env bash
# What `ddlgate lint` costs on a directory of N statements (issue 28: "under 1 s for 10,000").
# Generates 100 files of N/100 statements each, a migration-like mix: CREATE TABLE with a
# foreign key, CREATE INDEX (plain and CONCURRENTLY), ALTER TABLE ADD COLUMN / ADD CONSTRAINT
# NOT VALID / VALIDATE / SET NOT NULL / ALTER TYPE, COMMENT, GRANT, UPDATE, a PL/pgSQL function
# with dynamic SQL, SET lock_timeout; then times `ddlgate lint DIR` per output format, best of 3.
# Usage: bench/lint.sh [N]   (default 10000; needs build/cli/ddlgate, or DDLGATE=path)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-10000}"
ddlgate="${DDLGATE:-$root/build/cli/ddlgate}"
[ -x "$ddlgate" ] || { echo "lint.sh: $ddlgate is missing (scripts/setup.sh builds it)" >&2; exit 2; }
work="$(mktemp -d /tmp/ddlgate-lint-bench-XXXXXX)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
per_file=$((n / 100))
for ((f = 0; f < 100; f++)); do
  {
    echo "SET lock_timeout = '2s';"
    k=1
    i=0
    while ((k < per_file)); do
      t="t${f}_$i"
      case $((i % 12)) in
        0) echo "CREATE TABLE $t (id bigint PRIMARY KEY, owner bigint REFERENCES users (id), name varchar(80), created_at timestamptz DEFAULT now());" ;;
        1) echo "CREATE INDEX ${t}_idx ON existing_$f (col_$i);" ;;
        2) echo "CREATE INDEX CONCURRENTLY ${t}_c ON existing_$f (lower(col_$i));" ;;
        3) echo "ALTER TABLE existing_$f ADD COLUMN c_$i text NOT NULL DEFAULT '';" ;;
        4) echo "ALTER TABLE existing_$f ADD CONSTRAINT fk_$i FOREIGN KEY (c_$i) REFERENCES other_$f (id) NOT VALID;" ;;
        5) echo "ALTER TABLE existing_$f VALIDATE CONSTRAINT fk_$i;" ;;
        6) echo "ALTER TABLE existing_$f ALTER COLUMN c_$i SET NOT NULL, ALTER COLUMN d_$i TYPE bigint;" ;;
        7) echo "COMMENT ON COLUMN existing_$f.c_$i IS 'column $i of file $f';" ;;
        8) echo "GRANT SELECT, UPDATE ON existing_$f TO app_rw;" ;;
        9) echo "UPDATE existing_$f SET c_$i = 'x' WHERE id BETWEEN $i AND $((i + 1000));" ;;
        10) printf '%s\n' "CREATE FUNCTION f_${f}_$i(t text) RETURNS void LANGUAGE plpgsql AS \$\$ BEGIN EXECUTE format('ANALYZE %I', t); EXECUTE 'SELECT 1 FROM ' || t; END \$\$;" ;;
        11) echo "DROP TABLE IF EXISTS old_${f}_$i;" ;;
      esac
      k=$((k + 1))
      i=$((i + 1))
    done
  } >"$work/$(printf '%03d' "$f")_migration.sql"
done
count=$(grep -c ';$' "$work"/*.sql | awk -F: '{s += $2} END {print s}')
bytes=$(cat "$work"/*.sql | wc -c)
echo "lint.sh: $count statements in 100 files, $bytes bytes"
# Wall time depends on the machine's load; CPU time (user + system) much less: both are printed.
for format in text json sarif; do
  best=""
  cpu=""
  for run in 1 2 3; do
    /usr/bin/time -f "%e %U %S" -o "$work.time" "$ddlgate" lint "$work" --format "$format" >"$work.out" || [ $? -eq 1 ]
    read -r wall user sys < <(tail -n 1 "$work.time")  # after "Command exited with non-zero status 1"
    if [ -z "$best" ] || [ "$(echo "$wall < $best" | bc)" = 1 ]; then best=$wall; cpu=$(echo "$user + $sys" | bc); fi
  done
  lines=$(grep -c '' "$work.out")
  printf 'lint.sh: --format %-5s best of 3: %.2f s wall, %.2f s CPU (%s lines of output)\n' "$format" "$best" "$cpu" "$lines"
done
rm -f "$work.out" "$work.time"

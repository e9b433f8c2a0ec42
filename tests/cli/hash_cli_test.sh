#!/usr/bin/env bash
# `ddlgate hash` end to end: output forms, stdin and file input, exit codes.
# Usage: hash_cli_test.sh PATH_TO_DDLGATE
set -uo pipefail
bin="$1"
fail=0
check() {  # check NAME WANT_RC REGEX -- command...
  local name="$1" want_rc="$2" regex="$3"
  shift 4
  local out rc
  out="$("$@" 2>&1)"
  rc=$?
  if [[ $rc -ne $want_rc ]]; then echo "FAIL $name: exit $rc, want $want_rc: $out"; fail=1; return; fi
  if ! grep -Eq -- "$regex" <<<"$out"; then echo "FAIL $name: output does not match /$regex/: $out"; fail=1; return; fi
  echo "ok   $name"
}
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

check json 0 '"hash": "sha256:aa0e040ee27e65a2e471d555b2b6db8cd2ec7fb80e01c38d57b36ac503d443dc"' -- \
  "$bin" hash --json "DROP TABLE events_2023"
check json_fields 0 '"class": "schema_change".*"controlled": true' -- \
  bash -c "'$bin' hash --json 'DROP TABLE t' | tr -d '\n'"
check text 0 'statement 2: schema_change, controlled' -- "$bin" hash "SELECT 1; CREATE TABLE t (a int)"
check text_read 0 'statement 1: read, not controlled' -- "$bin" hash "SELECT 1"
check redacted 0 "PASSWORD '\*\*\*\*\*\*\*\*'" -- "$bin" hash "ALTER ROLE bob PASSWORD 'hunter2'"
check no_secret 0 '^0$' -- bash -c "'$bin' hash --json \"ALTER ROLE bob PASSWORD 'hunter2'\" | grep -c hunter2 || true"
check stdin 0 '"sql": "CREATE INDEX i ON t USING btree \(a\)"' -- bash -c "echo 'create index i on t (a);' | '$bin' hash --json -"
printf 'BEGIN;\nCREATE TABLE t (a int);\nCOMMIT;\n' >"$tmp/m.sql"
check file 0 'statement 3: transaction, not controlled' -- "$bin" hash -f "$tmp/m.sql"
check file_stdin 0 'statement 1: transaction' -- bash -c "'$bin' hash -f - <'$tmp/m.sql'"
check parse_error 1 'ddlgate hash: syntax error at or near "TABL" at position 8' -- "$bin" hash "CREATE TABL t"
check no_input 2 'give the SQL' -- "$bin" hash
check both_inputs 2 'excludes' -- "$bin" hash "SELECT 1" -f "$tmp/m.sql"
check missing_file 2 'cannot open' -- "$bin" hash -f "$tmp/nope.sql"
exit $fail

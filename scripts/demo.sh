#!/usr/bin/env bash
# The demo: builds ddlgate (scripts/setup.sh), starts a throwaway local
# PostgreSQL 15 in .demo/pgdata (trust authentication, loopback and its socket
# only; as the `postgres` user when run as root), signs the example migrations
# of docs/demo/migrations with demo keys, and runs
#   build/cli/ddlgate serve --config .demo/ddlgate.toml
# (enforce mode, ledger in .demo/ledger, listening on 127.0.0.1:6432) in the
# foreground. Ctrl-C stops both. Run it again to reuse .demo/ (or
# --reset to start from an empty one).
#
# Usage: scripts/demo.sh [--no-setup] [--reset] [--port 6432] [--pg-port 5433]
#
# Layout of .demo/ (ignored by git):
#   pgdata/        the PostgreSQL cluster          postgres.log   its log
#   keys/          demo signing keys (registry, approver, ledger checkpoints)
#   trust.toml     the trust policy     bundles/shop-v1   the signed demo bundle
#   ledger/        the ledger           ddlgate.toml      the configuration
#   ddlgate.log    copy of the proxy's log
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/lib/pg.sh
source "$root/scripts/lib/pg.sh"
# shellcheck source=scripts/lib/bundle.sh
source "$root/scripts/lib/bundle.sh"

run_setup=1
reset=0
proxy_port=6432
pg_port=5433
while [ $# -gt 0 ]; do
  case "$1" in
    --no-setup) run_setup=0 ;;
    --reset) reset=1 ;;
    --port) proxy_port="$2"; shift ;;
    --pg-port) pg_port="$2"; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

demo="$root/.demo"
pgdata="$demo/pgdata"
ddlgate="${DDLGATE:-$root/build/cli/ddlgate}"  # DDLGATE=path overrides the binary
say() { printf '\033[1mdemo:\033[0m %s\n' "$*" >&2; }

# 1. Build (installs missing Debian packages first).
step_setup() {
  if ((run_setup)); then
    say "scripts/setup.sh (packages and build)"
    scripts/setup.sh
  fi
  [ -x "$ddlgate" ] || { echo "demo.sh: $ddlgate is missing; run scripts/setup.sh" >&2; exit 2; }
}

# 2. PostgreSQL 15 in .demo/pgdata, reused across runs.
step_postgres() {
  if ((reset)); then
    pg_stop "$pgdata"
    rm -rf "$demo"
  fi
  mkdir -p "$demo"
  # A cluster left running by an interrupted run is stopped and restarted.
  pg_stop "$pgdata"
  if [ -d "$pgdata" ] && [ "$(cat "$pgdata/PG_VERSION" 2>/dev/null)" != "15" ]; then
    say "$pgdata is not a PostgreSQL 15 cluster: reinitialising it"
    rm -rf "$pgdata"
  fi
  give_to_server_user "$demo"
  if ! as_server_user test -w "$demo"; then
    echo "demo.sh: the postgres user cannot write $demo (is a parent directory private?)" >&2
    exit 2
  fi
  if ! port_is_free "$pg_port"; then
    pg_port="$(free_port)"
  fi
  if [ ! -d "$pgdata" ]; then
    say "initdb $pgdata"
    pg_init "$pgdata" "$pg_port" "$demo"
  fi
  say "PostgreSQL 15 on 127.0.0.1:$pg_port (log: .demo/postgres.log)"
  pg_start "$pgdata" "$demo/postgres.log" "$pg_port"
}

# 3. Trust material for enforcement: demo keys (a registry key, an approver key
#    and the ledger's checkpoint key), a trust policy, and a signed bundle of the
#    example migrations in docs/demo/migrations (dbmate layout), as CI would
#    publish it; then the configuration: enforce mode, ledger in .demo/ledger.
step_trust_material() {
  make_keys "$ddlgate" "$demo/keys" ledger
  demo_signed_bundle "$ddlgate" "$root" "$demo" demo
  cat >"$demo/ddlgate.toml" <<TOML
# The demo's configuration (see docs/configuration.md).
[listen]
addresses = ["127.0.0.1:$proxy_port"]
[upstream]
address = "127.0.0.1:$pg_port"
[enforcement]
mode = "enforce"
# The demo connects as the superuser postgres; proxied roles should not be superusers
# (docs/threat-model.md). A superuser not listed here has every statement decided.
superusers = ["postgres"]
[ledger]
directory = "$demo/ledger"
checkpoint_key_file = "$demo/keys/ledger.key"
checkpoint_every_records = 10
checkpoint_interval_ms = 5000
[bundles]
registry_dir = "$demo/bundles"
environment = "demo"
trust_file = "$demo/trust.toml"
TOML
  say "signed bundle .demo/bundles/shop-v1 (docs/demo/migrations), ledger .demo/ledger, enforce mode"
}

# 4. The proxy, in the foreground.
step_proxy() {
  if ! port_is_free "$proxy_port"; then
    echo "demo.sh: 127.0.0.1:$proxy_port is in use; pick another with --port" >&2
    exit 2
  fi
  if ! ddlgate_has_serve "$ddlgate"; then
    say "this build of ddlgate has no \`serve\` yet; PostgreSQL stays up, connect to it directly:"
    echo
    echo "    psql \"host=127.0.0.1 port=$pg_port user=postgres dbname=postgres\""
    echo
    say "Ctrl-C stops it."
    while :; do
      sleep 3600 &
      sleeper=$!
      wait "$sleeper" || true
    done
  fi
  say "ddlgate on 127.0.0.1:$proxy_port -> PostgreSQL 127.0.0.1:$pg_port. Connect through it with:"
  echo
  echo "    psql \"host=127.0.0.1 port=$proxy_port user=postgres dbname=postgres\""
  echo
  say "Ctrl-C stops ddlgate and PostgreSQL."
  # The proxy's log goes to the terminal and to .demo/ddlgate.log.
  "$ddlgate" serve --config "$demo/ddlgate.toml" \
    2> >(tee "$demo/ddlgate.log" >&2) &
  ddlgate_pid=$!
  wait "$ddlgate_pid" || true
  ddlgate_pid=""
}

ddlgate_pid=""
sleeper=""
cleanup() {
  set +e
  trap - INT TERM
  [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null
  if [ -n "$ddlgate_pid" ]; then
    kill -TERM "$ddlgate_pid" 2>/dev/null
    wait "$ddlgate_pid" 2>/dev/null
  fi
  if [ -f "$pgdata/postmaster.pid" ]; then
    say "stopping PostgreSQL"
    pg_stop "$pgdata"
  fi
}
trap cleanup EXIT
trap 'exit 0' INT
trap 'exit 143' TERM

step_setup
step_postgres
step_trust_material
step_proxy

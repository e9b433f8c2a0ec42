# shellcheck shell=bash
# Shell helpers shared by bench/*.sh and scripts/demo.sh: a throwaway
# PostgreSQL 15 started from /usr/lib/postgresql/15/bin (never from PATH: other
# copies of initdb may be installed), as the `postgres` user when run as root.
# Source it; it defines functions and PGBIN / RUN_AS only.

PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
if [ "$(id -u)" -eq 0 ]; then
  RUN_AS=(/usr/sbin/runuser -u postgres --)
else
  RUN_AS=()
fi

# as_server_user CMD...: runs CMD as the postgres user when root, else as is.
as_server_user() { "${RUN_AS[@]}" "$@"; }

# give_to_server_user PATH...: chown -R to postgres when root.
give_to_server_user() {
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres:postgres "$@"; fi
}

# free_port: a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# pg_init DATADIR PORT SOCKDIR [postgresql.conf line]...: initdb with trust
# authentication on loopback and the socket only (superuser `postgres`).
pg_init() {
  local data="$1" port="$2" sockdir="$3"
  shift 3
  as_server_user "$PGBIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >/dev/null
  {
    echo "# written by scripts/lib/pg.sh"
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$sockdir'"
    for line in "$@"; do echo "$line"; done
  } >>"$data/postgresql.conf"
  cat >"$data/pg_hba.conf" <<HBA
# written by scripts/lib/pg.sh: trust, loopback and the socket only
local all all              trust
host  all all 127.0.0.1/32 trust
host  all all ::1/128      trust
HBA
}

# pg_start DATADIR LOGFILE [PORT]: starts and waits until it accepts
# connections; PORT overrides the one in postgresql.conf.
pg_start() {
  local opts=()
  [ -z "${3:-}" ] || opts=(-o "-p $3")
  as_server_user "$PGBIN/pg_ctl" -D "$1" -l "$2" -w -t 60 "${opts[@]}" start >/dev/null
}

# port_is_free PORT: 0 if nothing listens on 127.0.0.1:PORT.
port_is_free() {
  python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}

# pg_stop DATADIR: fast shutdown if it is running.
pg_stop() {
  if [ -f "$1/postmaster.pid" ]; then
    as_server_user "$PGBIN/pg_ctl" -D "$1" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  fi
}

# wait_for_file FILE SECONDS [PID]: 0 once FILE exists; 1 on timeout or if PID died.
wait_for_file() {
  local file="$1" deadline=$((SECONDS + $2)) pid="${3:-}"
  while [ ! -s "$file" ]; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# ddlgate_has_serve BINARY: 0 if the binary exists and has the serve subcommand.
ddlgate_has_serve() {
  [ -x "$1" ] && "$1" --help 2>/dev/null | grep -qE '^[[:space:]]+serve([[:space:]]|$)'
}

# self_signed_cert DIR: DIR/server.crt and DIR/server.key (RSA 2048, CN 127.0.0.1, one
# day), given to the server's user, who must own a key PostgreSQL or PgBouncer loads.
self_signed_cert() {
  mkdir -p "$1"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
    -keyout "$1/server.key" -out "$1/server.crt" 2>"$1/openssl.log" || { cat "$1/openssl.log" >&2; return 1; }
  chmod 600 "$1/server.key"
  give_to_server_user "$1"
}

# write_pgbouncer_ini DIR PG_PORT LISTEN_PORT MAX_CLIENTS: DIR/pgbouncer.ini
# (PgBouncer 1.18 in session mode, trust, 127.0.0.1:LISTEN_PORT in front of
# 127.0.0.1:PG_PORT, up to MAX_CLIENTS clients and as many server connections,
# logging to DIR/pgbouncer.log, pid in DIR/pgbouncer.pid) and DIR/userlist.txt,
# both given to the server's user (PgBouncer refuses to run as root).
write_pgbouncer_ini() {
  local dir="$1"
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
postgres = host=127.0.0.1 port=$2 dbname=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $3
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = session
max_client_conn = $4
default_pool_size = $4
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
ignore_startup_parameters = extra_float_digits
INI
  echo '"postgres" ""' >"$dir/userlist.txt"
  give_to_server_user "$dir/pgbouncer.ini" "$dir/userlist.txt"
}

#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for the tests and the demo: a private cluster (initdb in a
# folder of its own, listening on a free port on loopback only, run as an unprivileged user),
# never the machine's own cluster.
#
#   scripts/postgres.sh start   installs postgresql-15 if missing, starts the cluster (or finds it
#                               running), and prints its URL: postgresql://ecash@127.0.0.1:PORT/ecash
#   scripts/postgres.sh url     prints the URL of the running cluster (exit 1 when none runs)
#   scripts/postgres.sh stop    stops it and removes its folder
#
# ECASH_PG_DIR names the folder (default /tmp/ecash-postgres): one cluster per folder. Anyone on
# this machine may connect as ecash without a password (trust, loopback only): for tests only.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${ECASH_PG_DIR:-/tmp/ecash-postgres}
bin=/usr/lib/postgresql/15/bin

# initdb and the server refuse to run as root: as root, the cluster belongs to the postgres user
# the Debian package made.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

running() {
  [ -f "$dir/url" ] && as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "${1:-}" in
  start)
    if running; then cat "$dir/url"; exit 0; fi
    [ -x "$bin/initdb" ] || bash scripts/install-deps.sh >&2
    rm -rf "$dir"
    mkdir -p "$dir"
    chmod 0700 "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -U ecash --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    port=$(free_port)
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U ecash ecash
    url="postgresql://ecash@127.0.0.1:$port/ecash"
    as_owner sh -c "echo '$url' > '$dir/url'"
    echo "$url"
    ;;
  url)
    if running; then cat "$dir/url"; else echo "postgres.sh: no cluster runs in $dir" >&2; exit 1; fi
    ;;
  stop)
    if [ -d "$dir/data" ]; then as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac

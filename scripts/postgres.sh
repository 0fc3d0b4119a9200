#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for the tests and the demo: a private cluster (initdb in a
# folder of its own, listening on a free port on loopback only, run as an unprivileged user),
# never the machine's own cluster; and a synchronous standby beside it (docs/deploy.md).
#
#   scripts/postgres.sh start     installs postgresql-15 if missing, starts the cluster (or finds it
#                                 running), and prints its URL: postgresql://ecash@127.0.0.1:PORT/ecash
#   scripts/postgres.sh url       prints the URL of the running cluster (exit 1 when none runs); for
#                                 a pair, the URL of both servers, which finds the one taking writes:
#                                 postgresql://ecash@127.0.0.1:P1,127.0.0.1:P2/ecash?target_session_attrs=read-write
#   scripts/postgres.sh stop      stops it and removes its folder
#   scripts/postgres.sh standby   a streaming standby of the running cluster, in the folder
#                                 ECASH_PG_STANDBY_DIR (default: ECASH_PG_DIR-standby), copied with
#                                 pg_basebackup through a replication slot; from then on every commit
#                                 on the primary waits until the standby has it on disk
#                                 (synchronous_standby_names, synchronous_commit = on). Prints the
#                                 pair's URL. Run again once the standby is back: commits wait again
#   scripts/postgres.sh promote   the standby becomes the primary (pg_ctl promote), refused while the
#                                 primary in ECASH_PG_DIR still runs; it then runs alone
#   scripts/postgres.sh alone     the primary stops waiting for its standby (which died): commits go
#                                 on without a copy, on purpose, until `standby` pairs it again
#   scripts/postgres.sh node-url  prints the URL of the one server in ECASH_PG_DIR, even in a pair
#
# ECASH_PG_DIR names the folder (default /tmp/ecash-postgres): one cluster per folder; for a pair,
# the primary's. After a failover the old primary's folder can hold the new standby:
# ECASH_PG_DIR=<the promoted one's> ECASH_PG_STANDBY_DIR=<the old primary's> postgres.sh standby.
# Anyone on this machine may connect as ecash without a password (trust, loopback only): for tests only.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${ECASH_PG_DIR:-/tmp/ecash-postgres}
standby_dir=${ECASH_PG_STANDBY_DIR:-$dir-standby}
bin=/usr/lib/postgresql/15/bin
# The standby's name (its walreceiver's application_name) and its replication slot's.
standby_name=ecash_standby

# initdb and the server refuse to run as root: as root, the cluster belongs to the postgres user
# the Debian package made.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

running() {  # running [FOLDER]: the cluster in FOLDER (default $dir) runs
  local d=${1:-$dir} postmaster
  [ -f "$d/url" ] && as_owner "$bin/pg_ctl" -D "$d/data" status >/dev/null 2>&1 || return 1
  # A postmaster killed but not yet reaped (a zombie) is dead, whatever pg_ctl says.
  postmaster=$(head -1 "$d/data/postmaster.pid" 2>/dev/null || true)
  [ "$(awk '/^State:/ { print $2 }' "/proc/$postmaster/status" 2>/dev/null || true)" != Z ]
}

free_port() {  # free_port [WANTED]: WANTED when nothing listens on it, else any free port
  # (The server binds with SO_REUSEADDR: connections of a server that died may linger on its port.)
  python3 -c '
import socket, sys
s = socket.socket()
try:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[1])))
except (IndexError, ValueError, OSError):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' "$@"
}

# Stops the cluster in FOLDER, if any, and removes the folder.
remove_cluster() {
  if [ -d "$1/data" ]; then
    as_owner "$bin/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true
    # A server killed outright leaves its shared memory segment behind (postmaster.pid's 7th
    # line: key and id); nothing uses it any more.
    if [ -f "$1/data/postmaster.pid" ]; then
      local shmid
      shmid=$(sed -n 7p "$1/data/postmaster.pid" | awk '{print $2}')
      if [ -n "$shmid" ]; then ipcrm -m "$shmid" 2>/dev/null || true; fi
    fi
  fi
  rm -rf "$1"
}

# A private folder the server's user owns (what was in it removed, a cluster stopped).
new_folder() {
  remove_cluster "$1"
  mkdir -p "$1"
  chmod 0700 "$1"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$1"; fi
}

server_options() {  # server_options FOLDER PORT [MORE]: what pg_ctl -o passes the server
  echo "-c listen_addresses=127.0.0.1 -c port=$2 -c unix_socket_directories=$1 -c max_connections=300 ${3:-}"
}

sql() {  # sql FOLDER STATEMENT...: each statement on the server in FOLDER, values unaligned
  local url
  url=$(cat "$1/url")
  shift
  local args=()
  for statement in "$@"; do args+=(-c "$statement"); done
  "$bin/psql" -X -qAt -v ON_ERROR_STOP=1 "$url" "${args[@]}"
}

port_of() { sed 's/.*:\([0-9]*\)\/.*/\1/' "$1/url"; }

pair_url() {  # pair_url PRIMARY STANDBY
  echo "postgresql://ecash@127.0.0.1:$(port_of "$1"),127.0.0.1:$(port_of "$2")/ecash?target_session_attrs=read-write"
}

in_recovery() { [ "$(sql "$1" "SELECT pg_is_in_recovery()")" = t ]; }

# The primary in $dir waits for the standby at each commit, from the moment this returns.
wait_for_standby() {
  sql "$dir" "ALTER SYSTEM SET synchronous_standby_names = '$standby_name'" \
    "ALTER SYSTEM SET synchronous_commit = 'on'" "SELECT pg_reload_conf()" >/dev/null
  for _ in $(seq 600); do
    [ "$(sql "$dir" "SELECT count(*) FROM pg_stat_replication WHERE application_name = '$standby_name' AND sync_state = 'sync'")" = 1 ] \
      && return 0
    sleep 0.1
  done
  echo "postgres.sh: the standby in $standby_dir did not become synchronous" >&2
  exit 1
}

case "${1:-}" in
  start)
    if running; then cat "$dir/url"; exit 0; fi
    [ -x "$bin/initdb" ] || bash scripts/install-deps.sh >&2
    new_folder "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U ecash --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    port=$(free_port)
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$(server_options "$dir" "$port")" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U ecash ecash
    url="postgresql://ecash@127.0.0.1:$port/ecash"
    as_owner sh -c "echo '$url' > '$dir/url'"
    echo "$url"
    ;;
  url)
    if [ -f "$dir/pair" ] && { running || running "$(cat "$dir/pair_with")"; }; then
      cat "$dir/pair"
    elif running; then
      cat "$dir/url"
    else
      echo "postgres.sh: no cluster runs in $dir" >&2
      exit 1
    fi
    ;;
  node-url)
    if running; then cat "$dir/url"; else echo "postgres.sh: no cluster runs in $dir" >&2; exit 1; fi
    ;;
  standby)
    running || { echo "postgres.sh: no primary runs in $dir (postgres.sh start)" >&2; exit 1; }
    if in_recovery "$dir"; then echo "postgres.sh: $dir holds a standby, not a primary" >&2; exit 1; fi
    if ! running "$standby_dir"; then
      # A slot keeps the WAL the standby has not received yet, however far behind it falls.
      sql "$dir" "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                  WHERE slot_name = '$standby_name' AND NOT active" >/dev/null
      # In the folder of a primary that died, the standby takes its port: the operator's URL,
      # which names both servers, still does after the failover.
      earlier=$( [ -f "$standby_dir/url" ] && port_of "$standby_dir" || true)
      new_folder "$standby_dir"
      as_owner "$bin/pg_basebackup" -h 127.0.0.1 -p "$(port_of "$dir")" -U ecash -D "$standby_dir/data" \
        -R -X stream -C -S "$standby_name" --checkpoint=fast >"$standby_dir/basebackup.log" 2>&1 \
        || { cat "$standby_dir/basebackup.log" >&2; exit 1; }
      # The copy took the primary's settings: a standby promoted later must not wait for a
      # standby of its own that it does not have.
      as_owner sed -i '/^synchronous_standby_names/d' "$standby_dir/data/postgresql.auto.conf"
      port=$(free_port "$earlier")
      as_owner "$bin/pg_ctl" -D "$standby_dir/data" -l "$standby_dir/server.log" -w -t 60 \
        -o "$(server_options "$standby_dir" "$port" "-c cluster_name=$standby_name")" start >/dev/null \
        || { cat "$standby_dir/server.log" >&2; exit 1; }
      as_owner sh -c "echo 'postgresql://ecash@127.0.0.1:$port/ecash' > '$standby_dir/url'"
    fi
    in_recovery "$standby_dir" || { echo "postgres.sh: $standby_dir holds a primary, not a standby" >&2; exit 1; }
    wait_for_standby
    url=$(pair_url "$dir" "$standby_dir")
    as_owner sh -c "echo '$url' > '$dir/pair'; echo '$url' > '$standby_dir/pair'; \
                    echo '$standby_dir' > '$dir/pair_with'; echo '$dir' > '$standby_dir/pair_with'"
    echo "$url"
    ;;
  promote)
    running "$standby_dir" || { echo "postgres.sh: no standby runs in $standby_dir" >&2; exit 1; }
    if running; then
      echo "postgres.sh: the primary in $dir still runs: stop it first, or two servers would take writes" >&2
      exit 1
    fi
    as_owner "$bin/pg_ctl" -D "$standby_dir/data" -w -t 60 promote >/dev/null
    # Alone now: commits do not wait for a standby until one is made (postgres.sh standby).
    sql "$standby_dir" "ALTER SYSTEM RESET synchronous_standby_names" "SELECT pg_reload_conf()" >/dev/null
    cat "$standby_dir/pair"
    ;;
  alone)
    running || { echo "postgres.sh: no primary runs in $dir" >&2; exit 1; }
    sql "$dir" "ALTER SYSTEM SET synchronous_standby_names = ''" "SELECT pg_reload_conf()" >/dev/null
    echo "postgres.sh: the primary in $dir no longer waits for a standby: commits have no copy" >&2
    ;;
  stop)
    remove_cluster "$dir"
    ;;
  *)
    sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac

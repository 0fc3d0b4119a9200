#!/usr/bin/env bash
# A standby that takes over (issue 13), on two PostgreSQL servers of the test's own on loopback
# (scripts/postgres.sh), the operator's stores on the pair's URL (both servers,
# target_session_attrs=read-write):
#   1. the primary dies (kill -9, every process of it) during `ecash bench pay`; the synchronous
#      standby is promoted; the operator finds it and the run goes on. Every payment that was
#      answered, before the kill or after, is in the promoted server's bank.paid_orders, and the
#      operator's audit passes. Prints how many were answered before and after the kill, and how
#      many failed during the switch.
#   2. the standby dies (kill -9) during a run: commits wait (no payment is answered for 5 s, the
#      primary's backends wait on SyncRep) until `postgres.sh alone` lets the primary go on
#      alone; the run then finishes, every answered payment present.
# Skipped (77) without PostgreSQL 15, except in CI.
set -euo pipefail
ecash=$1
root=$(cd "$(dirname "$0")/.." && pwd)
pg="$root/scripts/postgres.sh"
bin=/usr/lib/postgresql/15/bin
if [ ! -x "$bin/postgres" ] && [ -z "${CI:-}" ]; then
  echo "skipped: PostgreSQL 15 is not installed (scripts/install-deps.sh)"
  exit 77
fi

dir=$(mktemp -d)
# The servers' folders: their user (postgres, when run as root) must reach them.
a=/tmp/ecash-pg-failover-$$-a
b=/tmp/ecash-pg-failover-$$-b
bench=
cleanup() {
  # The load generator runs in a process group of its own with its operator and till.
  if [ -n "$bench" ]; then kill -TERM -- "-$bench" 2>/dev/null || true; wait "$bench" 2>/dev/null || true; fi
  ECASH_PG_DIR=$a bash "$pg" stop || true
  ECASH_PG_DIR=$b bash "$pg" stop || true
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "FAILED: $*"
  for log in "$dir"/*.out "$dir"/*/op/*.log "$dir"/*/*.log; do [ -f "$log" ] && { echo "--- $log"; tail -40 "$log"; }; done
  exit 1
}
now_ms() { date +%s%3N; }
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

start_bench() {  # start_bench NAME URL ARGS...: `ecash bench pay` in the background, as $bench
  local name=$1 url=$2
  shift 2
  setsid "$ecash" bench pay --wallets 16 --concurrency 8 --store "$url" --keep "$dir/$name" \
    --answered "$dir/$name.answered" --json "$dir/$name.json" "$@" >"$dir/$name.out" 2>&1 &
  bench=$!
  for _ in $(seq 600); do
    [ "$(lines "$dir/$name.answered")" -gt 0 ] && return 0
    kill -0 "$bench" 2>/dev/null || fail "bench pay ($name) stopped before paying"
    sleep 0.1
  done
  fail "bench pay ($name) paid nothing in 60 s"
}
finish_bench() {  # the run ends by itself (exit 1 when some payments failed), and says so
  local name=$1 status=0
  wait "$bench" || status=$?
  bench=
  [ -s "$dir/$name.json" ] || fail "bench pay ($name) stopped early (exit $status)"
}
kill_server() {  # kill_server FOLDER: the postmaster and every process of it at once, as a crash
  local postmaster children
  postmaster=$(head -1 "$1/data/postmaster.pid")
  children=$(grep -lE "^PPid:[[:space:]]+$postmaster\$" /proc/[0-9]*/status 2>/dev/null | cut -d/ -f3 || true)
  # shellcheck disable=SC2086
  kill -9 "$postmaster" $children
  for _ in $(seq 100); do  # dead, or a zombie not yet reaped
    case "$(awk '/^State:/ { print $2 }' "/proc/$postmaster/status" 2>/dev/null || true)" in "" | Z) return 0 ;; esac
    sleep 0.05
  done
  fail "the server in $1 did not die"
}
all_present() {  # all_present NAME NODE_URL: every answered order ID in bank.paid_orders there
  local missing
  missing=$(cut -f1 "$dir/$1.answered" | python3 -c '
import subprocess, sys
wanted = set(sys.stdin.read().split())
out = subprocess.run(["psql", "-X", "-qAt", sys.argv[1], "-c", "SELECT order_id FROM bank.paid_orders"],
                     check=True, capture_output=True, text=True).stdout
print(len(wanted - set(out.split())))' "$2")
  [ "$missing" = 0 ] || fail "$missing answered payments of $1 are not in $2"
}
ports() {  # ports URL: the servers a URL names, sorted
  sed -E 's|.*@([^/]*)/.*|\1|' <<<"$1" | tr , '\n' | sort | tr '\n' ' '
}
with_database() {  # with_database URL NAME: the URL (of a pair or of one server) naming another database
  sed -E "s|/ecash(\?\|$)|/$2\1|" <<<"$1"
}

# --- 1. The primary dies during a run; the standby is promoted ---
ECASH_PG_DIR=$a bash "$pg" start >/dev/null
pair=$(ECASH_PG_DIR=$a ECASH_PG_STANDBY_DIR=$b bash "$pg" standby)
[[ $pair == postgresql://ecash@127.0.0.1:*,127.0.0.1:*/ecash?target_session_attrs=read-write ]] \
  || fail "postgres.sh standby printed '$pair'"
[ "$(ECASH_PG_DIR=$a bash "$pg" url)" = "$pair" ] || fail "postgres.sh url does not give the pair's URL"
[ "$(psql -X -qAt "$(ECASH_PG_DIR=$a bash "$pg" node-url)" -c "SELECT sync_state FROM pg_stat_replication")" = sync ] \
  || fail "the standby is not synchronous"

# 800 payments at 40 a second: about 20 s. The primary dies 4 s into the payments.
start_bench failover "$pair" --payments 800 --rate 40
sleep 4
killed_at=$(now_ms)
kill_server "$a"
sleep 2  # the time an operator, or a watchdog, takes to decide
ECASH_PG_DIR=$a ECASH_PG_STANDBY_DIR=$b bash "$pg" promote >/dev/null
promoted=$(ECASH_PG_DIR=$b bash "$pg" node-url)
[ "$(psql -X -qAt "$promoted" -c "SELECT pg_is_in_recovery()")" = f ] || fail "the standby was not promoted"
finish_bench failover

all_present failover "$promoted"
read -r before after < <(awk -v t="$killed_at" '{ if ($2 < t) b++; else a++ } END { print b + 0, a + 0 }' \
  "$dir/failover.answered")
failed=$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(r["failed"], r["failed_by_code"])' \
  "$dir/failover.json")
echo "failover: answered before the kill $before, after $after; failed during the switch: $failed"
grep -E "payments/s|books" "$dir/failover.out"
[ "$before" -gt 0 ] || fail "nothing was answered before the kill"
[ "$after" -gt 0 ] || fail "nothing was answered after the promotion: the operator did not find the new primary"
"$ecash" operator audit --data "$dir/failover/op" >"$dir/audit.out" 2>&1 || fail "the audit after the failover failed"
grep "audit passed" "$dir/audit.out"

# --- 2. The standby dies: commits wait until the primary is told to go on alone ---
# The old primary's folder holds the new standby, copied from the promoted server.
# It takes the dead primary's port: the URL the first operator keeps names both servers still.
first_pair=$pair
pair=$(ECASH_PG_DIR=$b ECASH_PG_STANDBY_DIR=$a bash "$pg" standby)
[ "$(ports "$pair")" = "$(ports "$first_pair")" ] || fail "the new pair $pair is not on the ports of $first_pair"
psql -X -q "$promoted" -c "CREATE DATABASE alone"
start_bench standby_dies "$(with_database "$pair" alone)" --payments 300 --rate 30
sleep 1
kill_server "$a"
sleep 1
held=$(lines "$dir/standby_dies.answered")
sleep 5
[ "$(lines "$dir/standby_dies.answered")" = "$held" ] \
  || fail "payments were answered without the standby: commits did not wait"
waiting=$(psql -X -qAt "$promoted" -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")
[ "$waiting" -gt 0 ] || fail "no commit waits for the standby"
echo "standby dead: $held payments answered, none in the next 5 s, $waiting commits waiting for the standby"
ECASH_PG_DIR=$b bash "$pg" alone
finish_bench standby_dies
total=$(lines "$dir/standby_dies.answered")
[ "$total" -gt "$held" ] || fail "nothing was answered after postgres.sh alone"
all_present standby_dies "$(with_database "$promoted" alone)"
echo "after postgres.sh alone: $total answered in all"
grep -E "payments/s|books" "$dir/standby_dies.out"
echo "pg failover test passed"

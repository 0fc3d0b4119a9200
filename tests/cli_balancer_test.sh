#!/usr/bin/env bash
# Behind a load balancer (issue 13): HAProxy (Debian's) in TCP mode with send-proxy-v2 in front
# of the operator's front door, so that mutual TLS reaches the operator and the operator still
# learns each client's address (its per-source limits count clients, not the balancer; net_test's
# ABalancersProxyHeaderNamesTheClient shows the counting). Through the balancer a wallet enrols,
# confirms its card, deposits and reads its balance; straight from the balancer's address, without
# the header, nothing gets through.
source "$(dirname "$0")/cli_lib.sh"
command -v haproxy >/dev/null || fail "haproxy is not installed (scripts/install-deps.sh installs it)"
# HAProxy runs as a daemon (not a child the cleanup would wait for), stopped by its pid file.
on_exit() { [ -s "$dir/haproxy.pid" ] && kill "$(cat "$dir/haproxy.pid")" 2>/dev/null || true; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {  # wait_port PORT: until something listens there
  for _ in $(seq 100); do
    python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1" \
      2>/dev/null && return 0
    sleep 0.1
  done
  fail "nothing listens on $1"
}
alice() { "$ecash" wallet --home "$dir/alice" "$@"; }

front=$(free_port)
lb=$(free_port)
"$ecash" operator init --data "$dir/op" >/dev/null
"$ecash" sandbox card 4111111111111111 --data "$dir/op" >/dev/null
"$ecash" sandbox card 5555555555554444 --data "$dir/op" >/dev/null
"$ecash" operator run --data "$dir/op" --listen "127.0.0.1:$front" --proxy-from 127.0.0.1 \
  >>"$dir/operator.log" 2>&1 &
pid=$!
wait_port "$front"

cat >"$dir/haproxy.cfg" <<CONFIG
global
  maxconn 200
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend devices
  bind 127.0.0.1:$lb
  default_backend centers
backend centers
  server center1 127.0.0.1:$front send-proxy-v2
CONFIG
haproxy -f "$dir/haproxy.cfg" -D -p "$dir/haproxy.pid" >>"$dir/haproxy.log" 2>&1 \
  || fail "haproxy did not start"
wait_port "$lb"

# Through the balancer: every step of a first deposit.
alice init --operator "https://127.0.0.1:$lb" --name Alice --card 4111111111111111 >"$dir/out" \
  || fail "init through the balancer"
confirm_card "$dir/alice" 4111111111111111
alice deposit 12.50 >"$dir/out" || fail "deposit through the balancer"
alice --json balance >"$dir/out"
grep -q '"EUR:12.50"' "$dir/out" || fail "balance through the balancer: $(cat "$dir/out")"

# From the balancer's address without its header: closed before any handshake.
if "$ecash" wallet --home "$dir/bob" init --operator "https://127.0.0.1:$front" --name Bob \
     --card 5555555555554444 >"$dir/out" 2>"$dir/err"; then
  fail "a connection from the balancer without a PROXY header was served"
fi
grep -q "unavailable" "$dir/err" || fail "without the header: $(cat "$dir/err")"
echo "cli.behind_a_load_balancer: passed"

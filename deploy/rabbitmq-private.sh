#!/usr/bin/env bash
# A private RabbitMQ (Debian's rabbitmq-server 3.10) in DIR, on 127.0.0.1
# only, for the local stack, integration tests and people. The same set-up
# as the C++ test fixture (common/testing/rabbitmq_fixture.h): data, logs,
# cookie and plugin list in DIR, free ports for AMQP, Erlang distribution
# and a private epmd; stopped by pid, epmd too.
#
#   deploy/rabbitmq-private.sh start DIR [AMQP_PORT]   # prints: transport_url rabbit://...
#   deploy/rabbitmq-private.sh stop DIR
#   deploy/rabbitmq-private.sh env DIR                 # the variables rabbitmqctl needs
#
# After start, DIR/transport_url holds the URL and DIR/ports the three
# ports; `. <(deploy/rabbitmq-private.sh env DIR); rabbitmqctl -n $RABBITMQ_NODENAME
# list_queues` talks to it.
set -euo pipefail
usage() { echo "usage: $0 start|stop|env DIR [AMQP_PORT]" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
cmd=$1
mkdir -p "$2"
D=$(cd "$2" && pwd)

free_port() {
  /usr/bin/python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(10000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); s.close(); print(p); break
    except OSError:
        s.close()
PY
}

load_ports() {
  if [[ -f $D/ports ]]; then
    read -r AMQP DIST EPMD <"$D/ports"
  else
    AMQP=${1:-$(free_port)}; DIST=$(free_port); EPMD=$(free_port)
    echo "$AMQP $DIST $EPMD" >"$D/ports"
  fi
  export HOME=$D RABBITMQ_MNESIA_BASE=$D/mnesia RABBITMQ_LOG_BASE=$D/log \
    RABBITMQ_NODENAME=vitrage$AMQP@localhost RABBITMQ_NODE_PORT=$AMQP \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_DIST_PORT=$DIST ERL_EPMD_PORT=$EPMD \
    ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_PID_FILE=$D/pid \
    RABBITMQ_ENABLED_PLUGINS_FILE=$D/enabled_plugins RABBITMQ_FEATURE_FLAGS_FILE=$D/feature_flags \
    RABBITMQ_CONFIG_FILE=$D/rabbitmq \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    RUNNING_UNDER_SYSTEMD=true
}

amqp_answers() {
  /usr/bin/python3 - "$1" <<'PY'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
    s.sendall(b"AMQP\x00\x00\x09\x01"); ok = s.recv(1) == b"\x01"
except OSError:
    ok = False
sys.exit(0 if ok else 1)
PY
}

case $cmd in
start)
  load_ports "${3:-}"
  mkdir -p "$D/mnesia" "$D/log"
  echo '[].' >"$D/enabled_plugins"
  printf 'disk_free_limit.absolute = 50MB\n' >"$D/rabbitmq.conf"
  # RUNNING_UNDER_SYSTEMD: the start script execs the VM, so $! is the broker.
  setsid /usr/lib/rabbitmq/bin/rabbitmq-server >>"$D/server.out" 2>&1 </dev/null &
  echo $! >"$D/server.pid"
  for _ in $(seq 1800); do
    amqp_answers "$AMQP" && break
    kill -0 "$(cat "$D/server.pid")" 2>/dev/null || { tail -30 "$D/server.out" >&2; exit 1; }
    sleep 0.1
  done
  amqp_answers "$AMQP" || { echo "rabbitmq did not answer on 127.0.0.1:$AMQP; see $D/log" >&2; exit 1; }
  echo "rabbit://guest:guest@127.0.0.1:$AMQP/" >"$D/transport_url"
  echo "transport_url rabbit://guest:guest@127.0.0.1:$AMQP/"
  ;;
stop)
  [[ -f $D/ports ]] || exit 0
  load_ports
  if [[ -f $D/server.pid ]]; then
    pid=$(cat "$D/server.pid")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$D/server.pid"
  fi
  epmd_pid=$(ss -ltnpH "sport = :$EPMD" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
  if [[ -n ${epmd_pid:-} && $(cat "/proc/$epmd_pid/comm" 2>/dev/null) == epmd ]]; then
    kill "$epmd_pid" 2>/dev/null || true
  fi
  ;;
env)
  load_ports
  env | grep -E '^(HOME|RABBITMQ_|ERL_EPMD)' | sed 's/^/export /; s/=\(.*\)$/="\1"/'
  ;;
*) usage ;;
esac

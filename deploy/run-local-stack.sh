#!/usr/bin/env bash
# The README's "run it" command: installs dependencies, builds, then runs a
# whole local stack in a temp dir:
#   private MariaDB (vitrage-mariadb) -> vitrage-persistor
#   vitrage-collector (embedded default topology) -> vitrage-graph
# and prints where to look. Ctrl-C (or --duration N) stops everything it
# started, by pid.
#
#   deploy/run-local-stack.sh [--duration SECONDS] [--topology FILE]
#                             [--no-persistency] [--keep] [--openstack]
#                             [--templates DIR] [--change-rate N]
#
# --openstack also starts what an OpenStack deployment has around
# vitrage-graph, on 127.0.0.1: a private RabbitMQ (deploy/rabbitmq-private.sh)
# whose URL the graph gets as [DEFAULT] transport_url, and upstream's real
# vitrage-api (Debian's 9.0.0, noauth) on that bus, with a SQLite database
# listing the templates the graph's evaluator loaded
# (deploy/vitrage-api-templates.py). It prints
#   stack: vitrage CLI env: . FILE
# after which `vitrage topology show` (python3-vitrageclient) works.
# --templates DIR: the evaluator's [graph] templates_dir; --change-rate N:
# the collector's change events per second (default 5).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
DURATION=0
TOPOLOGY=""
PERSISTENCY=true
KEEP=0
OPENSTACK=0
TEMPLATES=""
CHANGE_RATE=5
while (($#)); do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --topology) TOPOLOGY=$2; shift 2 ;;
    --no-persistency) PERSISTENCY=false; shift ;;
    --keep) KEEP=1; shift ;;
    --openstack) OPENSTACK=1; shift ;;
    --templates) TEMPLATES=$(cd "$2" && pwd); shift 2 ;;
    --change-rate) CHANGE_RATE=$2; shift 2 ;;
    *) echo "usage: $0 [--duration SECONDS] [--topology FILE] [--no-persistency] [--keep]" \
            "[--openstack] [--templates DIR] [--change-rate N]" >&2; exit 2 ;;
  esac
done

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  BUILD_DIR=$BUILD_DIR bash "$ROOT/deploy/build.sh"
fi

STACK=$(mktemp -d /tmp/vitrage-stack.XXXXXX)
PIDS=()
SLEEP_PID=""
cleanup() {
  echo "stack: stopping"
  if [[ -n $SLEEP_PID ]]; then kill "$SLEEP_PID" 2>/dev/null || true; fi
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do
    kill -TERM "${PIDS[i]}" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "${PIDS[i]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${PIDS[i]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [[ -f $STACK/rabbitmq/transport_url ]]; then
    bash "$ROOT/deploy/rabbitmq-private.sh" stop "$STACK/rabbitmq" >/dev/null 2>&1 || true
  fi
  if [[ $KEEP == 0 ]]; then rm -rf "$STACK"; else echo "stack: kept $STACK"; fi
}
trap cleanup EXIT
trap 'exit 0' INT TERM

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P_PORT=$(free_port); G_PORT=$(free_port); C_PORT=$(free_port)
GM_PORT=$(free_port); CM_PORT=$(free_port)

bin() { echo "$BUILD_DIR/$1"; }
have() { [[ -x $(bin "$1") ]]; }

echo "stack: directory $STACK"
DSV_DIR="$BUILD_DIR/datasources_values"
if ! ls "$DSV_DIR"/*.yaml >/dev/null 2>&1; then DSV_DIR=""; fi
DB_URL=""
if [[ $PERSISTENCY == true ]]; then
  "$(bin common/vitrage-mariadb)" --dir "$STACK/mariadb" >"$STACK/mariadb.url" 2>"$STACK/mariadb.log" &
  PIDS+=($!)
  for _ in $(seq 600); do
    [[ -s $STACK/mariadb.url ]] && break
    kill -0 "${PIDS[0]}" 2>/dev/null || { cat "$STACK/mariadb.log"; exit 1; }
    sleep 0.1
  done
  DB_URL=$(head -1 "$STACK/mariadb.url")
  echo "stack: MariaDB at $DB_URL (log $STACK/mariadb/mariadbd.log)"
fi

TRANSPORT_URL=""
if [[ $OPENSTACK == 1 ]]; then
  bash "$ROOT/deploy/rabbitmq-private.sh" start "$STACK/rabbitmq" >"$STACK/rabbitmq.out" 2>&1 ||
    { cat "$STACK/rabbitmq.out"; exit 1; }
  TRANSPORT_URL=$(cat "$STACK/rabbitmq/transport_url")
  echo "stack: RabbitMQ at $TRANSPORT_URL (dir $STACK/rabbitmq)"
fi

cat >"$STACK/vitrage.conf" <<CONF
[DEFAULT]
transport_url = $TRANSPORT_URL

[persistency]
enable_persistency = $PERSISTENCY
persistor_address = 127.0.0.1:$P_PORT
snapshot_interval = 60

[database]
connection = ${DB_URL:-mysql://root@127.0.0.1:3306/vitrage}

[persistor]
listen_address = 127.0.0.1:$P_PORT

[graph]
datasources_values_dir = $DSV_DIR
templates_dir = $TEMPLATES
listen_address = 127.0.0.1:$G_PORT
collector_address = 127.0.0.1:$C_PORT
metrics_address = 127.0.0.1:$GM_PORT

[collector]
listen_address = 127.0.0.1:$C_PORT
graph_address = 127.0.0.1:$G_PORT
metrics_address = 127.0.0.1:$CM_PORT
topology_file = $TOPOLOGY
change_rate = $CHANGE_RATE

# Local development: plaintext, said explicitly (docs/security.md).
[ssl]
allow_plaintext = true
CONF
echo "stack: config $STACK/vitrage.conf"

start() {  # start NAME BINARY ARGS...
  local name=$1 path; path=$(bin "$2"); shift 2
  if [[ ! -x $path ]]; then
    echo "stack: $name: not implemented yet (no $path)"
    return
  fi
  "$path" --config "$STACK/vitrage.conf" "$@" >"$STACK/$name.log" 2>&1 &
  PIDS+=($!)
  echo "stack: $name pid $! (log $STACK/$name.log)"
}
if [[ $PERSISTENCY == true ]]; then
  start persistor persistor_service/vitrage-persistor
fi
start collector collector/vitrage-collector
start graph graph_service/vitrage-graph

CTL=$(bin graph_service/vitrage-ctl)
if [[ $OPENSTACK == 1 ]]; then
  # Upstream's vitrage-api, unchanged, in noauth mode (as
  # ../shared/recipes/openstack-bus): its RPC calls reach our graph.
  API_PORT=$(free_port)
  for _ in $(seq 300); do
    "$CTL" --graph "127.0.0.1:$G_PORT" status 2>/dev/null | grep -q '"role": "ACTIVE"' && break
    sleep 0.2
  done
  /usr/bin/python3 "$ROOT/deploy/vitrage-api-templates.py" "$STACK/vitrage-api.db" \
    "$TEMPLATES" <("$CTL" --graph "127.0.0.1:$G_PORT" status 2>/dev/null) ||
    echo "stack: warning: could not list the templates for vitrage-api"
  cat >"$STACK/vitrage-api.conf" <<CONF
[DEFAULT]
transport_url = $TRANSPORT_URL
[api]
auth_mode = noauth
host = 127.0.0.1
port = $API_PORT
paste_config = /etc/vitrage/api-paste.ini
[database]
connection = sqlite:///$STACK/vitrage-api.db
CONF
  /usr/bin/python3 -c "import sys; sys.argv=['vitrage-api','--config-file','$STACK/vitrage-api.conf']; from vitrage.cli.api import main; main()" \
    >"$STACK/vitrage-api.log" 2>&1 &
  PIDS+=($!)
  echo "stack: vitrage-api pid $! on http://127.0.0.1:$API_PORT (log $STACK/vitrage-api.log)"
  for _ in $(seq 150); do (exec 3<>"/dev/tcp/127.0.0.1/$API_PORT") 2>/dev/null && break; sleep 0.2; done
  cat >"$STACK/client.env" <<ENV
export OS_AUTH_TYPE=vitrage-noauth VITRAGE_ENDPOINT=http://127.0.0.1:$API_PORT
export VITRAGE_USER_ID=admin VITRAGE_PROJECT_ID=admin VITRAGE_ROLES=admin
ENV
  echo "stack: vitrage CLI env: . $STACK/client.env"
fi
cat <<INFO

stack: running. Where to look:
  graph      127.0.0.1:$G_PORT   $STACK/graph.log
  persistor  127.0.0.1:$P_PORT   $STACK/persistor.log
  collector  127.0.0.1:$C_PORT   $STACK/collector.log
  status:    $CTL --graph 127.0.0.1:$G_PORT status
  topology:  $CTL --graph 127.0.0.1:$G_PORT export > graph.jsonl
  grpcurl:   integration_tests/grpc_probe.py 127.0.0.1:$G_PORT list
  metrics:   http://127.0.0.1:$GM_PORT/metrics (graph), http://127.0.0.1:$CM_PORT/metrics (collector)
Press Ctrl-C to stop.
INFO

if [[ $DURATION != 0 ]]; then
  sleep "$DURATION" &
  SLEEP_PID=$!
  wait "$SLEEP_PID"
  # --duration is the smoke test of this script: the stack must be ACTIVE.
  "$CTL" --graph "127.0.0.1:$G_PORT" status
  "$CTL" --graph "127.0.0.1:$G_PORT" status | grep -q '"role": "ACTIVE"'
  exit $?
fi
# `wait` (unlike a foreground sleep) lets the TERM/INT trap run at once.
while true; do
  sleep 3600 &
  SLEEP_PID=$!
  wait "$SLEEP_PID" || true
done

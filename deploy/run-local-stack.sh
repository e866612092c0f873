#!/usr/bin/env bash
# The README's "run it" command: installs dependencies, builds, then runs a
# whole local stack in a temp dir:
#   private MariaDB (vitrage-mariadb) -> vitrage-persistor
#   vitrage-collector (a synthetic cloud of 8 hosts, 5 changes/s, or --topology FILE) -> vitrage-graph
#   (evaluator on, with the sample templates of deploy/templates/)
# and prints where to look (pids, logs, config, metrics). Ctrl-C, kill of
# this script (SIGTERM) or the end of --duration N stops everything it
# started, by pid, at once. The logs and vitrage.conf stay in the stack's
# directory afterwards; the database files are removed unless --keep.
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
# --templates DIR: the evaluator's [graph] templates_dir (default
# deploy/templates: host alarm -> instances suspect, with an RCA); --change-rate N:
# the collector's change events per second (default 5).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
DURATION=0
TOPOLOGY=""
PERSISTENCY=true
KEEP=0
OPENSTACK=0
TEMPLATES=$ROOT/deploy/templates
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
SLEEPER=""
cleanup() {
  trap '' INT TERM
  echo "stack: stopping"
  [[ -n $SLEEPER ]] && kill -TERM "$SLEEPER" 2>/dev/null
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do
    kill -TERM "${PIDS[i]}" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "${PIDS[i]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${PIDS[i]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [[ -f $STACK/rabbitmq/transport_url ]]; then
    bash "$ROOT/deploy/rabbitmq-private.sh" stop "$STACK/rabbitmq" >/dev/null 2>&1 || true
  fi
  if [[ $KEEP == 0 ]]; then
    rm -rf "$STACK/mariadb"
    echo "stack: stopped; logs and config kept in $STACK (database removed; --keep keeps it too)"
  else
    echo "stack: stopped; kept $STACK (logs, config and database)"
  fi
}
trap cleanup EXIT
trap 'exit 0' INT TERM
# Waits without blocking signals: bash runs a trap only once the foreground
# command ends, so a plain `sleep N` would hold a kill of this script for N
# seconds; `wait` returns at once on a signal.
pause() {
  sleep "$1" &
  SLEEPER=$!
  wait "$SLEEPER" || true
  SLEEPER=""
}

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P_PORT=$(free_port); G_PORT=$(free_port); C_PORT=$(free_port)
GM_PORT=$(free_port); CM_PORT=$(free_port); PM_PORT=$(free_port)

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
  MARIADB_PID=""
  for _ in $(seq 20); do  # its stderr line follows the URL on stdout
    MARIADB_PID=$(sed -n 's/.*mariadbd pid \([0-9]*\).*/\1/p' "$STACK/mariadb.log" | head -n 1)
    [[ -n $MARIADB_PID ]] && break
    sleep 0.1
  done
  [[ -n $MARIADB_PID ]] || MARIADB_PID=$(cat "$STACK/mariadb/mariadbd.pid" 2>/dev/null || true)
  echo "stack: MariaDB at $DB_URL: vitrage-mariadb pid ${PIDS[0]}, mariadbd pid ${MARIADB_PID:-?} (log $STACK/mariadb/mariadbd.log)"
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
metrics_address = 127.0.0.1:$PM_PORT

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
CONF=$STACK/vitrage.conf
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
  status:    $CTL --config $CONF status
  topology:  $CTL --config $CONF topology --type nova.host
  log:       $CTL --config $CONF log --limit 5
  grpcurl:   integration_tests/grpc_probe.py 127.0.0.1:$G_PORT list
  alarms:    $CTL --config $CONF alarms
             (the deduced ones, type "vitrage", come from deploy/templates/ within a minute)
  metrics:   http://127.0.0.1:$GM_PORT/metrics (graph), http://127.0.0.1:$PM_PORT/metrics (persistor), http://127.0.0.1:$CM_PORT/metrics (collector)
  restart one service by hand: docs/runbook.md, "Restarting one service by hand"
The commands of docs/diagnostics.md run as written in a shell that did:
  export PATH=$BUILD_DIR/graph_service:$ROOT/integration_tests:\$PATH VITRAGE_CONFIG=$CONF GRAPH=127.0.0.1:$G_PORT PERSISTOR=127.0.0.1:$P_PORT COLLECTOR=127.0.0.1:$C_PORT
Press Ctrl-C (or kill $$) to stop; logs and config stay in $STACK.
INFO

if [[ $DURATION != 0 ]]; then
  pause "$DURATION"
  # --duration is the smoke test of this script: the stack must be ACTIVE.
  "$CTL" --config "$CONF" status
  "$CTL" --config "$CONF" status | grep -q '"role": "ACTIVE"'
  exit $?
fi
while true; do pause 3600; done

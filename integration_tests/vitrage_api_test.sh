#!/usr/bin/env bash
# vitrage_api_test: what operators use, against our graph. A private
# RabbitMQ, upstream's real vitrage-api (Debian's 9.0.0, noauth) and our
# stack behind it (deploy/run-local-stack.sh --openstack, the host_down
# templates, a small cloud with two projects and a host-down alarm), then
# the real `vitrage` CLI: topology show (graph and tree), resource
# list/show/count, alarm list/show/count, rca show, template list, each
# answer checked against the graph's own gRPC view (vitrage_api_check.py).
set -euo pipefail
ROOT=${VITRAGE_SOURCE_DIR:?}
BUILD=${VITRAGE_BINARY_DIR:?}
command -v vitrage >/dev/null || { echo "vitrage_api_test: no vitrage CLI (python3-vitrageclient)"; exit 1; }
W=$(mktemp -d /tmp/vitrage-api-test.XXXXXX)
/usr/bin/python3 "$ROOT/integration_tests/vitrage_api_check.py" topology >"$W/cloud.jsonl"
SKIP_BUILD=1 BUILD_DIR=$BUILD bash "$ROOT/deploy/run-local-stack.sh" --openstack \
  --topology "$W/cloud.jsonl" --templates "$ROOT/graph_service/evaluator/testdata/host_down" \
  --change-rate 0 >"$W/stack.out" 2>&1 &
STACK_PID=$!
finish() {
  kill -TERM "$STACK_PID" 2>/dev/null || true
  wait "$STACK_PID" 2>/dev/null || true
  rm -rf "$W"
}
trap finish EXIT
for _ in $(seq 1200); do
  grep -q '^stack: vitrage CLI env:' "$W/stack.out" && break
  kill -0 "$STACK_PID" 2>/dev/null || { cat "$W/stack.out"; echo "vitrage_api_test: the stack died"; exit 1; }
  sleep 0.25
done
ENV_FILE=$(sed -n 's/^stack: vitrage CLI env: \. //p' "$W/stack.out")
[[ -n $ENV_FILE ]] || { cat "$W/stack.out"; echo "vitrage_api_test: the stack did not start"; exit 1; }
GRAPH=$(sed -n 's/^  graph *\(127\.0\.0\.1:[0-9]*\).*/\1/p' "$W/stack.out")
STACK_DIR=$(sed -n 's/^stack: directory //p' "$W/stack.out")
# The evaluator's deduced alarms come right after ACTIVE; give them a moment.
sleep 2
if ! /usr/bin/python3 "$ROOT/integration_tests/vitrage_api_check.py" check "$ENV_FILE" \
    "$BUILD/graph_service/vitrage-ctl" "$GRAPH"; then
  cat "$W/stack.out"
  tail -30 "$STACK_DIR/vitrage-api.log" "$STACK_DIR/graph.log" 2>/dev/null || true
  exit 1
fi

#!/bin/bash
# Diagnostics over real services (MariaDB, persistor, collector, graph started
# here as plain processes):
#   * grpc_probe.py, a client not built from our stubs (Debian python3-grpcio,
#     descriptors from server reflection): list, describe, health and `call`
#     of unary and server-streaming methods on every service, as the grpcurl
#     commands in docs/diagnostics.md do;
#   * vitrage-ctl: health, status, topology (table and JSON), export, digest,
#     take-snapshot, persistor-status, log (table and JSON).
# Run by ctest (labels "integration;deploy").
. "$(dirname "$0")/deploy_test_lib.sh"

/usr/bin/python3 -c 'import grpc' 2> /dev/null || { echo "python3-grpcio missing: skipped"; exit 77; }
PROBE=$VITRAGE_SOURCE_DIR/integration_tests/grpc_probe.py

deploy_init diagnostics
start_mariadb
write_conf
"$PERSISTOR_BIN" --config "$CONF" >> "$T/persistor.log" 2>&1 &
CHILD_PIDS+=($!)
start_collector
"$GRAPH_BIN" --config "$CONF" >> "$T/graph.log" 2>&1 &
CHILD_PIDS+=($!)
wait_graph_active 60 || die "graph not ACTIVE"
check_digest 30

probe() { /usr/bin/python3 "$PROBE" "$@" 2>&1; }
expect_in() {  # what, needle, haystack
	case "$3" in
		*"$2"*) log "ok: $1" ;;
		*) die "$1: no \"$2\" in: $(echo "$3" | head -n 20)" ;;
	esac
}

# ---- grpc_probe: reflection, health, call ----------------------------------
for svc in "Graph $GRAPH_ADDR" "Persistor $PERSISTOR_ADDR" "Collector $COLLECTOR_ADDR"; do
	set -- $svc
	out=$(probe "$2" list) || die "list $1: $out"
	expect_in "list on $1 names vitrage.v1.$1" "vitrage.v1.$1" "$out"
	expect_in "list on $1 names the health service" "grpc.health.v1.Health" "$out"
	out=$(probe "$2" describe "vitrage.v1.$1") || die "describe $1: $out"
	expect_in "describe vitrage.v1.$1" "rpc GetStatus" "$out"
	out=$(probe "$2" health) || die "health $1: $out"
	[ "$out" = SERVING ] || die "health of $1: $out"
	log "ok: health of $1 is SERVING"
done

out=$(probe "$GRAPH_ADDR" call vitrage.v1.Graph/GetStatus '{}') || die "call GetStatus: $out"
expect_in "call vitrage.v1.Graph/GetStatus" '"role": "ACTIVE"' "$out"
vertices=$(echo "$out" | json_field vertexCount)
out=$(probe "$GRAPH_ADDR" call vitrage.v1.Graph/GetStatus '{"withDigest": true}') || die "$out"
expect_in "call GetStatus with a JSON request" "$(ctl status --digest | json_field digest)" "$out"
out=$(probe "$PERSISTOR_ADDR" call vitrage.v1.Persistor/GetStatus) || die "$out"
expect_in "call vitrage.v1.Persistor/GetStatus" '"databaseReachable": true' "$out"
out=$(probe "$COLLECTOR_ADDR" call vitrage.v1.Collector/GetStatus '{"withDigest": true}') || die "$out"
expect_in "call vitrage.v1.Collector/GetStatus" '"modelDigest"' "$out"
out=$(probe "$GRAPH_ADDR" call vitrage.v1.Graph/GetTopology '{"batchSize": 100}') || die "$out"
n=$(echo "$out" | grep -c '"vitrage_type"')
[ "$n" -eq "$vertices" ] || die "GetTopology streamed $n vertices, GetStatus says $vertices"
log "ok: call of the server-streaming GetTopology: $n vertices in $(echo "$out" | grep -c '^{') messages"
out=$(probe "$PERSISTOR_ADDR" call vitrage.v1.Persistor/ReadLog '{"afterSeq": "0"}') || die "$out"
expect_in "call vitrage.v1.Persistor/ReadLog" '"eventKind"' "$out"
out=$(probe "$GRAPH_ADDR" call vitrage.v1.Graph/NoSuchMethod '{}') && die "unknown method accepted: $out"
expect_in "unknown method is an error" "error: vitrage.v1.Graph/NoSuchMethod" "$out"
out=$(probe "$GRAPH_ADDR" call vitrage.v1.Graph/GetVertex '{"id": "no-such-vertex"}') && die "GetVertex of nothing: $out"
expect_in "an RPC error is reported with its code" "rpc error: NOT_FOUND" "$out"
out=$(probe "$GRAPH_ADDR" call vitrage.v1.Graph/GetStatus '{"noSuchField": 1}') && die "bad JSON accepted: $out"
log "ok: a request with an unknown field is refused"

# ---- vitrage-ctl -------------------------------------------------------------
for s in graph persistor collector; do
	out=$(ctl health $s) || die "vitrage-ctl health $s: $out"
	[ "$out" = SERVING ] || die "vitrage-ctl health $s: $out"
done
log "ok: vitrage-ctl health graph|persistor|collector"
out=$(ctl --help) || die "vitrage-ctl --help"
for sub in status topology export take-snapshot log health; do
	expect_in "vitrage-ctl --help lists $sub" "$sub" "$out"
done

out=$(ctl topology) || die "topology: $out"
expect_in "topology table header" "VITRAGE_ID" "$out"
expect_in "topology table summary" "$vertices vertices," "$out"
ctl topology --json > "$T/topology.json" || die "topology --json"
/usr/bin/python3 - "$T/topology.json" "$vertices" <<'EOF' || die "topology --json is not node-link JSON"
import json, sys
t = json.load(open(sys.argv[1]))
assert len(t['nodes']) == int(sys.argv[2]), (len(t['nodes']), sys.argv[2])
assert all(0 <= l['source'] < len(t['nodes']) for l in t['links'])
assert all('relationship_type' in l for l in t['links'])
EOF
log "ok: topology --json has $vertices nodes and valid links"
host=$(/usr/bin/python3 -c 'import json,sys; n=[x for x in json.load(open(sys.argv[1]))["nodes"] if x.get("vitrage_type")=="nova.host"]; print(n[0]["vitrage_id"])' "$T/topology.json")
out=$(ctl topology --type nova.host) || die "topology --type"
expect_in "topology --type nova.host" "$host" "$out"
out=$(ctl topology --root "$host" --depth 1) || die "topology --root"
expect_in "topology --root --depth" "$host" "$out"

ctl export > "$T/export.jsonl" || die "export"
edges=$(ctl status | json_field edgeCount)
lines=$(wc -l < "$T/export.jsonl")
[ "$lines" -eq $(( vertices + edges )) ] || die "export: $lines lines for $vertices vertices + $edges edges"
log "ok: export wrote $lines JSONL lines"
[ "$(ctl digest)" = "$(ctl status --digest | json_field digest)" ] || die "digest differs from status --digest"
log "ok: digest"

out=$(CTL_TIMEOUT=60 ctl take-snapshot) || die "take-snapshot: $out"
expect_in "take-snapshot" '"snapshotId"' "$out"
out=$(ctl persistor-status) || die "persistor-status"
expect_in "persistor-status lists the snapshot" '"snapshots"' "$out"
durable=$(echo "$out" | json_field durableSeq)

out=$(ctl log --limit 5) || die "log: $out"
want=$(( durable < 5 ? durable : 5 ))
[ "$(echo "$out" | wc -l)" -eq $(( want + 1 )) ] || die "log --limit 5 printed (durable seq $durable): $out"
expect_in "log tail ends at the durable seq" "$(printf '\n%s ' "$durable")" "$(printf '\n%s' "$out")"
expect_in "log header" "EVENT" "$out"
out=$(ctl log --after 0 --limit 3 --json) || die "log --json: $out"
# get_all journals a small cloud as one image record: fewer than 3 may exist.
want3=$(( durable < 3 ? durable : 3 ))
[ "$(echo "$out" | wc -l)" -eq "$want3" ] || die "log --after 0 --limit 3 --json printed (durable seq $durable): $out"
expect_in "log --json starts at seq 1" '"seq":"1"' "$(echo "$out" | head -n 1)"
log "PASS"

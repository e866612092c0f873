#!/bin/bash
# Issue 26: what an operator sees from vitrage-ctl and at start-up, over real
# services (MariaDB, persistor, collector on a small topology file, graph):
#   * vitrage-ctl --config FILE (or $VITRAGE_CONFIG) finds the services at
#     the file's listen_address keys; flags still win;
#   * errors in words, never a bare gRPC code; a live address serving
#     another service is "ADDR does not serve vitrage.v1.X (wrong port?)"
#     with exit 2, from vitrage-ctl and from vitrage-graph at start-up;
#   * addresses without a port or with a bad one, mistyped commands,
#     --depth without --root, questions nothing answers (exit 1);
#   * vertex/--root/rca by entity id or name; the rca table; placeholders;
#   * config validation at start-up: log_dir, templates_dir, durations with
#     units, ports; --help and --version of every binary.
# Run by ctest (labels "integration;mariadb").
. "$(dirname "$0")/deploy_test_lib.sh"

deploy_init ctl_operator

# expect RC WHAT COMMAND...: runs it, keeps stdout in $OUT and stderr in
# $ERR, and fails unless it exited RC.
expect() {
	local want=$1 what=$2 rc=0
	shift 2
	OUT=$("$@" 2> "$T/err") || rc=$?
	ERR=$(cat "$T/err")
	[ "$rc" -eq "$want" ] || die "$what: exit $rc, want $want: $* -> $ERR $(echo "$OUT" | head -n 5)"
}
has() {  # what needle haystack
	case "$3" in
		*"$2"*) log "ok: $1" ;;
		*) die "$1: no \"$2\" in: $(echo "$3" | head -n 20)" ;;
	esac
}
hasnt() {  # what needle haystack
	case "$3" in
		*"$2"*) die "$1: \"$2\" in: $(echo "$3" | head -n 20)" ;;
		*) log "ok: $1" ;;
	esac
}
no_code() {  # what text: no bare gRPC code ("5: ", "14: ") at a line start
	if echo "$2" | grep -Eq '(^|vitrage-ctl: )[0-9]+: '; then
		die "$1: a bare gRPC code: $2"
	fi
}

# ---- start-up: --help, --version, bad values ---------------------------------
for b in "$GRAPH_BIN" "$PERSISTOR_BIN" "$COLLECTOR_BIN" "$CTL_BIN"; do
	expect 0 "$(basename "$b") --version" "$b" --version
	has "$(basename "$b") --version" "$(basename "$b") 0." "$OUT"
done
expect 0 "vitrage-persistor --help" "$PERSISTOR_BIN" --help
has "vitrage-persistor --help" "--database_url" "$OUT"

bad_conf() {  # section key value -> $T/bad.conf
	printf '[ssl]\nallow_plaintext = true\n\n[%s]\n%s = %s\n' "$1" "$2" "$3" > "$T/bad.conf"
}
bad_conf DEFAULT log_dir "$T/no-such-dir"
expect 2 "graph with a missing log_dir" "$GRAPH_BIN" --config "$T/bad.conf"
has "missing log_dir" "$T/bad.conf:5: [DEFAULT] log_dir: \"$T/no-such-dir\" does not exist" "$ERR"
hasnt "no glog complaint" "COULD NOT CREATE" "$ERR$OUT"
expect 2 "persistor with a missing log_dir" "$PERSISTOR_BIN" --config "$T/bad.conf"
has "persistor: missing log_dir" "[DEFAULT] log_dir: \"$T/no-such-dir\" does not exist" "$ERR"
bad_conf graph templates_dir "$T/no-templates"
expect 2 "graph with a missing templates_dir" "$GRAPH_BIN" --config "$T/bad.conf"
has "missing templates_dir" "$T/bad.conf:5: [graph] templates_dir: \"$T/no-templates\" does not exist" "$ERR"
bad_conf graph listen_address 127.0.0.1:99999
expect 2 "graph on port 99999" "$GRAPH_BIN" --config "$T/bad.conf"
has "port 99999" "[graph] listen_address: \"127.0.0.1:99999\" has 99999 for a port, which is not a port (1-65535)" "$ERR"
bad_conf persistency snapshot_interval "10 minutes"
expect 2 "a duration without a known unit" "$GRAPH_BIN" --config "$T/bad.conf"
has "duration" "[persistency] snapshot_interval: \"10 minutes\" is not a duration" "$ERR"

# ---- the stack ----------------------------------------------------------------
# A small topology: a host, an instance, a placeholder host, two alarms,
# one causing the other.
TOPOLOGY_FILE=$T/topology.jsonl
cat > "$TOPOLOGY_FILE" <<'JSONL'
{"id": "v-host-1", "props": {"vitrage_id": "v-host-1", "vitrage_category": "RESOURCE", "vitrage_type": "nova.host", "id": "nova.host-host-1", "name": "host-1", "state": "available", "vitrage_is_deleted": false, "vitrage_is_placeholder": false, "vitrage_aggregated_state": "AVAILABLE"}}
{"id": "v-vm-1", "props": {"vitrage_id": "v-vm-1", "vitrage_category": "RESOURCE", "vitrage_type": "nova.instance", "id": "nova.instance-vm-1", "name": "vm-1", "state": "ACTIVE", "vitrage_is_deleted": false, "vitrage_is_placeholder": false, "vitrage_aggregated_state": "ACTIVE"}}
{"id": "v-host-9", "props": {"vitrage_id": "v-host-9", "vitrage_category": "RESOURCE", "vitrage_type": "nova.host", "id": "nova.host-host-9", "vitrage_is_deleted": false, "vitrage_is_placeholder": true, "vitrage_aggregated_state": null}}
{"id": "v-alarm-1", "props": {"vitrage_id": "v-alarm-1", "vitrage_category": "ALARM", "vitrage_type": "zabbix", "name": "host-down", "severity": "CRITICAL", "vitrage_is_deleted": false, "vitrage_is_placeholder": false, "vitrage_resource_id": "v-host-1"}}
{"id": "v-alarm-2", "props": {"vitrage_id": "v-alarm-2", "vitrage_category": "ALARM", "vitrage_type": "vitrage", "name": "instance-suspect", "severity": "WARNING", "vitrage_is_deleted": false, "vitrage_is_placeholder": false, "vitrage_resource_id": "v-vm-1"}}
{"source": "v-host-1", "target": "v-vm-1", "label": "contains", "props": {"relationship_type": "contains", "vitrage_is_deleted": false}}
{"source": "v-alarm-1", "target": "v-host-1", "label": "on", "props": {"relationship_type": "on", "vitrage_is_deleted": false}}
{"source": "v-alarm-2", "target": "v-vm-1", "label": "on", "props": {"relationship_type": "on", "vitrage_is_deleted": false}}
{"source": "v-alarm-1", "target": "v-alarm-2", "label": "causes", "props": {"relationship_type": "causes", "vitrage_is_deleted": false}}
JSONL
start_mariadb
write_conf
"$PERSISTOR_BIN" --config "$CONF" >> "$T/persistor.log" 2>&1 &
CHILD_PIDS+=($!)
start_collector
"$GRAPH_BIN" --config "$CONF" >> "$T/graph.log" 2>&1 &
CHILD_PIDS+=($!)
wait_graph_active 60 || die "graph not ACTIVE"

C=("$CTL_BIN" --timeout 5)
# ---- item 1: addresses from the config file -----------------------------------
expect 0 "status with --config only" "${C[@]}" --config "$CONF" status
has "--config FILE finds the graph" '"role": "ACTIVE"' "$OUT"
expect 0 "persistor-status with --config only" "${C[@]}" --config "$CONF" persistor-status
has "--config FILE finds the persistor" '"databaseReachable": true' "$OUT"
expect 0 "collector-status with --config only" "${C[@]}" --config "$CONF" collector-status
has "--config FILE finds the collector" '"pending"' "$OUT"
expect 0 "health persistor with \$VITRAGE_CONFIG" env VITRAGE_CONFIG="$CONF" "${C[@]}" health persistor
has "VITRAGE_CONFIG" "SERVING" "$OUT"
expect 1 "a flag wins over the file" "${C[@]}" --config "$CONF" --graph 127.0.0.1:1 status
has "unreachable in words" "vitrage-graph at 127.0.0.1:1 is not reachable" "$ERR"
no_code "unreachable" "$ERR"

# ---- item 4: a live address serving another service -----------------------------
expect 2 "persistor-status at the graph's port" "${C[@]}" --persistor "$GRAPH_ADDR" persistor-status
has "wrong port (vitrage-ctl)" "$GRAPH_ADDR does not serve vitrage.v1.Persistor (wrong port?)" "$ERR"
no_code "wrong port" "$ERR"
expect 2 "health persistor at the collector's port" "${C[@]}" --persistor "$COLLECTOR_ADDR" health persistor
has "wrong port (health)" "$COLLECTOR_ADDR does not serve vitrage.v1.Persistor (wrong port?)" "$ERR"
expect 2 "status at the persistor's port" "${C[@]}" --graph "$PERSISTOR_ADDR" status
has "wrong port (graph)" "$PERSISTOR_ADDR does not serve vitrage.v1.Graph (wrong port?)" "$ERR"
# vitrage-graph at start-up, its persistor address on the collector.
G2_PORT=$(free_port)
rc=0
timeout 60 "$GRAPH_BIN" --config "$CONF" --listen "127.0.0.1:$G2_PORT" \
	--persistor "$COLLECTOR_ADDR" > "$T/graph2.log" 2>&1 || rc=$?
[ $rc -eq 2 ] || die "graph with the collector as persistor exited $rc: $(tail -n 5 "$T/graph2.log")"
has "wrong port (graph start-up)" \
	"[persistency] persistor_address: $COLLECTOR_ADDR does not serve vitrage.v1.Persistor (wrong port?)" \
	"$(cat "$T/graph2.log")"
hasnt "no UNIMPLEMENTED at start-up" "UNIMPLEMENTED" "$(cat "$T/graph2.log")"
# ... and without persistency, its collector address on the persistor.
sed 's/^enable_persistency = true/enable_persistency = false/' "$CONF" > "$T/nopersist.conf"
rc=0
timeout 60 "$GRAPH_BIN" --config "$T/nopersist.conf" --listen "127.0.0.1:$G2_PORT" \
	--collector "$PERSISTOR_ADDR" > "$T/graph3.log" 2>&1 || rc=$?
[ $rc -eq 2 ] || die "graph with the persistor as collector exited $rc: $(tail -n 5 "$T/graph3.log")"
has "wrong port (graph get_all)" "$PERSISTOR_ADDR does not serve vitrage.v1.Collector (wrong port?)" \
	"$(cat "$T/graph3.log")"

# ---- item 5: words, addresses, typos, empty answers, vertex by entity id --------
expect 1 "vertex of nothing" "${C[@]}" --config "$CONF" vertex no-such-host
has "vertex of nothing" 'no vertex "no-such-host" (looked up by vitrage_id, entity id and name)' "$ERR"
no_code "vertex of nothing" "$ERR"
SILENT_PORT=$(free_port)
/usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); time.sleep(120)' \
	"$SILENT_PORT" &
CHILD_PIDS+=($!)
sleep 0.3
expect 1 "a server that never answers" "$CTL_BIN" --timeout 1 --graph "127.0.0.1:$SILENT_PORT" status
has "silence in words" "vitrage-graph at 127.0.0.1:$SILENT_PORT is not reachable" "$ERR"
no_code "silence" "$ERR"
# A deadline that has passed before the answer can come.
expect 1 "a deadline too short" "$CTL_BIN" --timeout 0.0001 --graph "$GRAPH_ADDR" status
has "deadline in words" "vitrage-graph at $GRAPH_ADDR did not answer within 0.0001 s (--timeout SECONDS)" "$ERR"
no_code "deadline" "$ERR"
rc=0
"$CTL_BIN" --timeout 1 --graph 127.0.0.1 status > /dev/null 2> "$T/err" || rc=$?
if [ $rc -ne 0 ]; then
	has "a host without a port takes the default port" "127.0.0.1:9702" "$(cat "$T/err")"
fi
hasnt "never port 0" "127.0.0.1:0" "$(cat "$T/err")"
expect 2 "an empty port" "$CTL_BIN" --graph 127.0.0.1: status
has "an empty port" '"127.0.0.1:" has no port' "$ERR"
expect 2 "port 99999" "$CTL_BIN" --graph 127.0.0.1:99999 status
has "port 99999" "which is not a port (1-65535)" "$ERR"
expect 2 "a mistyped command" "$CTL_BIN" --config "$CONF" stauts
has "did you mean" 'unknown command "stauts"; did you mean "status"?' "$ERR"
hasnt "no CLI11 complaint" "A subcommand is required" "$ERR"
expect 2 "no command" "$CTL_BIN" --config "$CONF"
has "no command" "give a command: " "$ERR"
expect 1 "topology of a type nobody has" "${C[@]}" --config "$CONF" topology --type nova.hosts
has "nothing matched" 'nothing matched: no vertex of type nova.hosts; did you mean "nova.host"' "$ERR"
[ -z "$OUT" ] || die "topology --type nova.hosts printed tables: $OUT"
expect 2 "--depth without --root" "${C[@]}" --config "$CONF" topology --depth 2
has "--depth needs --root" "--depth counts hops from --root" "$ERR"
expect 0 "topology --root by name" "${C[@]}" --config "$CONF" topology --root host-1 --depth 1
has "--root host-1" "v-vm-1" "$OUT"
expect 0 "vertex by name" "${C[@]}" --config "$CONF" vertex host-1
has "vertex host-1" '"id": "v-host-1"' "$OUT"
expect 0 "vertex by entity id" "${C[@]}" --config "$CONF" vertex nova.host-host-1
has "vertex nova.host-host-1" '"id": "v-host-1"' "$OUT"
expect 0 "vertex by name and type" "${C[@]}" --config "$CONF" vertex --type nova.host host-1
has "vertex --type nova.host host-1" '"id": "v-host-1"' "$OUT"
expect 1 "vertex of the wrong type" "${C[@]}" --config "$CONF" vertex --type nova.instance host-1
has "vertex of the wrong type" 'no vertex "host-1" of type nova.instance' "$ERR"
expect 0 "vertex by vitrage_id" "${C[@]}" --config "$CONF" vertex v-vm-1
has "vertex v-vm-1" '"id": "v-vm-1"' "$OUT"
expect 1 "alarms of a type nobody has" "${C[@]}" --config "$CONF" alarms --type nagios
has "no alarms" "nothing matched: no alarm of type nagios" "$ERR"
# Item 9: with no templates_dir the evaluator is off, and alarms says so.
has "alarms says the evaluator is off" \
	"the evaluator is off ([graph] templates_dir is not set): no deduced alarms" "$ERR"
expect 0 "alarms, evaluator off" "${C[@]}" --config "$CONF" alarms
has "alarms notes the evaluator is off" "note: the evaluator is off" "$ERR"
expect 1 "log after the end" "${C[@]}" --config "$CONF" log --after 999999
has "log after the end" "nothing matched: no journal record after seq 999999 (the durable seq is" "$ERR"

# ---- also: the rca table, placeholder state ---------------------------------------
expect 0 "rca by name" "${C[@]}" --config "$CONF" rca instance-suspect
header=$(echo "$OUT" | grep '^CAUSE')
row=$(echo "$OUT" | grep '^host-down')
[ -n "$header" ] && [ -n "$row" ] || die "rca: no header or no row: $OUT"
# Every column of the header starts where the row's value starts.
/usr/bin/python3 - "$header" "$row" <<'PY' || die "rca: header and row disagree: $header / $row"
import re, sys
header, row = sys.argv[1], sys.argv[2]
starts = lambda s: [m.start() for m in re.finditer(r'\S+(?: \S+)*', s)]
assert len(starts(header)) == 3, starts(header)
assert starts(header) == starts(row), (starts(header), starts(row))
assert 'host-down (v-alarm-1)' in row and 'causes' in row and 'instance-suspect (v-alarm-2)' in row, row
PY
log "ok: rca header and row agree: $row"
expect 0 "topology table" "${C[@]}" --config "$CONF" topology --type nova.host
placeholder=$(echo "$OUT" | grep '^v-host-9')
has "placeholder state" "(placeholder)" "$placeholder"
hasnt "no null state" "null" "$OUT"
log "PASS"

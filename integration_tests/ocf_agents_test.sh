#!/bin/bash
# The OCF agents in deploy/ocf/ against real services, without a cluster:
#   1. /usr/sbin/ocf-tester on vitrage-persistor (a private MariaDB);
#   2. ocf-tester on vitrage-graph (persistor started by its agent, collector
#      running);
#   0. crm_verify on the CIB XML sample in deploy/pacemaker/;
#   3. the graph agent's monitor: 7 after kill -9, 1 for a graph stuck in
#      RECOVERING past recovery_timeout, 6 for a bad listen address, and
#      start failing with 6 on a bad vitrage.conf.
# Run by ctest (label "deploy"); exits 77 (skipped) without ocf-tester.
. "$(dirname "$0")/deploy_test_lib.sh"

[ -x /usr/sbin/ocf-tester ] || { echo "ocf-tester not installed: skipped"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "ocf-tester checks need root: skipped"; exit 77; }

deploy_init ocf-agents

# The CIB XML sample (deploy/pacemaker/*.xml) in a whole CIB: crm_verify
# checks it against pacemaker's schema and its references, offline.
if command -v crm_verify > /dev/null; then
	{
		echo '<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">'
		echo '<configuration><crm_config><cluster_property_set id="cib-bootstrap-options">'
		echo '<nvpair id="opt-stonith-enabled" name="stonith-enabled" value="false"/>'
		echo "</cluster_property_set></crm_config><nodes><node id=\"1\" uname=\"$(uname -n)\"/></nodes>"
		cat "$VITRAGE_SOURCE_DIR/deploy/pacemaker/resources.xml" \
			"$VITRAGE_SOURCE_DIR/deploy/pacemaker/constraints.xml"
		echo '</configuration><status/></cib>'
	} > "$T/cib.xml"
	crm_verify -V --xml-file "$T/cib.xml" > "$T/crm_verify.out" 2>&1 ||
		die "deploy/pacemaker/*.xml: crm_verify: $(cat "$T/crm_verify.out")"
	log "ok: deploy/pacemaker/resources.xml + constraints.xml pass crm_verify"
fi
start_mariadb
write_conf

export OCF_ROOT=/usr/lib/ocf

persistor_params=(-o binary="$PERSISTOR_BIN" -o ctl="$CTL_BIN" -o config="$CONF"
	-o listen="$PERSISTOR_ADDR" -o pidfile="$T/persistor.pid" -o logfile="$T/persistor.log")
graph_params=(-o binary="$GRAPH_BIN" -o ctl="$CTL_BIN" -o config="$CONF"
	-o listen="$GRAPH_ADDR" -o pidfile="$T/graph.pid" -o logfile="$T/graph.log")
# Whatever ocf-tester leaves running is ended by its pid at exit.
CLEANUPS+=('[ -s "$T/graph.pid" ] && end_pid "$(cat "$T/graph.pid")" 10'
	'[ -s "$T/persistor.pid" ] && end_pid "$(cat "$T/persistor.pid")" 10')

log "ocf-tester vitrage-persistor"
/usr/sbin/ocf-tester -n vitrage-persistor-test "${persistor_params[@]}" \
	"$OCF_DIR/vitrage-persistor" > "$T/ocf-tester-persistor.out" 2>&1
rc=$?
cat "$T/ocf-tester-persistor.out"
[ $rc -eq 0 ] || die "ocf-tester failed on vitrage-persistor"
grep -q "passed all tests" "$T/ocf-tester-persistor.out" || die "ocf-tester: no pass line"

# Runs an agent action with the given OCF_RESKEY_ settings; prints nothing,
# returns the agent's exit code.
agent() {
	local which=$1 action=$2
	shift 2
	env OCF_RESOURCE_INSTANCE="$which-test" "$@" "$OCF_DIR/$which" "$action" \
		>> "$T/agent-actions.log" 2>&1
}
P_ENV=(OCF_RESKEY_binary="$PERSISTOR_BIN" OCF_RESKEY_ctl="$CTL_BIN" OCF_RESKEY_config="$CONF"
	OCF_RESKEY_listen="$PERSISTOR_ADDR" OCF_RESKEY_pidfile="$T/persistor.pid"
	OCF_RESKEY_logfile="$T/persistor.log")
G_ENV=(OCF_RESKEY_binary="$GRAPH_BIN" OCF_RESKEY_ctl="$CTL_BIN" OCF_RESKEY_config="$CONF"
	OCF_RESKEY_listen="$GRAPH_ADDR" OCF_RESKEY_pidfile="$T/graph.pid"
	OCF_RESKEY_logfile="$T/graph.log")

expect() {
	local want=$1 what=$2 rc
	shift 2
	"$@"
	rc=$?
	[ $rc -eq "$want" ] || die "$what: agent returned $rc, expected $want (see agent-actions.log: $(tail -n 3 "$T/agent-actions.log"))"
	log "ok: $what -> $rc"
}

# A graph started while no persistor answers stays RECOVERING (AcquireEpoch
# retries): with recovery_timeout=1 its monitor must fail after a second.
"$GRAPH_BIN" --config "$CONF" > "$T/graph-stuck.log" 2>&1 &
stuck=$!
CHILD_PIDS+=($stuck)
echo $stuck > "$T/stuck.pid"
for (( i = 0; i < 100; i++ )); do
	[ "$(ctl status 2>/dev/null | json_field role)" = RECOVERING ] && break
	sleep 0.05
done
expect 0 "monitor of a young RECOVERING graph" agent vitrage-graph monitor "${G_ENV[@]}" \
	OCF_RESKEY_pidfile="$T/stuck.pid" OCF_RESKEY_recovery_timeout=60
sleep 2.2
expect 1 "monitor of a graph RECOVERING past recovery_timeout" agent vitrage-graph monitor \
	"${G_ENV[@]}" OCF_RESKEY_pidfile="$T/stuck.pid" OCF_RESKEY_recovery_timeout=1
end_pid $stuck 10
rm -f "$T/stuck.pid"

expect 0 "persistor start" agent vitrage-persistor start "${P_ENV[@]}"
expect 0 "persistor monitor" agent vitrage-persistor monitor "${P_ENV[@]}"
start_collector

log "ocf-tester vitrage-graph"
/usr/sbin/ocf-tester -n vitrage-graph-test "${graph_params[@]}" \
	"$OCF_DIR/vitrage-graph" > "$T/ocf-tester-graph.out" 2>&1
rc=$?
cat "$T/ocf-tester-graph.out"
[ $rc -eq 0 ] || die "ocf-tester failed on vitrage-graph"
grep -q "passed all tests" "$T/ocf-tester-graph.out" || die "ocf-tester: no pass line"

# Hot standby (promotable clone): ocf-tester with standby=true exercises
# start (as STANDBY), promote, demote (restart as STANDBY) and stop.
log "ocf-tester vitrage-graph standby=true"
/usr/sbin/ocf-tester -n vitrage-graph-standby-test "${graph_params[@]}" -o standby=true \
	"$OCF_DIR/vitrage-graph" > "$T/ocf-tester-graph-standby.out" 2>&1
rc=$?
cat "$T/ocf-tester-graph-standby.out"
[ $rc -eq 0 ] || die "ocf-tester (standby=true) failed on vitrage-graph"
grep -q "passed all tests" "$T/ocf-tester-graph-standby.out" || die "ocf-tester (standby): no pass line"
expect 0 "standby start" agent vitrage-graph start "${G_ENV[@]}" OCF_RESKEY_standby=true
[ "$(ctl status | json_field role)" = STANDBY ] || die "standby start did not leave a STANDBY"
expect 0 "standby monitor (STANDBY)" agent vitrage-graph monitor "${G_ENV[@]}" OCF_RESKEY_standby=true
expect 0 "promote" agent vitrage-graph promote "${G_ENV[@]}" OCF_RESKEY_standby=true
expect 8 "monitor of the promoted graph (OCF_RUNNING_MASTER)" agent vitrage-graph monitor \
	"${G_ENV[@]}" OCF_RESKEY_standby=true
expect 0 "demote" agent vitrage-graph demote "${G_ENV[@]}" OCF_RESKEY_standby=true
[ "$(ctl status | json_field role)" = STANDBY ] || die "demote did not leave a STANDBY"
expect 0 "stop of the standby" agent vitrage-graph stop "${G_ENV[@]}" OCF_RESKEY_standby=true

expect 0 "graph start" agent vitrage-graph start "${G_ENV[@]}"
[ "$(ctl status | json_field role)" = ACTIVE ] || die "graph start returned before ACTIVE"
expect 0 "graph monitor" agent vitrage-graph monitor "${G_ENV[@]}"
# Issue 26, item 7: with the persistor gone the graph stays ACTIVE, but the
# monitor sees the journal disconnected and fails past journal_timeout.
kill -9 "$(cat "$T/persistor.pid")"
sleep 0.5
expect 0 "monitor of a graph whose journal just lost the persistor" agent vitrage-graph \
	monitor "${G_ENV[@]}" OCF_RESKEY_journal_timeout=60
grep -q "journal disconnected from the persistor for" "$T/agent-actions.log" ||
	die "the monitor's info line does not show the journal's state"
sleep 2.5
expect 1 "monitor past journal_timeout with the persistor gone" agent vitrage-graph monitor \
	"${G_ENV[@]}" OCF_RESKEY_journal_timeout=2
tail -n 5 "$T/agent-actions.log" | grep -q "ACTIVE but its journal disconnected from the persistor" ||
	die "the exit reason does not say the journal is disconnected: $(tail -n 5 "$T/agent-actions.log")"
expect 0 "persistor start again" agent vitrage-persistor start "${P_ENV[@]}"
for (( i = 0; i < 100; i++ )); do
	[ "$(ctl status 2>/dev/null | json_field journalConnected)" = true ] && break
	sleep 0.1
done
expect 0 "graph monitor once the journal is back" agent vitrage-graph monitor "${G_ENV[@]}" \
	OCF_RESKEY_journal_timeout=2
kill -9 "$(cat "$T/graph.pid")"
sleep 0.2
expect 7 "monitor after kill -9" agent vitrage-graph monitor "${G_ENV[@]}"
expect 0 "stop after kill -9" agent vitrage-graph stop "${G_ENV[@]}"
expect 6 "validate-all with a bad listen address" agent vitrage-graph validate-all \
	"${G_ENV[@]}" OCF_RESKEY_listen=nowhere
echo "[graph]" > "$T/bad.conf"
echo "no_such_key = 1" >> "$T/bad.conf"
expect 6 "start with a bad vitrage.conf" agent vitrage-graph start "${G_ENV[@]}" \
	OCF_RESKEY_config="$T/bad.conf"
expect 7 "monitor after the failed start" agent vitrage-graph monitor "${G_ENV[@]}"
expect 0 "persistor stop" agent vitrage-persistor stop "${P_ENV[@]}"
expect 7 "persistor monitor after stop" agent vitrage-persistor monitor "${P_ENV[@]}"
log "PASS"

#!/bin/bash
# Real pacemaker on one node (../shared/DESIGN.md section 10), with the
# persistor (a clone) and the graph as resources configured from
# deploy/pacemaker/vitrage.crm and managed by the agents in deploy/ocf/;
# MariaDB and the collector (10k-vertex topology plus a stream of changes)
# run outside the cluster.
#
#   1. corosync -f -c CONF and pacemakerd -f, started here (no systemd);
#      stonith-enabled=false, dc-deadtime=2s; wait for a DC.
#   2. crm configure load update (the sample, paths and ports replaced);
#      the graph becomes ACTIVE.
#   3. while the collector pushes changes, kill -9 the graph three times:
#      the time until a graph is ACTIVE again is printed (target <= 5 s);
#      once the changes stopped and the collector drained, the graph's
#      digest must equal the collector's.
#   4. kill -9 the persistor: pacemaker restarts it, the graph stays up.
#   5. crm resource stop/start of the graph, then of the persistor clone (the
#      graph stops with it: colocation) with the digest checked after each.
#   6. pacemakerd and corosync are ended by their pids, the CIB and every
#      file the cluster wrote are removed and what was there restored.
#
# Refuses to run (fails, killing nothing) when a corosync or pacemakerd is
# already running, e.g. left by a crashed earlier run: their pids are in
# $STATE. Run by ctest with label "deploy"; exits 77 (skipped) when
# pacemaker is not installed or not root.
. "$(dirname "$0")/deploy_test_lib.sh"
. "$(dirname "$0")/deploy_test_cluster.sh"

KILLS=${VITRAGE_DEPLOY_KILLS:-3}
TARGET_S=5

cluster_preflight
deploy_init deploy
T_START=$(now)

# ---- the CIB, pacemaker's state and the agents: set aside, restored at exit
cluster_prepare
CLUSTER_PIDFILES=("$T/graph.pid" "$T/persistor.pid")

# ---- services outside the cluster ----------------------------------------
start_mariadb
# The generated 10k workload (build/workload/, make_workload).
TOPOLOGY_FILE=$VITRAGE_BINARY_DIR/workload/graph_10k.jsonl.zst
[ -r "$TOPOLOGY_FILE" ] || die "no workload file $TOPOLOGY_FILE (the build makes it: target vitrage_workload_files)"
# Changes flow for about 30 s, through the kills; digests are compared once
# the generator stopped (a graph digest taken while changes arrive cannot
# be compared to the collector's).
CHANGE_RATE=${VITRAGE_DEPLOY_CHANGE_RATE:-50}
MAX_CHANGES=${VITRAGE_DEPLOY_MAX_CHANGES:-1500}
write_conf
# Snapshots every 10 s so that recovery is "snapshot + short tail".
sed -i 's/^enable_persistency = true$/&\nsnapshot_interval = 10/' "$CONF"
start_collector --max_changes "$MAX_CHANGES"

# ---- corosync + pacemakerd ------------------------------------------------
cluster_start

# ---- the sample configuration, with this test's paths and ports -----------
sed -e "s|/usr/bin/vitrage-graph|$GRAPH_BIN|; s|/usr/bin/vitrage-persistor|$PERSISTOR_BIN|" \
	-e "s|/usr/bin/vitrage-ctl|$CTL_BIN|g; s|/etc/vitrage/vitrage.conf|$CONF|g" \
	-e "s|listen=127.0.0.1:9702|listen=$GRAPH_ADDR pidfile=$T/graph.pid logfile=$T/graph.log|" \
	-e "s|listen=127.0.0.1:9701|listen=$PERSISTOR_ADDR pidfile=$T/persistor.pid logfile=$T/persistor.log|" \
	"$VITRAGE_SOURCE_DIR/deploy/pacemaker/vitrage.crm" > "$T/vitrage.crm"
grep -q "$GRAPH_ADDR" "$T/vitrage.crm" || die "could not adapt vitrage.crm"
T0=$(now)
timeout 60 crm configure load update "$T/vitrage.crm" > "$T/crm-load.log" 2>&1 || die "crm configure load: $(cat "$T/crm-load.log")"
timeout 30 crm_verify -L > "$T/crm-verify.log" 2>&1 || die "crm_verify: $(cat "$T/crm-verify.log")"
wait_graph_active 120 || die "graph not ACTIVE under pacemaker: $(timeout 10 crm_mon -1 2>&1 | tail -n 15)"
log "graph ACTIVE $(echo "$(now) - $T0" | bc) s after the configuration was loaded"
record_pacemaker_children
timeout 10 crm_mon -1 > "$T/crm_mon.txt" 2>&1
cat "$T/crm_mon.txt"

# ---- kill -9 the graph ----------------------------------------------------
graph_pid_now() { cat "$T/graph.pid" 2>/dev/null; }
times=()
for (( k = 1; k <= KILLS; k++ )); do
	old=$(graph_pid_now)
	[ -n "$old" ] && [ -d /proc/$old ] || die "no graph pid"
	sleep 1   # let the monitor settle and events flow
	kill -9 "$old"
	t_kill=$(now)
	while :; do
		pid=$(graph_pid_now)
		if [ -n "$pid" ] && [ "$pid" != "$old" ] &&
			[ "$(CTL_TIMEOUT=1 ctl status 2>/dev/null | json_field role)" = ACTIVE ]; then
			break
		fi
		(( $(echo "$(now) - $t_kill > 60" | bc) )) && die "no ACTIVE graph 60 s after kill -9"
		sleep 0.02
	done
	dt=$(echo "$(now) - $t_kill" | bc)
	times+=("$dt")
	log "kill -9 #$k of graph pid $old -> new graph pid $pid ACTIVE after $dt s"
	ctl status | grep -E '"(totalMs|snapshotLoadMs|replayMs|recordsReplayed|getAllMs)"' | tr -d '\n '
	echo
	# Forget the failure so migration-threshold does not move or ban it.
	timeout 30 crm_resource --cleanup -r vitrage-graph > /dev/null 2>&1
done

check_digest 90 "$MAX_CHANGES"

# ---- kill -9 the persistor: restarted, the graph keeps running -----------
# (The order is Optional: a persistor restart must not restart the graph.)
graph_before=$(graph_pid_now)
old=$(cat "$T/persistor.pid")
kill -9 "$old"
t_kill=$(now)
while :; do
	pid=$(cat "$T/persistor.pid" 2>/dev/null)
	[ -n "$pid" ] && [ "$pid" != "$old" ] && ctl persistor-status > /dev/null 2>&1 && break
	(( $(echo "$(now) - $t_kill > 60" | bc) )) && die "persistor not back 60 s after kill -9"
	sleep 0.05
done
log "kill -9 of persistor pid $old -> new persistor pid $pid serving after $(echo "$(now) - $t_kill" | bc) s"
[ "$(graph_pid_now)" = "$graph_before" ] || die "the graph was restarted with the persistor"
# The graph's channel may still be in reconnect backoff (up to 1 s): retry.
for (( i = 0; i < 50; i++ )); do
	ctl take-snapshot > "$T/take-snapshot.out" 2>&1 && break
	sleep 0.2
done
grep -q snapshotId "$T/take-snapshot.out" || die "no snapshot through the new persistor: $(cat "$T/take-snapshot.out")"
[ "$(ctl status | json_field role)" = ACTIVE ] || die "graph not ACTIVE after the persistor restart"
log "graph pid $graph_before stayed ACTIVE and stored a snapshot through the new persistor"
timeout 30 crm_resource --cleanup -r vitrage-persistor-clone > /dev/null 2>&1

# ---- stop and start by crm ------------------------------------------------
wait_stopped() {  # pidfile, seconds
	local i pid
	for (( i = 0; i < $2 * 10; i++ )); do
		pid=$(cat "$1" 2>/dev/null)
		{ [ -z "$pid" ] || [ ! -d /proc/$pid ]; } && return 0
		sleep 0.1
	done
	return 1
}
log "crm resource stop vitrage-graph"
timeout 30 crm resource stop vitrage-graph > "$T/crm-ops.log" 2>&1 || die "crm resource stop"
wait_stopped "$T/graph.pid" 30 || die "graph still running after crm resource stop"
CTL_TIMEOUT=1 ctl status > /dev/null 2>&1 && die "graph still answers after stop"
log "crm resource start vitrage-graph"
T0=$(now)
timeout 30 crm resource start vitrage-graph >> "$T/crm-ops.log" 2>&1 || die "crm resource start"
wait_graph_active 60 || die "graph not ACTIVE after crm resource start"
log "graph ACTIVE $(echo "$(now) - $T0" | bc) s after crm resource start"
check_digest 60 "$MAX_CHANGES"

log "crm resource stop vitrage-persistor-clone (the graph must stop with it)"
timeout 30 crm resource stop vitrage-persistor-clone >> "$T/crm-ops.log" 2>&1 || die "crm resource stop clone"
wait_stopped "$T/persistor.pid" 60 || die "persistor still running after stop"
wait_stopped "$T/graph.pid" 30 || die "graph still running without a persistor (colocation)"
log "crm resource start vitrage-persistor-clone"
T0=$(now)
timeout 30 crm resource start vitrage-persistor-clone >> "$T/crm-ops.log" 2>&1 || die "crm resource start clone"
wait_graph_active 90 || die "graph not ACTIVE after the persistor clone started again"
log "persistor and graph back, graph ACTIVE $(echo "$(now) - $T0" | bc) s after crm resource start"
check_digest 60 "$MAX_CHANGES"
timeout 10 crm_mon -1 2>&1 | tail -n 8

worst=$(printf '%s\n' "${times[@]}" | sort -n | tail -n 1)
log "RESULT kill -9 -> ACTIVE under pacemaker at 10k vertices: ${times[*]} s (worst $worst s, target <= $TARGET_S s)"
(( $(echo "$worst <= $TARGET_S" | bc) )) || die "kill -9 -> ACTIVE took $worst s (> $TARGET_S s)"
log "PASS in $(echo "$(now) - $T_START" | bc) s"

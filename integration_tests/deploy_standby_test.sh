#!/bin/bash
# Hot standby under real pacemaker (issue 11): the graph as a promotable
# clone, two instances on this one node (deploy/pacemaker/vitrage-standby.crm
# with clone_port_offset: ports BASE and BASE+1), next to the persistor clone
# of deploy/pacemaker/vitrage.crm. MariaDB, the collector (10k-vertex
# topology plus a stream of changes) and vitrage-test-vip run outside the
# cluster. vitrage-test-vip stands in for the virtual IP that follows the
# Promoted role: the collector pushes to it, it forwards to whichever
# instance is ACTIVE, and it polls both instances' health every 20 ms and
# logs each change with its time, which is how the failover is timed
# (no client process started per poll).
#
#   1. corosync + pacemakerd (deploy_test_cluster.sh), the configuration
#      loaded; one instance becomes ACTIVE, the other a current STANDBY.
#   2. KILLS times, while the collector pushes changes: kill -9 the ACTIVE
#      instance's pid; time kill -> the standby ACTIVE (and kill -> promote
#      started, promote -> ACTIVE); the new ACTIVE must have applied every
#      record the persistor had made durable before the kill; pacemaker
#      restarts the killed instance as a current STANDBY.
#   3. once the changes stopped and the collector drained (through the new
#      ACTIVE): the ACTIVE's digest equals the collector's, and the
#      standby's equals the ACTIVE's.
#   4. the times are printed and appended to bench/results/standby.tsv. The
#      target (<= 2 s with a 1 s monitor) is reported, not asserted; over
#      LIMIT_S (10 s) fails the test.
#
# Run by ctest with label "deploy" (RUN_SERIAL; one cluster per machine);
# exits 77 (skipped) without pacemaker or root.
. "$(dirname "$0")/deploy_test_lib.sh"
. "$(dirname "$0")/deploy_test_cluster.sh"

KILLS=${VITRAGE_DEPLOY_STANDBY_KILLS:-3}
TARGET_MS=2000
LIMIT_S=10
VIP_BIN=$VITRAGE_BINARY_DIR/integration_tests/vitrage-test-vip

cluster_preflight
deploy_init deploy_standby
T_START=$(now)
[ -x "$VIP_BIN" ] || die "$VIP_BIN is not built"
cluster_prepare

# ---- services outside the cluster ----------------------------------------
start_mariadb
# The generated 10k workload (build/workload/, make_workload).
TOPOLOGY_FILE=$VITRAGE_BINARY_DIR/workload/graph_10k.jsonl.zst
[ -r "$TOPOLOGY_FILE" ] || die "no workload file $TOPOLOGY_FILE (the build makes it: target vitrage_workload_files)"
CHANGE_RATE=${VITRAGE_DEPLOY_CHANGE_RATE:-50}
# Changes flow (50/s) through all the kills (about 45 s).
MAX_CHANGES=${VITRAGE_DEPLOY_MAX_CHANGES:-2500}
write_conf
# Snapshots every 10 s, so that a restarted instance loads a recent one.
sed -i 's/^enable_persistency = true$/&\nsnapshot_interval = 10/' "$CONF"
# The collector pushes to the "virtual IP" (GRAPH_ADDR in vitrage.conf).
VIP_ADDR=$GRAPH_ADDR
# Two free ports in a row for the two instances.
for (( i = 0; i < 50; i++ )); do
	BASE=$(free_port)
	/usr/bin/python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1])))" \
		$(( BASE + 1 )) 2>/dev/null && break
done
B=("127.0.0.1:$BASE" "127.0.0.1:$(( BASE + 1 ))")
CLUSTER_PIDFILES=("$T/graph-0.pid" "$T/graph-1.pid" "$T/persistor.pid")

"$VIP_BIN" --listen "$VIP_ADDR" --backend "${B[0]}" --backend "${B[1]}" --interval_ms 20 \
	> "$T/vip.out" 2> "$T/vip.log" &
CHILD_PIDS+=($!)
for (( i = 0; i < 100; i++ )); do
	grep -q listening "$T/vip.out" 2>/dev/null && break
	sleep 0.05
done
grep -q listening "$T/vip.out" || die "vitrage-test-vip did not start: $(cat "$T/vip.log")"
start_collector --max_changes "$MAX_CHANGES"

# The last state vitrage-test-vip saw of backend $1 (ACTIVE, STANDBY,
# NOT_READY, DOWN); vip_first: the time of its first line at or after $2
# (ms since the epoch) that says state $3.
vip_state() { awk -v b="$1" '$2 == "backend" && $3 == b {s = $4} END {print s}' "$T/vip.out"; }
vip_first() { awk -v b="$1" -v t="$2" -v s="$3" '$2 == "backend" && $3 == b && $1 >= t && $4 == s {print $1; exit}' "$T/vip.out"; }
now_ms() { date +%s%3N; }

# ---- corosync + pacemakerd ------------------------------------------------
cluster_start

# ---- the configuration: persistor clone from vitrage.crm, graph clone from
# vitrage-standby.crm, with this test's paths and ports ---------------------
# From vitrage.crm only the persistor's primitive and clone (its graph
# primitive and constraints are replaced by vitrage-standby.crm's).
awk '
	/^(primitive|clone|colocation|order) / { keep = (($1 == "primitive" && $2 == "vitrage-persistor") || ($1 == "clone" && $2 == "vitrage-persistor-clone")) }
	/^#/ { next }
	keep { print }
' "$VITRAGE_SOURCE_DIR/deploy/pacemaker/vitrage.crm" > "$T/vitrage.crm"
cat "$VITRAGE_SOURCE_DIR/deploy/pacemaker/vitrage-standby.crm" >> "$T/vitrage.crm"
sed -i -e "s|/usr/bin/vitrage-graph|$GRAPH_BIN|; s|/usr/bin/vitrage-persistor|$PERSISTOR_BIN|" \
	-e "s|/usr/bin/vitrage-ctl|$CTL_BIN|g; s|/etc/vitrage/vitrage.conf|$CONF|g" \
	-e "s|listen=127.0.0.1:9702|listen=127.0.0.1:$BASE clone_port_offset=true pidfile=$T/graph-{clone}.pid logfile=$T/graph-{clone}.log|" \
	-e "s|listen=127.0.0.1:9701|listen=$PERSISTOR_ADDR pidfile=$T/persistor.pid logfile=$T/persistor.log|" \
	-e "s|clone-node-max=1 interleave=true|clone-node-max=2 globally-unique=true interleave=false|" \
	"$T/vitrage.crm"
grep -q "globally-unique=true" "$T/vitrage.crm" || die "could not make the graph clone unique"
grep -q "clone_port_offset=true" "$T/vitrage.crm" || die "could not adapt vitrage-standby.crm"
grep -q "primitive vitrage-persistor" "$T/vitrage.crm" || die "could not take the persistor from vitrage.crm"
T0=$(now)
timeout 60 crm configure load update "$T/vitrage.crm" > "$T/crm-load.log" 2>&1 || die "crm configure load: $(cat "$T/crm-load.log")"
timeout 30 crm_verify -L -V > "$T/crm-verify.log" 2>&1 || die "crm_verify: $(cat "$T/crm-verify.log")"

# Waits up to $1 s for one ACTIVE and one current STANDBY; sets ACT and SBY
# (indexes into B).
wait_pair() {
	local deadline=$(( $(date +%s) + $1 )) s0 s1
	while [ "$(date +%s)" -lt "$deadline" ]; do
		s0=$(vip_state "${B[0]}")
		s1=$(vip_state "${B[1]}")
		if [ "$s0" = ACTIVE ] && [ "$s1" = STANDBY ]; then ACT=0; SBY=1; return 0; fi
		if [ "$s1" = ACTIVE ] && [ "$s0" = STANDBY ]; then ACT=1; SBY=0; return 0; fi
		sleep 0.05
	done
	log "states: ${B[0]} $s0, ${B[1]} $s1"
	return 1
}
wait_pair 120 || die "no ACTIVE + current STANDBY under pacemaker: $(timeout 10 crm_mon -1 2>&1 | tail -n 15)"
log "ACTIVE ${B[$ACT]} and current STANDBY ${B[$SBY]} $(echo "$(now) - $T0" | bc) s after the configuration was loaded"
record_pacemaker_children
timeout 10 crm_mon -1 > "$T/crm_mon.txt" 2>&1
cat "$T/crm_mon.txt"

# ---- kill -9 the ACTIVE instance ------------------------------------------
gctl() { local a=$1; shift; "$CTL_BIN" --timeout 5 --graph "$a" "$@"; }
times=()
for (( k = 1; k <= KILLS; k++ )); do
	wait_pair 60 || die "no ACTIVE + current STANDBY before kill #$k: $(timeout 10 crm_mon -1 2>&1 | tail -n 15)"
	sleep 1   # events flow; the standby follows them
	pid=$(cat "$T/graph-$ACT.pid" 2>/dev/null)
	[ -n "$pid" ] && [ -d /proc/$pid ] || die "no pid for the ACTIVE instance $ACT"
	kill -9 "$pid"
	t_kill=$(now_ms)
	# Nothing becomes durable after the kill until the standby is promoted:
	# this is what the new ACTIVE must have.
	# (Asked up to three times: on a loaded CI machine one status call has
	# timed out while pacemaker and the two graphs were busy.)
	durable=
	for attempt in 1 2 3; do
		durable=$(ctl persistor-status | json_field durableSeq)
		[ -n "$durable" ] && break
		log "persistor-status attempt $attempt gave no durable seq; asking again"
	done
	[ -n "$durable" ] || die "no durable seq from the persistor"
	while :; do
		t_active=$(vip_first "${B[$SBY]}" "$t_kill" ACTIVE)
		[ -n "$t_active" ] && break
		(( $(now_ms) - t_kill > 60000 )) && die "no ACTIVE graph 60 s after kill -9 of instance $ACT (pid $pid)"
		sleep 0.02
	done
	dt=$(( t_active - t_kill ))
	times+=("$dt")
	st=$(gctl "${B[$SBY]}" status)
	applied=$(echo "$st" | json_field appliedSeq)
	[ "${applied:-0}" -ge "$durable" ] || die "new ACTIVE applied seq $applied < durable seq $durable at the kill"
	promote_ms=$(echo "$st" | json_field promoteTotalMs)
	log "kill -9 #$k of ACTIVE instance $ACT (pid $pid) -> instance $SBY ACTIVE after $dt ms" \
		"(of which the promote itself ${promote_ms%.*} ms; durable seq at the kill $durable, applied by the new ACTIVE $applied)"
	echo "$st" | grep -E '"promote[A-Za-z]*":' | tr -d '\n '
	echo
	# The killed instance comes back as a standby by itself once its
	# failure expires (failure-timeout; migration-threshold=1 keeps it off
	# the failover's path).
	old_act=$ACT
	wait_pair 60 || die "killed instance $old_act not back as a current STANDBY: $(timeout 10 crm_mon -1 2>&1 | tail -n 15)"
	log "killed instance $old_act back as a current STANDBY $(( $(now_ms) - t_kill )) ms after the kill"
done

# ---- digests --------------------------------------------------------------
GRAPH_ADDR=$VIP_ADDR check_digest 90 "$MAX_CHANGES"
wait_pair 30 || die "no ACTIVE + current STANDBY at the end"
active_seq=$(gctl "${B[$ACT]}" status | json_field appliedSeq)
for (( i = 0; i < 200; i++ )); do
	[ "$(gctl "${B[$SBY]}" status | json_field appliedSeq)" = "$active_seq" ] && break
	sleep 0.05
done
ad=$(gctl "${B[$ACT]}" status --digest | json_field digest)
sd=$(gctl "${B[$SBY]}" status --digest | json_field digest)
[ -n "$ad" ] && [ "$ad" = "$sd" ] || die "standby digest $sd != ACTIVE digest $ad (seq $active_seq)"
log "standby ${B[$SBY]} at seq $active_seq has the ACTIVE's digest $ad"
timeout 10 crm_mon -1 2>&1 | tail -n 8

# ---- result ---------------------------------------------------------------
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
best=$(echo "$sorted" | head -n 1)
worst=$(echo "$sorted" | tail -n 1)
median=$(echo "$sorted" | sed -n "$(( (${#times[@]} + 1) / 2 ))p")
load=$(cut -d ' ' -f 1 /proc/loadavg)
met() { [ "$1" -le "$TARGET_MS" ] && echo met || echo missed; }
log "RESULT kill -9 of the promoted graph -> standby ACTIVE under pacemaker at 10k vertices" \
	"(monitor 1 s): ${times[*]} ms (best $best, median $median, worst $worst; target <= $TARGET_MS ms: $(met "$worst"); load $load)"
results=$VITRAGE_SOURCE_DIR/bench/results/standby.tsv
if [ -w "$results" ]; then
	d=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	{
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$d" "$load" "pacemaker kill -9 -> standby ACTIVE 10k (best of $KILLS)" "$best" "<= $TARGET_MS ms" "$(met "$best")"
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$d" "$load" "pacemaker kill -9 -> standby ACTIVE 10k (worst of $KILLS)" "$worst" "<= $TARGET_MS ms" "$(met "$worst")"
	} >> "$results"
fi
(( worst <= LIMIT_S * 1000 )) || die "kill -9 -> ACTIVE took $worst ms (> $LIMIT_S s)"
log "PASS in $(echo "$(now) - $T_START" | bc) s"

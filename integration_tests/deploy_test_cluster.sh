# Real pacemaker on one node for the deploy tests (deploy_test.sh,
# deploy_standby_test.sh; ../shared/DESIGN.md section 10): corosync -f and
# pacemakerd -f started by the test (no systemd), stonith-enabled=false,
# dc-deadtime=2s. Source after deploy_test_lib.sh, then:
#
#   cluster_preflight   before deploy_init: skips (77) without pacemaker or
#                       root; takes the machine-wide lock (deploy tests of
#                       different build trees take turns); fails, killing
#                       nothing, when a cluster or leftovers of an earlier
#                       run are alive (their pids are in $STATE)
#   cluster_prepare     after deploy_init: sets the CIB, pacemaker's state
#                       and /usr/lib/ocf/resource.d/vitrage aside (restored
#                       at exit) and installs deploy/ocf/ there
#   cluster_start       corosync + pacemakerd, waits for a DC; at exit
#                       pacemakerd (which stops the resources first) and
#                       corosync are ended by their pids, then whatever
#                       they left, by the pids recorded in $STATE
#
# Pid files of resources the test wants ended for sure at exit go into
# CLUSTER_PIDFILES.

STATE=/run/vitrage-deploy-test.pids
CIB_DIR=/var/lib/pacemaker/cib
PE_DIR=/var/lib/pacemaker/pengine
AGENT_DIR=/usr/lib/ocf/resource.d/vitrage
CLUSTER_PIDFILES=()

cluster_preflight() {
	local b pid comm alive running
	for b in corosync pacemakerd crm crm_attribute crmadmin cibadmin crm_resource; do
		command -v $b > /dev/null || { echo "$b not installed: skipped"; exit 77; }
	done
	[ "$(id -u)" = 0 ] || { echo "pacemaker needs root: skipped"; exit 77; }
	# Another deploy test (another build tree's ctest) holds this lock while
	# it runs: wait for it. The kernel drops the lock when its holder dies.
	exec 9> /run/vitrage-deploy-test.lock
	if ! flock -n 9; then
		echo "another deploy test is running; waiting up to 200 s for it"
		flock -w 200 9 || { echo "FAIL: another deploy test still runs after 200 s"; exit 1; }
	fi
	if [ -s "$STATE" ]; then
		alive=""
		while read -r pid comm; do
			[ "$(cat /proc/$pid/comm 2>/dev/null)" = "$comm" ] && alive="$alive $pid($comm)"
		done < "$STATE"
		if [ -n "$alive" ]; then
			echo "FAIL: processes of an earlier deploy test run are still alive:$alive"
			echo "Check them (ps -o pid,args -p PID), end them by pid, then rm $STATE."
			exit 1
		fi
		rm -f "$STATE"
	fi
	# (Zombies do not count: they are only waiting for their parent.)
	running=$(ps -eo pid=,stat=,comm= | awk '$2 !~ /^Z/ && ($3 == "corosync" || $3 == "pacemakerd") {print $1 "(" $3 ")"}' | tr '\n' ' ')
	if [ -n "$running" ]; then
		echo "FAIL: a cluster is already running on this machine: $running"
		echo "The deploy tests start their own corosync and pacemakerd; stop that one first."
		exit 1
	fi
}

cluster_prepare() {
	mkdir -p "$T/saved/cib" "$T/saved/pengine"
	mv "$CIB_DIR"/* "$T/saved/cib/" 2>/dev/null
	mv "$PE_DIR"/* "$T/saved/pengine/" 2>/dev/null
	CLEANUPS+=('rm -rf "$CIB_DIR"/* "$PE_DIR"/*; mv "$T"/saved/cib/* "$CIB_DIR"/ 2>/dev/null; mv "$T"/saved/pengine/* "$PE_DIR"/ 2>/dev/null; log "CIB cleaned"')
	ls -A /var/lib/corosync > "$T/corosync-files-before" 2>/dev/null
	CLEANUPS+=('for f in $(ls -A /var/lib/corosync 2>/dev/null); do grep -qxF "$f" "$T/corosync-files-before" || rm -f "/var/lib/corosync/$f"; done')
	if [ -e "$AGENT_DIR" ]; then
		mv "$AGENT_DIR" "$T/saved/agents"
		CLEANUPS+=('rm -rf "$AGENT_DIR"; mv "$T/saved/agents" "$AGENT_DIR"')
	else
		CLEANUPS+=('rm -rf "$AGENT_DIR"')
	fi
	mkdir -p "$AGENT_DIR"
	install -m 755 "$OCF_DIR/vitrage-persistor" "$OCF_DIR/vitrage-graph" "$AGENT_DIR/"
}

record_pid() { echo "$1 $2" >> "$STATE"; }
# pacemakerd's children (pacemaker-based, -execd, ...) are ours too.
record_pacemaker_children() {
	local pid
	for pid in $(ps -o pid= --ppid "$PACEMAKERD_PID"); do
		grep -q "^$pid " "$STATE" || record_pid "$pid" "$(cat /proc/$pid/comm 2>/dev/null)"
	done
}

stop_cluster() {
	local pid comm f
	if [ -n "${PACEMAKERD_PID:-}" ]; then
		record_pacemaker_children
		log "stopping pacemakerd $PACEMAKERD_PID (stops the resources first)"
		end_pid "$PACEMAKERD_PID" 90
	fi
	[ -n "${COROSYNC_PID:-}" ] && { log "stopping corosync $COROSYNC_PID"; end_pid "$COROSYNC_PID" 30; }
	# Whatever survived: pacemaker's children and the resources' processes,
	# by the pids we recorded (never by name).
	if [ -s "$STATE" ]; then
		while read -r pid comm; do
			if [ "$(cat /proc/$pid/comm 2>/dev/null)" = "$comm" ]; then
				log "ending leftover $comm $pid"
				kill -KILL "$pid" 2>/dev/null
			fi
		done < "$STATE"
	fi
	for f in "${CLUSTER_PIDFILES[@]}"; do
		pid=$(cat "$f" 2>/dev/null)
		[ -n "$pid" ] && [ -d /proc/$pid ] && { log "ending leftover resource pid $pid ($f)"; kill -KILL "$pid"; }
	done
	rm -f "$STATE"
}

# Sets COROSYNC_PID, PACEMAKERD_PID; returns once a DC is elected.
cluster_start() {
	local i t0 knet_port
	knet_port=$(free_port udp)
	cat > "$T/corosync.conf" <<EOC
totem {
    version: 2
    cluster_name: vitrage-$TEST_NAME
    transport: knet
    crypto_cipher: none
    crypto_hash: none
    interface {
        linknumber: 0
        mcastport: $knet_port
    }
}
nodelist {
    node {
        ring0_addr: 127.0.0.1
        nodeid: 1
        name: $(uname -n)
    }
}
quorum {
    provider: corosync_votequorum
}
logging {
    to_logfile: yes
    logfile: $T/corosync.log
    to_stderr: no
    to_syslog: no
    timestamp: on
}
EOC
	corosync -t -c "$T/corosync.conf" > "$T/corosync-check.log" 2>&1 || die "corosync.conf: $(cat "$T/corosync-check.log")"
	CLEANUPS+=('stop_cluster')
	: > "$STATE"
	t0=$(now)
	corosync -f -c "$T/corosync.conf" > "$T/corosync.out" 2>&1 &
	COROSYNC_PID=$!
	CHILD_PIDS+=($COROSYNC_PID)
	record_pid $COROSYNC_PID corosync
	for (( i = 0; i < 100; i++ )); do
		corosync-quorumtool -s > /dev/null 2>&1 && break
		kill -0 $COROSYNC_PID 2>/dev/null || die "corosync exited: $(tail -n 5 "$T/corosync.log")"
		sleep 0.1
	done
	# The daemons run as hacluster: they must be able to reach and write the log.
	chmod 755 "$T"
	install -m 660 -o hacluster -g haclient /dev/null "$T/pacemaker.log"
	PCMK_logfile=$T/pacemaker.log pacemakerd -f > "$T/pacemakerd.out" 2>&1 &
	PACEMAKERD_PID=$!
	CHILD_PIDS+=($PACEMAKERD_PID)
	record_pid $PACEMAKERD_PID pacemakerd
	for (( i = 0; i < 100; i++ )); do
		crm_attribute -t crm_config -n stonith-enabled -v false > /dev/null 2>&1 && break
		sleep 0.1
	done
	crm_attribute -t crm_config -n dc-deadtime -v 2s || die "crm_attribute dc-deadtime"
	record_pacemaker_children
	for (( i = 0; i < 600; i++ )); do
		have_dc && break
		sleep 0.1
	done
	have_dc || die "no DC elected within 60 s"
	record_pacemaker_children
	log "cluster up, DC elected after $(echo "$(now) - $t0" | bc) s"
}

# (crmadmin -D can hang before the controller is up: read dc-uuid instead.)
have_dc() { timeout 5 cibadmin --query 2>/dev/null | head -n 1 | grep -q 'dc-uuid='; }

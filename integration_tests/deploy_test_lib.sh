# Helpers shared by the deploy tests (ocf_agents_test.sh, deploy_test.sh):
# a temp dir, free ports, a private MariaDB, vitrage.conf, and child
# processes that are ended by their pid when the test exits. Nothing here
# kills by name.
#
# ctest sets VITRAGE_BINARY_DIR and VITRAGE_SOURCE_DIR. Source this file,
# then call deploy_init NAME.

set -u

: "${VITRAGE_BINARY_DIR:?run from ctest (VITRAGE_BINARY_DIR)}"
: "${VITRAGE_SOURCE_DIR:?run from ctest (VITRAGE_SOURCE_DIR)}"

GRAPH_BIN=$VITRAGE_BINARY_DIR/graph_service/vitrage-graph
CTL_BIN=$VITRAGE_BINARY_DIR/graph_service/vitrage-ctl
PERSISTOR_BIN=$VITRAGE_BINARY_DIR/persistor_service/vitrage-persistor
COLLECTOR_BIN=$VITRAGE_BINARY_DIR/collector/vitrage-collector
MARIADB_BIN=$VITRAGE_BINARY_DIR/common/vitrage-mariadb
OCF_DIR=$VITRAGE_SOURCE_DIR/deploy/ocf

# Pids this test started, ended in reverse order at exit.
CHILD_PIDS=()
# Cleanup commands run (in reverse order) at exit, before the children are
# ended.
CLEANUPS=()

log() { echo "[$(date +%H:%M:%S.%3N)] $*"; }
die() { log "FAIL: $*"; exit 1; }

# Seconds since the epoch with milliseconds.
now() { date +%s.%3N; }

deploy_init() {
	TEST_NAME=$1
	T=$(mktemp -d "${TMPDIR:-/tmp}/vitrage-$TEST_NAME.XXXXXX")
	log "$TEST_NAME: work dir $T"
	for b in "$GRAPH_BIN" "$CTL_BIN" "$PERSISTOR_BIN" "$COLLECTOR_BIN" "$MARIADB_BIN"; do
		[ -x "$b" ] || die "$b is not built"
	done
	trap deploy_exit EXIT
	trap 'exit 130' INT TERM
}

# Ends a pid we started: SIGTERM, up to `grace` seconds, then SIGKILL.
end_pid() {
	local pid=$1 grace=${2:-20} i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for (( i = 0; i < grace * 10; i++ )); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
		# A child of ours that exited stays a zombie until waited for.
		if [ "$(sed 's/.*) //' /proc/$pid/stat 2>/dev/null | cut -c1)" = Z ]; then
			wait "$pid" 2>/dev/null
			return 0
		fi
		sleep 0.1
	done
	log "pid $pid ignored SIGTERM for ${grace}s: SIGKILL"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

deploy_exit() {
	local rc=$? i
	trap - EXIT
	for (( i = ${#CLEANUPS[@]} - 1; i >= 0; i-- )); do
		eval "${CLEANUPS[$i]}" || true
	done
	for (( i = ${#CHILD_PIDS[@]} - 1; i >= 0; i-- )); do
		end_pid "${CHILD_PIDS[$i]}" 20
	done
	if [ $rc -ne 0 ] && [ -d "$T" ]; then
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "----- tail of $f"
			tail -n 25 "$f"
		done
	fi
	if [ -z "${VITRAGE_KEEP_STACK:-}" ]; then
		rm -rf "$T"
	else
		log "kept $T"
	fi
	log "$TEST_NAME: exit $rc"
	exit $rc
}

# A TCP port on 127.0.0.1 that was free a moment ago (UDP too with "udp").
free_port() {
	/usr/bin/python3 - "${1:-tcp}" <<'EOF'
import socket, sys
kind = socket.SOCK_DGRAM if sys.argv[1] == 'udp' else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, kind)
s.bind(('127.0.0.1', 0))
print(s.getsockname()[1])
EOF
}

# Starts a private MariaDB; sets DB_URL.
start_mariadb() {
	"$MARIADB_BIN" --dir "$T/mariadb" > "$T/mariadb.url" 2> "$T/mariadb.log" &
	CHILD_PIDS+=($!)
	local i
	for (( i = 0; i < 600; i++ )); do
		DB_URL=$(head -n 1 "$T/mariadb.url" 2>/dev/null)
		[ -n "$DB_URL" ] && { log "mariadb: $DB_URL"; return 0; }
		kill -0 "${CHILD_PIDS[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	die "vitrage-mariadb did not start: $(tail -n 5 "$T/mariadb.log")"
}

# Picks ports and writes $T/vitrage.conf. Optional: TOPOLOGY_FILE,
# CHANGE_RATE.
write_conf() {
	PERSISTOR_PORT=$(free_port)
	GRAPH_PORT=$(free_port)
	COLLECTOR_PORT=$(free_port)
	PERSISTOR_ADDR=127.0.0.1:$PERSISTOR_PORT
	GRAPH_ADDR=127.0.0.1:$GRAPH_PORT
	COLLECTOR_ADDR=127.0.0.1:$COLLECTOR_PORT
	CONF=$T/vitrage.conf
	{
		echo "[persistency]"
		echo "enable_persistency = true"
		echo "persistor_address = $PERSISTOR_ADDR"
		echo
		echo "[database]"
		echo "connection = $DB_URL"
		echo
		echo "[persistor]"
		echo "listen_address = $PERSISTOR_ADDR"
		echo
		echo "[graph]"
		echo "listen_address = $GRAPH_ADDR"
		echo "collector_address = $COLLECTOR_ADDR"
		echo
		echo "[collector]"
		echo "listen_address = $COLLECTOR_ADDR"
		echo "graph_address = $GRAPH_ADDR"
		echo "change_rate = ${CHANGE_RATE:-0}"
		if [ -n "${TOPOLOGY_FILE:-}" ]; then
			echo "topology_file = $TOPOLOGY_FILE"
		else
			echo "synthetic_hosts = 4"
		fi
		echo
		echo "[ssl]"
		echo "allow_plaintext = true"
	} > "$CONF"
}

ctl() { "$CTL_BIN" --timeout "${CTL_TIMEOUT:-5}" --graph "$GRAPH_ADDR" --persistor "$PERSISTOR_ADDR" \
	--collector "$COLLECTOR_ADDR" "$@"; }

# Starts the collector outside pacemaker; extra args are passed on.
start_collector() {
	"$COLLECTOR_BIN" --config "$CONF" "$@" >> "$T/collector.log" 2>&1 &
	CHILD_PIDS+=($!)
	COLLECTOR_PID=$!
	local i
	for (( i = 0; i < 1200; i++ )); do
		ctl collector-status > /dev/null 2>&1 && return 0
		kill -0 "$COLLECTOR_PID" 2>/dev/null || break
		sleep 0.05
	done
	die "vitrage-collector did not start: $(tail -n 5 "$T/collector.log")"
}

# A JSON field of `vitrage-ctl ... ` output on stdin (first match).
json_field() {
	sed -n "s/^ *\"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -n 1
}

# Waits up to $1 seconds until the graph is ACTIVE.
wait_graph_active() {
	local deadline=$(( $(date +%s) + $1 )) role
	while [ "$(date +%s)" -lt "$deadline" ]; do
		role=$(ctl status 2>/dev/null | json_field role)
		[ "$role" = ACTIVE ] && return 0
		sleep 0.05
	done
	return 1
}

# Waits up to $1 seconds until the collector has nothing pending (and, with
# $2, generated at least $2 changes), then checks that the graph's digest is
# the collector's model digest. With the change generator on, a comparison
# counts only when no change was generated while the two digests were
# taken; it is retried otherwise.
check_digest() {
	local deadline=$(( $(date +%s) + $1 )) want=${2:-0} out pending changes after gd cd
	while :; do
		out=$(ctl collector-status 2>/dev/null)
		pending=$(echo "$out" | json_field pending)
		changes=$(echo "$out" | json_field changes)
		if [ "$pending" = 0 ] && [ "${changes:-0}" -ge "$want" ]; then
			gd=$(CTL_TIMEOUT=60 ctl status --digest | json_field digest)
			out=$(CTL_TIMEOUT=60 ctl collector-status --digest)
			cd=$(echo "$out" | json_field modelDigest)
			after=$(echo "$out" | json_field changes)
			if [ "$after" = "$changes" ]; then
				[ -n "$gd" ] && [ "$gd" = "$cd" ] || die "digest mismatch: graph $gd, collector $cd (changes $changes)"
				log "digest ok: $gd (collector changes $changes)"
				return 0
			fi
		fi
		[ "$(date +%s)" -lt "$deadline" ] || die "collector not drained or never quiet: pending=$pending changes=$changes"
		sleep 0.05
	done
}

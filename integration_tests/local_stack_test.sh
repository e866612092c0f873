#!/bin/bash
# deploy/run-local-stack.sh as a new user meets it (issue 26, items 9 and
# 10), without a rebuild (SKIP_BUILD=1):
#   * it prints every pid, MariaDB's (mariadbd) included;
#   * the evaluator runs with deploy/templates/: a deduced alarm with an RCA
#     shows within a minute of start;
#   * a kill (SIGTERM) of the script stops the whole stack at once, not when
#     --duration ends; every process it started is gone;
#   * the logs and vitrage.conf stay in the stack's directory.
# Run by ctest (label "integration;mariadb").
set -u
: "${VITRAGE_SOURCE_DIR:?set by ctest}" "${VITRAGE_BINARY_DIR:?set by ctest}"
OUT=$(mktemp /tmp/local-stack-test.XXXXXX)
log() { echo "[$(date +%H:%M:%S.%3N)] $*"; }
# On failure: the script, then every pid it printed (a script that does not
# stop on SIGTERM must not leave its stack behind).
die() {
	log "FAIL: $*"
	echo "--- script output:"
	cat "$OUT"
	[ -n "${SCRIPT:-}" ] && kill -TERM "$SCRIPT" 2>/dev/null
	local p
	for p in $(grep -o 'pid [0-9][0-9]*' "$OUT" | awk '{ print $2 }' | sort -ru); do
		kill -TERM "$p" 2>/dev/null
	done
	exit 1
}

SKIP_BUILD=1 BUILD_DIR=$VITRAGE_BINARY_DIR bash "$VITRAGE_SOURCE_DIR/deploy/run-local-stack.sh" \
	--duration 600 > "$OUT" 2>&1 &
SCRIPT=$!
for (( i = 0; i < 1200; i++ )); do
	grep -q "^stack: running" "$OUT" && break
	kill -0 "$SCRIPT" 2>/dev/null || die "the script exited early"
	sleep 0.1
done
grep -q "^stack: running" "$OUT" || die "the stack did not start in 120 s"
STACK=$(sed -n 's/^stack: directory //p' "$OUT")
GRAPH=$(sed -n 's/^  graph *\(127\.0\.0\.1:[0-9]*\) .*/\1/p' "$OUT")
MARIADBD=$(sed -n 's/.*mariadbd pid \([0-9]*\).*/\1/p' "$OUT")
[ -n "$MARIADBD" ] || die "no mariadbd pid printed"
kill -0 "$MARIADBD" 2>/dev/null || die "mariadbd pid $MARIADBD is not running"
log "ok: MariaDB's pid printed ($MARIADBD)"
PIDS=$(grep -o 'pid [0-9][0-9]*' "$OUT" | awk '{ print $2 }' | sort -u)
[ "$(echo "$PIDS" | wc -w)" -ge 5 ] || die "fewer than 5 pids printed: $PIDS"

CTL=$VITRAGE_BINARY_DIR/graph_service/vitrage-ctl
deadline=$(( $(date +%s) + 90 ))
found=""
while [ "$(date +%s)" -lt "$deadline" ]; do
	alarms=$("$CTL" --graph "$GRAPH" alarms --type vitrage 2>&1)
	id=$(echo "$alarms" | awk '/instance suspect/ { print $1; exit }')
	if [ -n "$id" ]; then
		rca=$("$CTL" --graph "$GRAPH" rca "$id" 2>&1)
		if echo "$rca" | grep -q zabbix && echo "$rca" | grep -q causes; then
			found=$id
			break
		fi
	fi
	sleep 1
done
[ -n "$found" ] || die "no deduced alarm with an RCA within 90 s of ACTIVE: $alarms / ${rca:-}"
log "ok: deduced alarm $found with an RCA"

t0=$(date +%s.%N)
kill -TERM "$SCRIPT"
for (( i = 0; i < 300; i++ )); do kill -0 "$SCRIPT" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SCRIPT" 2>/dev/null && die "the script still runs 30 s after SIGTERM (--duration 600)"
wait "$SCRIPT" 2>/dev/null
took=$(echo "$(date +%s.%N) - $t0" | bc)
log "ok: the script stopped ${took}s after SIGTERM"
for p in $PIDS; do
	kill -0 "$p" 2>/dev/null && die "pid $p still runs after the stack stopped"
done
log "ok: every process it started is gone"
for f in graph.log persistor.log collector.log vitrage.conf; do
	[ -s "$STACK/$f" ] || die "$STACK/$f did not survive the stop"
done
grep -q "logs and config kept in $STACK" "$OUT" || die "the script does not say where the logs are"
log "ok: logs and config kept in $STACK"
rm -rf "$STACK" "$OUT"
log PASS

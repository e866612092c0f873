#!/usr/bin/env bash
# The long crash loop: 200+ faults (graph, persistor, mysqld, RabbitMQ
# killed with kill -9 at random moments) while the change generator runs
# and the real oslo Notifier publishes nova, cinder, neutron and Zabbix
# notifications on the bus. Once the faults end the generator and the
# publisher stop and everything drains. Prints the seed first and a
# summary line at the end (faults, events acked, lost, doubled, max
# recovery time; notifications published, lost, doubled), and appends
# that line to bench/results/crash_loop.tsv (with the date, commit, load
# average, duration and whether the run passed). VITRAGE_CRASH_LOOP_BUS=0
# runs it without the bus, as before.
#
#   integration_tests/crash_loop_long.sh [FAULTS] [SEED]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
RESULTS=${CRASH_LOOP_RESULTS:-$ROOT/bench/results/crash_loop.tsv}
export VITRAGE_CRASH_LOOP_FAULTS=${1:-200}
if [[ -n ${2:-} ]]; then export VITRAGE_CRASH_LOOP_SEED=$2; fi
export VITRAGE_SOURCE_DIR=$ROOT VITRAGE_BINARY_DIR=$BUILD_DIR

log=$(mktemp /tmp/crash-loop-XXXXXX.log)
start=$(date +%s)
rc=0
"$BUILD_DIR/integration_tests/crash_loop_test" \
  --gtest_filter=CrashLoopTest.EveryAckedEventIsInTheGraphExactlyOnce 2>&1 | tee "$log" || rc=$?
secs=$(( $(date +%s) - start ))

# crash-loop summary: seed S, faults F (graph G, persistor P, mysqld M,
# rabbitmq Q), events acked A, lost L, doubled D, max graph recovery R ms;
# bus notifications published N, lost BL, doubled BD
summary=$(grep -m1 '^crash-loop summary:' "$log" || true)
seed=$(grep -m1 -o 'crash-loop: seed [0-9]*' "$log" | grep -o '[0-9]*$' || true)
if [[ ! -s $RESULTS ]]; then
  printf 'date\tcommit\tloadavg\tseed\tfaults\tgraph\tpersistor\tmysqld\tacked\tlost\tdoubled\tmax_recovery_ms\tseconds\tresult\trabbitmq\tbus_published\tbus_lost\tbus_doubled\n' >"$RESULTS"
fi
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
load=$(cut -d' ' -f1 /proc/loadavg)
result=$([[ $rc == 0 ]] && echo pass || echo fail)
if [[ -n $summary ]]; then
  read -r faults graph persistor mysqld rabbitmq acked lost doubled recovery < <(
    echo "$summary" | sed -E 's/.*faults ([0-9]+) \(graph ([0-9]+), persistor ([0-9]+), mysqld ([0-9]+), rabbitmq ([0-9]+)\), events acked ([0-9]+), lost ([0-9]+), doubled ([0-9]+), max graph recovery ([0-9]+) ms.*/\1 \2 \3 \4 \5 \6 \7 \8 \9/')
  read -r published bus_lost bus_doubled < <(
    echo "$summary" | sed -E 's/.*bus notifications published ([0-9]+), lost ([0-9]+), doubled ([0-9]+).*/\1 \2 \3/')
else
  # The run failed before its summary: record what is known.
  faults=$VITRAGE_CRASH_LOOP_FAULTS graph=- persistor=- mysqld=- rabbitmq=- acked=- lost=- doubled=- recovery=-
  published=- bus_lost=- bus_doubled=-
fi
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
  "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$commit" "$load" "${seed:--}" "$faults" "$graph" \
  "$persistor" "$mysqld" "$acked" "$lost" "$doubled" "$recovery" "$secs" "$result" \
  "$rabbitmq" "$published" "$bus_lost" "$bus_doubled" >>"$RESULTS"
echo "crash-loop: recorded in $RESULTS ($result, ${secs} s; log $log)"
exit "$rc"

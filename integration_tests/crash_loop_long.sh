#!/usr/bin/env bash
# The long crash loop: 200+ faults (graph, persistor, mysqld killed with
# kill -9 at random moments) while the change generator runs. Prints the
# seed first and a summary line at the end (faults, events acked, lost,
# doubled, max recovery time).
#
#   integration_tests/crash_loop_long.sh [FAULTS] [SEED]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
export VITRAGE_CRASH_LOOP_FAULTS=${1:-200}
[[ -n ${2:-} ]] && export VITRAGE_CRASH_LOOP_SEED=$2
export VITRAGE_SOURCE_DIR=$ROOT VITRAGE_BINARY_DIR=$BUILD_DIR
exec "$BUILD_DIR/integration_tests/crash_loop_test" \
  --gtest_filter=CrashLoopTest.EveryAckedEventIsInTheGraphExactlyOnce

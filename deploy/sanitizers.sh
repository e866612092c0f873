#!/usr/bin/env bash
# Builds the project under a sanitizer and runs the test suites with it.
#
#   bash deploy/sanitizers.sh address   # ASan + UBSan, in build-asan/
#   bash deploy/sanitizers.sh thread    # TSan, in build-tsan/
#
# The integration tests start vitrage-graph, vitrage-persistor and
# vitrage-collector from the same build tree, so the services run
# instrumented too. Their logs (stderr included) are kept in a private
# TMPDIR (VITRAGE_KEEP_STACK=1) and, after ctest, every log there and the
# ctest log are scanned for AddressSanitizer, LeakSanitizer, UBSan
# ("runtime error:") and ThreadSanitizer reports. Exit status: non-zero when
# the build or a test fails or any report is found; the files with reports
# are listed.
#
# Tests run (ctest -j1): everything except the "deploy" label (pacemaker),
# crash_loop_test (an hour-long random crash loop, too slow instrumented)
# and local_stack_smoke. TSan uses tsan.supp at the repository root
# (reports entirely inside uninstrumented Debian gRPC/abseil) and preloads
# common/testing/tsan_absl_mutex_shim.cc, which makes absl::Mutex visible
# to TSan. Reports left whose top frames are generated protobuf code racing
# with gRPC's slice memory are still false positives of the uninstrumented
# gRPC; a report with our own code on top is a finding.
#
# Environment (all optional):
#   BUILD_DIR   build tree (default: build-asan / build-tsan)
#   JOBS        ninja parallelism (default 2; shared 2-core machines)
#   TESTS       ctest -R regex to run only some tests, e.g.
#               TESTS='^(collector_test|grpc_util_test|persistor_.*|failover_test)$'
#   TARGETS     ninja targets to build (default: all); with TESTS, the test
#               binaries and the services they start, e.g.
#               TARGETS='vitrage-graph vitrage-persistor vitrage-collector vitrage-ctl failover_test'
#               (evaluator_integration_test and security_test run vitrage-ctl)
#   KEEP_LOGS=1 keep the service logs dir even when everything is clean
#   Extra arguments after the sanitizer name go to ctest.
set -uo pipefail

usage() { sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ $# -ge 1 ]] || usage
SAN=$1
shift
case "$SAN" in
  address) DEFAULT_DIR=build-asan ;;
  thread) DEFAULT_DIR=build-tsan ;;
  -h|--help) usage ;;
  *) echo "sanitizers.sh: the sanitizer must be 'address' or 'thread', not '$SAN'" >&2; exit 2 ;;
esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/$DEFAULT_DIR}
JOBS=${JOBS:-2}

cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DVITRAGE_SANITIZE="$SAN" || exit 1
# shellcheck disable=SC2086  # TARGETS is a list of words
ninja -C "$BUILD_DIR" -j "$JOBS" ${TARGETS:-} || exit 1

# Short private TMPDIR: the MariaDB fixture puts its socket in it.
LOGS=$(mktemp -d /tmp/vsan.XXXXXX)
export TMPDIR=$LOGS VITRAGE_KEEP_STACK=1
if [[ $SAN == address ]]; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
else
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1:suppressions=$ROOT/tsan.supp}
  # Debian's abseil has no TSan annotations: without this shim every
  # absl::Mutex-guarded field is reported (see the shim's header).
  SHIM=$BUILD_DIR/tsan_absl_mutex_shim.so
  c++ -std=c++17 -shared -fPIC -O1 -Wall -Wextra -Werror -o "$SHIM" \
    "$ROOT/common/testing/tsan_absl_mutex_shim.cc" -ldl || exit 1
  export LD_PRELOAD=$SHIM${LD_PRELOAD:+:$LD_PRELOAD}
fi

args=(--test-dir "$BUILD_DIR" --output-on-failure -j1 -LE deploy
      -E 'crash_loop_test|local_stack_smoke')
[[ -n ${TESTS:-} ]] && args+=(-R "$TESTS")
ctest "${args[@]}" "$@"
rc=$?

pattern='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer|ThreadSanitizer: reported'
found=$(grep -rlE "$pattern" "$LOGS" "$BUILD_DIR/Testing/Temporary/LastTest.log" 2>/dev/null)
if [[ -n $found ]]; then
  echo "sanitizers.sh: $SAN reports in:"
  echo "$found" | sed 's/^/  /'
  [[ $rc -eq 0 ]] && rc=1
fi
if [[ $rc -eq 0 && -z ${KEEP_LOGS:-} ]]; then
  rm -rf "$LOGS"
else
  echo "sanitizers.sh: service logs kept in $LOGS"
fi
[[ $rc -eq 0 ]] && echo "sanitizers.sh: $SAN: clean"
exit $rc

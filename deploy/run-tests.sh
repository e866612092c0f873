#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs every test
# (unit, persistor-on-MariaDB, integration over the real binaries) with ctest.
# Exits non-zero on any failure. Extra arguments go to ctest (e.g. -R config).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
export BUILD_DIR
bash "$ROOT/deploy/build.sh"
bash "$ROOT/deploy/check-format.sh"
cd "$BUILD_DIR"
ctest --output-on-failure -j "${CTEST_JOBS:-2}" "$@"

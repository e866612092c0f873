#!/usr/bin/env bash
# Installs the Debian packages the project needs (idempotent), then
# configures and builds everything with CMake + Ninja (+ ccache).
#
#   BUILD_DIR   build directory (default: <repo>/build)
#   CMAKE_ARGS  extra CMake arguments, e.g. -DVITRAGE_SANITIZE=address
#   JOBS        parallel jobs (default: number of cores)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
bash "$ROOT/deploy/install-deps.sh"
# shellcheck disable=SC2086
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}"

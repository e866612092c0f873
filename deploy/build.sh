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
# Upstream Vitrage's state mappings (datasources_values/*.yaml) from the
# Debian package vitrage-common, unpacked without installing it; the graph
# reads them from [graph] datasources_values_dir. Idempotent.
if ! sh "$ROOT/deploy/fetch-datasources-values.sh" "$BUILD_DIR/datasources_values"; then
  echo "build: warning: could not fetch datasources_values (apt unreachable?);" \
       "the graph falls back to its built-in state tables" >&2
fi

#!/usr/bin/env bash
# ctest's differential_test: run.sh VITRAGE_CTL VALUES_DIR [differential.py args]
# Fails (never skips) when upstream Vitrage (python3-vitrage) or its state
# mappings are missing: deploy/install-deps.sh installs them.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ctl=$1 values=$2
shift 2
if ! /usr/bin/python3 -c 'import vitrage.entity_graph.processor.processor' 2>/dev/null; then
  echo "differential_test: python3-vitrage not installed (run deploy/install-deps.sh)" >&2
  exit 1
fi
if ! ls "$values"/*.yaml >/dev/null 2>&1; then
  echo "differential_test: no datasources_values in $values (the build makes them)" >&2
  exit 1
fi
exec /usr/bin/python3 "$here/differential.py" --ctl "$ctl" --values "$values" "$@"

#!/usr/bin/env bash
# ctest's differential_test: run.sh VITRAGE_CTL VALUES_DIR [differential.py args]
# Skips (77) when upstream Vitrage (python3-vitrage) or its state mappings
# are missing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ctl=$1 values=$2
shift 2
if ! /usr/bin/python3 -c 'import vitrage.entity_graph.processor.processor' 2>/dev/null; then
  echo "differential_test: python3-vitrage not installed (deploy/install-deps.sh); skipping"
  exit 77
fi
if ! ls "$values"/*.yaml >/dev/null 2>&1; then
  echo "differential_test: no datasources_values in $values; skipping"
  exit 77
fi
exec /usr/bin/python3 "$here/differential.py" --ctl "$ctl" --values "$values" "$@"

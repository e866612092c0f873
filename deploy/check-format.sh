#!/usr/bin/env bash
# Checks that every C++ file in the tree is formatted as .clang-format says
# (Google style, 100 columns), and that no merge conflict marker was
# committed. Lists the files that are not and exits 1;
# `deploy/check-format.sh --fix` formats them in place.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
command -v clang-format >/dev/null || {
  echo "check-format: clang-format is missing; run deploy/install-deps.sh" >&2
  exit 2
}
mapfile -t files < <(git ls-files '*.cc' '*.h' | grep -v '^testdata/')
if [[ "${1:-}" == "--fix" ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
# A merge conflict committed by mistake (clang-format would indent it).
if git grep -nE '^[[:space:]]*(<<<<<<<|>>>>>>>) ' -- . ':!deploy/check-format.sh' >&2; then
  echo "check-format: merge conflict markers above" >&2
  exit 1
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  echo "check-format: ${#bad[@]} of ${#files[@]} files are not formatted (run deploy/check-format.sh --fix):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted as .clang-format says"

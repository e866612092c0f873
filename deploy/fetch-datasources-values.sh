#!/bin/sh
# Copies upstream Vitrage's state mappings (datasources_values/*.yaml) out
# of the Debian package vitrage-common, without installing it.
#
#   deploy/fetch-datasources-values.sh [TARGET_DIR]
#
# TARGET_DIR defaults to $VITRAGE_BINARY_DIR/datasources_values, else
# ./build/datasources_values. Idempotent: when TARGET_DIR already holds the
# YAML files it does nothing. Needs apt-get (download only) and dpkg-deb.
set -eu

target=${1:-${VITRAGE_BINARY_DIR:-./build}/datasources_values}

if ls "$target"/*.yaml >/dev/null 2>&1; then
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

(cd "$tmp" && apt-get download vitrage-common >/dev/null)
deb=$(ls "$tmp"/vitrage-common_*.deb)
dpkg-deb -x "$deb" "$tmp/root"
src="$tmp/root/etc/vitrage/datasources_values"
if ! ls "$src"/*.yaml >/dev/null 2>&1; then
  echo "fetch-datasources-values: $deb has no etc/vitrage/datasources_values/*.yaml" >&2
  exit 1
fi
mkdir -p "$target"
# Copy to a temporary name in the target, then rename: a half-copied
# directory is never mistaken for a complete one.
stage="$target/.incoming.$$"
mkdir -p "$stage"
cp "$src"/*.yaml "$stage/"
for f in "$stage"/*.yaml; do
  mv "$f" "$target/"
done
rmdir "$stage"
echo "fetch-datasources-values: $(ls "$target"/*.yaml | wc -l) files in $target"

#!/usr/bin/env bash
# Linker launcher that links gRPC, protobuf, abseil and OpenSSL statically into one
# executable (CMake's CXX_LINKER_LAUNCHER; set up by
# vitrage_link_grpc_static() in the top-level CMakeLists.txt).
#
#   link_grpc_static.sh ARCHIVE... -- LINKER ARG...
#
# Why: vitrage-graph's process start is part of the failover time. With the
# shared libraries the dynamic loader maps about 70 of them (gRPC, protobuf
# and 60 abseil libraries) and resolves their symbols at every start, which
# `perf stat vitrage-graph --help` shows as CPU before main().
#
# OpenSSL too: in a shared libcrypto the loader rewrites ~110 pages of
# pointer tables at every start; linked statically into a non-PIE
# executable they need no rewriting (the figures of both are in
# docs/performance.md). An OpenSSL security update then needs
# a rebuild of vitrage-graph (the top-level CMakeLists.txt says how to
# build it shared instead).
#
# What it does: drops every gRPC, protobuf, abseil, upb, re2, c-ares,
# address_sorting and OpenSSL shared library (a path to lib*.so* or a -l
# flag) from the link command, and appends the ARCHIVEs as one group at its
# end (a group: abseil's archives depend on each other in cycles).
# Everything else (glibc, libstdc++, zlib, glog, prometheus-cpp, ...) stays
# shared.
#
# Then it checks the result: one process must not hold the same library
# twice, static and shared (two protobuf descriptor pools, two abseil
# Mutex implementations). If a shared library the executable needs still
# pulls one of them in, the link fails with the list.
set -euo pipefail

archives=()
while (($#)) && [[ $1 != -- ]]; do
  archives+=("$1")
  shift
done
if (($# < 2)); then
  echo "link_grpc_static.sh: usage: link_grpc_static.sh ARCHIVE... -- LINKER ARG..." >&2
  exit 2
fi
shift

is_replaced() {
  case $1 in
    */libabsl_*.so | */libabsl_*.so.* | -labsl_*) return 0 ;;
    */libgrpc*.so | */libgrpc*.so.* | -lgrpc*) return 0 ;;
    */libgpr.so | */libgpr.so.* | -lgpr) return 0 ;;
    */libupb.so | */libupb.so.* | -lupb) return 0 ;;
    */libre2.so | */libre2.so.* | -lre2) return 0 ;;
    */libcares.so | */libcares.so.* | -lcares) return 0 ;;
    */libaddress_sorting.so | */libaddress_sorting.so.* | -laddress_sorting) return 0 ;;
    */libprotobuf.so | */libprotobuf.so.* | -lprotobuf) return 0 ;;
    */libssl.so | */libssl.so.* | -lssl) return 0 ;;
    */libcrypto.so | */libcrypto.so.* | -lcrypto) return 0 ;;
  esac
  return 1
}

cmd=()
out=""
prev=""
for a in "$@"; do
  [[ $prev == -o ]] && out=$a
  prev=$a
  is_replaced "$a" || cmd+=("$a")
done
cmd+=(-Wl,--start-group "${archives[@]}" -Wl,--end-group)
"${cmd[@]}"

if [[ -n $out ]]; then
  if dups=$(ldd "$out" 2>/dev/null |
            grep -E 'lib(absl_|grpc|gpr|upb|re2|cares|address_sorting|protobuf|ssl|crypto)[^ ]*\.so' |
            awk '{print $1}'); then
    echo "link_grpc_static.sh: $out links gRPC/protobuf/abseil/OpenSSL statically but still loads" \
         "these shared libraries (through another shared library?):" $dups >&2
    echo "  configure with -DVITRAGE_STATIC_GRAPH=OFF, or link that library statically too" >&2
    rm -f "$out"
    exit 1
  fi
fi

#!/usr/bin/env bash
# Installs every Debian package that the build, the tests, the benchmarks and
# the deploy tests need. Idempotent: when everything is present it only runs
# dpkg-query and exits (well under a second). Run as root on Debian 12.
set -euo pipefail

PACKAGES=(
  # build
  cmake g++ ninja-build pkg-config ccache git clang-format
  # gRPC / protobuf
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  # MySQL client library and the server the tests start privately
  libmysqlcppconn-dev mariadb-server mariadb-client
  # Galera tests (3-node cluster on loopback; rsync state transfer; setpriv drops to mysql)
  galera-4 rsync socat lsof util-linux
  # libraries
  libabsl-dev libgoogle-glog-dev libgtest-dev libgmock-dev libbenchmark-dev
  libzstd-dev libdeflate-dev libssl-dev libjemalloc-dev prometheus-cpp-dev nlohmann-json3-dev libyaml-cpp-dev libcli11-dev
  # tools used by tests and scripts
  python3 python3-grpcio python3-protobuf zstd procps iproute2 openssl
  # the OpenStack bus (private RabbitMQ, AMQP client) and upstream Vitrage 9.0.0
  # (oracle for conformance and the API handlers, the real vitrage-api and CLI)
  rabbitmq-server librabbitmq-dev python3-oslo.messaging python3-vitrage vitrage-api
  python3-vitrageclient
  # deploy tests
  pacemaker corosync resource-agents crmsh
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
  exit 1
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Don't let the mariadb-server/pacemaker postinst start system daemons we do
# not use: tests run private instances.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=1
fi
trap '[[ $created_policy == 1 ]] && rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"

#!/usr/bin/env bash
# Installs the Debian packages that building, testing and the demo need, only when missing.
# Usage: scripts/install-deps.sh [build|test|demo|bench|fuzz|sanitize]
set -euo pipefail

build_pkgs=(
  cmake ninja-build g++ pkg-config make
  nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libnl-3-dev libnl-route-3-dev libnl-genl-3-dev
  libboost-dev libboost-filesystem-dev
  libgtest-dev libgmock-dev
  libcurl4-openssl-dev libsqlite3-dev libyaml-cpp-dev
)
# Real parts the tests and the demo drive: kernel tools, reference plugins, TLS for the fake API.
runtime_pkgs=(python3 iproute2 containernetworking-plugins openssl sqlite3 procps util-linux iputils-ping iptables)
# The etcd IPAM store's tests start a real etcd on loopback ports.
store_pkgs=(etcd-server)
# The real runtimes of test/e2e/runtimes: containerd through CRI (python3 gRPC client) and podman.
runtime_e2e_pkgs=(containerd runc podman busybox-static python3-grpcio python3-grpc-tools)
bench_pkgs=(hyperfine valgrind strace jq python3-matplotlib)
# libFuzzer and the sanitizer runtimes come with Debian 12's clang 14 (`make fuzz`).
fuzz_pkgs=(clang libclang-rt-14-dev python3)

want=("${build_pkgs[@]}")
case "${1:-test}" in
  build) ;;
  test) want+=("${runtime_pkgs[@]}" "${runtime_e2e_pkgs[@]}" "${store_pkgs[@]}" clang-format) ;;
  demo) want+=("${runtime_pkgs[@]}") ;;
  bench) want+=("${runtime_pkgs[@]}" "${bench_pkgs[@]}" "${store_pkgs[@]}") ;;
  fuzz) want+=("${fuzz_pkgs[@]}") ;;
  # gcc's ASan/LSan/UBSan runtimes (libasan8, libubsan1) come with g++; the e2e subset needs
  # what `test` installs but the real runtimes (containerd, podman) and etcd.
  sanitize) want+=("${runtime_pkgs[@]}" "${store_pkgs[@]}") ;;
  *) echo "unknown target: $1" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

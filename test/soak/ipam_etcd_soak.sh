#!/usr/bin/env bash
# The etcd IPAM store's soak (issue 8): 16 allocator processes x 200 ADD/DEL cycles on one
# pool of 10 addresses of a real local etcd, without and with per-node blocks; no address is
# ever owned twice, judged from every allocator's log and by scanning etcd at the end
# (test/unit/ipam/ipam_etcd_concurrency_test.cc with CNIMUX_IPAM_SOAK=1).
# Usage: test/soak/ipam_etcd_soak.sh [build-dir]   (`make soak` runs it)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-build}
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
cmake --build "$BUILD" -j "${JOBS:-$(nproc)}" --target ipam_etcd_concurrency_test
CNIMUX_IPAM_SOAK=1 "$BUILD/test/unit/ipam/ipam_etcd_concurrency_test" \
  --gtest_filter='EtcdConcurrencyTest.AllocatorProcesses*NeverOwnOneAddressTwice'

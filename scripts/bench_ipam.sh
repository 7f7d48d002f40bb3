#!/usr/bin/env bash
# Benchmarks ADD+DEL latency of the cnimux-ipam binary against the reference host-local, with
# 100, 10,000 and 60,000 addresses already held in a /14 pool (test/bench/ipam/ipam_bench.py),
# and prints a markdown table. Then allocations per second with 1, 8 and 32 concurrent
# allocator processes on one pool, SQLite store beside a local single-member etcd without and
# with per-node blocks (cnimux-ipam-bench-alloc; each etcd allocator is a node of its own;
# each run also checks that no address was handed out twice), and the etcd requests and
# conflicts per allocation (counts, which the machine's load does not change much).
# Usage: scripts/bench_ipam.sh [build-dir] [--write-docs]
#   --write-docs  also replaces the tables between the ipam-bench and ipam-stores-bench
#                 markers in docs/performance.md
# Env: IPAM_BENCH_COUNTS (default 100,10000,60000), IPAM_BENCH_SAMPLES (default 60),
#      IPAM_BENCH_RT=1 to run at real-time priority (chrt -f 10, as root) instead of the normal
#      priority runtimes give plugins (the headline),
#      IPAM_BENCH_PARTS (default "host-local,stores"): which of the two tables to measure,
#      IPAM_BENCH_ALLOCS (default 1600): allocations per store-bench run (median of 3 runs),
#      IPAM_BENCH_BLOCK (default 64): store.blockSize of the "with per-node blocks" column.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build-bench}
WRITE_DOCS=${2:-}
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
IPAM_BIN="$BUILD/ipam/cnimux-ipam"
FILL_BIN="$BUILD/ipam/cnimux-ipam-bench-fill"
HOST_LOCAL=/usr/lib/cni/host-local

ALLOC_BIN="$BUILD/ipam/cnimux-ipam-bench-alloc"
PARTS=${IPAM_BENCH_PARTS:-host-local,stores}

NEEDED=()
[[ ",$PARTS," == *,host-local,* ]] && NEEDED+=("$IPAM_BIN" "$FILL_BIN" "$HOST_LOCAL")
[[ ",$PARTS," == *,stores,* ]] && NEEDED+=("$ALLOC_BIN")
for f in "${NEEDED[@]}"; do
  [[ -x "$f" ]] || { echo "bench_ipam: $f not found; build first (make bench)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/cxbench-ipam.XXXXXX)
ETCD_PID=
cleanup() {
  if [[ -n "$ETCD_PID" ]]; then
    kill -9 "$ETCD_PID" 2>/dev/null || true
    wait "$ETCD_PID" 2>/dev/null || true  # killed: non-zero, which must not skip the rm
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir "$WORK/run"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A pool config for the store benchmark: a /16, so no run comes near exhaustion.
store_config() {  # store-json
  printf '{"cniVersion": "1.0.0", "name": "bench", "type": "cnimux-ipam",
    "ipam": {"type": "cnimux-ipam", "ranges": [[{"subnet": "10.90.0.0/16"}]], "store": %s}}' "$1"
}

# etcd's CPU time so far, in clock ticks (utime + stime of /proc/PID/stat).
etcd_ticks() { awk '{print $14 + $15}' "/proc/$ETCD_PID/stat"; }

# The median run of 3 runs of cnimux-ipam-bench-alloc with `procs` allocators, as
# "allocations/s etcd-requests/allocation conflicts/allocation CPU-ms/allocation" (the CPU
# of the allocators and of etcd); each run gets a fresh store (`fresh` prints its store JSON
# for run number N). A run that fails (a duplicate, an allocator error) stops the benchmark.
store_run() {  # procs fresh-function
  local procs=$1 fresh=$2 runs=() n t0 out
  for n in 1 2 3; do
    store_config "$($fresh "$procs-$n")" >"$WORK/store.json"
    t0=$(etcd_ticks)
    out=$("$ALLOC_BIN" --config "$WORK/store.json" --procs "$procs" --total "${IPAM_BENCH_ALLOCS:-1600}")
    runs+=("$(python3 -c 'import json,sys
r = json.loads(sys.argv[1]); n = r["allocations"]
cpu = r["allocator_cpu_seconds"] + int(sys.argv[2]) / int(sys.argv[3])
print(round(r["per_second"]), "%.1f" % (r["etcd_requests"] / n), "%.2f" % (r["etcd_conflicts"] / n),
      "%.2f" % (cpu * 1000 / n))' "$out" "$(($(etcd_ticks) - t0))" "$(getconf CLK_TCK)")")
  done
  printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p
}
store_rate() { store_run "$@" | cut -d' ' -f1; }
sqlite_store() { printf '{"type": "sqlite", "path": "%s/sqlite-%s.db"}' "$WORK" "$1"; }
ETCD_ENDPOINT=
etcd_store() {
  printf '{"type": "etcd", "endpoints": ["%s"], "prefix": "/bench-%s", "timeout": 60}' \
    "$ETCD_ENDPOINT" "$1"
}
etcd_blocks_store() {
  printf '{"type": "etcd", "endpoints": ["%s"], "prefix": "/bench-b%s", "timeout": 60, "blockSize": %s}' \
    "$ETCD_ENDPOINT" "$1" "${IPAM_BENCH_BLOCK:-64}"
}

# One etcd member with default settings (heartbeat 100 ms, fsync on), its data on local disk.
start_etcd() {
  local client peer
  command -v etcd >/dev/null || { echo "bench_ipam: etcd not installed" >&2; exit 1; }
  client=$(free_port) peer=$(free_port)
  ETCD_ENDPOINT="http://127.0.0.1:$client"
  etcd --name bench --data-dir "$WORK/etcd" --listen-client-urls "$ETCD_ENDPOINT" \
    --advertise-client-urls "$ETCD_ENDPOINT" --listen-peer-urls "http://127.0.0.1:$peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "bench=http://127.0.0.1:$peer" --listen-metrics-urls= \
    >"$WORK/etcd.log" 2>&1 &
  ETCD_PID=$!
  for _ in $(seq 300); do
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/health", timeout=1)' \
      "$ETCD_ENDPOINT" 2>/dev/null && return
    sleep 0.1
  done
  echo "bench_ipam: etcd did not start:" >&2
  cat "$WORK/etcd.log" >&2
  exit 1
}

if [[ ",$PARTS," == *,stores,* ]]; then
  start_etcd
  STORES_LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
  {
    for procs in 1 8 32; do
      read -r e_rate e_req e_conf e_cpu <<<"$(store_run "$procs" etcd_store)"
      read -r b_rate b_req b_conf b_cpu <<<"$(store_run "$procs" etcd_blocks_store)"
      echo "| $procs | $(store_rate "$procs" sqlite_store)/s | $e_rate/s | $b_rate/s |" >>"$WORK/rates.md"
      echo "| $procs | $e_req | $e_conf | $e_cpu ms | $b_req | $b_conf | $b_cpu ms |" >>"$WORK/counts.md"
    done
    echo "| allocators | SQLite | etcd | etcd with per-node blocks (blockSize ${IPAM_BENCH_BLOCK:-64}) |"
    echo "|---|---|---|---|"
    cat "$WORK/rates.md"
    echo
    echo "Per allocation, in the same median runs: etcd requests, conflicts (transaction re-runs), and CPU time (the allocators' and etcd's):"
    echo
    echo "| allocators | etcd: requests | conflicts | CPU | with blocks: requests | conflicts | CPU |"
    echo "|---|---|---|---|---|---|---|"
    cat "$WORK/counts.md"
  } >"$WORK/stores.md"
  STORES_LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)
  cat "$WORK/stores.md"
fi

if [[ ",$PARTS," == *,host-local,* ]]; then
  LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
  # Normal priority, as runtimes run plugins; both sides interleaved in one run, so the ratio
  # compares like with like. IPAM_BENCH_RT=1 runs both at real-time priority instead, which
  # keeps scheduler-tick delays on a shared machine out of the figures (not the headline).
  PRIO=()
  if [[ "${IPAM_BENCH_RT:-0}" != 0 ]] && ((EUID == 0)) && command -v chrt >/dev/null; then
    PRIO=(chrt -f 10)
  fi
  "${PRIO[@]}" python3 "$ROOT/test/bench/ipam/ipam_bench.py" --ipam "$IPAM_BIN" --fill "$FILL_BIN" \
    --host-local "$HOST_LOCAL" --work "$WORK/run" --counts "${IPAM_BENCH_COUNTS:-100,10000,60000}" \
    --samples "${IPAM_BENCH_SAMPLES:-60}" >"$WORK/table.md"
  LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)
  cat "$WORK/table.md"
fi

if [[ "$WRITE_DOCS" == --write-docs ]]; then
  DOC="$ROOT/docs/performance.md"
  if [[ ",$PARTS," == *,host-local,* ]]; then
    "$ROOT/scripts/write_doc_section.py" "$DOC" ipam-bench scripts/bench_ipam.sh \
      "Measured $(date -u +%Y-%m-%d) by \`scripts/bench_ipam.sh\` (Release build, \`${PRIO[*]:-normal priority}\`) on $(nproc) CPUs; load average $LOAD_BEFORE before, $LOAD_AFTER after." \
      "$WORK/table.md"
  fi
  if [[ ",$PARTS," == *,stores,* ]]; then
    "$ROOT/scripts/write_doc_section.py" "$DOC" ipam-stores-bench scripts/bench_ipam.sh \
      "Measured $(date -u +%Y-%m-%d) by \`scripts/bench_ipam.sh\` (Release build, normal priority) on $(nproc) CPUs; load average $STORES_LOAD_BEFORE before, $STORES_LOAD_AFTER after. Allocations per second (ADD only, each a new owner), median of 3 runs of ${IPAM_BENCH_ALLOCS:-1600} allocations; each run checked that no address was handed out twice." \
      "$WORK/stores.md"
  fi
fi

#!/usr/bin/env bash
# Benchmarks ADD+DEL latency of the cnimux-ipam binary against the reference host-local, with
# 100, 10,000 and 60,000 addresses already held in a /14 pool (test/bench/ipam/ipam_bench.py),
# and prints a markdown table.
# Usage: scripts/bench_ipam.sh [build-dir] [--write-docs]
#   --write-docs  also replaces the table between the ipam-bench markers in docs/performance.md
# Env: IPAM_BENCH_COUNTS (default 100,10000,60000), IPAM_BENCH_SAMPLES (default 60),
#      IPAM_BENCH_RT=0 to run at normal priority instead of SCHED_FIFO (chrt -f 10, as root).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build-bench}
WRITE_DOCS=${2:-}
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
IPAM_BIN="$BUILD/ipam/cnimux-ipam"
FILL_BIN="$BUILD/ipam/cnimux-ipam-bench-fill"
HOST_LOCAL=/usr/lib/cni/host-local

for f in "$IPAM_BIN" "$FILL_BIN" "$HOST_LOCAL"; do
  [[ -x "$f" ]] || { echo "bench_ipam: $f not found; build first (make bench)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/cxbench-ipam.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/run"
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
# On a shared machine a task that sleeps (waiting for its child, an fsync) gets a CPU back only
# at the next scheduler tick, which would measure the neighbours. Real-time priority, inherited
# by both plugins alike, keeps that out (see the meta plugin section of docs/performance.md).
PRIO=()
if [[ "${IPAM_BENCH_RT:-1}" != 0 ]] && ((EUID == 0)) && command -v chrt >/dev/null; then
  PRIO=(chrt -f 10)
fi
"${PRIO[@]}" python3 "$ROOT/test/bench/ipam/ipam_bench.py" --ipam "$IPAM_BIN" --fill "$FILL_BIN" \
  --host-local "$HOST_LOCAL" --work "$WORK/run" --counts "${IPAM_BENCH_COUNTS:-100,10000,60000}" \
  --samples "${IPAM_BENCH_SAMPLES:-60}" >"$WORK/table.md"
LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)
cat "$WORK/table.md"

if [[ "$WRITE_DOCS" == --write-docs ]]; then
  DOC="$ROOT/docs/performance.md"
  "$ROOT/scripts/write_doc_section.py" "$DOC" ipam-bench scripts/bench_ipam.sh \
    "Measured $(date -u +%Y-%m-%d) by \`scripts/bench_ipam.sh\` (Release build, \`${PRIO[*]:-normal priority}\`) on $(nproc) CPUs; load average $LOAD_BEFORE before, $LOAD_AFTER after." \
    "$WORK/table.md"
fi

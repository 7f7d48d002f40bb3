#!/usr/bin/env bash
# Benchmarks the meta plugin: ADD+DEL of a pod through cnimux versus calling its delegates
# directly (bridge; bridge + 2 macvlan), and through cnimux-bench-floor, a meta plugin doing only
# the unavoidable work (the floor), with test/bench/meta's harness; prints a markdown table.
# Two runs: the machine as it is ("quiet": no load of ours), then under a bounded background
# load of the machine's size (one CPU spinner per CPU plus an fsync writer, started and
# stopped by the harness). Plugins run at normal priority, as runtimes run them: that is the
# headline; each sample is repeated at SCHED_FIFO for a labelled second column.
# Usage: scripts/bench_meta.sh [build-dir] [--write-docs]   (root: it creates a netns and links)
#   --write-docs  also replaces the tables between the meta-bench markers in docs/performance.md
# Env: META_BENCH_ITERATIONS (default 100), META_BENCH_WARMUP (5), META_BENCH_RSS_RUNS (10),
#      META_BENCH_RT (real-time priority of the second column, default 10; 0: no such column),
#      META_BENCH_LOADED=0 to skip the loaded run,
#      META_BENCH_CNIMUX=<binary> to measure another cnimux binary (an A/B of a lever),
#      META_BENCH_PHASES (default 60; 0: skip): runs per pod of the stage timeline, where one
#        ADD's and one DEL's wall time goes (cnimux with CNIMUX_PHASE_TRACE, cni/phase_trace.h).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build-bench}
WRITE_DOCS=${2:-}
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
HARNESS="$BUILD/test/bench/meta/cnimux-bench-meta"

for f in "$HARNESS" "$BUILD/plugin/cnimux" "$BUILD/ipam/cnimux-ipam" \
  "$BUILD/test/bench/meta/cnimux-bench-floor" /usr/lib/cni/bridge /usr/lib/cni/macvlan; do
  [[ -x "$f" ]] || { echo "bench_meta: $f not found; build first (make bench)" >&2; exit 1; }
done
((EUID == 0)) || { echo "bench_meta: needs root (network namespaces and links)" >&2; exit 1; }

TABLE=$(mktemp /tmp/cxbench-meta.XXXXXX)
trap 'rm -f "$TABLE" "$TABLE.run" "$TABLE.phases"' EXIT
run() {
  "$HARNESS" --build-dir "$BUILD" --iterations "${META_BENCH_ITERATIONS:-100}" \
    --warmup "${META_BENCH_WARMUP:-5}" --rss-runs "${META_BENCH_RSS_RUNS:-10}" \
    --rt-priority "${META_BENCH_RT:-10}" "$@" >"$TABLE.run"
}
PHASES=${META_BENCH_PHASES:-60}
{
  echo "#### Quiet machine (no load of ours; \`uptime\` before: $(uptime | sed 's/.*load/load/'))"
  echo
  run
  cat "$TABLE.run"
  # The stage timeline on the same quiet machine, before the loaded run heats it.
  if [[ "$PHASES" != 0 ]]; then
    "$HARNESS" --build-dir "$BUILD" --warmup "${META_BENCH_WARMUP:-5}" --phases "$PHASES" \
      >"$TABLE.phases"
  fi
  if [[ "${META_BENCH_LOADED:-1}" != 0 ]]; then
    echo
    echo "#### Under a background load of the machine's size (reported, not judged; \`uptime\` before: $(uptime | sed 's/.*load/load/'))"
    echo
    run --loaded --no-memory
    cat "$TABLE.run"
  fi
} >"$TABLE"
cat "$TABLE"
[[ "$PHASES" == 0 ]] || { echo; cat "$TABLE.phases"; }

if [[ "$WRITE_DOCS" == --write-docs ]]; then
  DOC="$ROOT/docs/performance.md"
  "$ROOT/scripts/write_doc_section.py" "$DOC" meta-bench scripts/bench_meta.sh \
    "Measured $(date -u +%Y-%m-%d) by \`scripts/bench_meta.sh\` (which \`make bench\` runs)." "$TABLE"
  if [[ "$PHASES" != 0 ]]; then
    "$ROOT/scripts/write_doc_section.py" "$DOC" meta-phases scripts/bench_meta.sh \
      "Measured $(date -u +%Y-%m-%d) by \`scripts/bench_meta.sh\` (which \`make bench\` runs)." \
      "$TABLE.phases"
  fi
fi

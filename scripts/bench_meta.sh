#!/usr/bin/env bash
# Benchmarks the meta plugin: ADD+DEL of a pod through cnimux versus calling its delegates
# directly (bridge; bridge + 2 macvlan), with test/bench/meta's harness; prints a markdown table.
# Usage: scripts/bench_meta.sh [build-dir] [--write-docs]   (root: it creates a netns and links)
#   --write-docs  also replaces the table between the meta-bench markers in docs/performance.md
# Env: META_BENCH_ITERATIONS (default 100), META_BENCH_WARMUP (5), META_BENCH_RSS_RUNS (10),
#      META_BENCH_RT=0 to run at normal priority (see "How it is measured" in docs/performance.md:
#      on a saturated machine every sleep of a normal task costs a 4 ms scheduler tick).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build-bench}
WRITE_DOCS=${2:-}
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
HARNESS="$BUILD/test/bench/meta/cnimux-bench-meta"

for f in "$HARNESS" "$BUILD/plugin/cnimux" "$BUILD/ipam/cnimux-ipam" /usr/lib/cni/bridge /usr/lib/cni/macvlan; do
  [[ -x "$f" ]] || { echo "bench_meta: $f not found; build first (make bench)" >&2; exit 1; }
done
((EUID == 0)) || { echo "bench_meta: needs root (network namespaces and links)" >&2; exit 1; }

RT=()
if [[ "${META_BENCH_RT:-1}" != 0 ]] && command -v chrt >/dev/null; then RT=(chrt -f 10); fi

TABLE=$(mktemp /tmp/cxbench-meta.XXXXXX)
trap 'rm -f "$TABLE"' EXIT
"${RT[@]}" "$HARNESS" --build-dir "$BUILD" --iterations "${META_BENCH_ITERATIONS:-100}" \
  --warmup "${META_BENCH_WARMUP:-5}" --rss-runs "${META_BENCH_RSS_RUNS:-10}" >"$TABLE"
cat "$TABLE"

if [[ "$WRITE_DOCS" == --write-docs ]]; then
  DOC="$ROOT/docs/performance.md"
  "$ROOT/scripts/write_doc_section.py" "$DOC" meta-bench scripts/bench_meta.sh \
    "Measured $(date -u +%Y-%m-%d) by \`scripts/bench_meta.sh\` (which \`make bench\` runs)." "$TABLE"
fi

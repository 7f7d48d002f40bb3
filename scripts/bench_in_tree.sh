#!/usr/bin/env bash
# Benchmarks in-tree delegates (issue 7): the bridge + 2 macvlan pod three ways in one run, with
# identical NAD bytes and cnimux-ipam everywhere: the reference plugins called directly; cnimux
# executing the reference macvlan; cnimux with inTree ["macvlan"] (in-tree macvlan and
# cnimux-ipam in-process). Prints a markdown table (test/bench/meta's harness, --in-tree).
# Usage: scripts/bench_in_tree.sh [build-dir] [--write-docs]   (root: it creates a netns and links)
#   --write-docs  also replaces the table between the in-tree-bench markers in docs/performance.md
# Env: IN_TREE_BENCH_ITERATIONS (default 100), IN_TREE_BENCH_WARMUP (5), IN_TREE_BENCH_RSS_RUNS (10).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build-bench}
WRITE_DOCS=${2:-}
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
HARNESS="$BUILD/test/bench/meta/cnimux-bench-meta"

for f in "$HARNESS" "$BUILD/plugin/cnimux" "$BUILD/ipam/cnimux-ipam" /usr/lib/cni/bridge /usr/lib/cni/macvlan; do
  [[ -x "$f" ]] || { echo "bench_in_tree: $f not found; build first (make bench)" >&2; exit 1; }
done
((EUID == 0)) || { echo "bench_in_tree: needs root (network namespaces and links)" >&2; exit 1; }

TABLE=$(mktemp /tmp/cxbench-intree.XXXXXX)
trap 'rm -f "$TABLE"' EXIT
{
  echo "\`uptime\` before: $(uptime | sed 's/.*load/load/')"
  echo
  "$HARNESS" --build-dir "$BUILD" --in-tree --iterations "${IN_TREE_BENCH_ITERATIONS:-100}" \
    --warmup "${IN_TREE_BENCH_WARMUP:-5}" --rss-runs "${IN_TREE_BENCH_RSS_RUNS:-10}"
} >"$TABLE"
cat "$TABLE"

if [[ "$WRITE_DOCS" == --write-docs ]]; then
  "$ROOT/scripts/write_doc_section.py" "$ROOT/docs/performance.md" in-tree-bench \
    scripts/bench_in_tree.sh \
    "Measured $(date -u +%Y-%m-%d) by \`scripts/bench_in_tree.sh\` (which \`make bench\` runs)." "$TABLE"
fi

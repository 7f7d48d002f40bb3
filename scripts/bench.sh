#!/usr/bin/env bash
# Runs every benchmark against one build tree and rewrites their tables in
# docs/performance.md: the meta plugin (bench_meta.sh), in-tree delegates in-process
# (bench_in_tree.sh), its instruction and system-call profile (bench_profile.sh) and the IPAM
# store (bench_ipam.sh); then draws docs/img/*.svg from those tables (bench_plots.py).
# Usage: scripts/bench.sh [build-dir]   (`make bench` passes build-bench, a Release tree)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build-bench}

# The meta-plugin benchmark runs first: the IPAM benchmark writes 60,000 host-local files,
# and their writeback afterwards slows every fsync on the disk (it inflated cnimux's ADD
# overhead from about +2.7 ms to +6.9 ms when run second).
"$ROOT/scripts/bench_meta.sh" "$BUILD" --write-docs
echo
"$ROOT/scripts/bench_in_tree.sh" "$BUILD" --write-docs
echo
"$ROOT/scripts/bench_profile.sh" "$BUILD" --write-docs
echo
"$ROOT/scripts/bench_ipam.sh" "$BUILD" --write-docs
echo
# The plots are drawn from the tables just written, so they always match them.
"$ROOT/scripts/bench_plots.py"

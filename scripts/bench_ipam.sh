#!/usr/bin/env bash
# Benchmarks ADD+DEL latency of the cnimux-ipam binary against the reference host-local, with
# 100, 10,000 and 60,000 addresses already held in a /14 pool, and prints a markdown table.
# Usage: scripts/bench_ipam.sh [build-dir] [--write-docs]
#   --write-docs  also replaces the table between the ipam-bench markers in docs/performance.md
# Env: IPAM_BENCH_COUNTS="100 10000 60000" to change the held counts.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
WRITE_DOCS=${2:-}
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
IPAM_BIN="$BUILD/ipam/cnimux-ipam"
FILL_BIN="$BUILD/ipam/cnimux-ipam-bench-fill"
HOST_LOCAL=/usr/lib/cni/host-local
COUNTS=${IPAM_BENCH_COUNTS:-"100 10000 60000"}
SUBNET=10.64.0.0/14

for f in "$IPAM_BIN" "$FILL_BIN" "$HOST_LOCAL"; do
  [[ -x "$f" ]] || { echo "bench_ipam: $f not found; build first" >&2; exit 1; }
done
command -v hyperfine >/dev/null || { echo "bench_ipam: hyperfine not installed" >&2; exit 1; }

WORK=$(mktemp -d /tmp/cxbench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# Both plugins see the same invocation: one container, ADD then DEL, config on stdin.
export CNI_CONTAINERID=bench-probe CNI_NETNS=/var/run/netns/bench-probe CNI_IFNAME=eth0
export CNI_PATH=/usr/lib/cni

# Runs per measurement: host-local at 60,000 held takes ~0.3 s a run, keep its count small.
runs_for() {
  local plugin=$1 held=$2
  if [[ $plugin == cnimux ]]; then echo 100; return; fi
  if ((held >= 50000)); then echo 15; elif ((held >= 5000)); then echo 30; else echo 60; fi
}

# host-local's on-disk format, written directly: <dataDir>/<net>/<ip> holding
# "containerID\r\nifname", and last_reserved_ip.0.
prefill_host_local() {
  local dir=$1 held=$2
  python3 - "$dir" "$held" <<'EOF'
import ipaddress, os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
base = ipaddress.ip_address("10.64.0.2")
for i in range(n):
    with open(os.path.join(d, str(base + i)), "w") as f:
        f.write(f"fill-{i}\r\neth0")
with open(os.path.join(d, "last_reserved_ip.0"), "w") as f:
    f.write(str(base + n - 1))
EOF
}

measure() {  # name, binary, config file, runs, json out
  local name=$1 bin=$2 conf=$3 runs=$4 out=$5
  hyperfine --style basic --warmup 3 --runs "$runs" --export-json "$out" -n "$name" \
    "CNI_COMMAND=ADD $bin < $conf > /dev/null && CNI_COMMAND=DEL $bin < $conf > /dev/null" >&2
}

for held in $COUNTS; do
  cconf="$WORK/cnimux-$held.json"
  cat >"$cconf" <<EOF
{"cniVersion": "1.0.0", "name": "bench", "type": "cnimux-ipam",
 "ipam": {"type": "cnimux-ipam", "ranges": [[{"subnet": "$SUBNET"}]],
          "store": {"path": "$WORK/cnimux-$held/ipam.db"}}}
EOF
  "$FILL_BIN" --config "$cconf" --count "$held"
  measure "cnimux-ipam $held" "$IPAM_BIN" "$cconf" "$(runs_for cnimux "$held")" \
    "$WORK/r-cnimux-$held.json"

  hconf="$WORK/host-local-$held.json"
  cat >"$hconf" <<EOF
{"cniVersion": "1.0.0", "name": "bench", "type": "host-local",
 "ipam": {"type": "host-local", "ranges": [[{"subnet": "$SUBNET"}]],
          "dataDir": "$WORK/host-local-$held"}}
EOF
  prefill_host_local "$WORK/host-local-$held/bench" "$held"
  measure "host-local $held" "$HOST_LOCAL" "$hconf" "$(runs_for host-local "$held")" \
    "$WORK/r-host-local-$held.json"
done

TABLE="$WORK/table.md"
python3 - "$WORK" "$COUNTS" >"$TABLE" <<'EOF'
import json, os, sys
work, counts = sys.argv[1], [int(c) for c in sys.argv[2].split()]
def median_ms(name):
    with open(os.path.join(work, f"r-{name}.json")) as f:
        return json.load(f)["results"][0]["median"] * 1000
rows = [(n, median_ms(f"cnimux-{n}"), median_ms(f"host-local-{n}")) for n in counts]
print("| addresses held | cnimux-ipam ADD+DEL (median) | host-local ADD+DEL (median) | host-local / cnimux-ipam |")
print("|---:|---:|---:|---:|")
for n, c, h in rows:
    print(f"| {n:,} | {c:.2f} ms | {h:.2f} ms | {h / c:.1f}x |")
first, last = rows[0], rows[-1]
print()
print(f"cnimux-ipam at {last[0]:,} held / at {first[0]:,} held: {last[1] / first[1]:.2f}x")
EOF
cat "$TABLE"

if [[ "$WRITE_DOCS" == --write-docs ]]; then
  DOC="$ROOT/docs/performance.md"
  python3 - "$DOC" "$TABLE" "$(nproc)" "$(date -u +%Y-%m-%d)" <<'EOF'
import re, sys
doc, table, cpus, day = sys.argv[1:5]
body = open(table).read().strip()
block = (f"<!-- ipam-bench:begin (written by scripts/bench_ipam.sh --write-docs) -->\n"
         f"Measured {day} on {cpus} CPUs:\n\n{body}\n<!-- ipam-bench:end -->")
text = open(doc).read()
new = re.sub(r"<!-- ipam-bench:begin.*?<!-- ipam-bench:end -->", lambda _: block, text, flags=re.S)
if new == text and "ipam-bench:begin" not in text:
    sys.exit(f"{doc} has no ipam-bench markers; table not written")
open(doc, "w").write(new)
print(f"wrote the IPAM table into {doc}", file=sys.stderr)
EOF
fi

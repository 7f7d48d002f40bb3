#!/usr/bin/env bash
# Profiles cnimux's own cost, load-independently: one ADD and one DEL of a pod whose delegates
# are all cnimux-bench-instant (a static C stand-in that answers at once), counted with
# callgrind (instructions, cnimux and any fork of it; the delegates are not traced) and with
# strace -c -f (system calls, the delegates' few included). Prints one markdown table.
# Usage: scripts/bench_profile.sh [build-dir] [--keep|--write-docs]   (root: it creates a netns)
#   --keep        leaves the callgrind files and strace logs in the printed directory
#   --write-docs  also replaces the table between the profile-bench markers in docs/performance.md
# Env: PROFILE_NETWORKS=1|3 (default both: the 1-network pod and the 3-network pod)
#      PROFILE_CPU_RUNS=N (default 21; 0 skips): ADD+DEL pairs timed with
#      `perf stat --no-inherit -e task-clock` (the CPU of the cnimux process itself, median);
#      CPU time moves less with the machine's load than wall time, but it does move.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build-bench}
KEEP=${2:-}
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
CNIMUX="$BUILD/plugin/cnimux"
INSTANT="$BUILD/test/bench/meta/cnimux-bench-instant"
for f in "$CNIMUX" "$INSTANT"; do
  [[ -x "$f" ]] || { echo "bench_profile: $f not found; build it first" >&2; exit 1; }
done
for t in valgrind strace jq; do
  command -v "$t" >/dev/null || { echo "bench_profile: needs $t" >&2; exit 1; }
done
((EUID == 0)) || { echo "bench_profile: needs root (a network namespace)" >&2; exit 1; }

PREFIX="cxp$$"
DIR=$(mktemp -d /tmp/cnimux-profile-XXXXXX)
NS="${PREFIX}ns"
cleanup() {
  ip netns delete "$NS" 2>/dev/null || true
  [[ "$KEEP" == --keep ]] || rm -rf "$DIR"
}
trap cleanup EXIT
ip netns add "$NS"
mkdir -p "$DIR"/{bin,net.d,nads,journal}
ln -s "$CNIMUX" "$DIR/bin/cnimux"
ln -s "$INSTANT" "$DIR/bin/instant"
echo '{"cniVersion":"1.0.0","name":"cluster","plugins":[{"type":"instant"}]}' \
  >"$DIR/net.d/10-cluster.conflist"
for n in 1 2; do
  jq -n --arg n "mv$n" '{apiVersion:"k8s.cni.cncf.io/v1",kind:"NetworkAttachmentDefinition",
    metadata:{name:$n,namespace:"default"},
    spec:{config:({cniVersion:"1.0.0",name:$n,type:"instant"}|tojson)}}' \
    >"$DIR/nads/default-mv$n.json"
done

# cnimux's stdin for a pod selecting `networks` (the annotation containerd passes).
conf() {
  jq -cn --arg d "$DIR" --arg nets "$1" --argjson prev "${2:-null}" '{cniVersion:"1.0.0",
    name:"cnimux",type:"cnimux",clusterNetwork:"cluster",confDir:($d+"/net.d"),
    cniDir:($d+"/journal"),binDir:($d+"/bin"),nadDir:($d+"/nads"),logFile:($d+"/cnimux.log"),
    capabilities:{"io.kubernetes.cri.pod-annotations":true},
    runtimeConfig:{"io.kubernetes.cri.pod-annotations":
      (if $nets == "" then {} else {"k8s.v1.cni.cncf.io/networks":$nets} end)}}
    + (if $prev == null then {} else {prevResult:$prev} end)'
}

# Runs `cnimux VERB` for container $2 with stdin $3, under the command in the rest.
call() {
  local verb=$1 cid=$2 stdin=$3
  shift 3
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$verb" CNI_CONTAINERID="$cid" \
    CNI_NETNS="/run/netns/$NS" CNI_IFNAME=eth0 CNI_PATH="$DIR/bin" \
    CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=bench" \
    "$@" "$DIR/bin/cnimux" <<<"$stdin"
}

# Sum of the instructions of every callgrind file matching $1 (cnimux and its forks).
instructions() {
  local total=0 n
  for f in $1; do
    n=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f")
    total=$((total + ${n:-0}))
  done
  echo "$total"
}

# From an `strace -c -f` log: total calls, then the fsync-class calls, then the top 6.
syscalls() {
  awk '$1 ~ /^[0-9.]+$/ && $NF=="total" {total=$4}
       $1 ~ /^[0-9.]+$/ && $NF ~ /^(fsync|fdatasync|sync_file_range)$/ {sync+=$4}
       END {printf "%d %d\n", total, sync}' "$1"
}
top_syscalls() {
  awk '$1 ~ /^[0-9.]+$/ && $NF!="total" {print $4, $NF}' "$1" |
    sort -rn | head -6 | awk '{printf "%s%s %s", (NR>1?", ":""), $2, $1}'
}

# The median of the numbers on stdin, two decimals.
median() { sort -n | awk '{v[NR]=$1} END {if (NR) printf "%.2f", (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

# CPU ms and page faults of the cnimux process itself (not its children) for one call,
# appended to $DIR/cpu.VERB and $DIR/faults.VERB. Page faults do not depend on the load:
# they count what a fork's copy-on-write and the start-up cost in touched pages.
cpu_ms() {
  local verb=$1 cid=$2 stdin=$3 out=$4
  call "$verb" "$cid" "$stdin" perf stat --no-inherit -x, -e task-clock,page-faults \
    -o "$DIR/perf.tmp" >"$out"
  awk -F, '$3=="task-clock" {print $1}' "$DIR/perf.tmp" >>"$DIR/cpu.$verb"
  awk -F, '$3=="page-faults" {print $1}' "$DIR/perf.tmp" >>"$DIR/faults.$verb"
}
CPU_RUNS=${PROFILE_CPU_RUNS:-21}
command -v perf >/dev/null && perf stat --no-inherit -e task-clock true >/dev/null 2>&1 || CPU_RUNS=0

# Warm-up: fills the delegates' VERSION cache, as on a running node.
for nets in "" "mv1,mv2"; do
  out=$(call ADD warm "$(conf "$nets")")
  call DEL warm "$(conf "$nets" "$out")" >/dev/null
done

TABLE="$DIR/table.md"
exec 3>&1 1>"$TABLE"
echo "| pod | verb | instructions (callgrind) | system calls (strace -c -f) | fsync + fdatasync | cnimux CPU, ms (perf task-clock, median of $CPU_RUNS) | cnimux page faults (median) | most frequent calls |"
echo "|---|---|---:|---:|---:|---:|---:|---|"
for spec in "1:" "3:mv1,mv2"; do
  count=${spec%%:*} nets=${spec#*:}
  [[ -n "${PROFILE_NETWORKS:-}" && "$PROFILE_NETWORKS" != "$count" ]] && continue
  label=$([[ $count == 1 ]] && echo "1 network" || echo "3 networks")
  : >"$DIR/cpu.ADD" && : >"$DIR/cpu.DEL" && : >"$DIR/faults.ADD" && : >"$DIR/faults.DEL"
  for ((i = 0; i < CPU_RUNS; i++)); do
    cid="cpu$count-$i"
    cpu_ms ADD "$cid" "$(conf "$nets")" "$DIR/out.cpu"
    cpu_ms DEL "$cid" "$(conf "$nets" "$(cat "$DIR/out.cpu")")" /dev/null
  done
  for verb in ADD DEL; do
    # callgrind run: ADD of a fresh container, or DEL of the one the callgrind ADD made.
    cid="cg$count"
    if [[ $verb == ADD ]]; then stdin=$(conf "$nets"); else stdin=$(conf "$nets" "$(cat "$DIR/out.$cid")"); fi
    call "$verb" "$cid" "$stdin" valgrind -q --log-file="$DIR/valgrind.log" --tool=callgrind \
      --callgrind-out-file="$DIR/cg.$verb.$count.%p" >"$DIR/out.tmp"
    [[ $verb == ADD ]] && mv "$DIR/out.tmp" "$DIR/out.$cid"
    ir=$(instructions "$DIR/cg.$verb.$count.*")
    cid="st$count"
    if [[ $verb == ADD ]]; then stdin=$(conf "$nets"); else stdin=$(conf "$nets" "$(cat "$DIR/out.$cid")"); fi
    call "$verb" "$cid" "$stdin" strace -f -c -o "$DIR/strace.$verb.$count" >"$DIR/out.tmp"
    [[ $verb == ADD ]] && mv "$DIR/out.tmp" "$DIR/out.$cid"
    read -r total sync < <(syscalls "$DIR/strace.$verb.$count")
    cpu=$(median <"$DIR/cpu.$verb")
    faults=$(median <"$DIR/faults.$verb")
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$verb" \
      "$ir" "$total" "$sync" "${cpu:-n/a}" "${faults%.00}" "$(top_syscalls "$DIR/strace.$verb.$count")"
  done
done
exec 1>&3 3>&-
cat "$TABLE"
if [[ "$KEEP" == --write-docs ]]; then
  BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt")
  BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}  # CMakeLists.txt's default
  "$ROOT/scripts/write_doc_section.py" "$ROOT/docs/performance.md" profile-bench \
    scripts/bench_profile.sh "Measured $(date -u +%Y-%m-%d) by \`scripts/bench_profile.sh\` \
(which \`make bench\` runs) on the $BUILD_TYPE build; instructions and system calls do not depend on the machine's load; the CPU column does, a little (load average $(cut -d" " -f1 /proc/loadavg) at the end)." "$TABLE"
fi
[[ "$KEEP" == --keep ]] && echo "(files kept in $DIR)" >&2 || true

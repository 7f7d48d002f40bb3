#!/usr/bin/env bash
# The cnimux demo: a throwaway node (temp dir, veth "uplink", netns), one pod attached to the
# cluster network and two macvlan NADs, one pod whose ADD fails and is rolled back, then DEL.
# Usage: scripts/demo.sh [BUILD_DIR]   (as root; `make demo` builds first and runs this)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
[[ $BUILD = /* ]] || BUILD="$ROOT/$BUILD"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

# Every name carries the pid, so a demo never meets a leftover of another run.
TAG="cxd$$"
UPLINK="${TAG}u"      # the node's "second NIC": one end of a veth pair, macvlan's master
UPLINK_PEER="${TAG}p"
BRIDGE="${TAG}br"     # the cluster network's bridge (the examples call it cnimux0)
NS_WEB="cnimux-demo-$$-web"
NS_DB="cnimux-demo-$$-db"
NODE=""
FORWARD_BEFORE=$(cat /proc/sys/net/ipv4/ip_forward)
NETNS_DIR_BEFORE=no
[[ -d /run/netns ]] && NETNS_DIR_BEFORE=yes
CLEANED=no

if [[ -t 1 ]]; then BOLD=$'\e[1m' DIM=$'\e[2m' RED=$'\e[31m' GREEN=$'\e[32m' OFF=$'\e[0m'
else BOLD="" DIM="" RED="" GREEN="" OFF=""; fi

section() { printf '\n%s== %s %s%s\n' "$BOLD" "$1" "$(printf '=%.0s' $(seq ${#1} 70))" "$OFF"; }
say() { printf '%s\n' "$*"; }
# Prints a command as a reader would type it, then runs it.
show() {
  printf '%s$ %s%s\n' "$DIM" "$*" "$OFF"
  "$@"
}
indent() { sed 's/^/    /'; }
json_pretty() { "$PY" -m json.tool --indent 2; }

# ---- Cleanup: runs on every exit path, idempotent, never fails. ----

cleanup() {
  [[ $CLEANED = yes ]] && return 0
  CLEANED=yes
  set +e
  for ns in "$NS_WEB" "$NS_DB"; do
    [[ -e /run/netns/$ns ]] && ip netns delete "$ns"
  done
  for link in "$UPLINK" "$BRIDGE"; do
    ip link show "$link" >/dev/null 2>&1 && ip link delete "$link"
  done
  # The uplink's peer goes with it; pods' host-side veths go with their namespaces.
  [[ -n $NODE && -d $NODE ]] && rm -rf "$NODE"
  if [[ $(cat /proc/sys/net/ipv4/ip_forward) != "$FORWARD_BEFORE" ]]; then
    echo "$FORWARD_BEFORE" >/proc/sys/net/ipv4/ip_forward
  fi
  # `ip netns add` creates /run/netns (a mount point); undo that if it was us. umount and
  # rmdir both refuse while anyone else's namespace is in it.
  if [[ $NETNS_DIR_BEFORE = no && -d /run/netns ]] && [[ -z $(ls -A /run/netns) ]]; then
    umount /run/netns 2>/dev/null
    rmdir /run/netns 2>/dev/null
  fi
  set -e
  return 0
}

on_exit() {
  local rc=$?
  cleanup
  if ((rc != 0)); then
    printf '\n%sdemo failed (exit %d); everything it created has been removed%s\n' "$RED" "$rc" "$OFF" >&2
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- Helpers that read the node's state. ----

# Every address the IPAM store holds: network, address, owner (the store keeps addresses
# as 16-byte BLOBs, IPv4 mapped into IPv6; the last 4 bytes are the IPv4 address).
held_addresses() {
  local db="$NODE/state/ipam.db"
  if [[ ! -f $db ]]; then say "(no store yet)"; return; fi
  local rows
  rows=$(sqlite3 -separator ' ' "$db" \
    "select network, hex(addr), ifname, substr(container_id, 1, 12) from allocations order by network, addr")
  if [[ -z $rows ]]; then say "(none)"; return; fi
  while read -r net hex ifname cid; do
    local v4=${hex: -8}
    printf '%-10s %-16s %-5s container %s…\n' "$net" \
      "$((16#${v4:0:2})).$((16#${v4:2:2})).$((16#${v4:4:2})).$((16#${v4:6:2}))" "$ifname" "$cid"
  done <<<"$rows"
}

bridge_ports() { ip -o link show master "$BRIDGE" | wc -l; }

allocation_count() { sqlite3 "$NODE/state/ipam.db" 'select count(*) from allocations'; }

# Runs cnimux exactly as containerd does: a clean environment with the CNI_* variables and
# kubelet's CNI_ARGS, the cnimux entry of the conflist on stdin. Sets OUT, ERR and RC.
run_cnimux() {
  local verb=$1 cid=$2 ns=$3 pod=$4 uid=$5
  local netns_path="/var/run/netns/$ns"
  [[ -z $ns ]] && netns_path=""
  local args="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=$pod;K8S_POD_INFRA_CONTAINER_ID=$cid;K8S_POD_UID=$uid"
  printf '%s$ CNI_COMMAND=%s CNI_CONTAINERID=%s… CNI_NETNS=%s CNI_IFNAME=eth0 \\\n' \
    "$DIM" "$verb" "${cid:0:12}" "$netns_path"
  # shellcheck disable=SC2016 # $NODE is printed for the reader, not expanded
  printf '    CNI_PATH=$NODE/bin CNI_ARGS="%s" \\\n' "${args/K8S_POD_INFRA_CONTAINER_ID=$cid/K8S_POD_INFRA_CONTAINER_ID=${cid:0:12}…}"
  # shellcheck disable=SC2016
  printf '    $NODE/bin/cnimux < stdin.json%s\n' "$OFF"
  RC=0
  OUT=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$verb" CNI_CONTAINERID="$cid" \
    CNI_NETNS="$netns_path" CNI_IFNAME=eth0 CNI_PATH="$NODE/bin" CNI_ARGS="$args" \
    "$NODE/bin/cnimux" <"$NODE/stdin.json" 2>"$NODE/stderr") || RC=$?
  ERR=$(cat "$NODE/stderr")
  say "exit status $RC"
}

# A one-screen summary of a journal file.
journal_summary() {
  "$PY" - "$1" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
pod = j.get("pod", {})
print(f"pod {pod.get('namespace')}/{pod.get('name')}  state: {j['state']}  (format version {j['version']})")
for line in j.get("abandoned", []):
    print(f"  given up: {line}")
for a in j["attachments"]:
    r = a.get("result") or {}
    ips = ", ".join(i["address"] for i in r.get("ips", [])) or "-"
    print(f"  {a['ifname']:<5} {a['network']:<23} {a['state']:<8} {ips}")
EOF
}

# The k8s.v1.cni.cncf.io/network-status value of one container, as cnimux logged it
# (plugin/network_status.cc builds it; with an API server it is also PATCHed onto the pod).
network_status() {
  grep -F "cid=$1 verb=ADD: network-status of " "$NODE/state/cnimux.log" | tail -n 1 |
    sed -E 's/.*network-status of [^:]*: //' | "$PY" -m json.tool
}

# cnimux's log lines for one container and verb, shortened for the screen.
log_of() {
  grep -F "cid=$1 verb=$2:" "$NODE/state/cnimux.log" |
    sed -E -e 's/^[0-9-]+T([0-9:.]+)[+-][0-9:]+ \[([a-z]+)\] cnimux\[[0-9]+\] cid=[0-9a-f]+ verb=[A-Z]+: /\1 \2 /' \
      -e "s|$NODE|\$NODE|g" -e 's/ \(container [0-9a-f]+, ifname ([^)]*)\)/ ifname \1/' |
    cut -c1-110
}

container_id() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }

# ---- The story. ----

preflight() {
  if ((EUID != 0)); then say "the demo needs root (it creates network namespaces and links)" >&2; exit 1; fi
  for f in "$BUILD/plugin/cnimux" "$BUILD/ipam/cnimux-ipam"; do
    [[ -x $f ]] || { say "missing $f: run 'make demo' (it builds first)" >&2; exit 1; }
  done
  for p in bridge macvlan loopback; do
    [[ -x /usr/lib/cni/$p ]] || { say "missing /usr/lib/cni/$p: apt-get install containernetworking-plugins" >&2; exit 1; }
  done
  for t in ip sqlite3 "$PY"; do
    command -v "$t" >/dev/null || { say "missing $t: run scripts/install-deps.sh demo" >&2; exit 1; }
  done
}

# Copies an example, rewriting the paths and names that are node-specific.
install_example() {
  sed -e "s|/etc/cni/net.d|$NODE/net.d|g" -e "s|/opt/cni/bin|$NODE/bin|g" \
    -e "s|/var/lib/cni/cnimux|$NODE/state|g" -e "s|/etc/cni/cnimux/nads|$NODE/nads|g" \
    -e "s|/etc/cni/cnimux/pods|$NODE/pods|g" -e "s|\"eth1\"|\"$UPLINK\"|g" \
    -e "s|\"cnimux0\"|\"$BRIDGE\"|g" "$ROOT/examples/$1" >"$NODE/$1"
}

setup_node() {
  section "1. A throwaway node"
  NODE=$(mktemp -d /tmp/cnimux-demo.XXXXXX)
  mkdir -p "$NODE"/{bin,net.d,nads,pods,state}
  chmod 0700 "$NODE/state"
  ln -s "$BUILD/plugin/cnimux" "$NODE/bin/cnimux"
  ln -s "$BUILD/ipam/cnimux-ipam" "$NODE/bin/cnimux-ipam"
  for p in bridge macvlan loopback host-local; do ln -s "/usr/lib/cni/$p" "$NODE/bin/$p"; done
  for f in net.d/00-cnimux.conflist net.d/10-cluster.conflist nads/macvlan-a.yaml \
    nads/macvlan-b.yaml nads/macvlan-broken.yaml pods/web.yaml pods/db.yaml; do
    install_example "$f"
  done
  say "node dir \$NODE = $NODE   (what /etc/cni/net.d, /opt/cni/bin, /var/lib/cni/cnimux are on a real node)"
  (cd "$NODE" && find . -mindepth 2 | sort | sed 's|^\./||' | indent)
  say ""
  say "The node's second NIC (macvlan's master; \"eth1\" in the examples) is a veth pair:"
  show ip link add "$UPLINK" type veth peer name "$UPLINK_PEER"
  ip link set "$UPLINK" up && ip link set "$UPLINK_PEER" up
  say ""
  say "net.d/00-cnimux.conflist: the runtime's only CNI config; cnimux reads pods and NADs from"
  say "local manifests (nadDir, podDir) because this node has no API server:"
  indent <"$NODE/net.d/00-cnimux.conflist"
  say "net.d/10-cluster.conflist: the cluster network, the reference bridge with cnimux-ipam."
  say "nads/: macvlan-a (192.168.10.0/24), macvlan-b (192.168.20.0/24), macvlan-broken (master lo)."
  say "stdin.json: the conflist's cnimux entry with the list's name and cniVersion, as containerd sends it."
}

# The stdin containerd would send: the conflist's plugin with the list's name and cniVersion.
write_stdin() {
  "$PY" - "$NODE/net.d/00-cnimux.conflist" >"$NODE/stdin.json" <<'EOF'
import json, sys
conf = json.load(open(sys.argv[1]))
plugin = dict(conf["plugins"][0], name=conf["name"], cniVersion=conf["cniVersion"])
print(json.dumps(plugin))
EOF
}

add_web() {
  section "2. ADD pod default/web"
  say "pods/web.yaml asks for two extra networks:"
  grep 'k8s.v1.cni.cncf.io/networks' "$NODE/pods/web.yaml" | indent
  WEB_CID=$(container_id)
  WEB_UID=$(sed -n 's/^ *uid: *//p' "$NODE/pods/web.yaml")
  show ip netns add "$NS_WEB"
  run_cnimux ADD "$WEB_CID" "$NS_WEB" web "$WEB_UID"
  ((RC == 0)) || { say "${RED}ADD failed:${OFF} $OUT $ERR"; exit 1; }
  say "stdout (the cluster network's result, what containerd gets back):"
  json_pretty <<<"$OUT" | indent
  say ""
  say "Inside the pod's network namespace:"
  show ip -n "$NS_WEB" -br addr | indent
  show ip -n "$NS_WEB" route | indent
  say ""
  say "The journal, written durably before the first delegate ran (\$NODE/state/${WEB_CID:0:12}…):"
  journal_summary "$NODE/state/$WEB_CID.journal" | indent
  say ""
  say "Addresses held in the IPAM store (sqlite3 \$NODE/state/ipam.db 'select … from allocations'):"
  held_addresses | indent
  say ""
  say "k8s.v1.cni.cncf.io/network-status, as cnimux PATCHes it onto the pod when an API server"
  say "exists (here taken from cnimux's log; without an API there is nothing to PATCH):"
  network_status "$WEB_CID" | indent
  say ""
  say "cnimux's log for this ADD (logFile, logLevel debug): VERSION once per plugin binary"
  say "(cached in cniDir by path, size, mtime and inode), then each delegate's ADD in plan order:"
  log_of "$WEB_CID" ADD | indent
}

add_db_fails() {
  section "3. A failure: ADD pod default/db selects a broken network"
  say "nads/macvlan-broken.yaml puts macvlan on the loopback device, which the kernel refuses."
  say "pods/db.yaml (JSON form) asks for a fixed address on macvlan-a, then for macvlan-broken:"
  sed -n '/networks: |/,/^spec:/p' "$NODE/pods/db.yaml" | sed '$d' | indent
  DB_CID=$(container_id)
  DB_UID=$(sed -n 's/^ *uid: *//p' "$NODE/pods/db.yaml")
  local held_before ports_before
  held_before=$(allocation_count)
  ports_before=$(bridge_ports)
  show ip netns add "$NS_DB"
  run_cnimux ADD "$DB_CID" "$NS_DB" db "$DB_UID"
  ((RC != 0)) || { say "${RED}ADD unexpectedly succeeded${OFF}"; exit 1; }
  say "stdout (the CNI error names the network; details say what the rollback undid):"
  json_pretty <<<"$OUT" | indent
  say ""
  say "The log: eth0 and net1 were attached, net2 failed, then DEL of all three, newest first:"
  log_of "$DB_CID" ADD | grep -vE 'VERSION| error ' | indent
  say ""
  say "What the failed ADD left behind:"
  show ip -n "$NS_DB" -br link | indent
  say "addresses held (192.168.10.150 was allocated for net1 and is free again):"
  held_addresses | indent
  say "host veths on the bridge: $(bridge_ports) (web's eth0 only)"
  say "journal: every attachment back to pending, so the runtime's DEL finds nothing owed"
  journal_summary "$NODE/state/$DB_CID.journal" | indent
  [[ $(allocation_count) == "$held_before" ]] || { say "${RED}addresses leaked${OFF}"; exit 1; }
  [[ $(bridge_ports) == "$ports_before" ]] || { say "${RED}a veth leaked${OFF}"; exit 1; }
  [[ $(ip -n "$NS_DB" -o link | grep -vc ': lo:') == 0 ]] || { say "${RED}links leaked${OFF}"; exit 1; }
  say ""
  say "containerd tears the failed sandbox down with DEL; cnimux finds nothing owed:"
  run_cnimux DEL "$DB_CID" "$NS_DB" db "$DB_UID"
  ((RC == 0)) || { say "${RED}DEL failed:${OFF} $OUT $ERR"; exit 1; }
  say "journal now a tombstone (a repeated DEL, as containerd sends, does nothing):"
  journal_summary "$NODE/state/$DB_CID.journal" | indent
}

del_web() {
  section "4. DEL pod default/web"
  run_cnimux DEL "$WEB_CID" "$NS_WEB" web "$WEB_UID"
  ((RC == 0)) || { say "${RED}DEL failed:${OFF} $OUT $ERR"; exit 1; }
  say "stdout: ${OUT:-(empty, as the spec wants for DEL)}"
  show ip -n "$NS_WEB" -br link | indent
  say "addresses held:"
  held_addresses | indent
  say "host veths on the bridge: $(bridge_ports)"
  say "journals that still owe work: $(grep -L '"state":"deleted"' "$NODE"/state/*.journal 2>/dev/null | wc -l) (tombstones: $(grep -l '"state":"deleted"' "$NODE"/state/*.journal 2>/dev/null | wc -l))"
  [[ $(allocation_count) == 0 ]] || { say "${RED}addresses leaked${OFF}"; exit 1; }
}

finish() {
  section "5. Clean up"
  say "removing the namespaces, the uplink, the bridge and $NODE"
  local fwd
  fwd=$(cat /proc/sys/net/ipv4/ip_forward)
  if [[ $fwd != "$FORWARD_BEFORE" ]]; then
    say "restoring net.ipv4.ip_forward to $FORWARD_BEFORE (the bridge plugin's isGateway set it to $fwd)"
  fi
  cleanup
  local left=""
  ip netns list | grep -q "cnimux-demo-$$-" && left+=" netns"
  for link in "$UPLINK" "$UPLINK_PEER" "$BRIDGE"; do
    [[ -e /sys/class/net/$link ]] && left+=" $link"
  done
  [[ -e $NODE ]] && left+=" $NODE"
  [[ $(cat /proc/sys/net/ipv4/ip_forward) == "$FORWARD_BEFORE" ]] || left+=" ip_forward"
  if [[ -n $left ]]; then say "${RED}left behind:$left${OFF}"; exit 1; fi
  say "${GREEN}demo done: the machine is as it was${OFF}"
}

main() {
  preflight
  setup_node
  write_stdin
  add_web
  add_db_fails
  del_web
  finish
}

main

#!/usr/bin/env bash
# The cnimux demo: a small node on this machine (a bridge cluster network, a veth uplink as the
# macvlan master, a simulated SR-IOV VF) and three pods from examples/ attached with
# `cnimuxctl pod add` as containerd would: one plain, one with two macvlan networks and a fixed
# address, one whose ADD fails and is rolled back. Then a ping over the secondary network, and
# every pod detached until the pools are empty again.
# Usage: scripts/demo.sh [BUILD_DIR]   (as root; `make demo` installs, builds and runs this)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
[[ $BUILD = /* ]] || BUILD="$ROOT/$BUILD"

# Every name carries the pid, so a demo never meets what another run (or a killed one) left.
TAG="cxd$$"
UPLINK="${TAG}u"      # the node's "second NIC": one end of a veth pair, macvlan's master
UPLINK_PEER="${TAG}p"
BRIDGE="${TAG}br"     # the cluster network's bridge (the examples call it cnimux0)
VF_NETDEV="${TAG}vf"  # the simulated VF's netdev: one end of a veth pair
VF_PEER="${TAG}vw"    # its "wire"
PF_NETDEV="${TAG}pf"  # the simulated PF's netdev name (only in the fake sysfs)
NETNS_PREFIX="cnimux-demo-$$"
PODS=(client web db)
NODE=""
FORWARD_BEFORE=$(cat /proc/sys/net/ipv4/ip_forward)
NETNS_DIR_BEFORE=no
[[ -d /run/netns ]] && NETNS_DIR_BEFORE=yes
CLEANED=no

if [[ -t 1 ]]; then BOLD=$'\e[1m' DIM=$'\e[2m' RED=$'\e[31m' GREEN=$'\e[32m' OFF=$'\e[0m'
else BOLD="" DIM="" RED="" GREEN="" OFF=""; fi

section() { printf '\n%s== %s %s%s\n' "$BOLD" "$1" "$(printf '=%.0s' $(seq ${#1} 70))" "$OFF"; }
say() { printf '%s\n' "$*"; }
indent() { sed 's/^/    /'; }
die() { say "${RED}$*${OFF}" >&2; exit 1; }
# Prints a command as a reader would type it ($NODE for the node directory), then runs it.
show() {
  local line="$*"
  printf '%s$ %s%s\n' "$DIM" "${line//$NODE/\$NODE}" "$OFF"
  "$@"
}

# cnimuxctl with this node's directories; what a node's defaults would be otherwise.
ctl() {
  local sub=$1
  shift
  case $sub in
    pod) show "$NODE/bin/cnimuxctl" pod "$@" --conf-dir "$NODE/net.d" --bin-dir "$NODE/bin" \
      --cache-dir "$NODE/runtime" ;;
    pods) show "$NODE/bin/cnimuxctl" pods --cni-dir "$NODE/state" "$@" ;;
    ipam) show "$NODE/bin/cnimuxctl" ipam "$@" --store "$NODE/state/ipam.db" --cni-dir "$NODE/state" ;;
  esac
}

# ---- Cleanup: runs on every exit path, idempotent, never fails. ----

cleanup() {
  [[ $CLEANED = yes ]] && return 0
  CLEANED=yes
  set +e
  for pod in "${PODS[@]}"; do
    [[ -e /run/netns/$NETNS_PREFIX-$pod ]] && ip netns delete "$NETNS_PREFIX-$pod"
  done
  # A pod's VF goes back to the host with its netns; the veth pairs go with either end.
  for link in "$UPLINK" "$BRIDGE" "$VF_NETDEV" "$VF_PEER"; do
    ip link show "$link" >/dev/null 2>&1 && ip link delete "$link"
  done
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

# What a run killed with SIGKILL (no trap) left: names carry a pid that no longer runs.
sweep_dead_runs() {
  local name pid
  for name in $(ip -o link show | sed -nE 's/^[0-9]+: (cxd[0-9]+[a-z]+)[@:].*/\1/p'); do
    pid=$(sed -E 's/^cxd([0-9]+).*/\1/' <<<"$name")
    kill -0 "$pid" 2>/dev/null || ip link delete "$name" 2>/dev/null || true
  done
  for name in $(ip netns list | sed -nE 's/^(cnimux-demo-[0-9]+-[a-z]+).*/\1/p'); do
    pid=$(sed -E 's/^cnimux-demo-([0-9]+)-.*/\1/' <<<"$name")
    kill -0 "$pid" 2>/dev/null || ip netns delete "$name" 2>/dev/null || true
  done
  for name in /tmp/cnimux-demo-*; do
    [[ -d $name ]] || continue
    pid=$(sed -E 's|^/tmp/cnimux-demo-([0-9]+)\..*|\1|' <<<"$name")
    [[ $pid =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null && rm -rf "$name"
  done
  return 0
}

# ---- The story. ----

BINARIES=(cli/cnimuxctl plugin/cnimux ipam/cnimux-ipam delegates/cnimux-sriov)

preflight() {
  ((EUID == 0)) || die "the demo needs root (it creates network namespaces and links)"
  for f in "${BINARIES[@]}"; do
    [[ -x $BUILD/$f ]] || die "missing $BUILD/$f: run 'make demo' (it builds first)"
  done
  for p in bridge macvlan loopback; do
    [[ -x /usr/lib/cni/$p ]] || die "missing /usr/lib/cni/$p: run scripts/install-deps.sh demo"
  done
  for t in ip ping; do
    command -v "$t" >/dev/null || die "missing $t: run scripts/install-deps.sh demo"
  done
}

# Copies an example, rewriting what is node-specific: the paths, the macvlan master "eth1",
# and the bridge "cnimux0".
install_example() {
  sed -e "s|/etc/cni/net.d|$NODE/net.d|g" -e "s|/opt/cni/bin|$NODE/bin|g" \
    -e "s|/var/lib/cni/cnimux|$NODE/state|g" -e "s|/etc/cni/cnimux/nads|$NODE/nads|g" \
    -e "s|/etc/cni/cnimux/pods|$NODE/pods|g" -e "s|\"eth1\"|\"$UPLINK\"|g" \
    -e "s|\"cnimux0\"|\"$BRIDGE\"|g"\
    "$ROOT/examples/$1" >"$NODE/$1"
}

# A PF at 0000:03:00.0 with one VF, 0000:03:02.0 (driver iavf), whose netdev is a veth end:
# the layout test/fakes/fake_sysfs.h builds for the SR-IOV tests.
make_fake_sysfs() {
  local sys=$NODE/sys pci=$NODE/sys/bus/pci/devices pf=0000:03:00.0 vf=0000:03:02.0
  mkdir -p "$pci/$pf/net/$PF_NETDEV" "$pci/$vf/net/$VF_NETDEV" "$sys/bus/pci/drivers/iavf"
  ln -s "../$vf" "$pci/$pf/virtfn0"
  ln -s "../$pf" "$pci/$vf/physfn"
  ln -s ../../../bus/pci/drivers/iavf "$pci/$vf/driver"
  ip link add "$VF_NETDEV" type veth peer name "$VF_PEER"
  ip link set "$VF_PEER" up
  # cnimuxctl runs cnimux, which runs the delegates: the variable reaches cnimux-sriov, which
  # then reads this tree instead of /sys and keeps the PF's VF settings in a file beside it
  # (delegates/sriov/simulated_vf_control.h; docs/delegation.md).
  export CNIMUX_SRIOV_SYSFS_ROOT=$sys
}

setup_node() {
  section "1. A small node"
  NODE=$(mktemp -d "/tmp/cnimux-demo-$$.XXXXXX")
  mkdir -p "$NODE"/{bin,net.d,nads,state,runtime}
  chmod 0700 "$NODE/state" "$NODE/runtime"
  for f in "${BINARIES[@]}"; do ln -s "$BUILD/$f" "$NODE/bin/${f##*/}"; done
  for p in bridge macvlan loopback; do ln -s "/usr/lib/cni/$p" "$NODE/bin/$p"; done
  for f in net.d/00-cnimux.conflist net.d/10-cluster.conflist nads/macvlan-a.yaml \
    nads/macvlan-b.yaml nads/macvlan-broken.yaml nads/sriov-vf.yaml; do
    install_example "$f"
  done
  ip link add "$UPLINK" type veth peer name "$UPLINK_PEER"
  ip link set "$UPLINK" up && ip link set "$UPLINK_PEER" up
  make_fake_sysfs
  say "\$NODE = $NODE stands for /etc/cni/net.d, /opt/cni/bin and /var/lib/cni on a real node:"
  (cd "$NODE" && find bin net.d nads -mindepth 1 | sort | tr '\n' ' ' | fold -s -w 90 | indent)
  say ""
  say "net.d/00-cnimux.conflist  cnimux, the node's only CNI config; it declares the"
  say "                          io.kubernetes.cri.pod-annotations capability, so the runtime"
  say "                          hands it each pod's annotations (no API server here)"
  say "net.d/10-cluster.conflist the cluster network: bridge $BRIDGE, cnimux-ipam 10.244.0.0/24"
  say "nads/macvlan-a, -b        macvlan on $UPLINK (a veth: the node's second NIC)"
  say "                          192.168.10.100-199 and 192.168.20.0/24"
  say "nads/sriov-vf             VF 0000:03:02.0 of a simulated NIC (fake sysfs, netdev $VF_NETDEV)"
  say "nads/macvlan-broken       macvlan on lo, which the kernel refuses"
  say ""
  say "net.d/00-cnimux.conflist:"
  sed "s|$NODE|\$NODE|g" "$NODE/net.d/00-cnimux.conflist" | indent
}

attach() {
  local pod=$1
  say ""
  say "examples/pods/$pod.yaml asks for:"
  sed -n '/k8s.v1.cni.cncf.io\/networks:/,/^spec:/p' "$ROOT/examples/pods/$pod.yaml" | sed '$d' |
    sed -E 's/^ +k8s.v1.cni.cncf.io\/networks: *//; /^\s*\|?\s*$/d' | indent
  ctl pod add "examples/pods/$pod.yaml" --netns "$NETNS_PREFIX-$pod"
}

add_pods() {
  section "2. Attach pods, as containerd would (cnimuxctl pod add)"
  say "cnimuxctl creates the pod's netns and runs the conflist with CNI_ARGS K8S_POD_*, the"
  say "manifest's annotations in runtimeConfig, and caches the result, as containerd does."
  attach client
  attach web
  say ""
  say "Inside web's network namespace:"
  show ip -n "$NETNS_PREFIX-web" -br addr | indent
}

# The delegates cnimux ran for the ADD that failed, in order: "ADD bridge", ...
delegate_runs() {
  local log=$NODE/state/cnimux.log cid
  cid=$(grep -m1 -oE 'cid=[0-9a-f]+ verb=ADD: failed' "$log" | sed -E 's/cid=([0-9a-f]+).*/\1/')
  grep -F "cid=$cid verb=ADD: " "$log" |
    sed -nE 's/.* verb=ADD: ([^:]+): started [^ ]+ (ADD|DEL) pid .*/\2 \1/p' | paste -sd ' ' |
    sed 's/ \(ADD\|DEL\) /, \1 /g'
}

add_failing_pod() {
  section "3. A failure: the ADD of pod db is rolled back"
  local rc=0
  attach db || rc=$?
  ((rc == 4)) || die "pod add db: expected exit 4 (the plugin failed), got $rc"
  # The story needs net1 (the VF) attached and net2 (macvlan-broken) failing: any other
  # failure would still exit 4, so check which network failed.
  grep -E 'verb=ADD: failed: .*network \\?"default/macvlan-broken\\?" \(net2\)' \
    "$NODE/state/cnimux.log" >/dev/null || die "pod add db failed, but not at net2 (macvlan-broken)"
  say "exit status $rc: the plugin's error. What cnimux ran for db, from its log (logFile):"
  delegate_runs | indent
  say "eth0 and the VF (net1) were attached, net2 failed, and cnimux undid all three, newest"
  say "first, before it answered; containerd's DEL then found nothing owed. The VF is back:"
  show ip -br link show "$VF_NETDEV" | indent
  [[ -e /sys/class/net/$VF_NETDEV ]] || die "the VF did not come back to the node"
  [[ ! -e /run/netns/$NETNS_PREFIX-db ]] || die "db's netns was not removed"
}

show_node() {
  section "4. What the node holds"
  ctl pods
  say ""
  ctl ipam pools
  say ""
  say "Over the secondary network (macvlan-a): client pings web's fixed address."
  local client_addr
  client_addr=$(ip -n "$NETNS_PREFIX-client" -4 -o addr show net1 | awk '{print $4}')
  say "client net1 = $client_addr, web net1 = 192.168.10.150/24; the kernel routes it over net1:"
  show ip -n "$NETNS_PREFIX-client" route get 192.168.10.150 | indent
  show ip netns exec "$NETNS_PREFIX-client" ping -c 2 -W 2 192.168.10.150 | indent
  show ip netns exec "$NETNS_PREFIX-web" ping -c 1 -W 2 "${client_addr%/*}" | indent
}

detach() {
  section "5. Detach every pod (cnimuxctl pod del)"
  say "StopPodSandbox's DEL (netns, cached result), the netns removed, then RemovePodSandbox's"
  say "DEL without a netns; db has nothing left to delete."
  for pod in "${PODS[@]}"; do ctl pod del "examples/pods/$pod.yaml"; done
  say ""
  ctl ipam pools
  say ""
  ctl pods
  local held
  held=$("$NODE/bin/cnimuxctl" ipam pools --json --store "$NODE/state/ipam.db" \
    --cni-dir "$NODE/state" | grep -oE '"used":[0-9]+' | grep -vc '"used":0' || true)
  ((held == 0)) || die "addresses are still held after every DEL"
}

finish() {
  section "6. Clean up"
  local fwd
  fwd=$(cat /proc/sys/net/ipv4/ip_forward)
  if [[ $fwd != "$FORWARD_BEFORE" ]]; then
    say "restoring net.ipv4.ip_forward to $FORWARD_BEFORE (the bridge plugin's isGateway set it to $fwd)"
  fi
  say "removing the uplink, the bridge, the simulated VF and \$NODE"
  cleanup
  local left=""
  ip netns list | grep -q "^$NETNS_PREFIX-" && left+=" netns"
  for link in "$UPLINK" "$UPLINK_PEER" "$BRIDGE" "$VF_NETDEV" "$VF_PEER"; do
    [[ -e /sys/class/net/$link ]] && left+=" $link"
  done
  [[ -e $NODE ]] && left+=" $NODE"
  [[ $(cat /proc/sys/net/ipv4/ip_forward) == "$FORWARD_BEFORE" ]] || left+=" ip_forward"
  [[ -z $left ]] || die "left behind:$left"
  say "${GREEN}demo done in ${SECONDS}s: the machine is as it was${OFF}"
}

main() {
  cd "$ROOT"
  preflight
  sweep_dead_runs
  setup_node
  add_pods
  add_failing_pod
  show_node
  detach
  finish
}

main

// cnimux-sriov: attaches an SR-IOV VF to the pod, configured through its PF, compatible with
// sriov-cni's configuration (deviceID, vlan, vlanQoS, vlanProto, mac, spoofchk, trust,
// link_state, min_tx_rate, max_tx_rate, ipam).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "cni/plugin.h"
#include "net/sriov_vf.h"

namespace delegates {

class SriovPlugin : public cni::Plugin {
 public:
  struct Options {
    std::string sysfs_root = "/sys";
    // Per-VF lock and allocation record (<pci>.lock, <pci>.json); the config's dataDir wins.
    std::string data_dir = "/var/lib/cni/cnimux/sriov";
    // Makes the PF netlink control; the default is net::NetlinkVfControl in the host netns.
    std::function<std::unique_ptr<net::VfControl>()> vf_control;

    // The defaults, unless CNIMUX_SRIOV_SYSFS_ROOT names a simulated SR-IOV tree (tests and
    // demos on nodes without SR-IOV hardware): then sysfs is read there, and VF settings go to
    // the simulated PF <root>/cnimux-vf-settings.json (delegates/sriov/simulated_vf_control.h).
    // An environment variable, not a config key, so only whoever runs cnimux (the node), never
    // a NAD's author, can point it elsewhere.
    static Options from_environment();
  };
  SriovPlugin() : SriovPlugin(Options::from_environment()) {}
  explicit SriovPlugin(Options options);

  // Under the VF's lock: records the VF's original settings (kept from a stale record whose
  // pod is gone), applies the configured ones through the PF, moves the VF netdev into the pod
  // as CNI_IFNAME (none in DPDK mode: vfio-pci or uio), runs IPAM, writes the allocation
  // record. Every step is undone on failure.
  cni::Result add(const cni::Request& req) override;
  // Releases the addresses; then, only if the VF's record names this container and ifname,
  // moves the netdev back, restores the VF's original settings and drops the record. A late
  // DEL of a pod whose VF another pod now holds leaves that VF alone.
  void del(const cni::Request& req) override;
  // The record is this attachment's, the VF has the configured settings, and (not DPDK) the
  // interface is in the pod with prevResult's MAC and addresses.
  void check(const cni::Request& req) override;
  void status(const cni::Request&) override {}
  void gc(const cni::Request&) override {}

 private:
  Options options_;
};

}  // namespace delegates

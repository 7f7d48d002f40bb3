// A net::VfControl for nodes without SR-IOV hardware (end-to-end tests, demos): the PF's VF
// settings live in a JSON file of a simulated sysfs tree instead of a NIC, and every setter
// call is appended to the file's "calls". cnimux-sriov uses it when CNIMUX_SRIOV_SYSFS_ROOT
// names such a tree (SriovPlugin::Options::from_environment).
#pragma once

#include <string>

#include "net/sriov_vf.h"

namespace delegates {

// The file: {"vfs": {"<pf>/<vf>": {mac, vlan, qos, vlanProto, spoofchk, trust, linkState,
// minTxRate, maxTxRate}}, "calls": ["set_vlan <pf> <vf> 100 0 802.1q", ...]}. A VF the file does
// not name reads as default settings. Each call reads, changes and rewrites the file
// atomically under an flock on <path>.lock, so concurrent ADDs of different VFs keep both.
class SimulatedVfControl : public net::VfControl {
 public:
  explicit SimulatedVfControl(std::string path) : path_(std::move(path)) {}
  net::VfSettings get(const std::string& pf, int vf) override;
  void set_mac(const std::string& pf, int vf, const std::string& mac) override;
  void set_vlan(const std::string& pf, int vf, unsigned vlan, unsigned qos,
                const std::string& proto) override;
  void set_spoofchk(const std::string& pf, int vf, bool on) override;
  void set_trust(const std::string& pf, int vf, bool on) override;
  void set_link_state(const std::string& pf, int vf, const std::string& state) override;
  void set_rate(const std::string& pf, int vf, unsigned min_mbps, unsigned max_mbps) override;

 private:
  std::string path_;
};

}  // namespace delegates

// cnimux-sriov-sim: delegates::SriovPlugin, unchanged, on a machine without SR-IOV hardware.
// The PCI tree comes from the fake sysfs root in $CNIMUX_SRIOV_SIM_SYSFS (laid out as
// test/fakes/fake_sysfs.h makes it, VF netdevs being veth ends), and the PF's VF settings
// live in memory: every setting is accepted and a VF reports the defaults. What the demo shows
// is everything else: finding the VF, the per-VF record and lock, moving the netdev into the
// pod and back, IPAM, and rollback.
#include <cstdlib>
#include <iostream>
#include <memory>

#include "cni/skeleton.h"
#include "delegates/sriov/sriov.h"

namespace {

class SimulatedPf : public net::VfControl {
 public:
  net::VfSettings get(const std::string&, int) override { return {}; }
  void set_mac(const std::string&, int, const std::string&) override {}
  void set_vlan(const std::string&, int, unsigned, unsigned, const std::string&) override {}
  void set_spoofchk(const std::string&, int, bool) override {}
  void set_trust(const std::string&, int, bool) override {}
  void set_link_state(const std::string&, int, const std::string&) override {}
  void set_rate(const std::string&, int, unsigned, unsigned) override {}
};

}  // namespace

int main() {
  const char* root = std::getenv("CNIMUX_SRIOV_SIM_SYSFS");
  if (!root || !*root) {
    std::cerr << "cnimux-sriov-sim: set CNIMUX_SRIOV_SIM_SYSFS to the fake sysfs root\n";
    return 1;
  }
  delegates::SriovPlugin::Options o;
  o.sysfs_root = root;
  o.vf_control = [] { return std::make_unique<SimulatedPf>(); };
  delegates::SriovPlugin plugin(o);
  return cni::run_plugin_main(plugin, "cnimux-sriov-sim");
}

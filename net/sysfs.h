// PCI network devices through sysfs: a device's netdevs and driver, an SR-IOV VF's PF and
// index. The root is configurable so tests can point it at a fake tree.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace net {

// A view of <root>/bus/pci/devices and <root>/class/net. Only reads; never follows a link
// outside the names it is asked about. Every failure is cni::Error naming the path.
class Sysfs {
 public:
  explicit Sysfs(std::string root = "/sys") : root_(std::move(root)) {}

  const std::string& root() const { return root_; }

  // "0000:03:00.1" (domain, bus, device, function); a short "03:00.1" is refused.
  static bool is_pci_address(const std::string& s);

  // Whether <root>/bus/pci/devices/<pci> exists.
  bool has_device(const std::string& pci) const;
  // The names in <root>/bus/pci/devices/<pci>/net, sorted; empty when it has none.
  std::vector<std::string> netdevs(const std::string& pci) const;
  // The basename of the device's driver link ("vfio-pci", "ixgbevf"); nullopt when unbound.
  std::optional<std::string> driver(const std::string& pci) const;
  // The PF of a VF (the basename of its physfn link); nullopt when `pci` is not a VF.
  std::optional<std::string> physfn(const std::string& vf_pci) const;
  // N of the PF's virtfnN link that names `vf_pci`; Error(7) naming both when none does.
  int vf_index(const std::string& pf_pci, const std::string& vf_pci) const;
  // The PCI address behind a netdev (<root>/class/net/<name>/device), nullopt for virtual
  // devices.
  std::optional<std::string> pci_of_netdev(const std::string& name) const;
  // The resolved path of <root>/class/net/<name> (for host-device's kernelpath), or "".
  std::string netdev_path(const std::string& name) const;

 private:
  std::string device_dir(const std::string& pci) const;
  std::string root_;
};

// Drivers that hand a VF to userspace (DPDK): the VF then has no netdev to move.
bool is_userspace_driver(const std::string& driver);

}  // namespace net

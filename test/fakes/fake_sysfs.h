// A fake sysfs tree for SR-IOV tests: PFs with virtfnN links, VFs with physfn, driver and
// net/<name> entries naming real (veth) netdevs. Lives in a TempDir, removed with it.
#pragma once

#include <filesystem>
#include <string>

namespace cnimux_test {

class FakeSysfs {
 public:
  explicit FakeSysfs(std::string root) : root_(std::move(root)) {
    std::filesystem::create_directories(root_ + "/bus/pci/devices");
    std::filesystem::create_directories(root_ + "/bus/pci/drivers");
  }
  const std::string& root() const { return root_; }

  // A PF at `pci` whose netdev is `netdev`.
  void add_pf(const std::string& pci, const std::string& netdev) {
    std::filesystem::create_directories(dev(pci) + "/net/" + netdev);
  }
  // VF number `index` of PF `pf` at `vf`, bound to `driver`, with netdev `netdev` ("" for
  // none, as under vfio-pci).
  void add_vf(const std::string& pf, int index, const std::string& vf, const std::string& driver,
              const std::string& netdev) {
    std::filesystem::create_directories(dev(vf));
    std::filesystem::create_directory_symlink("../" + vf,
                                              dev(pf) + "/virtfn" + std::to_string(index));
    std::filesystem::create_directory_symlink("../" + pf, dev(vf) + "/physfn");
    std::filesystem::create_directories(root_ + "/bus/pci/drivers/" + driver);
    std::filesystem::create_directory_symlink("../../../bus/pci/drivers/" + driver,
                                              dev(vf) + "/driver");
    if (!netdev.empty()) std::filesystem::create_directories(dev(vf) + "/net/" + netdev);
  }

 private:
  std::string dev(const std::string& pci) const { return root_ + "/bus/pci/devices/" + pci; }
  std::string root_;
};

}  // namespace cnimux_test

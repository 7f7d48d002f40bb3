// Reads PCI device facts out of a sysfs tree (real or fake) with std::filesystem.
#include "net/sysfs.h"

#include <algorithm>
#include <filesystem>
#include <regex>

#include "cni/error.h"

namespace net {

namespace fs = std::filesystem;

bool Sysfs::is_pci_address(const std::string& s) {
  static const std::regex re("^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]$");
  return std::regex_match(s, re);
}

std::string Sysfs::device_dir(const std::string& pci) const {
  if (!is_pci_address(pci)) {
    throw cni::Error(cni::kInvalidConfig,
                     "invalid PCI address \"" + pci + "\": want 0000:00:00.0 form");
  }
  return root_ + "/bus/pci/devices/" + pci;
}

bool Sysfs::has_device(const std::string& pci) const {
  std::error_code ec;
  return fs::exists(device_dir(pci), ec);
}

std::vector<std::string> Sysfs::netdevs(const std::string& pci) const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(device_dir(pci) + "/net", ec)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// The basename of the symlink `path` points at, nullopt if it is not a symlink.
std::optional<std::string> link_basename(const std::string& path) {
  std::error_code ec;
  fs::path target = fs::read_symlink(path, ec);
  if (ec) return std::nullopt;
  return target.filename().string();
}

}  // namespace

std::optional<std::string> Sysfs::driver(const std::string& pci) const {
  return link_basename(device_dir(pci) + "/driver");
}

std::optional<std::string> Sysfs::physfn(const std::string& vf_pci) const {
  return link_basename(device_dir(vf_pci) + "/physfn");
}

int Sysfs::vf_index(const std::string& pf_pci, const std::string& vf_pci) const {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(device_dir(pf_pci), ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind("virtfn", 0) != 0 || name.size() == 6) continue;
    if (link_basename(e.path().string()) != vf_pci) continue;
    try {
      return std::stoi(name.substr(6));
    } catch (const std::exception&) {
      continue;  // not virtfn<number>
    }
  }
  throw cni::Error(cni::kInvalidConfig,
                   "PF " + pf_pci + " has no virtfn link to VF \"" + vf_pci + "\"");
}

std::optional<std::string> Sysfs::pci_of_netdev(const std::string& name) const {
  if (name.empty() || name.find('/') != std::string::npos) return std::nullopt;
  auto pci = link_basename(root_ + "/class/net/" + name + "/device");
  if (!pci || !is_pci_address(*pci)) return std::nullopt;
  return pci;
}

std::string Sysfs::netdev_path(const std::string& name) const {
  if (name.empty() || name.find('/') != std::string::npos) return {};
  std::error_code ec;
  fs::path p = fs::canonical(root_ + "/class/net/" + name, ec);
  return ec ? std::string() : p.string();
}

bool is_userspace_driver(const std::string& driver) {
  return driver == "vfio-pci" || driver == "uio_pci_generic" || driver == "igb_uio";
}

}  // namespace net

// cnimux-host-device: moves an existing host netdev into the pod under the pod's interface
// name, and on DEL back under its original name, MTU and MAC. Compatible with the reference
// host-device's configuration (device, hwaddr, kernelpath, pciBusID, runtimeConfig deviceID).
#pragma once

#include <string>

#include "cni/plugin.h"

namespace delegates {

class HostDevicePlugin : public cni::Plugin {
 public:
  struct Options {
    std::string sysfs_root = "/sys";  // where pciBusID and kernelpath are looked up
    // The state of each attachment (original name, MTU, MAC); the config's dataDir wins.
    std::string data_dir = "/var/lib/cni/cnimux/host-device";
  };
  HostDevicePlugin() : HostDevicePlugin(Options()) {}
  explicit HostDevicePlugin(Options options) : options_(std::move(options)) {}

  // Finds the device in the calling thread's netns (the host's), records its name, MTU, MAC
  // and up state, moves it into CNI_NETNS renamed to CNI_IFNAME (its host name kept as the
  // link's alias, like the reference), then runs IPAM and configures the addresses.
  cni::Result add(const cni::Request& req) override;
  // Releases the addresses, then moves the device back and restores what ADD recorded. A
  // missing netns or link is success; a device the kernel returned to the host when the pod's
  // netns was destroyed is found by its alias and renamed back.
  void del(const cni::Request& req) override;
  // The prevResult's interface is in the pod netns with its MAC, addresses and routes; the
  // IPAM's own CHECK passes.
  void check(const cni::Request& req) override;
  void status(const cni::Request&) override {}
  void gc(const cni::Request&) override {}

 private:
  Options options_;
};

}  // namespace delegates

// network-status entries: device-info comes from the planner's device, else from the pod
// interface's pciID in the delegate's result (an SR-IOV NAD that names its deviceID itself).
#include "plugin/network_status.h"

#include <gtest/gtest.h>

namespace plugin {
namespace {

cni::Result sriov_result() {
  cni::Result r;
  r.cni_version = "1.0.0";
  r.interfaces.push_back({.name = "net1", .sandbox = "/run/netns/p", .pci_id = "0000:03:02.1"});
  return r;
}

TEST(NetworkStatus, DeviceInfoFromTheResultsPciId) {
  PlannedAttachment a;
  a.network = "default/sriov";
  a.ifname = "net1";
  auto e = network_status_entry(a, sriov_result());
  EXPECT_EQ(e["device-info"]["pci"]["pci-address"], "0000:03:02.1");
  EXPECT_EQ(e["device-info"]["type"], "pci");
}

TEST(NetworkStatus, PlannersDeviceWins) {
  PlannedAttachment a;
  a.network = "default/sriov";
  a.ifname = "net1";
  a.device_id = "0000:03:02.0";
  EXPECT_EQ(network_status_entry(a, sriov_result())["device-info"]["pci"]["pci-address"],
            "0000:03:02.0");
  a.device_id.clear();
  EXPECT_FALSE(network_status_entry(a, cni::Result{})["device-info"].is_object());
}

}  // namespace
}  // namespace plugin

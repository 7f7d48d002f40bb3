// SR-IOV through the cnimux binary: a pod whose NAD says "type": "sriov" is attached, checked
// and detached by cnimux, with the in-tree sriov run in-process (inTree: ["sriov"]) and
// executed (cnimux-sriov installed as "sriov"). The hardware is simulated: a fake sysfs tree
// (CNIMUX_SRIOV_SYSFS_ROOT) whose VF netdev is a real veth end, and a simulated PF whose VF
// settings live in a file of that tree. The VF moves into the pod and back, its PCI address
// reaches network-status device-info, and DEL restores its settings and its host name.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>

#include "test/e2e/e2e_node.h"
#include "test/fakes/fake_kube_api.h"
#include "test/fakes/fake_sysfs.h"
#include "test/fakes/temp_dir.h"

namespace cnimux_test {
namespace {

constexpr const char* kStatus = "k8s.v1.cni.cncf.io/network-status";
constexpr const char* kPf = "0000:05:00.0";
constexpr const char* kVf = "0000:05:02.3";

class SriovE2e : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    pf_ = node_.prefix() + "pf";
    sysfs_.add_pf(kPf, pf_);
    sysfs_.add_vf(kPf, 3, kVf, "iavf", vf_.peer());
    // The VF's settings before any pod: what DEL must put back.
    original_ = {{"mac", "02:00:00:00:05:03"}, {"vlan", 0},        {"qos", 0},
                 {"vlanProto", "802.1q"},      {"spoofchk", true}, {"trust", false},
                 {"linkState", "auto"},        {"minTxRate", 0},   {"maxTxRate", 0}};
    write_settings({{"vfs", {{pf_ + "/3", original_}}}, {"calls", json::array()}});
    node_.set_env("CNIMUX_SRIOV_SYSFS_ROOT", sysfs_.root());
    node_.write_cluster_network(node_.bridge_config("10.231.0.0/24"));
    json nad = {{"cniVersion", "1.0.0"},
                {"type", "sriov"},
                {"deviceID", kVf},
                {"vlan", 100},
                {"mac", "02:aa:bb:cc:05:03"},
                {"spoofchk", "off"},
                {"trust", "on"},
                {"dataDir", node_.dir() + "/sriov"},
                {"ipam", node_.ipam("10.233.0.0/24")}};
    api_.add_nad(fakes::FakeKubeApi::make_nad("default", "sr1", nad.dump()));
    api_.add_pod(fakes::FakeKubeApi::make_pod("default", "web", "uid-s",
                                              {{"k8s.v1.cni.cncf.io/networks", "sr1"}}));
    if (GetParam() == "executed") {
      std::filesystem::create_symlink(binary_dir() + "/delegates/cnimux-sriov",
                                      node_.bin() + "/sriov");
    }
  }

  json meta() const {
    json m = node_.meta_config(
        {{"kubeconfig", api_.write_kubeconfig()}, {"podDir", nullptr}, {"nadDir", nullptr}});
    if (GetParam() == "inprocess") m["inTree"] = {"sriov"};
    return m;
  }

  json settings() const {
    std::ifstream in(sysfs_.root() + "/cnimux-vf-settings.json");
    return json::parse(in);
  }
  void write_settings(const json& j) const {
    std::ofstream(sysfs_.root() + "/cnimux-vf-settings.json") << j.dump();
  }
  bool vf_on_host() const {
    return run_shell("ip link show " + vf_.peer() + " >/dev/null 2>&1") == 0;
  }

  // The network-status entries of the last PATCH, by interface.
  std::map<std::string, json> network_status() const {
    std::map<std::string, json> entries;
    for (const auto& r : api_.request_log()) {
      if (r.method != "PATCH") continue;
      entries.clear();
      for (const auto& e : json::parse(
               json::parse(r.body)["metadata"]["annotations"][kStatus].get<std::string>())) {
        entries[e["interface"].get<std::string>()] = e;
      }
    }
    return entries;
  }

  E2eNode node_{"s"};
  TestNetns pod_{"s1"};
  TempDir dir_{"sriove2e"};
  FakeSysfs sysfs_{dir_.file("sys")};
  TestVeth vf_{"vf3", "vf3p"};  // the peer end plays the VF's netdev
  fakes::FakeKubeApi api_;
  std::string pf_;
  json original_;
};

TEST_P(SriovE2e, AddCheckDelMovesTheVfAndRestoresItsSettings) {
  auto add = node_.run("ADD", "cs1", pod_.path(), meta());
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;

  // The VF's netdev is the pod's net1, with the configured MAC and an address.
  EXPECT_FALSE(vf_on_host());
  EXPECT_EQ(E2eNode::mac_in(pod_, "net1"), "02:aa:bb:cc:05:03");
  EXPECT_EQ(E2eNode::addresses_in(pod_, "net1"), std::vector<std::string>{"10.233.0.2/24"});
  const json applied = settings()["vfs"][pf_ + "/3"];
  EXPECT_EQ(applied["vlan"], 100);
  EXPECT_EQ(applied["spoofchk"], false);
  EXPECT_EQ(applied["trust"], true);
  EXPECT_EQ(applied["mac"], "02:aa:bb:cc:05:03");

  auto status = network_status();
  ASSERT_EQ(status.count("net1"), 1u) << api_.request_log().size();
  EXPECT_EQ(status["net1"]["device-info"]["type"], "pci") << status["net1"].dump();
  EXPECT_EQ(status["net1"]["device-info"]["pci"]["pci-address"], kVf) << status["net1"].dump();
  EXPECT_EQ(status["net1"]["ips"], json::array({"10.233.0.2"}));

  auto check = node_.run("CHECK", "cs1", pod_.path(), meta());
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;

  auto del = node_.run("DEL", "cs1", pod_.path(), meta());
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  // Back on the host under its own name, settings as before the pod, nothing held.
  EXPECT_TRUE(vf_on_host());
  EXPECT_EQ(settings()["vfs"][pf_ + "/3"], original_) << settings().dump();
  EXPECT_TRUE(E2eNode::links_in(pod_).empty());
  EXPECT_TRUE(node_.held_addresses().empty());
  EXPECT_FALSE(std::filesystem::exists(node_.dir() + "/sriov/" + std::string(kVf) + ".json"));
  // The in-process way never executed a delegate named sriov.
  if (GetParam() == "inprocess") {
    EXPECT_EQ(node_.read("cnimux.log").find("/sriov ADD"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(Ways, SriovE2e, ::testing::Values("inprocess", "executed"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cnimux_test

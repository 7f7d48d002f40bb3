// cnimux-sriov end to end over a fake sysfs tree whose VF netdevs are real veth ends, with a
// recording fake for the PF's IFLA_VF_* calls: ADD/CHECK/DEL with the netdev moved into the
// pod and back, DPDK mode, the late DEL of an old pod, and rollback on a failed VF setting.
#include "delegates/sriov/sriov.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cni/skeleton.h"
#include "net/netlink.h"
#include "net/netns.h"
#include "test/fakes/fake_sysfs.h"
#include "test/fakes/recording_vf_control.h"
#include "test/fakes/temp_dir.h"
#include "test/fakes/test_netns.h"

namespace {

using cnimux_test::FakeSysfs;
using cnimux_test::RecordingVfControl;
using cnimux_test::TempDir;
using cnimux_test::test_prefix;
using cnimux_test::TestNetns;
using cnimux_test::TestVeth;
using cnimux_test::VfWorld;
using nlohmann::json;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kPf = "0000:03:00.0";
constexpr const char* kVf0 = "0000:03:02.0";
constexpr const char* kVf1 = "0000:03:02.1";

class SriovTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pf_ = test_prefix() + "pf";
    sysfs_.add_pf(kPf, pf_);
    sysfs_.add_vf(kPf, 0, kVf0, "iavf", vf_.peer());
    sysfs_.add_vf(kPf, 1, kVf1, "vfio-pci", "");
    vf(0) = {.mac = "02:00:00:00:00:10", .spoofchk = true, .trust = false, .link_state = "auto"};
    vf(1) = {.mac = "02:00:00:00:00:11", .spoofchk = true, .link_state = "auto"};
    original_ = world_->vfs;
  }

  delegates::SriovPlugin plugin() {
    delegates::SriovPlugin::Options o;
    o.sysfs_root = sysfs_.root();
    o.data_dir = dir_.file("state");
    o.vf_control = [w = world_] { return std::make_unique<RecordingVfControl>(w); };
    return delegates::SriovPlugin(o);
  }

  json conf(const std::string& vf, json extra = json::object()) {
    json c = {{"cniVersion", "1.0.0"},
              {"name", "sriovnet"},
              {"type", "sriov"},
              {"deviceID", vf},
              {"ipam",
               {{"type", "cnimux-ipam"},
                {"ranges", json::array({json::array({{{"subnet", "10.77.0.0/24"}}})})},
                {"store", {{"path", dir_.file("ipam.db")}}}}}};
    c.update(extra);
    return c;
  }

  cni::DispatchOutcome run(cni::Verb verb, const json& c, const std::string& cid,
                           const TestNetns* ns, const std::string& args = "") {
    cni::Invocation inv;
    inv.verb = verb;
    inv.container_id = cid;
    inv.netns = ns ? ns->path() : "";
    inv.ifname = "net1";
    inv.args = cni::CniArgs::parse(args);
    auto p = plugin();
    return cni::dispatch(p, inv, c.dump());
  }

  net::VfSettings& vf(int i) { return world_->vfs[{pf_, i}]; }

  TempDir dir_{"sriov"};
  FakeSysfs sysfs_{dir_.file("sys")};
  TestVeth vf_{"vf0", "vf0p"};  // the peer end plays VF 0's netdev
  std::string pf_;
  std::shared_ptr<VfWorld> world_ = std::make_shared<VfWorld>();
  std::map<std::pair<std::string, int>, net::VfSettings> original_;
};

TEST_F(SriovTest, AddCheckDelMovesTheVfAndRestoresItsSettings) {
  TestNetns pod("sp");
  json c = conf(kVf0, {{"vlan", 100},
                       {"vlanQoS", 3},
                       {"mac", "02:aa:bb:cc:dd:01"},
                       {"spoofchk", "off"},
                       {"trust", "on"},
                       {"link_state", "enable"},
                       {"min_tx_rate", 10},
                       {"max_tx_rate", 100}});
  auto add = run(cni::Verb::kAdd, c, "c1", &pod);
  ASSERT_EQ(add.exit_code, 0) << add.stdout_json;
  json r = json::parse(add.stdout_json);
  EXPECT_EQ(r["interfaces"][0]["name"], "net1");
  EXPECT_EQ(r["interfaces"][0]["pciID"], kVf0);
  EXPECT_EQ(r["interfaces"][0]["mac"], "02:aa:bb:cc:dd:01");
  EXPECT_EQ(r["ips"][0]["address"], "10.77.0.2/24");
  EXPECT_EQ(pod.exec("ip link show net1 | grep -q 02:aa:bb:cc:dd:01"), 0);
  EXPECT_EQ(pod.exec("ip addr show net1 | grep -q 10.77.0.2/24"), 0);
  EXPECT_NE(cnimux_test::run_shell("ip link show " + vf_.peer() + " >/dev/null 2>&1"), 0);
  const net::VfSettings& s = vf(0);
  EXPECT_EQ(s.vlan, 100u);
  EXPECT_EQ(s.qos, 3u);
  EXPECT_EQ(s.spoofchk, false);
  EXPECT_EQ(s.trust, true);
  EXPECT_EQ(s.link_state, "enable");
  EXPECT_EQ(s.max_tx_rate, 100u);

  json chk = c;
  chk["prevResult"] = r;
  auto check = run(cni::Verb::kCheck, chk, "c1", &pod);
  EXPECT_EQ(check.exit_code, 0) << check.stdout_json;

  auto del = run(cni::Verb::kDel, c, "c1", &pod);
  ASSERT_EQ(del.exit_code, 0) << del.stdout_json;
  EXPECT_EQ(world_->vfs, original_);
  EXPECT_EQ(cnimux_test::run_shell("ip link show " + vf_.peer() + " >/dev/null"), 0);
  EXPECT_NE(pod.exec("ip link show net1 >/dev/null 2>&1"), 0);
  // The address is free again: another container may ask for it.
  auto again = run(cni::Verb::kAdd, c, "c2", &pod, "IP=10.77.0.2");
  ASSERT_EQ(again.exit_code, 0) << again.stdout_json;
  EXPECT_EQ(json::parse(again.stdout_json)["ips"][0]["address"], "10.77.0.2/24");
  EXPECT_EQ(run(cni::Verb::kDel, c, "c2", &pod).exit_code, 0);
}

TEST_F(SriovTest, CheckFailsWhenAVfSettingDrifted) {
  TestNetns pod("sc");
  json c = conf(kVf0, {{"vlan", 7}});
  auto add = run(cni::Verb::kAdd, c, "c1", &pod);
  ASSERT_EQ(add.exit_code, 0) << add.stdout_json;
  vf(0).vlan = 8;
  json chk = c;
  chk["prevResult"] = json::parse(add.stdout_json);
  auto check = run(cni::Verb::kCheck, chk, "c1", &pod);
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_THAT(check.stdout_json, HasSubstr("vlan"));
  EXPECT_EQ(run(cni::Verb::kDel, c, "c1", &pod).exit_code, 0);
}

TEST_F(SriovTest, DpdkVfAllocatesAddressesAndMovesNothing) {
  TestNetns pod("sd");
  json c = conf(kVf1, {{"vlan", 5}});
  auto add = run(cni::Verb::kAdd, c, "c1", &pod);
  ASSERT_EQ(add.exit_code, 0) << add.stdout_json;
  json r = json::parse(add.stdout_json);
  EXPECT_EQ(r["interfaces"][0]["pciID"], kVf1);
  EXPECT_EQ(r["ips"][0]["address"], "10.77.0.2/24");
  EXPECT_NE(pod.exec("ip link show net1 >/dev/null 2>&1"), 0);
  EXPECT_EQ(vf(1).vlan, 5u);
  EXPECT_EQ(run(cni::Verb::kDel, c, "c1", &pod).exit_code, 0);
  EXPECT_EQ(world_->vfs, original_);
}

TEST_F(SriovTest, LateDelOfAnOldPodLeavesTheNewPodsVfAlone) {
  TestNetns old_pod("so");
  TestNetns new_pod("sn");
  json c = conf(kVf1, {{"vlan", 10}});
  ASSERT_EQ(run(cni::Verb::kAdd, c, "old", &old_pod).exit_code, 0);
  // The old pod is gone without a DEL; a new pod gets the same VF with its own VLAN.
  old_pod.remove();
  json c2 = conf(kVf1, {{"vlan", 20}});
  auto add = run(cni::Verb::kAdd, c2, "new", &new_pod);
  ASSERT_EQ(add.exit_code, 0) << add.stdout_json;
  EXPECT_EQ(vf(1).vlan, 20u);

  world_->calls.clear();
  auto late = run(cni::Verb::kDel, c, "old", nullptr);
  ASSERT_EQ(late.exit_code, 0) << late.stdout_json;
  EXPECT_TRUE(world_->calls.empty()) << world_->calls.front();
  EXPECT_EQ(vf(1).vlan, 20u);

  // The new pod's DEL restores the VF's true originals, not the old pod's VLAN.
  ASSERT_EQ(run(cni::Verb::kDel, c2, "new", &new_pod).exit_code, 0);
  EXPECT_EQ(world_->vfs, original_);
}

TEST_F(SriovTest, AVfHeldByALivePodIsRefused) {
  TestNetns a("sa");
  TestNetns b("sb");
  json c = conf(kVf1);
  ASSERT_EQ(run(cni::Verb::kAdd, c, "a", &a).exit_code, 0);
  auto add = run(cni::Verb::kAdd, c, "b", &b);
  EXPECT_EQ(add.exit_code, 1);
  EXPECT_EQ(json::parse(add.stdout_json)["code"], cni::kTryAgainLater);
  EXPECT_EQ(run(cni::Verb::kDel, c, "a", &a).exit_code, 0);
}

TEST_F(SriovTest, FailedVfSettingRollsEverythingBack) {
  TestNetns pod("sf");
  world_->fail_on = "set_trust";
  json c = conf(kVf0, {{"vlan", 100}, {"trust", "on"}});
  auto add = run(cni::Verb::kAdd, c, "c1", &pod);
  EXPECT_EQ(add.exit_code, 1);
  EXPECT_THAT(add.stdout_json, HasSubstr("injected failure"));
  EXPECT_EQ(vf(0).vlan, 0u);
  EXPECT_EQ(cnimux_test::run_shell("ip link show " + vf_.peer() + " >/dev/null"), 0);
  EXPECT_FALSE(std::filesystem::exists(dir_.file("state/") + kVf0 + ".json"));
}

TEST_F(SriovTest, ConfigErrorsNameTheField) {
  TestNetns pod("se");
  for (auto [extra, want] : std::vector<std::pair<json, std::string>>{
           {{{"vlan", 5000}}, "vlan"},
           {{{"vlanQoS", 2}}, "vlanQoS"},
           {{{"vlan", 3}, {"vlanProto", "802.1x"}}, "vlanProto"},
           {{{"spoofchk", "maybe"}}, "spoofchk"},
           {{{"link_state", "up"}}, "link_state"},
           {{{"min_tx_rate", 10}, {"max_tx_rate", 5}}, "min_tx_rate"},
           {{{"deviceID", "0000:09:00.0"}}, "no such PCI device"},
           {{{"deviceID", kPf}}, "not an SR-IOV VF"}}) {
    auto add = run(cni::Verb::kAdd, conf(kVf0, extra), "c1", &pod);
    EXPECT_EQ(add.exit_code, 1) << extra.dump();
    EXPECT_EQ(json::parse(add.stdout_json)["code"], cni::kInvalidConfig) << add.stdout_json;
    EXPECT_THAT(add.stdout_json, HasSubstr(want));
  }
}

TEST(VfRequest, SetVlanIsOneIflaVfVlanInsideVfInfoList) {
  net::VfAttribute a{.kind = net::VfAttribute::kVlan, .vf = 2, .vlan = 100, .qos = 3};
  std::vector<uint8_t> m = net::build_vf_request(7, a);
  // nlmsghdr(16) + ifinfomsg(16) + VFINFO_LIST(4) + VF_INFO(4) + VF_VLAN(4 + 12) = 56.
  ASSERT_EQ(m.size(), 56u);
  EXPECT_EQ(m[4], 19);                // RTM_SETLINK
  EXPECT_EQ(m[20], 7);                // ifi_index
  EXPECT_EQ(m[32] | m[33] << 8, 24);  // IFLA_VFINFO_LIST length
  EXPECT_EQ(m[34], 22);               // IFLA_VFINFO_LIST
  EXPECT_EQ(m[38], 1);                // IFLA_VF_INFO
  EXPECT_EQ(m[40] | m[41] << 8, 16);  // IFLA_VF_VLAN length
  EXPECT_EQ(m[42], 2);                // IFLA_VF_VLAN
  EXPECT_THAT(std::vector<uint8_t>(m.begin() + 44, m.end()),
              ElementsAre(2, 0, 0, 0, 100, 0, 0, 0, 3, 0, 0, 0));
  a.vlan_proto = "802.1ad";
  m = net::build_vf_request(7, a);
  // IFLA_VF_VLAN_LIST { IFLA_VF_VLAN_INFO {vf, vlan, qos, proto 0x88a8 big-endian} }
  EXPECT_EQ(m[42], 12);
  EXPECT_EQ(m[46], 1);
  EXPECT_EQ(m[60], 0x88);
  EXPECT_EQ(m[61], 0xa8);
  EXPECT_THROW(net::build_vf_request(7, {.kind = net::VfAttribute::kMac, .mac = "zz"}), cni::Error);
}

}  // namespace

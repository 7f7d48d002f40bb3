// CHECK, STATUS and GC end to end, run the way a runtime runs them, against real attachments.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "test/e2e/e2e_node.h"

namespace cnimux_test {
namespace {

class VerbsE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    node_.write_cluster_network(node_.bridge_config("10.231.0.0/24"));
    node_.write_nad("default", "mv1", node_.macvlan_config("10.232.0.0/24"));
    node_.write_pod("default", "web", "uid-1", {{"k8s.v1.cni.cncf.io/networks", "mv1"}});
  }

  // A verb that names no container (STATUS, GC): only CNI_COMMAND and CNI_PATH are set.
  testing_support::PluginRun run_node_verb(const std::string& verb, const json& meta) const {
    return node_.run_node_verb(verb, meta);
  }

  void add(const std::string& cid, const TestNetns& pod, const json& meta) {
    auto add = node_.run("ADD", cid, pod.path(), meta);
    ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
    auto links = E2eNode::links_in(pod);
    std::sort(links.begin(), links.end());
    ASSERT_EQ(links, (std::vector<std::string>{"eth0", "net1"}));
  }

  static int error_code(const testing_support::PluginRun& run) {
    json err = json::parse(run.out, nullptr, false);
    return err.is_object() ? err.value("code", 0) : -1;
  }

  // What IPAM holds for the pod in `pod`: its eth0 and net1 addresses, as held_addresses()
  // names them (IPAM networks are config names: "cluster" and the NAD's "mv1").
  static std::set<std::string> addresses_of(const TestNetns& pod) {
    std::set<std::string> out;
    for (const auto& [ifname, network] :
         {std::pair<std::string, std::string>{"eth0", "cluster"}, {"net1", "mv1"}}) {
      for (const auto& cidr : E2eNode::addresses_in(pod, ifname)) {
        out.insert(network + " " + cidr.substr(0, cidr.find('/')));
      }
    }
    return out;
  }

  E2eNode node_{"v"};
  TestNetns pod_{"v1"};
};

TEST_F(VerbsE2e, CheckPassesThenNamesTheBrokenNetwork) {
  const json meta = node_.meta_config();
  ASSERT_NO_FATAL_FAILURE(add("c1", pod_, meta));

  auto ok = node_.run("CHECK", "c1", pod_.path(), meta);
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_TRUE(ok.out.empty()) << ok.out;

  ASSERT_EQ(pod_.exec("ip link delete net1"), 0);
  auto broken = node_.run("CHECK", "c1", pod_.path(), meta);
  EXPECT_NE(broken.exit_code, 0) << broken.out << broken.err;
  json err = json::parse(broken.out, nullptr, false);
  ASSERT_TRUE(err.is_object()) << broken.out;
  EXPECT_NE(err.value("msg", "").find("default/mv1"), std::string::npos) << broken.out;
  EXPECT_NE(err.value("msg", "").find("net1"), std::string::npos) << broken.out;

  auto del = node_.run("DEL", "c1", pod_.path(), meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(node_.held_addresses().empty());
}

TEST_F(VerbsE2e, StatusWithAUsableCniDir) {
  auto status = run_node_verb("STATUS", node_.meta_config({{"cniVersion", "1.1.0"}}));
  EXPECT_EQ(status.exit_code, 0) << status.out << status.err;
  EXPECT_TRUE(status.out.empty()) << status.out;
}

TEST_F(VerbsE2e, StatusWithAnUnusableCniDirAnswers50) {
  const std::string not_a_dir = node_.dir() + "/not-a-dir";
  E2eNode::write(not_a_dir, "a regular file where the journal directory should be");
  auto status =
      run_node_verb("STATUS", node_.meta_config({{"cniVersion", "1.1.0"}, {"cniDir", not_a_dir}}));
  EXPECT_NE(status.exit_code, 0) << status.out << status.err;
  EXPECT_EQ(error_code(status), 50) << status.out;
}

// GC with a valid list that omits c2: c2's attachments are DELed and its addresses released;
// c1 is left exactly as it was.
TEST_F(VerbsE2e, GcRemovesWhatTheValidListOmits) {
  TestNetns pod2("v2");
  node_.write_pod("default", "web2", "uid-2", {{"k8s.v1.cni.cncf.io/networks", "mv1"}});
  const json meta = node_.meta_config({{"cniVersion", "1.1.0"}});
  ASSERT_NO_FATAL_FAILURE(add("c1", pod_, meta));
  auto add2 = node_.run("ADD", "c2", pod2.path(), meta, "default", "web2");
  ASSERT_EQ(add2.exit_code, 0) << add2.out << add2.err;
  const std::set<std::string> c1_addresses = addresses_of(pod_);
  const std::string c1_mac = E2eNode::mac_in(pod_, "eth0");
  ASSERT_EQ(c1_addresses.size(), 2u);
  ASSERT_EQ(node_.held_addresses().size(), 4u);

  json gc_meta = meta;
  gc_meta["cni.dev/valid-attachments"] = {{{"containerID", "c1"}, {"ifname", "eth0"}}};
  auto gc = run_node_verb("GC", gc_meta);
  ASSERT_EQ(gc.exit_code, 0) << gc.out << gc.err;

  EXPECT_TRUE(E2eNode::links_in(pod2).empty());
  EXPECT_FALSE(node_.has_live_journal("c2"));
  auto held = node_.held_addresses();
  EXPECT_EQ(std::set<std::string>(held.begin(), held.end()), c1_addresses);
  auto links = E2eNode::links_in(pod_);
  std::sort(links.begin(), links.end());
  EXPECT_EQ(links, (std::vector<std::string>{"eth0", "net1"}));
  EXPECT_EQ(addresses_of(pod_), c1_addresses);
  EXPECT_EQ(E2eNode::mac_in(pod_, "eth0"), c1_mac);
  EXPECT_TRUE(node_.has_live_journal("c1"));
  auto check = node_.run("CHECK", "c1", pod_.path(), meta);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;

  auto del = node_.run("DEL", "c1", pod_.path(), meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(node_.held_addresses().empty());
  // Neither the GC'd container nor the DELed one leaves a file in cniDir.
  EXPECT_TRUE(node_.container_files().empty()) << ::testing::PrintToString(node_.container_files());
}

// NADs of two namespaces may share a config name ("mv1"), and that name is the network an
// IPAM plugin keys allocations by. GC forwarded for one of them must still list the other's
// attachments, or the other pod's address would be released under it.
TEST_F(VerbsE2e, GcKeepsBothPodsOfSameNamedNadsInTwoNamespaces) {
  TestNetns pod2("v3");
  node_.write_nad("other", "mv1", node_.macvlan_config("10.233.0.0/24"));
  node_.write_pod("other", "web2", "uid-3", {{"k8s.v1.cni.cncf.io/networks", "mv1"}});
  const json meta = node_.meta_config({{"cniVersion", "1.1.0"}});
  ASSERT_NO_FATAL_FAILURE(add("c1", pod_, meta));
  auto add2 = node_.run("ADD", "c2", pod2.path(), meta, "other", "web2");
  ASSERT_EQ(add2.exit_code, 0) << add2.out << add2.err;
  const auto before = node_.held_addresses();
  ASSERT_EQ(before.size(), 4u);

  json gc_meta = meta;
  gc_meta["cni.dev/valid-attachments"] = {{{"containerID", "c1"}, {"ifname", "eth0"}},
                                          {{"containerID", "c2"}, {"ifname", "eth0"}}};
  auto gc = run_node_verb("GC", gc_meta);
  ASSERT_EQ(gc.exit_code, 0) << gc.out << gc.err;
  const auto after = node_.held_addresses();
  EXPECT_EQ(std::set<std::string>(after.begin(), after.end()),
            std::set<std::string>(before.begin(), before.end()));
  EXPECT_EQ(E2eNode::addresses_in(pod2, "net1").size(), 1u);

  EXPECT_EQ(node_.run("DEL", "c1", pod_.path(), meta).exit_code, 0);
  EXPECT_EQ(node_.run("DEL", "c2", pod2.path(), meta, "other", "web2").exit_code, 0);
  EXPECT_TRUE(node_.held_addresses().empty());
}

// GC's usual case: the runtime unmounted the stale pod's netns long ago, leaving its file.
TEST_F(VerbsE2e, GcOfAContainerWhoseNetnsIsGone) {
  const json meta = node_.meta_config({{"cniVersion", "1.1.0"}});
  ASSERT_NO_FATAL_FAILURE(add("c1", pod_, meta));
  ASSERT_EQ(run_shell("umount " + pod_.path()), 0);

  json gc_meta = meta;
  gc_meta["cni.dev/valid-attachments"] = json::array();
  auto gc = run_node_verb("GC", gc_meta);
  ASSERT_EQ(gc.exit_code, 0) << gc.out << gc.err;
  EXPECT_TRUE(node_.held_addresses().empty()) << ::testing::PrintToString(node_.held_addresses());
  EXPECT_FALSE(node_.has_live_journal("c1"));
  // The kernel frees the unmounted netns, and the host end of its veth, asynchronously.
  EXPECT_TRUE(eventually([&] { return node_.bridge_ports() == 0; }));
}

}  // namespace
}  // namespace cnimux_test

namespace cnimux_test {
namespace {

// An address on a network no live pod uses and no config names (its journal lost, its NAD's
// last pod gone) is freed by GC: the IPAM store knows its networks.
TEST_F(VerbsE2e, GcFreesAddressesOfNetworksNoLivePodUses) {
  const json meta = node_.meta_config({{"cniVersion", "1.1.0"}});
  ASSERT_NO_FATAL_FAILURE(add("c1", pod_, meta));
  ASSERT_EQ(node_.held_addresses().size(), 2u);
  std::filesystem::remove(node_.journal_path("c1"));
  ASSERT_EQ(run_shell("ip netns exec " + pod_.name() + " ip link delete net1"), 0);

  json gc_meta = meta;
  gc_meta["cni.dev/valid-attachments"] = json::array();
  auto gc = run_node_verb("GC", gc_meta);
  ASSERT_EQ(gc.exit_code, 0) << gc.out << gc.err;
  EXPECT_TRUE(node_.held_addresses().empty()) << ::testing::PrintToString(node_.held_addresses());
}

}  // namespace
}  // namespace cnimux_test

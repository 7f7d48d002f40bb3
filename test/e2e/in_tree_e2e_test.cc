// The `inTree` key end to end: a NAD that says "type": "macvlan" runs cnimux's in-tree
// macvlan in-process, unchanged, with the same outcome as the reference binary and nothing
// left behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "test/e2e/e2e_node.h"

namespace cnimux_test {
namespace {

TEST(InTreeE2e, MacvlanNadRunsInProcessAndLeavesNothing) {
  E2eNode node("i");
  TestNetns pod("i");
  node.write_cluster_network(node.bridge_config("10.231.0.0/24"));
  node.write_nad("default", "mv1", node.macvlan_config("10.232.0.0/24"));
  node.write_pod("default", "web", "uid-i", {{"k8s.v1.cni.cncf.io/networks", "mv1"}});
  const json meta = node.meta_config({{"inTree", {"macvlan"}}});

  auto add = node.run("ADD", "ci1", pod.path(), meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  auto links = E2eNode::links_in(pod);
  std::sort(links.begin(), links.end());
  EXPECT_EQ(links, (std::vector<std::string>{"eth0", "net1"}));
  EXPECT_EQ(node.held_addresses().size(), 2u);
  // The reference macvlan binary never ran: every exec is logged as "started <binary>".
  const std::string log = node.read("cnimux.log");
  EXPECT_EQ(log.find("/macvlan ADD"), std::string::npos) << log;
  EXPECT_NE(log.find("/bridge ADD"), std::string::npos) << log;

  auto check = node.run("CHECK", "ci1", pod.path(), meta);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  auto del = node.run("DEL", "ci1", pod.path(), meta);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(E2eNode::links_in(pod).empty());
  EXPECT_TRUE(node.held_addresses().empty());
  EXPECT_TRUE(node.stray_host_links().empty());
}

// GC forwarded to the in-tree macvlan reaches its IPAM plugin only when that plugin speaks
// 1.1.0, as ChainRunner and libcni decide: host-local 1.1.1 does not, and got a GC it
// answered "missing containerID", failing every GC while such a pod lived (found by
// test/soak/faults.py).
TEST(InTreeE2e, GcSkipsAnExecutedIpamPluginTooOldForGc) {
  E2eNode node("j");
  TestNetns pod("j");
  node.write_cluster_network(node.bridge_config("10.231.0.0/24"));
  json mv = node.macvlan_config("10.232.0.0/24");
  mv["ipam"] = {{"type", "host-local"},
                {"ranges", json::array({json::array({{{"subnet", "10.232.0.0/24"}}})})},
                {"dataDir", node.dir() + "/host-local"}};
  node.write_nad("default", "mv1", mv);
  node.write_pod("default", "web", "uid-j", {{"k8s.v1.cni.cncf.io/networks", "mv1"}});
  const json meta = node.meta_config({{"inTree", {"macvlan"}}});

  auto add = node.run("ADD", "cj1", pod.path(), meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  json gc_meta = meta;
  gc_meta["cniVersion"] = "1.1.0";
  gc_meta["cni.dev/valid-attachments"] = {{{"containerID", "cj1"}, {"ifname", "eth0"}}};
  auto gc = node.run_node_verb("GC", gc_meta);
  EXPECT_EQ(gc.exit_code, 0) << gc.out << gc.err;
  auto del = node.run("DEL", "cj1", pod.path(), meta);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(E2eNode::links_in(pod).empty());
  EXPECT_TRUE(node.stray_host_links().empty());
}

}  // namespace
}  // namespace cnimux_test

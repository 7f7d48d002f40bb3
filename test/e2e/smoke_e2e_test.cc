// The smallest end-to-end check: one pod, the bridge cluster network plus one macvlan
// network from nadDir, ADD then DEL, nothing left behind.
#include <gtest/gtest.h>

#include <algorithm>

#include "test/e2e/e2e_node.h"

namespace cnimux_test {
namespace {

TEST(SmokeE2e, AddThenDelLeavesNothing) {
  E2eNode node;
  TestNetns pod("s1");
  node.write_cluster_network(node.bridge_config("10.231.0.0/24"));
  node.write_nad("default", "mv1", node.macvlan_config("10.232.0.0/24"));
  node.write_pod("default", "web", "uid-1", {{"k8s.v1.cni.cncf.io/networks", "mv1"}});
  const json meta = node.meta_config();

  auto add = node.run("ADD", "c1", pod.path(), meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  json result = add.json();
  ASSERT_EQ(result["ips"].size(), 1u);
  EXPECT_EQ(result["ips"][0]["address"], "10.231.0.2/24");
  auto links = E2eNode::links_in(pod);
  std::sort(links.begin(), links.end());
  EXPECT_EQ(links, (std::vector<std::string>{"eth0", "net1"}));
  EXPECT_EQ(node.held_addresses().size(), 2u);

  auto del = node.run("DEL", "c1", pod.path(), meta);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(del.out.empty()) << del.out;
  EXPECT_TRUE(E2eNode::links_in(pod).empty());
  EXPECT_TRUE(node.held_addresses().empty());
  EXPECT_TRUE(node.stray_host_links().empty());
}

}  // namespace
}  // namespace cnimux_test

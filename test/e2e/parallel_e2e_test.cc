// 20 pods attached at once (20 cnimux processes, each with its own netns and container ID),
// then removed at once: no address handed out twice, nothing left behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test/e2e/e2e_node.h"

namespace cnimux_test {
namespace {

constexpr int kPods = 20;

// Runs `verb` for every pod at the same time; returns the runs in pod order.
std::vector<testing_support::PluginRun> run_all(const E2eNode& node, const std::string& verb,
                                                const std::vector<std::unique_ptr<TestNetns>>& pods,
                                                const json& meta) {
  std::vector<testing_support::PluginRun> runs(pods.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < pods.size(); ++i) {
    threads.emplace_back([&, i] {
      runs[i] = node.run(verb, "par" + std::to_string(i), pods[i]->path(), meta, "default",
                         "web" + std::to_string(i));
    });
  }
  for (auto& t : threads) t.join();
  return runs;
}

TEST(ParallelE2e, TwentyPodsAddedAndDeletedAtOnce) {
  E2eNode node("p");
  node.write_cluster_network(node.bridge_config("10.231.0.0/24"));
  node.write_nad("default", "mv1", node.macvlan_config("10.232.0.0/24"));
  std::vector<std::unique_ptr<TestNetns>> pods;
  for (int i = 0; i < kPods; ++i) {
    pods.push_back(std::make_unique<TestNetns>("q" + std::to_string(i)));
    node.write_pod("default", "web" + std::to_string(i), "uid-" + std::to_string(i),
                   {{"k8s.v1.cni.cncf.io/networks", "mv1"}});
  }
  // A shared 2-core machine may be slow; the deadline is not what is under test here.
  const json meta = node.meta_config({{"delegateTimeout", 120}});

  auto adds = run_all(node, "ADD", pods, meta);
  std::set<std::string> results;
  for (int i = 0; i < kPods; ++i) {
    ASSERT_EQ(adds[i].exit_code, 0) << "pod " << i << ": " << adds[i].out << adds[i].err;
    json r = adds[i].json();
    ASSERT_EQ(r["ips"].size(), 1u) << r.dump();
    const std::string addr = r["ips"][0]["address"];
    results.insert(addr);
    EXPECT_EQ(E2eNode::addresses_in(*pods[i], "eth0"), std::vector<std::string>{addr})
        << "pod " << i;
    auto links = E2eNode::links_in(*pods[i]);
    std::sort(links.begin(), links.end());
    EXPECT_EQ(links, (std::vector<std::string>{"eth0", "net1"})) << "pod " << i;
  }
  EXPECT_EQ(results.size(), static_cast<size_t>(kPods)) << "an eth0 address was handed out twice";
  const auto held = node.held_addresses();
  EXPECT_EQ(held.size(), 2u * kPods);
  EXPECT_EQ(std::set<std::string>(held.begin(), held.end()).size(), held.size())
      << "duplicate in the IPAM store";

  auto dels = run_all(node, "DEL", pods, meta);
  for (int i = 0; i < kPods; ++i) {
    EXPECT_EQ(dels[i].exit_code, 0) << "pod " << i << ": " << dels[i].out << dels[i].err;
    EXPECT_TRUE(E2eNode::links_in(*pods[i]).empty()) << "pod " << i;
  }
  EXPECT_TRUE(node.held_addresses().empty()) << ::testing::PrintToString(node.held_addresses());
  EXPECT_EQ(node.bridge_ports(), 0);
  EXPECT_TRUE(node.stray_host_links().empty());
  EXPECT_TRUE(node.container_files().empty()) << ::testing::PrintToString(node.container_files());
}

}  // namespace
}  // namespace cnimux_test

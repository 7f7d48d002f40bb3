// Faults measured in Multus, each replayed against cnimux: a hung delegate blocking ADD
// forever, a SIGKILLed meta plugin leaving its delegate running, a retried ADD deleting the
// pod's working eth0, and every delegate error collapsed into code 999.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <future>
#include <string>
#include <vector>

#include "test/e2e/e2e_node.h"
#include "test/e2e/hang_pidfile.h"

namespace cnimux_test {
namespace {

// Cluster network bridge, n1 macvlan, n2 the fake delegate configured by `fake`.
void write_plan(const E2eNode& node, const json& fake) {
  node.write_cluster_network(node.bridge_config("10.231.0.0/24"));
  node.write_nad("default", "n1", node.macvlan_config("10.232.0.0/24"));
  node.write_nad("default", "n2", node.fake_config(fake));
  node.write_pod("default", "web", "uid-m", {{"k8s.v1.cni.cncf.io/networks", "n1,n2"}});
}

void expect_node_clean(const E2eNode& node, const TestNetns& pod) {
  EXPECT_TRUE(E2eNode::links_in(pod).empty());
  EXPECT_TRUE(node.stray_host_links().empty());
  EXPECT_EQ(node.bridge_ports(), 0);
  EXPECT_TRUE(node.held_addresses().empty());
}

// Multus waited for a hung delegate forever. Here the deadline ends it and the ADD fails.
TEST(MultusFaults, HungDelegateDoesNotBlockAddForever) {
  E2eNode node("h");
  TestNetns pod("h");
  HangPidfile hang(node.dir() + "/hang.pid");
  write_plan(node, {{"add", "hang"}, {"pidfile", hang.path()}});
  const json meta = node.meta_config({{"delegateTimeout", 1}});

  auto add = node.run("ADD", "cm1", pod.path(), meta);
  EXPECT_EQ(add.exit_code, 1) << add.out << add.err;
  json err;
  ASSERT_NO_THROW(err = add.json()) << add.out;
  EXPECT_EQ(err.value("code", 0), 101) << err.dump();
  EXPECT_NE(err.value("msg", "").find("\"default/n2\""), std::string::npos) << err.dump();
  EXPECT_NE(err.value("msg", "").find("timed out after 1000ms"), std::string::npos) << err.dump();
  ASSERT_EQ(hang.pids().size(), 2u);
  for (pid_t pid : hang.pids()) EXPECT_TRUE(wait_process_gone(pid)) << pid;
  EXPECT_TRUE(node.processes_from_bin().empty());
  expect_node_clean(node, pod);
  auto del = node.run("DEL", "cm1", pod.path(), meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
}

// Multus left its delegate running when the kubelet SIGKILLed it. Here the delegate dies
// with cnimux (PR_SET_PDEATHSIG), and DEL undoes what the journal says was started.
TEST(MultusFaults, SigkilledCnimuxLeavesNoDelegateRunning) {
  E2eNode node("k");
  TestNetns pod("k");
  const json meta = node.meta_config({{"delegateTimeout", 600}});
  std::future<testing_support::PluginRun> add;  // declared before `hang`: waited for last
  HangPidfile hang(node.dir() + "/hang.pid");
  node.write_cluster_network(node.fake_config({{"add", "hang"}, {"pidfile", hang.path()}}));
  node.write_pod("default", "web", "uid-k", {});

  add = std::async(std::launch::async, [&] { return node.run("ADD", "ck1", pod.path(), meta); });
  ASSERT_TRUE(hang.wait()) << node.read("cnimux.log");
  const pid_t delegate = hang.pids().front();
  const pid_t cnimux = parent_pid(delegate);
  ASSERT_GT(cnimux, 1);
  ASSERT_EQ(::kill(cnimux, SIGKILL), 0);
  EXPECT_EQ(add.get().exit_code, -1);
  EXPECT_TRUE(wait_process_gone(delegate)) << "the delegate outlived a SIGKILLed cnimux";
  EXPECT_TRUE(node.processes_from_bin().empty());

  auto del = node.run("DEL", "ck1", pod.path(), meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_EQ(node.fake_calls(), (std::vector<std::string>{"ADD eth0", "DEL eth0"}));
}

// Multus answered a repeated ADD for an attached pod by tearing down its eth0. Here the
// recorded result is returned and nothing is touched.
TEST(MultusFaults, RetriedAddKeepsTheWorkingAttachments) {
  E2eNode node("r");
  TestNetns pod("r");
  write_plan(node, json::object());
  const json meta = node.meta_config();

  auto first = node.run("ADD", "cr1", pod.path(), meta);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  const std::string eth0_mac = E2eNode::mac_in(pod, "eth0"),
                    net1_mac = E2eNode::mac_in(pod, "net1");
  const auto eth0_addrs = E2eNode::addresses_in(pod, "eth0");
  const auto net1_addrs = E2eNode::addresses_in(pod, "net1");
  const auto held = node.held_addresses();
  ASSERT_FALSE(eth0_mac.empty());
  ASSERT_EQ(eth0_addrs.size(), 1u);
  ASSERT_EQ(held.size(), 2u);

  auto again = node.run("ADD", "cr1", pod.path(), meta);
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(again.json(), first.json());
  EXPECT_EQ(E2eNode::mac_in(pod, "eth0"), eth0_mac);
  EXPECT_EQ(E2eNode::mac_in(pod, "net1"), net1_mac);
  EXPECT_EQ(E2eNode::addresses_in(pod, "eth0"), eth0_addrs);
  EXPECT_EQ(E2eNode::addresses_in(pod, "net1"), net1_addrs);
  EXPECT_EQ(node.held_addresses(), held);
  EXPECT_EQ(node.fake_calls(), (std::vector<std::string>{"ADD net2"}));  // no DEL, no re-ADD

  auto del = node.run("DEL", "cr1", pod.path(), meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  expect_node_clean(node, pod);
}

// Multus reported every delegate error as 999. Here the delegate's code, message and
// details reach the runtime unchanged, the rollback report added to the details.
class DelegateErrorCode : public ::testing::TestWithParam<int> {};

TEST_P(DelegateErrorCode, ReachesTheRuntimeUnchanged) {
  const int code = GetParam();
  E2eNode node("e");
  TestNetns pod("e");
  const std::string msg = "boom " + std::to_string(code);
  write_plan(node, {{"add", "error"}, {"code", code}, {"msg", msg}, {"details", "the why"}});

  auto add = node.run("ADD", "ce1", pod.path(), node.meta_config());
  EXPECT_EQ(add.exit_code, 1) << add.out << add.err;
  json err;
  ASSERT_NO_THROW(err = add.json()) << add.out;
  EXPECT_EQ(err.value("code", 0), code) << err.dump();
  EXPECT_NE(err.value("msg", "").find(msg), std::string::npos) << err.dump();
  const std::string details = err.value("details", "");
  EXPECT_EQ(details.rfind("the why", 0), 0u) << details;
  EXPECT_NE(details.find("rollback"), std::string::npos) << details;
  expect_node_clean(node, pod);
}

INSTANTIATE_TEST_SUITE_P(SpecAndPluginCodes, DelegateErrorCode,
                         ::testing::Values(1, 2, 3, 4, 5, 7, 11, 50, 51, 100, 110, 999, 4242));

// The same with a real reference plugin: macvlan on a master that does not exist. Its own
// error object (run directly) is what cnimux must pass on.
TEST(MultusFaults, ReferencePluginErrorCodeIsKept) {
  E2eNode node("p");
  TestNetns pod("p");
  json broken = node.macvlan_config("10.232.0.0/24");
  broken["master"] = node.prefix() + "nope";
  broken["name"] = "n1";

  testing_support::CniEnv env;
  env.command = "ADD";
  env.container_id = "direct";
  env.netns = pod.path();
  env.ifname = "net1";
  env.path = node.bin();
  auto direct = testing_support::run_plugin(node.bin() + "/macvlan", env, broken.dump());
  ASSERT_EQ(direct.exit_code, 1) << direct.out << direct.err;
  const json own = direct.json();
  ASSERT_TRUE(own.contains("code")) << direct.out;
  ASSERT_TRUE(node.held_addresses().empty());  // it fails before IPAM

  write_plan(node, json::object());
  node.write_nad("default", "n1", broken);
  auto add = node.run("ADD", "cp1", pod.path(), node.meta_config());
  EXPECT_EQ(add.exit_code, 1) << add.out << add.err;
  json err;
  ASSERT_NO_THROW(err = add.json()) << add.out;
  EXPECT_EQ(err["code"], own["code"]) << err.dump() << " vs " << own.dump();
  EXPECT_NE(err.value("msg", "").find(own.value("msg", "?")), std::string::npos) << err.dump();
  expect_node_clean(node, pod);
}

}  // namespace
}  // namespace cnimux_test

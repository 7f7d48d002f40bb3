// What runtimes other than kubelet pass, end to end with the real cnimux: podman's CNI_ARGS
// (a pod name without namespace, IP= and MAC= for the primary interface), runtimeConfig ips
// the cluster network cannot honour, and delegates that answer VERSION with nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "test/e2e/e2e_node.h"

namespace cnimux_test {
namespace {

class RuntimeArgsE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    node_.write_cluster_network(node_.bridge_config("10.241.0.0/24"));
    json mv1 = node_.macvlan_config("10.242.0.0/24");
    mv1["capabilities"] = {{"ips", true}, {"mac", true}};
    node_.write_nad("default", "mv1", mv1);
  }

  // ADD/DEL the way podman runs cnimux: CNI_ARGS exactly as given.
  testing_support::PluginRun run(const std::string& verb, const std::string& args, const json& meta,
                                 const std::string& cid = "c1") const {
    testing_support::CniEnv env;
    env.command = verb;
    env.container_id = cid;
    env.netns = pod_.path();
    env.ifname = "eth0";
    env.args = args;
    env.path = node_.bin();
    return testing_support::run_plugin(cnimux_binary(), env, meta.dump());
  }

  std::vector<std::string> links() const {
    auto l = E2eNode::links_in(pod_);
    std::sort(l.begin(), l.end());
    return l;
  }

  static int error_code(const testing_support::PluginRun& run) {
    json err = json::parse(run.out, nullptr, false);
    return err.is_object() ? err.value("code", 0) : -1;
  }

  void expect_nothing_left() const {
    EXPECT_TRUE(node_.held_addresses().empty());
    EXPECT_TRUE(node_.container_files().empty())
        << ::testing::PrintToString(node_.container_files());
    EXPECT_TRUE(node_.stray_host_links().empty());
  }

  E2eNode node_{"ra"};
  TestNetns pod_{"ra1"};
};

// podman: K8S_POD_NAME without K8S_POD_NAMESPACE. The pod's manifest is found in
// defaultPodNamespace, so its selection attaches.
TEST_F(RuntimeArgsE2e, PodNamedWithoutNamespaceUsesDefaultPodNamespace) {
  node_.write_pod("podman", "web", "", {{"k8s.v1.cni.cncf.io/networks", "default/mv1"}});
  const json meta = node_.meta_config({{"defaultPodNamespace", "podman"}});
  auto add = run("ADD", "IgnoreUnknown=1;K8S_POD_NAME=web", meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(links(), (std::vector<std::string>{"eth0", "net1"}));
  auto del = run("DEL", "IgnoreUnknown=1;K8S_POD_NAME=web", meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  expect_nothing_left();
}

// Nothing knows the pod: cluster network only, and a warning at the default level naming the
// pod and every source tried.
TEST_F(RuntimeArgsE2e, UnknownPodIsWarnedAboutAtDefaultLevel) {
  json meta = node_.meta_config();
  meta.erase("logLevel");  // the default, warn
  auto add = run("ADD", "IgnoreUnknown=1;K8S_POD_NAME=nobody", meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(links(), (std::vector<std::string>{"eth0"}));
  const std::string log = node_.read("cnimux.log");
  EXPECT_NE(log.find("no pod source knows this pod, attaching the cluster network only: "
                     "pod default/nobody"),
            std::string::npos)
      << log;
  for (const char* source : {"CRI annotations", "Kubernetes API", "podDir"})
    EXPECT_NE(log.find(source), std::string::npos) << source << " not named in: " << log;
  EXPECT_EQ(run("DEL", "IgnoreUnknown=1;K8S_POD_NAME=nobody", meta).exit_code, 0);
  expect_nothing_left();
}

// podman --ip/--mac-address (and `podman network reload`): IP= and MAC= are the primary
// interface's. The macvlan NAD keeps its own range and MAC, or takes the selection's.
TEST_F(RuntimeArgsE2e, RuntimeIpAndMacGoToTheClusterNetworkOnly) {
  node_.write_pod("default", "web", "",
                  {{"k8s.v1.cni.cncf.io/networks",
                    R"([{"name":"mv1"},{"name":"mv1","interface":"net2",
                        "ips":["10.242.0.50/24"],"mac":"0a:58:0a:f2:00:32"}])"}});
  const json meta = node_.meta_config();
  const std::string args = "IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.241.0.77;MAC=0a:58:0a:f1:00:4d";
  auto add = run("ADD", args, meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(links(), (std::vector<std::string>{"eth0", "net1", "net2"}));
  EXPECT_EQ(E2eNode::addresses_in(pod_, "eth0"), (std::vector<std::string>{"10.241.0.77/24"}));
  EXPECT_EQ(E2eNode::mac_in(pod_, "eth0"), "0a:58:0a:f1:00:4d");
  auto net1 = E2eNode::addresses_in(pod_, "net1");
  ASSERT_EQ(net1.size(), 1u);
  EXPECT_EQ(net1[0].rfind("10.242.0.", 0), 0u) << net1[0];
  EXPECT_NE(E2eNode::mac_in(pod_, "net1"), "0a:58:0a:f1:00:4d");
  EXPECT_EQ(E2eNode::addresses_in(pod_, "net2"), (std::vector<std::string>{"10.242.0.50/24"}));
  EXPECT_EQ(E2eNode::mac_in(pod_, "net2"), "0a:58:0a:f2:00:32");

  // podman network reload: DEL and ADD again with the same IP= and MAC=.
  auto del = run("DEL", args, meta);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  auto again = run("ADD", args, meta);
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(links(), (std::vector<std::string>{"eth0", "net1", "net2"}));
  EXPECT_EQ(run("DEL", args, meta).exit_code, 0);
  expect_nothing_left();
}

// Runtime ips for a cluster network that cannot honour them fail the ADD before anything is
// created; once the network declares the capability, the address is the pod's.
// Runtime ips for a cluster network that cannot honour them fail the ADD before anything is
// created. One address reaches it as CNI_ARGS IP= (podman's `network reload` repeats a single
// --ip in runtimeConfig ips). Once the network declares the capability, the addresses are the
// pod's.
TEST_F(RuntimeArgsE2e, RuntimeIpsNeedTheCapabilityOnTheClusterNetwork) {
  const std::string args = "IgnoreUnknown=1;K8S_POD_NAME=web";
  json two = node_.meta_config({{"runtimeConfig", {{"ips", {"10.241.0.9/24", "10.241.0.10/24"}}}}});
  auto refused = run("ADD", args, two);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_EQ(error_code(refused), 2) << refused.out;
  EXPECT_NE(refused.out.find("runtimeConfig \\\"ips\\\""), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("\\\"cluster\\\""), std::string::npos) << refused.out;
  EXPECT_TRUE(links().empty());
  EXPECT_TRUE(node_.held_addresses().empty());
  // A runtime DELs after a failed ADD; that clears the container's lock file.
  EXPECT_EQ(run("DEL", args, two).exit_code, 0);
  expect_nothing_left();

  json reload = node_.meta_config({{"runtimeConfig", {{"ips", {"10.241.0.9", "10.241.0.9"}}}}});
  auto one = run("ADD", args, reload);
  ASSERT_EQ(one.exit_code, 0) << one.out << one.err;
  EXPECT_EQ(E2eNode::addresses_in(pod_, "eth0"), (std::vector<std::string>{"10.241.0.9/24"}));
  EXPECT_EQ(run("DEL", args, reload).exit_code, 0);
  expect_nothing_left();

  json cluster = node_.bridge_config("10.241.0.0/24");
  cluster["capabilities"] = {{"ips", true}};
  node_.write_cluster_network(cluster);
  json declared = node_.meta_config({{"runtimeConfig", {{"ips", {"10.241.0.9/24"}}}}});
  auto add = run("ADD", args, declared);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(E2eNode::addresses_in(pod_, "eth0"), (std::vector<std::string>{"10.241.0.9/24"}));
  EXPECT_EQ(run("DEL", args, declared).exit_code, 0);
  expect_nothing_left();
}

// A small shell plugin that answers VERSION with `version_output` and records the cniVersion
// of each ADD/DEL it gets.
class ShellPluginE2e : public RuntimeArgsE2e, public ::testing::WithParamInterface<const char*> {
 protected:
  void write_plugin() const {
    const std::string path = node_.bin() + "/shplug";
    E2eNode::write(path, std::string("#!/bin/sh\n") + "in=$(cat)\n" +
                             "v=$(printf '%s' \"$in\" | grep -o '\"cniVersion\":\"[^\"]*\"')\n" +
                             "echo \"$CNI_COMMAND $v\" >> " + node_.dir() + "/shplug.log\n" +
                             "case \"$CNI_COMMAND\" in\n" + "VERSION) printf '%s' '" + GetParam() +
                             "' ;;\n" +
                             "ADD) printf '{\"cniVersion\":\"1.0.0\",\"interfaces\":"
                             "[{\"name\":\"%s\"}],\"ips\":[]}' \"$CNI_IFNAME\" ;;\n" +
                             "esac\n");
    std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  }
};

TEST_P(ShellPluginE2e, UnusableVersionAnswerFallsBackToTheConfigVersion) {
  write_plugin();
  node_.write_nad("default", "sh", {{"cniVersion", "1.0.0"}, {"type", "shplug"}});
  node_.write_pod("default", "web", "", {{"k8s.v1.cni.cncf.io/networks", "sh"}});
  const json meta = node_.meta_config();
  auto add = run("ADD", "IgnoreUnknown=1;K8S_POD_NAME=web", meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_NE(node_.read("shplug.log").find("ADD \"cniVersion\":\"1.0.0\""), std::string::npos)
      << node_.read("shplug.log");
  EXPECT_NE(node_.read("cnimux.log").find("shplug: unusable VERSION answer"), std::string::npos)
      << node_.read("cnimux.log");
  auto del = run("DEL", "IgnoreUnknown=1;K8S_POD_NAME=web", meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_NE(node_.read("shplug.log").find("DEL \"cniVersion\":\"1.0.0\""), std::string::npos);
  expect_nothing_left();
}

INSTANTIATE_TEST_SUITE_P(Answers, ShellPluginE2e, ::testing::Values("", "not json"),
                         [](const auto& info) { return info.index == 0 ? "Nothing" : "Garbage"; });

}  // namespace
}  // namespace cnimux_test

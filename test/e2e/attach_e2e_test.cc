// ADD end to end: a repeated ADD of an attached pod, the default route moved to a selected
// network, capability checks for per-pod requests, and namespace isolation. Whatever the plan
// rejects must be rejected before the node is touched.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "test/e2e/e2e_node.h"
#include "test/fakes/fake_kube_api.h"

namespace cnimux_test {
namespace {

constexpr const char* kNetworks = "k8s.v1.cni.cncf.io/networks";
constexpr const char* kStatus = "k8s.v1.cni.cncf.io/network-status";

class AttachE2e : public ::testing::Test {
 protected:
  void SetUp() override { node_.write_cluster_network(node_.bridge_config("10.231.0.0/24")); }

  // The pod in podDir with `networks` as its selection.
  void select(const std::string& networks, const std::string& ns = "default") {
    node_.write_pod(ns, "web", "uid-1", {{kNetworks, networks}});
  }

  // An ADD that the plan must reject: non-zero, an error naming every `words`, and nothing on
  // the node: no link in the pod or on the host, no address, no journal. The DEL a runtime
  // sends after a failed ADD (with the same `meta`) then succeeds and leaves cniDir empty.
  void expect_rejected(const testing_support::PluginRun& add, int code,
                       const std::vector<std::string>& words, const json& meta,
                       const std::string& pod_ns = "default") const {
    EXPECT_NE(add.exit_code, 0) << add.out << add.err;
    json err = json::parse(add.out, nullptr, false);
    ASSERT_TRUE(err.is_object()) << add.out;
    EXPECT_EQ(err.value("code", 0), code) << add.out;
    for (const auto& w : words)
      EXPECT_NE(err.value("msg", "").find(w), std::string::npos) << w << " in " << add.out;
    EXPECT_TRUE(E2eNode::links_in(pod_).empty());
    EXPECT_TRUE(node_.held_addresses().empty());
    EXPECT_EQ(node_.bridge_ports(), 0);
    EXPECT_TRUE(node_.stray_host_links().empty());
    EXPECT_FALSE(node_.has_live_journal("c1"));

    auto del = node_.run("DEL", "c1", pod_.path(), meta, pod_ns);
    EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
    EXPECT_TRUE(node_.held_addresses().empty());
    EXPECT_TRUE(node_.container_files().empty())
        << ::testing::PrintToString(node_.container_files());
  }

  // Lines of the fake delegate's log that record `verb`.
  int fake_calls(const std::string& verb) const {
    std::istringstream log(node_.read("fake.log"));
    int n = 0;
    for (std::string line; std::getline(log, line);) n += line.rfind(verb + " ", 0) == 0;
    return n;
  }

  E2eNode node_{"a"};
  TestNetns pod_{"a1"};
};

// A runtime that retries an ADD it thinks failed must get the recorded result back, and the
// working attachments must not be torn down and rebuilt.
TEST_F(AttachE2e, RepeatedAddReturnsRecordedResultAndTouchesNothing) {
  node_.write_nad("default", "mv1", node_.macvlan_config("10.232.0.0/24"));
  node_.write_nad("default", "fk", node_.fake_config({{"address", "10.99.0.7/24"}}));
  select("mv1,fk");
  const json meta = node_.meta_config();

  auto first = node_.run("ADD", "c1", pod_.path(), meta);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  const std::string eth0_mac = E2eNode::mac_in(pod_, "eth0"),
                    net1_mac = E2eNode::mac_in(pod_, "net1");
  const auto eth0_addr = E2eNode::addresses_in(pod_, "eth0");
  const auto held = node_.held_addresses();
  ASSERT_FALSE(eth0_mac.empty());
  ASSERT_EQ(eth0_addr.size(), 1u);
  ASSERT_EQ(fake_calls("ADD"), 1);

  auto second = node_.run("ADD", "c1", pod_.path(), meta);
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_EQ(second.json(), first.json());
  EXPECT_EQ(E2eNode::mac_in(pod_, "eth0"), eth0_mac);
  EXPECT_EQ(E2eNode::mac_in(pod_, "net1"), net1_mac);
  EXPECT_EQ(E2eNode::addresses_in(pod_, "eth0"), eth0_addr);
  EXPECT_EQ(node_.held_addresses(), held);
  EXPECT_EQ(fake_calls("ADD"), 1);
  EXPECT_EQ(fake_calls("DEL"), 0);

  auto del = node_.run("DEL", "c1", pod_.path(), meta);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_EQ(fake_calls("DEL"), 1);
  EXPECT_TRUE(node_.held_addresses().empty());
}

TEST_F(AttachE2e, DefaultRouteMovesToTheSelectedNetwork) {
  fakes::FakeKubeApi api;
  api.add_nad(
      fakes::FakeKubeApi::make_nad("default", "mv1", node_.macvlan_config("10.232.0.0/24").dump()));
  api.add_pod(fakes::FakeKubeApi::make_pod(
      "default", "web", "uid-1",
      {{kNetworks, R"([{"name": "mv1", "default-route": ["10.232.0.1"]}])"}}));
  const json meta =
      node_.meta_config({{"clusterNetwork", node_.dir() + "/net.d/10-cluster.conflist"},
                         {"kubeconfig", api.write_kubeconfig()},
                         {"podDir", nullptr},
                         {"nadDir", nullptr}});

  auto add = node_.run("ADD", "c1", pod_.path(), meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;

  auto routes = E2eNode::routes_in(pod_);
  auto defaults = std::count_if(routes.begin(), routes.end(),
                                [](const std::string& r) { return r.rfind("default", 0) == 0; });
  EXPECT_EQ(defaults, 1) << ::testing::PrintToString(routes);
  EXPECT_NE(std::find(routes.begin(), routes.end(), "default via 10.232.0.1 dev net1"),
            routes.end())
      << ::testing::PrintToString(routes);

  // The runtime is told the truth: eth0's result carries no default route any more.
  json result = add.json();
  for (const auto& r : result.value("routes", json::array())) {
    EXPECT_NE(r.value("dst", ""), "0.0.0.0/0") << result.dump();
  }
  EXPECT_EQ(result["ips"][0]["address"], E2eNode::addresses_in(pod_, "eth0").at(0));

  std::map<std::string, json> entries;
  for (const auto& r : api.request_log()) {
    if (r.method != "PATCH") continue;
    for (const auto& e :
         json::parse(json::parse(r.body)["metadata"]["annotations"][kStatus].get<std::string>())) {
      entries[e["interface"].get<std::string>()] = e;
    }
  }
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries["eth0"]["default"], false);
  EXPECT_EQ(entries["net1"]["default"], true);
  EXPECT_EQ(entries["net1"]["gateway"], json::array({"10.232.0.1"}));

  auto del = node_.run("DEL", "c1", pod_.path(), meta);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(node_.held_addresses().empty());
}

TEST_F(AttachE2e, TwoDefaultRouteRequestsFailBeforeTouchingTheNode) {
  node_.write_nad("default", "mv1", node_.macvlan_config("10.232.0.0/24"));
  node_.write_nad("default", "mv2", node_.macvlan_config("10.233.0.0/24"));
  select(R"([{"name": "mv1", "default-route": ["10.232.0.1"]},
             {"name": "mv2", "default-route": ["10.233.0.1"]}])");
  const json meta = node_.meta_config();
  auto add = node_.run("ADD", "c1", pod_.path(), meta);
  expect_rejected(add, 7, {"default-route", "default/mv1", "default/mv2"}, meta);
}

TEST_F(AttachE2e, IpsRequestWithoutTheCapabilityIsRefused) {
  node_.write_nad("default", "mv1", node_.macvlan_config("10.232.0.0/24"));
  select(R"([{"name": "mv1", "ips": ["10.232.0.77/24"]}])");
  const json meta = node_.meta_config();
  auto add = node_.run("ADD", "c1", pod_.path(), meta);
  expect_rejected(add, 2, {"\"ips\"", "default/mv1", "10.232.0.77/24"}, meta);
}

TEST_F(AttachE2e, IpsRequestWithTheCapabilityIsHonoured) {
  json mv1 = node_.macvlan_config("10.232.0.0/24");
  mv1["capabilities"] = {{"ips", true}};
  node_.write_nad("default", "mv1", mv1);
  select(R"([{"name": "mv1", "ips": ["10.232.0.77/24"]}])");
  const json meta = node_.meta_config();

  auto add = node_.run("ADD", "c1", pod_.path(), meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(E2eNode::addresses_in(pod_, "net1"), (std::vector<std::string>{"10.232.0.77/24"}));
  auto held = node_.held_addresses();
  EXPECT_EQ(std::count_if(
                held.begin(), held.end(),
                [](const std::string& h) { return h.find(" 10.232.0.77") != std::string::npos; }),
            1)
      << ::testing::PrintToString(held);

  auto del = node_.run("DEL", "c1", pod_.path(), meta);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(node_.held_addresses().empty());
}

class IsolationE2e : public AttachE2e {
 protected:
  void SetUp() override {
    AttachE2e::SetUp();
    node_.write_nad("b", "net", node_.macvlan_config("10.232.0.0/24"));
    node_.write_nad("default", "net", node_.macvlan_config("10.233.0.0/24"));
    meta_ = node_.meta_config({{"namespaceIsolation", true}});
  }
  json meta_;
};

TEST_F(IsolationE2e, PodMayNotUseAnotherNamespacesNad) {
  select("b/net", "a");
  auto add = node_.run("ADD", "c1", pod_.path(), meta_, "a");
  expect_rejected(add, 7, {"b/net", "\"a\""}, meta_, "a");
}

TEST_F(IsolationE2e, PodMayUseAGlobalNad) {
  select("default/net", "a");
  auto add = node_.run("ADD", "c1", pod_.path(), meta_, "a");
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  auto net1 = E2eNode::addresses_in(pod_, "net1");
  ASSERT_EQ(net1.size(), 1u);
  EXPECT_EQ(net1[0].rfind("10.233.0.", 0), 0u) << net1[0];

  auto del = node_.run("DEL", "c1", pod_.path(), meta_, "a");
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(node_.held_addresses().empty());
}

// readinessindicatorfile: until the cluster network says it is ready, ADD fails with "try
// again later" (code 11) and touches nothing; once the file exists, the same ADD succeeds.
TEST_F(AttachE2e, WaitsForTheReadinessIndicatorFile) {
  select("");
  const std::string ready = node_.dir() + "/cluster-ready";
  const json meta = node_.meta_config({{"readinessindicatorfile", ready}, {"apiTimeout", 0.3}});

  auto early = node_.run("ADD", "c1", pod_.path(), meta);
  EXPECT_NO_FATAL_FAILURE(expect_rejected(early, 11, {"readinessindicatorfile", ready}, meta));

  E2eNode::write(ready, "");
  auto add = node_.run("ADD", "c1", pod_.path(), meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(E2eNode::links_in(pod_), std::vector<std::string>{"eth0"});
  EXPECT_EQ(node_.run("DEL", "c1", pod_.path(), meta).exit_code, 0);
  EXPECT_TRUE(node_.held_addresses().empty());
}

}  // namespace
}  // namespace cnimux_test

// End to end through the fake Kubernetes API: a pod with the bridge cluster network and two
// macvlan attachments, checked inside its netns, in the network-status PATCH and in the
// number of API round trips; and the same with the annotations given as CRI pod-annotations.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "test/e2e/e2e_node.h"
#include "test/fakes/fake_kube_api.h"

namespace cnimux_test {
namespace {

constexpr const char* kNetworks = "k8s.v1.cni.cncf.io/networks";
constexpr const char* kStatus = "k8s.v1.cni.cncf.io/network-status";
const std::string kPodPath = "/api/v1/namespaces/default/pods/web";
const std::string kNadPath =
    "/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions/";

// A node whose pods and NADs come from the fake API only (no podDir, no nadDir). The cluster
// network is named by path, so no API lookup is spent on it.
class KubeApiE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    node_.write_cluster_network(node_.bridge_config("10.231.0.0/24"));
    api_.add_nad(fakes::FakeKubeApi::make_nad("default", "mv1",
                                              node_.macvlan_config("10.232.0.0/24").dump()));
    api_.add_nad(fakes::FakeKubeApi::make_nad("default", "mv2",
                                              node_.macvlan_config("10.233.0.0/24").dump()));
    meta_ = node_.meta_config({{"clusterNetwork", node_.dir() + "/net.d/10-cluster.conflist"},
                               {"kubeconfig", api_.write_kubeconfig()},
                               {"podDir", nullptr},
                               {"nadDir", nullptr}});
  }

  // The network-status entries of the one PATCH in the log, keyed by interface.
  std::map<std::string, json> status_entries() const {
    std::map<std::string, json> out;
    for (const auto& r : api_.request_log()) {
      if (r.method != "PATCH") continue;
      json body = json::parse(r.body);
      json entries = json::parse(body["metadata"]["annotations"][kStatus].get<std::string>());
      for (const auto& e : entries) out[e["interface"].get<std::string>()] = e;
    }
    return out;
  }

  // "METHOD path" of every API request, in order.
  std::vector<std::string> requests() const {
    std::vector<std::string> out;
    for (const auto& r : api_.request_log()) out.push_back(r.method + " " + r.path);
    return out;
  }

  // Checks eth0/net1/net2 inside the pod and returns their addresses (CIDRs), by interface.
  std::map<std::string, std::string> check_pod_interfaces() const {
    auto links = E2eNode::links_in(pod_);
    std::sort(links.begin(), links.end());
    EXPECT_EQ(links, (std::vector<std::string>{"eth0", "net1", "net2"}));
    std::map<std::string, std::string> addr;
    const std::map<std::string, std::string> subnet = {
        {"eth0", "10.231.0."}, {"net1", "10.232.0."}, {"net2", "10.233.0."}};
    for (const auto& [ifname, prefix] : subnet) {
      auto a = E2eNode::addresses_in(pod_, ifname);
      EXPECT_EQ(a.size(), 1u) << ifname;
      if (a.empty()) continue;
      EXPECT_EQ(a[0].rfind(prefix, 0), 0u) << ifname << " has " << a[0];
      EXPECT_EQ(a[0].substr(a[0].find('/')), "/24") << ifname;
      addr[ifname] = a[0];
    }
    auto routes = E2eNode::routes_in(pod_);
    EXPECT_NE(std::find(routes.begin(), routes.end(), "default via 10.231.0.1 dev eth0"),
              routes.end())
        << ::testing::PrintToString(routes);
    EXPECT_EQ(std::count_if(routes.begin(), routes.end(),
                            [](const std::string& r) { return r.rfind("default", 0) == 0; }),
              1)
        << ::testing::PrintToString(routes);
    return addr;
  }

  // Every entry names its network and interface, carries its address without prefix and the
  // pod-side MAC, and only eth0 is the default.
  void check_status(const std::map<std::string, std::string>& addr) const {
    auto entries = status_entries();
    ASSERT_EQ(entries.size(), 3u);
    const std::map<std::string, std::string> names = {
        {"eth0", "cluster"}, {"net1", "default/mv1"}, {"net2", "default/mv2"}};
    for (const auto& [ifname, name] : names) {
      const json& e = entries[ifname];
      EXPECT_EQ(e["name"], name) << e.dump();
      EXPECT_EQ(e["interface"], ifname) << e.dump();
      const std::string cidr = addr.count(ifname) ? addr.at(ifname) : "";
      EXPECT_EQ(e["ips"], json::array({cidr.substr(0, cidr.find('/'))})) << e.dump();
      EXPECT_EQ(e["mac"], E2eNode::mac_in(pod_, ifname)) << e.dump();
      EXPECT_EQ(e["default"], ifname == "eth0") << e.dump();
    }
  }

  E2eNode node_{"k"};
  TestNetns pod_{"k1"};
  fakes::FakeKubeApi api_;
  json meta_;
};

TEST_F(KubeApiE2e, BridgeAndTwoMacvlansFromTheApi) {
  api_.add_pod(fakes::FakeKubeApi::make_pod("default", "web", "uid-1", {{kNetworks, "mv1,mv2"}}));

  auto add = node_.run("ADD", "c1", pod_.path(), meta_);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  json result = add.json();
  ASSERT_EQ(result["ips"].size(), 1u) << result.dump();
  auto addr = check_pod_interfaces();
  EXPECT_EQ(result["ips"][0]["address"], addr["eth0"]);
  check_status(addr);
  EXPECT_EQ(node_.held_addresses().size(), 3u);

  // One pod GET, one GET per distinct NAD, one PATCH of the status subresource.
  EXPECT_EQ(requests(),
            (std::vector<std::string>{"GET " + kPodPath, "GET " + kNadPath + "mv1",
                                      "GET " + kNadPath + "mv2", "PATCH " + kPodPath + "/status"}));

  auto del = node_.run("DEL", "c1", pod_.path(), meta_);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(E2eNode::links_in(pod_).empty());
  EXPECT_TRUE(node_.held_addresses().empty());
}

TEST_F(KubeApiE2e, SameNadTwiceIsFetchedOnce) {
  api_.add_pod(fakes::FakeKubeApi::make_pod("default", "web", "uid-1", {{kNetworks, "mv1,mv1"}}));

  auto add = node_.run("ADD", "c1", pod_.path(), meta_);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  auto net1 = E2eNode::addresses_in(pod_, "net1"), net2 = E2eNode::addresses_in(pod_, "net2");
  ASSERT_EQ(net1.size(), 1u);
  ASSERT_EQ(net2.size(), 1u);
  EXPECT_NE(net1[0], net2[0]);
  EXPECT_EQ(requests(), (std::vector<std::string>{"GET " + kPodPath, "GET " + kNadPath + "mv1",
                                                  "PATCH " + kPodPath + "/status"}));
  auto entries = status_entries();
  EXPECT_EQ(entries["net1"]["name"], "default/mv1");
  EXPECT_EQ(entries["net2"]["name"], "default/mv1");
}

TEST_F(KubeApiE2e, CriPodAnnotationsNeedNoPodGet) {
  // The API's copy selects only mv1: the CRI annotations, which select both, must win.
  api_.add_pod(fakes::FakeKubeApi::make_pod("default", "web", "uid-1", {{kNetworks, "mv1"}}));
  meta_["runtimeConfig"] = {{"io.kubernetes.cri.pod-annotations", {{kNetworks, "mv1,mv2"}}}};

  auto add = node_.run("ADD", "c1", pod_.path(), meta_);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  auto addr = check_pod_interfaces();
  check_status(addr);
  EXPECT_EQ(requests(),
            (std::vector<std::string>{"GET " + kNadPath + "mv1", "GET " + kNadPath + "mv2",
                                      "PATCH " + kPodPath + "/status"}));

  auto del = node_.run("DEL", "c1", pod_.path(), meta_);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(node_.held_addresses().empty());
}

}  // namespace
}  // namespace cnimux_test

// Kubernetes API failures on ADD, against the fake API server: down, 500 forever, no answer,
// a wrong token and a missing pod fail the ADD with code 120/121 before anything is created;
// a failed network-status PATCH rolls back under statusPolicy "required" only.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "test/e2e/e2e_node.h"
#include "test/fakes/fake_kube_api.h"

namespace cnimux_test {
namespace {

// A localhost TCP port that nothing listens on: bound, then closed.
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// Cluster network bridge (net.d); n1 (macvlan) and n2 (the fake delegate, "ok") are NADs in
// the API, selected by pod default/web, which only the API knows.
class ApiFixture : public ::testing::Test {
 protected:
  ApiFixture() : node_("a"), pod_("a") {
    node_.write_cluster_network(node_.bridge_config("10.231.0.0/24"));
    api_.add_nad(fakes::FakeKubeApi::make_nad("default", "n1",
                                              node_.macvlan_config("10.232.0.0/24").dump()));
    api_.add_nad(fakes::FakeKubeApi::make_nad("default", "n2", node_.fake_config({}).dump()));
    api_.add_pod(fakes::FakeKubeApi::make_pod("default", "web", "uid-a",
                                              {{"k8s.v1.cni.cncf.io/networks", "n1,n2"}}));
  }

  json meta(const std::string& kubeconfig, const std::string& policy = "required") const {
    return node_.meta_config(
        {{"kubeconfig", kubeconfig}, {"apiTimeout", 1}, {"statusPolicy", policy}});
  }
  // Nothing on the node: no link, no address, no delegate run, no journal owing anything.
  void expect_nothing_created(const std::string& cid) const {
    EXPECT_TRUE(E2eNode::links_in(pod_).empty());
    EXPECT_TRUE(node_.stray_host_links().empty());
    EXPECT_EQ(node_.bridge_ports(), 0);
    EXPECT_TRUE(node_.held_addresses().empty());
    const std::string journal = node_.read("journal/" + cid + ".journal");
    if (!journal.empty()) {
      const json j = E2eNode::record_in(journal);
      ASSERT_TRUE(j.is_object()) << journal;
      for (const auto& a : j["attachments"]) EXPECT_EQ(a["state"], "pending") << journal;
    }
  }
  bool patched() const {
    const auto log = api_.request_log();
    return std::any_of(log.begin(), log.end(),
                       [](const fakes::KubeRequest& r) { return r.method == "PATCH"; });
  }

  E2eNode node_;
  TestNetns pod_;
  fakes::FakeKubeApi api_;
};

TEST_F(ApiFixture, HealthyApiAddSucceedsAndWritesNetworkStatus) {
  const json m = meta(api_.write_kubeconfig());
  auto add = node_.run("ADD", "ca0", pod_.path(), m);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(node_.held_addresses().size(), 2u);
  EXPECT_TRUE(patched());
  auto del = node_.run("DEL", "ca0", pod_.path(), m);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(node_.held_addresses().empty());
}

struct ApiFault {
  const char* name;
  // Breaks the API (or the way to it) and returns the kubeconfig to use.
  std::function<std::string(fakes::FakeKubeApi&, const E2eNode&)> arrange;
  const char* pod_name;
  int expected_code;
  const char* msg_part;
  // The runtime passes the pod's annotations (containerd's CRI key), so cnimux reads only
  // NADs from the API; the value is the networks annotation.
  const char* cri_networks = nullptr;
};

void PrintTo(const ApiFault& f, std::ostream* os) {
  *os << f.name;
}

const ApiFault kApiFaults[] = {
    {"down",
     [](fakes::FakeKubeApi& api, const E2eNode& node) {
       std::ifstream in(api.write_kubeconfig());
       const std::string text =
           replace_all(std::string(std::istreambuf_iterator<char>(in), {}), api.url(),
                       "https://127.0.0.1:" + std::to_string(closed_port()));
       const std::string path = node.dir() + "/kubeconfig-down";
       E2eNode::write(path, text);
       return path;
     },
     "web", 120, "onnect"},
    {"error500",
     [](fakes::FakeKubeApi& api, const E2eNode&) {
       api.set_mode("500");
       return api.dir() + "/kubeconfig";
     },
     "web", 120, "HTTP 500"},
    {"hang",
     [](fakes::FakeKubeApi& api, const E2eNode&) {
       api.set_mode("hang");
       return api.dir() + "/kubeconfig";
     },
     "web", 120, "apiTimeout"},
    {"wrongToken",
     [](fakes::FakeKubeApi& api, const E2eNode&) {
       return api.write_kubeconfig({.token = "not-the-token"});
     },
     "web", 120, "HTTP 401"},
    {"nadGetError500",
     [](fakes::FakeKubeApi& api, const E2eNode&) {
       api.set_mode("500");
       return api.dir() + "/kubeconfig";
     },
     "web", 120, "network-attachment-definitions/n1", "n1,n2"},
    {"nadMissing",
     [](fakes::FakeKubeApi& api, const E2eNode&) { return api.dir() + "/kubeconfig"; }, "web", 7,
     "default/n3", "n1,n3"},
    {"podMissing",
     [](fakes::FakeKubeApi& api, const E2eNode&) { return api.dir() + "/kubeconfig"; }, "ghost",
     121, "not found"},
};

class ApiFailure : public ApiFixture, public ::testing::WithParamInterface<ApiFault> {};

TEST_P(ApiFailure, AddFailsBeforeTouchingTheNode) {
  const ApiFault& fault = GetParam();
  api_.write_kubeconfig();
  json m = meta(fault.arrange(api_, node_));
  if (fault.cri_networks) {
    m["runtimeConfig"] = {{"io.kubernetes.cri.pod-annotations",
                           {{"k8s.v1.cni.cncf.io/networks", fault.cri_networks}}}};
  }

  auto add = node_.run("ADD", "ca1", pod_.path(), m, "default", fault.pod_name);
  EXPECT_EQ(add.exit_code, 1) << add.out << add.err;
  json err;
  ASSERT_NO_THROW(err = add.json()) << "stdout must be exactly one JSON object: " << add.out;
  EXPECT_EQ(err.value("code", 0), fault.expected_code) << err.dump();
  EXPECT_NE(err.value("msg", "").find(fault.msg_part), std::string::npos) << err.dump();
  EXPECT_TRUE(node_.fake_calls().empty()) << node_.read("fake.log");
  expect_nothing_created("ca1");

  // DEL never needs the API: it succeeds while the API is still broken.
  auto del = node_.run("DEL", "ca1", pod_.path(), m, "default", fault.pod_name);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  expect_nothing_created("ca1");
}

INSTANTIATE_TEST_SUITE_P(EachFault, ApiFailure, ::testing::ValuesIn(kApiFaults),
                         [](const ::testing::TestParamInfo<ApiFault>& info) {
                           return std::string(info.param.name);
                         });

// An ADD that fails before any delegate ran leaves a tombstone, so the runtime's DEL owes
// nothing and does not rebuild the plan from NADs that changed since: here n2 now names a
// delegate whose DEL always fails, which wedged the pod (found by test/soak/faults.py).
TEST_F(ApiFixture, DelAfterAnAddThatFailedAtTheApiIgnoresAnEditedNad) {
  const json m = meta(api_.write_kubeconfig());
  api_.set_mode("500");
  auto add = node_.run("ADD", "ca2", pod_.path(), m);
  ASSERT_EQ(add.exit_code, 1) << add.out << add.err;
  EXPECT_EQ(add.json().value("code", 0), 120) << add.out;
  api_.set_mode("normal");
  api_.add_nad(fakes::FakeKubeApi::make_nad(
      "default", "n2", node_.fake_config({{"del", "error"}, {"msg", "edited NAD"}}).dump()));

  auto del = node_.run("DEL", "ca2", pod_.path(), m);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(node_.fake_calls().empty()) << node_.read("fake.log");
  expect_nothing_created("ca2");
}

TEST_F(ApiFixture, RequiredStatusPatchFailureRollsEverythingBack) {
  const json m = meta(api_.write_kubeconfig(), "required");
  api_.fail_methods({"PATCH"});
  auto add = node_.run("ADD", "ca2", pod_.path(), m);
  EXPECT_EQ(add.exit_code, 1) << add.out << add.err;
  json err;
  ASSERT_NO_THROW(err = add.json()) << add.out;
  EXPECT_EQ(err.value("code", 0), 120) << err.dump();
  EXPECT_NE(err.value("msg", "").find("PATCH"), std::string::npos) << err.dump();
  EXPECT_NE(err.value("details", "").find("rollback"), std::string::npos) << err.dump();
  EXPECT_TRUE(patched());
  // Every delegate had succeeded; all of them were undone.
  EXPECT_EQ(node_.fake_calls(), (std::vector<std::string>{"ADD net2", "DEL net2"}));
  expect_nothing_created("ca2");
  auto del = node_.run("DEL", "ca2", pod_.path(), m);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
}

TEST_F(ApiFixture, BestEffortStatusPatchFailureKeepsTheAttachments) {
  const json m = meta(api_.write_kubeconfig(), "bestEffort");
  api_.fail_methods({"PATCH"});
  auto add = node_.run("ADD", "ca3", pod_.path(), m);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_TRUE(patched());
  auto links = E2eNode::links_in(pod_);
  std::sort(links.begin(), links.end());
  EXPECT_EQ(links, (std::vector<std::string>{"eth0", "net1"}));
  EXPECT_EQ(node_.held_addresses().size(), 2u);
  EXPECT_EQ(node_.fake_calls(), (std::vector<std::string>{"ADD net2"}));

  auto del = node_.run("DEL", "ca3", pod_.path(), m);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(E2eNode::links_in(pod_).empty());
  EXPECT_TRUE(node_.held_addresses().empty());
}

}  // namespace
}  // namespace cnimux_test

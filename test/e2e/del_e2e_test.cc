// DEL end to end in the situations runtimes actually produce: no API server, DEL twice, an
// empty CNI_NETNS, a deleted netns, a missing journal and a corrupt one. Every case must end
// with the addresses released and the links gone, or fail loudly without losing the journal.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "test/e2e/e2e_node.h"
#include "test/fakes/fake_kube_api.h"

namespace cnimux_test {
namespace {

constexpr const char* kNetworks = "k8s.v1.cni.cncf.io/networks";

// A pod with the bridge cluster network and one macvlan network; pods and NADs from podDir
// and nadDir unless a test switches to the fake API.
class DelE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    node_.write_cluster_network(node_.bridge_config("10.231.0.0/24"));
    node_.write_nad("default", "mv1", node_.macvlan_config("10.232.0.0/24"));
    node_.write_pod("default", "web", "uid-1", {{kNetworks, "mv1"}});
    meta_ = node_.meta_config();
  }

  // Serves the pod and the NAD from a fake API instead of podDir/nadDir.
  void use_api() {
    api_.emplace();
    api_->add_pod(fakes::FakeKubeApi::make_pod("default", "web", "uid-1", {{kNetworks, "mv1"}}));
    api_->add_nad(fakes::FakeKubeApi::make_nad("default", "mv1",
                                               node_.macvlan_config("10.232.0.0/24").dump()));
    // The kubeconfig (CA inline) lives in the node's dir, so it outlives a stopped server.
    const std::string kubeconfig = node_.dir() + "/kubeconfig";
    std::filesystem::copy_file(api_->write_kubeconfig({.ca_data = true}), kubeconfig);
    meta_ = node_.meta_config({{"clusterNetwork", node_.dir() + "/net.d/10-cluster.conflist"},
                               {"kubeconfig", kubeconfig},
                               {"podDir", nullptr},
                               {"nadDir", nullptr}});
  }

  void add() {
    auto add = node_.run("ADD", "c1", pod_.path(), meta_);
    ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
    auto links = E2eNode::links_in(pod_);
    std::sort(links.begin(), links.end());
    ASSERT_EQ(links, (std::vector<std::string>{"eth0", "net1"}));
    ASSERT_EQ(node_.held_addresses().size(), 2u);
    ASSERT_TRUE(std::filesystem::exists(journal()));
  }

  testing_support::PluginRun del(const std::string& netns, const json& meta) const {
    return node_.run("DEL", "c1", netns, meta);
  }

  std::string journal() const { return node_.journal_path("c1"); }

  // Nothing of the pod is left: no address, no link in the pod or on the host, no journal.
  void expect_clean(bool netns_alive = true) const {
    EXPECT_TRUE(node_.held_addresses().empty()) << ::testing::PrintToString(node_.held_addresses());
    if (netns_alive) {
      EXPECT_TRUE(E2eNode::links_in(pod_).empty());
    }
    // A deleted netns is torn down by the kernel after `ip netns delete` returns, and the
    // host ends of its veths go with it: wait for that rather than race it.
    EXPECT_TRUE(eventually([&] { return node_.bridge_ports() == 0; }));
    EXPECT_TRUE(eventually([&] { return node_.stray_host_links().empty(); }));
    EXPECT_FALSE(node_.has_live_journal("c1"));
  }

  E2eNode node_{"d"};
  TestNetns pod_{"d1"};
  std::optional<fakes::FakeKubeApi> api_;
  json meta_;
};

TEST_F(DelE2e, NeedsNoApiServerThatHangs) {
  use_api();
  ASSERT_NO_FATAL_FAILURE(add());
  api_->set_mode("hang");
  api_->clear_log();

  auto out = del(pod_.path(), meta_);
  ASSERT_EQ(out.exit_code, 0) << out.out << out.err;
  EXPECT_TRUE(api_->request_log().empty());
  expect_clean();
}

TEST_F(DelE2e, NeedsNoApiServerThatIsGone) {
  use_api();
  ASSERT_NO_FATAL_FAILURE(add());
  api_.reset();

  auto out = del(pod_.path(), meta_);
  ASSERT_EQ(out.exit_code, 0) << out.out << out.err;
  expect_clean();
}

TEST_F(DelE2e, TwiceSucceedsBothTimes) {
  ASSERT_NO_FATAL_FAILURE(add());
  auto first = del(pod_.path(), meta_);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  expect_clean();
  auto second = del(pod_.path(), meta_);
  EXPECT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_TRUE(second.out.empty()) << second.out;
  expect_clean();
}

// containerd's DEL after the sandbox is torn down carries no CNI_NETNS.
TEST_F(DelE2e, EmptyNetnsReleasesAddresses) {
  ASSERT_NO_FATAL_FAILURE(add());
  auto out = del("", meta_);
  ASSERT_EQ(out.exit_code, 0) << out.out << out.err;
  EXPECT_TRUE(node_.held_addresses().empty());
  EXPECT_FALSE(node_.has_live_journal("c1"));
  pod_.remove();  // the runtime removes the netns, and the pod's links with it
  auto again = del("", meta_);
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  expect_clean(false);
}

TEST_F(DelE2e, SecondDelWithEmptyNetnsAfterARealOne) {
  ASSERT_NO_FATAL_FAILURE(add());
  auto first = del(pod_.path(), meta_);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  auto second = del("", meta_);
  EXPECT_EQ(second.exit_code, 0) << second.out << second.err;
  expect_clean();
}

TEST_F(DelE2e, NetnsAlreadyDeleted) {
  ASSERT_NO_FATAL_FAILURE(add());
  pod_.remove();
  auto out = del(pod_.path(), meta_);
  ASSERT_EQ(out.exit_code, 0) << out.out << out.err;
  expect_clean(false);
}

// A runtime that unmounted the netns but left its (now empty) file behind.
TEST_F(DelE2e, NetnsUnmountedWithItsFileLeft) {
  ASSERT_NO_FATAL_FAILURE(add());
  ASSERT_EQ(run_shell("umount " + pod_.path()), 0);
  ASSERT_TRUE(std::filesystem::exists(pod_.path()));
  auto out = del(pod_.path(), meta_);
  ASSERT_EQ(out.exit_code, 0) << out.out << out.err;
  expect_clean(false);
}

TEST_F(DelE2e, MissingJournalIsRebuiltFromPodDir) {
  ASSERT_NO_FATAL_FAILURE(add());
  std::filesystem::remove(journal());
  auto out = del(pod_.path(), meta_);
  ASSERT_EQ(out.exit_code, 0) << out.out << out.err;
  expect_clean();
}

TEST_F(DelE2e, MissingJournalIsRebuiltFromTheApi) {
  use_api();
  ASSERT_NO_FATAL_FAILURE(add());
  std::filesystem::remove(journal());
  api_->clear_log();
  auto out = del(pod_.path(), meta_);
  ASSERT_EQ(out.exit_code, 0) << out.out << out.err;
  auto log = api_->request_log();
  EXPECT_TRUE(std::any_of(log.begin(), log.end(), [](const fakes::KubeRequest& r) {
    return r.method == "GET" && r.path == "/api/v1/namespaces/default/pods/web";
  }));
  EXPECT_TRUE(std::none_of(log.begin(), log.end(),
                           [](const fakes::KubeRequest& r) { return r.method != "GET"; }));
  expect_clean();
}

// What a journal can look like after a disk or a person got to it.
struct Corruption {
  const char* name;
  std::string (*make)(const std::string& real);
};

const Corruption kCorruptions[] = {
    {"garbage",
     [](const std::string&) {
       static const char bytes[] = "\x01\xfe garbage \x00\x7f";
       return std::string(bytes, sizeof bytes - 1);
     }},
    {"empty_list", [](const std::string&) { return std::string("[]"); }},
    {"null", [](const std::string&) { return std::string("null"); }},
    // Cut inside the first record. A log cut inside a later record reads as the record
    // before it, as a write cut short by a kill does (docs/journal.md, "File format").
    {"truncated", [](const std::string& real) { return real.substr(0, real.find('\n') + 20); }},
    {"empty_file", [](const std::string&) { return std::string(); }},
};

class CorruptJournalE2e : public DelE2e, public ::testing::WithParamInterface<Corruption> {
 protected:
  // Overwrites the journal; returns the bytes written.
  std::string corrupt() const {
    const std::string bytes = GetParam().make(node_.read("journal/c1.journal"));
    E2eNode::write(journal(), bytes);
    return bytes;
  }
};

TEST_P(CorruptJournalE2e, IsRebuiltFromPodDir) {
  ASSERT_NO_FATAL_FAILURE(add());
  corrupt();
  auto out = del(pod_.path(), meta_);
  ASSERT_EQ(out.exit_code, 0) << out.out << out.err;
  expect_clean();
}

TEST_P(CorruptJournalE2e, WithoutPodSourceFailsLoudlyAndKeepsIt) {
  ASSERT_NO_FATAL_FAILURE(add());
  const std::string bytes = corrupt();
  json no_source = meta_;
  no_source.erase("podDir");

  auto out = del(pod_.path(), no_source);
  EXPECT_NE(out.exit_code, 0) << out.out << out.err;
  EXPECT_NE(out.out.find(journal()), std::string::npos) << out.out;
  ASSERT_TRUE(std::filesystem::exists(journal()));
  EXPECT_EQ(node_.read("journal/c1.journal"), bytes);
  EXPECT_EQ(node_.held_addresses().size(), 2u);

  // Once the pod is known again, DEL finishes the job.
  auto retry = del(pod_.path(), meta_);
  ASSERT_EQ(retry.exit_code, 0) << retry.out << retry.err;
  expect_clean();
}

INSTANTIATE_TEST_SUITE_P(Corruptions, CorruptJournalE2e, ::testing::ValuesIn(kCorruptions),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace cnimux_test

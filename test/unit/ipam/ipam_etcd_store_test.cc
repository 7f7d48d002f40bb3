// The etcd store beyond the conformance suite: clusters sharing one etcd and one pool never
// share an address (also when allocating at once from several processes), GC is scoped to
// its node and cluster, sticky pods move between nodes, and an unreachable etcd fails fast
// with code 11 (ADD) or 50 (STATUS) naming the endpoint. Real etcd, started per test binary.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "cni/error.h"
#include "etcd_server.h"
#include "ipam/allocator.h"
#include "ipam/etcd_store.h"
#include "ipam/ipam_plugin.h"
#include "ipam_test_util.h"

namespace ipam {
namespace {

using nlohmann::json;
using V = std::vector<std::string>;

ipam_test::EtcdServer& shared_etcd() {
  static ipam_test::EtcdServer server;
  return server;
}

class EtcdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ipam_test::EtcdServer::available()) {
      GTEST_SKIP() << "etcd is not installed (Debian etcd-server; scripts/install-deps.sh)";
    }
    static std::atomic<int> n{0};
    prefix_ = "/cxe" + std::to_string(::getpid()) + "-" + std::to_string(n++);
  }
  EtcdStoreConfig at(const std::string& cluster, const std::string& node) {
    EtcdStoreConfig c;
    c.endpoints = {shared_etcd().endpoint()};
    c.prefix = prefix_;
    c.cluster = cluster;
    c.node = node;
    c.timeout_ms = 30000;
    return c;
  }
  IpamConfig config(const std::string& subnet, const std::string& network = "net1",
                    json extra = json::object()) {
    json j = ipam_test::netconf(network, {{{{"subnet", subnet}}}}, "/nonexistent/ipam.db");
    j["ipam"]["pool"] = "shared";
    j["ipam"].update(extra);
    return parse_ipam_config(j);
  }
  std::string add(EtcdStore& s, const IpamConfig& cfg, const std::string& cid,
                  const std::string& pod = "") {
    return Allocator(s).allocate(cfg, {cfg.network, cid, "eth0", pod}).at(0).address.str();
  }

  std::string prefix_;
};

TEST_F(EtcdStoreTest, ClustersSharingAPoolNeverShareAnAddress) {
  EtcdStore east(at("east", "node-a"));
  EtcdStore west(at("west", "node-a"));  // the same node name in another cluster
  auto cfg = config("10.7.0.0/29");      // .2 .. .6
  EXPECT_EQ(add(east, cfg, "c1"), "10.7.0.2");
  EXPECT_EQ(add(west, cfg, "c1"), "10.7.0.3");  // same network, container ID and ifname
  EXPECT_EQ(add(east, cfg, "c1"), "10.7.0.2");  // idempotent per cluster
  EXPECT_EQ(add(west, cfg, "c1"), "10.7.0.3");
  add(east, cfg, "c2");
  add(west, cfg, "c2");
  add(east, cfg, "c3");
  try {
    add(west, cfg, "c3");
    ADD_FAILURE() << "a sixth address from a pool of five";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kIpamExhausted) << e.msg();
  }
  std::map<std::string, std::string> owner;
  for (const auto& a : east.list_all()) owner[a.address.str()] = a.cluster + "/" + a.node;
  EXPECT_EQ(owner.size(), 5u);
  EXPECT_EQ(owner["10.7.0.3"], "west/node-a");
  EXPECT_EQ(east.verify(), V{});
}

TEST_F(EtcdStoreTest, GcFreesOnlyItsOwnNodeAndCluster) {
  EtcdStore east_a(at("east", "node-a"));
  EtcdStore east_b(at("east", "node-b"));
  EtcdStore west_a(at("west", "node-a"));
  auto cfg = config("10.7.1.0/24");
  add(east_a, cfg, "a1");
  add(east_b, cfg, "b1");
  add(west_a, cfg, "w1");
  // Node a of east knows no live container: it frees a1 only.
  EXPECT_EQ(Allocator(east_a).gc("net1", {}), 1u);
  EXPECT_EQ(Allocator(east_a).networks(), V{});
  EXPECT_EQ(Allocator(east_b).networks(), V{"net1"});
  auto freed = Allocator(west_a).gc_store({});
  EXPECT_EQ(freed, (std::map<std::string, size_t>{{"net1", 1}}));
  auto left = east_a.list_all();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].owner.container_id, "b1");
  EXPECT_EQ(left[0].node, "node-b");
  // DEL of a container another node or cluster runs releases nothing.
  EXPECT_EQ(Allocator(west_a).release("net1", "b1", "eth0"), 0u);
  EXPECT_EQ(Allocator(east_b).release("net1", "b1", "eth0"), 1u);
  EXPECT_EQ(east_a.verify(), V{});
}

TEST_F(EtcdStoreTest, StickyPodKeepsItsAddressAcrossNodesOfItsClusterOnly) {
  EtcdStore east_a(at("east", "node-a"));
  EtcdStore east_b(at("east", "node-b"));
  EtcdStore west_a(at("west", "node-a"));
  auto cfg = config("10.7.2.0/24", "db", {{"sticky", true}});
  std::string addr = add(east_a, cfg, "c1", "ns/db-0");
  Allocator(east_a).release("db", "c1", "eth0");       // unbound, still reserved
  EXPECT_EQ(add(east_b, cfg, "c2", "ns/db-0"), addr);  // rescheduled on node b
  EXPECT_NE(add(west_a, cfg, "c3", "ns/db-0"), addr);  // the same name in another cluster
  auto held = Allocator(east_b).find("db", "c2", "eth0");
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].node, "node-b");  // node b's GC now manages it, node a's no longer
  EXPECT_EQ(Allocator(east_a).gc("db", {}), 0u);
  EXPECT_EQ(east_a.verify(), V{});
}

TEST_F(EtcdStoreTest, ConcurrentProcessesOfTwoClustersNeverShareAnAddress) {
  // 6 processes, 3 per cluster, ADD/DEL cycles on one pool of 30 addresses.
  auto cfg = config("10.7.3.0/27");
  // Start the shared server here: a child that started it would get an etcd of its own.
  shared_etcd();
  constexpr int kProcs = 6, kCycles = 12;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = ::fork();
    if (pid == 0) {
      int rc = 0;
      try {
        EtcdStore s(at(p % 2 ? "west" : "east", "node-" + std::to_string(p)));
        Allocator alloc(s);
        for (int i = 0; i < kCycles; ++i) {
          std::string cid = "p" + std::to_string(p) + "c" + std::to_string(i);
          alloc.allocate(cfg, {"net1", cid, "eth0", ""});
          if (i % 3 != 0) alloc.release("net1", cid, "eth0");  // keeps 4 per process
        }
      } catch (const std::exception& e) {
        fprintf(stderr, "process %d: %s\n", p, e.what());
        rc = 1;
      }
      ::_exit(rc);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EtcdStore s(at("east", "check"));
  auto all = s.list_all();
  std::set<std::string> distinct;
  std::map<std::string, int> per_cluster;
  for (const auto& a : all) {
    distinct.insert(a.address.str());
    ++per_cluster[a.cluster];
  }
  EXPECT_EQ(all.size(), size_t(kProcs * kCycles / 3));
  EXPECT_EQ(distinct.size(), all.size());
  EXPECT_EQ(per_cluster["east"], kProcs / 2 * kCycles / 3);
  EXPECT_EQ(per_cluster["west"], kProcs / 2 * kCycles / 3);
  EXPECT_EQ(s.verify(), V{});
}

TEST_F(EtcdStoreTest, UnreachableEtcdFailsAddWithCode11AndStatusWith50) {
  EtcdStoreConfig c = at("east", "node-a");
  std::string dead = "http://127.0.0.1:" + std::to_string(ipam_test::EtcdServer::free_port());
  c.endpoints = {dead};
  c.timeout_ms = 300;
  c.password = "hunter2-secret";
  c.username = "cni";
  EtcdStore s(c);
  try {
    add(s, config("10.7.4.0/24"), "c1");
    ADD_FAILURE() << "ADD succeeded without etcd";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kTryAgainLater);
    EXPECT_NE(e.msg().find(dead), std::string::npos) << e.msg();
    EXPECT_EQ(e.msg().find("hunter2"), std::string::npos) << e.msg();
  }
  try {
    s.probe();
    ADD_FAILURE() << "STATUS succeeded without etcd";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kNotAvailable);
    EXPECT_NE(e.msg().find(dead), std::string::npos) << e.msg();
  }
}

TEST_F(EtcdStoreTest, DownEndpointIsSkippedForTheNextOne) {
  EtcdStoreConfig c = at("east", "node-a");
  c.endpoints = {"http://127.0.0.1:" + std::to_string(ipam_test::EtcdServer::free_port()),
                 shared_etcd().endpoint()};
  EtcdStore s(c);
  EXPECT_EQ(add(s, config("10.7.5.0/24"), "c1"), "10.7.5.2");
}

TEST_F(EtcdStoreTest, EtcdStoppedDuringUseFailsWithCode11) {
  ipam_test::EtcdServer own;
  EtcdStoreConfig c = at("east", "node-a");
  c.endpoints = {own.endpoint()};
  c.timeout_ms = 500;
  EtcdStore s(c);
  auto cfg = config("10.7.6.0/24");
  EXPECT_EQ(add(s, cfg, "c1"), "10.7.6.2");
  own.stop();
  try {
    add(s, cfg, "c2");
    ADD_FAILURE() << "ADD succeeded with etcd stopped";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kTryAgainLater) << e.msg();
    EXPECT_NE(e.msg().find(own.endpoint()), std::string::npos) << e.msg();
  }
}

TEST_F(EtcdStoreTest, PluginAddDelAndGcThroughAnEtcdConfig) {
  json conf = {{"cniVersion", "1.0.0"},
               {"name", "underlay"},
               {"type", "cnimux-ipam"},
               {"ipam",
                {{"type", "cnimux-ipam"},
                 {"ranges", {{{{"subnet", "192.0.2.0/28"}}}}},
                 {"store",
                  {{"type", "etcd"},
                   {"endpoints", {shared_etcd().endpoint()}},
                   {"prefix", prefix_},
                   {"cluster", "east"},
                   {"node", "node-a"}}}}}};
  auto request = [&](const std::string& cid) {
    cni::Request r;
    r.invocation.container_id = cid;
    r.invocation.ifname = "eth0";
    r.conf.raw = conf;
    return r;
  };
  IpamPlugin plugin;
  auto r = plugin.add(request("c1"));
  ASSERT_EQ(r.ips.size(), 1u);
  EXPECT_EQ(r.ips[0].address, "192.0.2.2/28");
  plugin.add(request("c2"));
  plugin.del(request("c1"));
  EtcdStore s(at("east", "node-a"));
  ASSERT_EQ(s.list_all().size(), 1u);
  EXPECT_EQ(s.list_all()[0].owner.container_id, "c2");
  EXPECT_NO_THROW(plugin.status(request("")));
}

}  // namespace
}  // namespace ipam

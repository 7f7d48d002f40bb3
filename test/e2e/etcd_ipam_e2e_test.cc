// cnimux end to end with an IPAM store in etcd: a pod whose NAD (the reference macvlan with
// cnimux-ipam) allocates from a real etcd is attached and detached, and the node-wide GC the
// meta plugin runs opens that store and frees a stray allocation of this node only; with
// per-node blocks, the pod's ADD claims a block for the node and GC hands it back.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "ipam/allocator.h"
#include "ipam/etcd_client.h"
#include "ipam/etcd_store.h"
#include "test/e2e/e2e_node.h"
#include "test/unit/ipam/etcd_server.h"

namespace cnimux_test {
namespace {

class EtcdIpamE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ipam_test::EtcdCluster::available()) {
      GTEST_SKIP() << "etcd is not installed (Debian etcd-server; scripts/install-deps.sh)";
    }
    etcd_ = std::make_unique<ipam_test::EtcdServer>();
    prefix_ = "/" + node_.prefix();
    node_.write_cluster_network(node_.bridge_config("10.231.0.0/24"));
    json mv = node_.macvlan_config("10.233.0.0/24");
    mv["ipam"]["store"] = store_json("node-a");
    mv["ipam"]["pool"] = "underlay";
    node_.write_nad("default", "mv1", mv);
    node_.write_pod("default", "web", "uid-1", {{"k8s.v1.cni.cncf.io/networks", "mv1"}});
  }

  json store_json(const std::string& node) const {
    return {{"type", "etcd"},
            {"endpoints", {etcd_->endpoint()}},
            {"prefix", prefix_},
            {"cluster", "e2e"},
            {"node", node},
            {"timeout", 10},
            {"blockSize", block_size_}};
  }
  // The pool's block claims, "first-address node", read from etcd.
  std::set<std::string> blocks() const {
    ipam::EtcdStoreConfig c;
    c.endpoints = {etcd_->endpoint()};
    ipam::EtcdClient client(c);
    std::string dir = prefix_ + "/pool/underlay/block/";
    std::string end = dir;
    end.back() = '0';  // '/' + 1
    auto resp =
        client.call("/v3/kv/range",
                    {{"key", ipam::base64_encode(dir)}, {"range_end", ipam::base64_encode(end)}},
                    std::chrono::steady_clock::now() + std::chrono::seconds(10));
    std::set<std::string> out;
    for (const auto& kv : resp.value("kvs", json::array())) {
      auto rec = json::parse(ipam::base64_decode(kv.value("value", "")));
      out.insert(rec["first"].get<std::string>() + " " + rec["node"].get<std::string>());
    }
    return out;
  }
  std::unique_ptr<ipam::EtcdStore> store(const std::string& node) const {
    ipam::EtcdStoreConfig c;
    c.endpoints = {etcd_->endpoint()};
    c.prefix = prefix_;
    c.cluster = "e2e";
    c.node = node;
    c.block_size = block_size_;
    return std::make_unique<ipam::EtcdStore>(c);
  }
  // What etcd holds: "network:container ifname address node" per allocation.
  std::set<std::string> in_etcd() const {
    std::set<std::string> out;
    for (const auto& a : store("reader")->list_all()) {
      out.insert(a.owner.network + ":" + a.owner.container_id + " " + a.owner.ifname + " " +
                 a.address.str() + " " + a.node);
    }
    return out;
  }
  // Allocates for (container, "net1") on `network` from the NAD's pool as `node`, as another ADD
  // would have.
  std::string allocate_as(const std::string& node, const std::string& cid,
                          const std::string& network = "mv1") const {
    json conf = {{"cniVersion", "1.0.0"},
                 {"name", network},
                 {"type", "macvlan"},
                 {"ipam",
                  {{"type", "cnimux-ipam"},
                   {"pool", "underlay"},
                   {"ranges", {{{{"subnet", "10.233.0.0/24"}}}}},
                   {"store", store_json(node)}}}};
    ipam::IpamConfig cfg = ipam::parse_ipam_config(conf);
    auto s = store(node);
    return ipam::Allocator(*s).allocate(cfg, {network, cid, "net1", ""}).at(0).address.str();
  }

  E2eNode node_{"ed"};
  TestNetns pod_{"ed1"};
  std::unique_ptr<ipam_test::EtcdServer> etcd_;
  std::string prefix_;
  int block_size_ = 0;
};

TEST_F(EtcdIpamE2e, PodOnAnEtcdNadIsAttachedAndDetached) {
  const json meta = node_.meta_config();
  auto add = node_.run("ADD", "c1", pod_.path(), meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(E2eNode::addresses_in(pod_, "net1"), std::vector<std::string>{"10.233.0.2/24"});
  EXPECT_EQ(in_etcd(), std::set<std::string>{"mv1:c1 net1 10.233.0.2 node-a"});
  auto check = node_.run("CHECK", "c1", pod_.path(), meta);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;

  auto del = node_.run("DEL", "c1", pod_.path(), meta);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(E2eNode::links_in(pod_).empty());
  EXPECT_EQ(in_etcd(), std::set<std::string>{});
  EXPECT_EQ(store("reader")->verify(), std::vector<std::string>{});
}

// Stray allocations of this node (pods gone without a DEL) are freed by GC: one on the NAD's
// network (the GC forwarded to cnimux-ipam reaches it), and one on a network no config names
// any more (only the meta plugin's sweep of every store, which opens the etcd store the NAD
// names, reaches it). Another node's allocation in the same pool, and the live pod's, stay.
TEST_F(EtcdIpamE2e, GcFreesStrayAllocationsOfThisNodeOnly) {
  const json meta = node_.meta_config({{"cniVersion", "1.1.0"}});
  auto add = node_.run("ADD", "c1", pod_.path(), meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  const std::string live = "mv1:c1 net1 10.233.0.2 node-a";
  const std::string stray = "mv1:gone net1 " + allocate_as("node-a", "gone") + " node-a";
  const std::string retired =
      "retired:gone2 net1 " + allocate_as("node-a", "gone2", "retired") + " node-a";
  const std::string other = "mv1:elsewhere net1 " + allocate_as("node-b", "elsewhere") + " node-b";
  ASSERT_EQ(in_etcd(), (std::set<std::string>{live, stray, retired, other}));

  json gc_meta = meta;
  gc_meta["cni.dev/valid-attachments"] = {{{"containerID", "c1"}, {"ifname", "eth0"}}};
  auto gc = node_.run_node_verb("GC", gc_meta);
  ASSERT_EQ(gc.exit_code, 0) << gc.out << gc.err;
  EXPECT_EQ(in_etcd(), (std::set<std::string>{live, other}));
  EXPECT_EQ(E2eNode::addresses_in(pod_, "net1"), std::vector<std::string>{"10.233.0.2/24"});

  auto del = node_.run("DEL", "c1", pod_.path(), meta);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_EQ(in_etcd(), std::set<std::string>{other});
}

// The NAD's store with per-node blocks of 4: the pod's ADD (through cnimux and the plugin
// binaries) claims the block of its address for this node, another node allocates in a block
// of its own, the node-wide GC frees this node's strays and hands back the block they left
// empty, and DEL keeps the node's last block.
TEST_F(EtcdIpamE2e, PerNodeBlocksAreClaimedByAddAndHandedBackByGc) {
  block_size_ = 4;
  json mv = node_.macvlan_config("10.233.0.0/24");
  mv["ipam"]["store"] = store_json("node-a");
  mv["ipam"]["pool"] = "underlay";
  node_.write_nad("default", "mv1", mv);
  const json meta = node_.meta_config({{"cniVersion", "1.1.0"}});
  auto add = node_.run("ADD", "c1", pod_.path(), meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(E2eNode::addresses_in(pod_, "net1"), std::vector<std::string>{"10.233.0.2/24"});
  EXPECT_EQ(blocks(), std::set<std::string>{"10.233.0.0 node-a"});
  const std::string other = "mv1:elsewhere net1 " + allocate_as("node-b", "elsewhere") + " node-b";
  EXPECT_EQ(other, "mv1:elsewhere net1 10.233.0.4 node-b");  // block .0 is node-a's
  EXPECT_EQ(allocate_as("node-a", "gone1"), "10.233.0.3");
  EXPECT_EQ(allocate_as("node-a", "gone2"), "10.233.0.8");  // a second block for node-a
  ASSERT_EQ(blocks(),
            (std::set<std::string>{"10.233.0.0 node-a", "10.233.0.4 node-b", "10.233.0.8 node-a"}));

  json gc_meta = meta;
  gc_meta["cni.dev/valid-attachments"] = {{{"containerID", "c1"}, {"ifname", "eth0"}}};
  auto gc = node_.run_node_verb("GC", gc_meta);
  ASSERT_EQ(gc.exit_code, 0) << gc.out << gc.err;
  EXPECT_EQ(in_etcd(), (std::set<std::string>{"mv1:c1 net1 10.233.0.2 node-a", other}));
  EXPECT_EQ(blocks(), (std::set<std::string>{"10.233.0.0 node-a", "10.233.0.4 node-b"}));

  auto del = node_.run("DEL", "c1", pod_.path(), meta);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_EQ(in_etcd(), std::set<std::string>{other});
  EXPECT_EQ(blocks(), (std::set<std::string>{"10.233.0.0 node-a", "10.233.0.4 node-b"}));
  EXPECT_EQ(store("reader")->verify(), std::vector<std::string>{});
}

}  // namespace
}  // namespace cnimux_test

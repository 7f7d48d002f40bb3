// Per-node blocks of the etcd store (store.blockSize), beyond the conformance suite (which
// runs every case on an etcd store with blocks of 4 too): a node claims an aligned block with
// its first allocation and keeps allocating in it; an empty block goes back to the pool but
// a node's last one stays; two nodes and two clusters allocate in their own blocks; when
// every block is claimed a node borrows free addresses from others' blocks; and the GC of a
// node that is gone frees its addresses and hands back its blocks. Real etcd.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "cni/error.h"
#include "etcd_server.h"
#include "ipam/allocator.h"
#include "ipam/etcd_client.h"
#include "ipam/etcd_store.h"
#include "ipam_test_util.h"

namespace ipam {
namespace {

using nlohmann::json;
using V = std::vector<std::string>;

ipam_test::EtcdServer& shared_etcd() {
  static ipam_test::EtcdServer server;
  return server;
}

class EtcdBlocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ipam_test::EtcdServer::available()) {
      GTEST_SKIP() << "etcd is not installed (Debian etcd-server; scripts/install-deps.sh)";
    }
    static std::atomic<int> n{0};
    prefix_ = "/cxb" + std::to_string(::getpid()) + "-" + std::to_string(n++);
  }
  void TearDown() override {
    if (!prefix_.empty() && ipam_test::EtcdServer::available()) {
      EXPECT_EQ(EtcdStore(at("check", "check")).verify(), V{});
    }
  }

  EtcdStoreConfig at(const std::string& cluster, const std::string& node, int block_size = 4) {
    EtcdStoreConfig c;
    c.endpoints = {shared_etcd().endpoint()};
    c.prefix = prefix_;
    c.cluster = cluster;
    c.node = node;
    c.timeout_ms = 30000;
    c.block_size = block_size;
    return c;
  }
  IpamConfig config(const std::string& subnet) {
    json j = ipam_test::netconf("net1", {{{{"subnet", subnet}}}}, "/nonexistent/ipam.db");
    j["ipam"]["pool"] = "shared";
    return parse_ipam_config(j);
  }
  std::string add(EtcdStore& s, const IpamConfig& cfg, const std::string& cid) {
    return Allocator(s).allocate(cfg, {cfg.network, cid, "eth0", ""}).at(0).address.str();
  }
  size_t del(EtcdStore& s, const std::string& cid) {
    return Allocator(s).release("net1", cid, "eth0");
  }

  // The pool's block claims as "first-address cluster/node", ascending, read from etcd.
  V blocks() {
    EtcdClient client(at("x", "x"));
    std::string dir = prefix_ + "/pool/shared/block/";
    std::string end = dir;
    end.back() = '0';  // '/' + 1
    auto resp = client.call("/v3/kv/range",
                            {{"key", base64_encode(dir)}, {"range_end", base64_encode(end)}},
                            std::chrono::steady_clock::now() + std::chrono::seconds(10));
    V out;
    for (const auto& kv : resp.value("kvs", json::array())) {
      auto rec = json::parse(base64_decode(kv.value("value", "")));
      out.push_back(rec["first"].get<std::string>() + " " + rec["cluster"].get<std::string>() +
                    "/" + rec["node"].get<std::string>());
    }
    return out;
  }
  // Who holds each address: "address cluster/node".
  V holders() {
    V out;
    for (const auto& a : EtcdStore(at("x", "x")).list_all()) {
      out.push_back(a.address.str() + " " + a.cluster + "/" + a.node);
    }
    return out;
  }

  std::string prefix_;
};

TEST_F(EtcdBlocksTest, FirstAllocationClaimsAnAlignedBlockAndTheNextFillIt) {
  EtcdStore a(at("east", "node-a"));
  auto cfg = config("10.8.0.0/24");
  EXPECT_TRUE(blocks().empty());
  EXPECT_EQ(add(a, cfg, "c1"), "10.8.0.2");  // .0 is the network, .1 the gateway
  EXPECT_EQ(blocks(), V{"10.8.0.0 east/node-a"});
  EXPECT_EQ(add(a, cfg, "c2"), "10.8.0.3");
  EXPECT_EQ(blocks(), V{"10.8.0.0 east/node-a"});  // no claim while the block has room
  EXPECT_EQ(add(a, cfg, "c3"), "10.8.0.4");        // full: the next block
  EXPECT_EQ(blocks(), (V{"10.8.0.0 east/node-a", "10.8.0.4 east/node-a"}));
  EXPECT_EQ(add(a, cfg, "c1"), "10.8.0.2");  // idempotent: no new claim
  EXPECT_EQ(blocks().size(), 2u);
}

TEST_F(EtcdBlocksTest, ANodeThatLostAClaimRaceLooksForItsNextBlockElsewhere) {
  EtcdStore a(at("east", "node-a"));
  EtcdStore b(at("east", "node-b"));
  auto cfg = config("10.8.0.0/16");
  // node-b claims block .0.0 between node-a's reads and its commit, as when two nodes start
  // at once: both tried the first free block.
  struct Interfering : Store {
    Store& inner;
    std::function<void()> meddle;
    int runs = 0;
    Interfering(Store& s, std::function<void()> m) : inner(s), meddle(std::move(m)) {}
    void transact(const std::function<void(StoreTxn&)>& fn) override {
      inner.transact([&](StoreTxn& t) {
        fn(t);
        if (++runs == 1) meddle();
      });
    }
    std::vector<Allocation> list_all() override { return inner.list_all(); }
    void probe() override {}
    std::string describe() const override { return inner.describe(); }
    std::vector<std::string> verify() override { return inner.verify(); }
  };
  Interfering racing(a, [&] { EXPECT_EQ(add(b, cfg, "b1"), "10.8.0.2"); });
  auto got = Allocator(racing).allocate(cfg, {"net1", "a1", "eth0", ""}).at(0).address;
  EXPECT_EQ(racing.runs, 2);
  // Not the next block in order (10.8.0.4), which every other loser would race for too,
  // but one from a point of the pool that node-a's name decides.
  EXPECT_NE(got.str(), "10.8.0.4");
  auto claims = blocks();
  ASSERT_EQ(claims.size(), 2u);
  EXPECT_EQ(claims[0], "10.8.0.0 east/node-b");
  EXPECT_NE(claims[1].find(" east/node-a"), std::string::npos) << claims[1];
  EXPECT_EQ(add(a, cfg, "a2"), got.next().str());  // node-a continues in its block
}

TEST_F(EtcdBlocksTest, EmptyBlockIsHandedBackButANodesLastBlockIsKept) {
  EtcdStore a(at("east", "node-a"));
  auto cfg = config("10.8.0.0/24");
  add(a, cfg, "c1");  // .2, block .0
  add(a, cfg, "c2");  // .3
  add(a, cfg, "c3");  // .4, block .4
  del(a, "c1");
  EXPECT_EQ(blocks().size(), 2u);  // .3 still held in block .0
  del(a, "c2");
  EXPECT_EQ(blocks(), V{"10.8.0.4 east/node-a"});  // block .0 empty: back to the pool
  del(a, "c3");
  EXPECT_EQ(blocks(), V{"10.8.0.4 east/node-a"});  // the node's last block: kept
  EXPECT_EQ(add(a, cfg, "c4"), "10.8.0.5");        // round robin goes on in it
  del(a, "c4");
  // The node-wide GC hands back every empty block, the last one too.
  EXPECT_TRUE(Allocator(a).gc_store({}).empty());
  EXPECT_TRUE(blocks().empty());
}

TEST_F(EtcdBlocksTest, TwoNodesAllocateInTheirOwnBlocks) {
  EtcdStore a(at("east", "node-a"));
  EtcdStore b(at("east", "node-b"));
  auto cfg = config("10.8.0.0/24");
  EXPECT_EQ(add(a, cfg, "c1"), "10.8.0.2");
  EXPECT_EQ(add(b, cfg, "c1"), "10.8.0.4");  // block .0 is node-a's
  EXPECT_EQ(add(a, cfg, "c2"), "10.8.0.3");  // node-a's block still had room
  EXPECT_EQ(add(a, cfg, "c3"), "10.8.0.8");  // full: the next block nobody holds
  EXPECT_EQ(add(b, cfg, "c2"), "10.8.0.5");
  EXPECT_EQ(blocks(), (V{"10.8.0.0 east/node-a", "10.8.0.4 east/node-b", "10.8.0.8 east/node-a"}));
  EXPECT_EQ(holders(), (V{"10.8.0.2 east/node-a", "10.8.0.3 east/node-a", "10.8.0.4 east/node-b",
                          "10.8.0.5 east/node-b", "10.8.0.8 east/node-a"}));
  // Each node releases only its own: node-b's DEL of node-a's container IDs frees nothing.
  EXPECT_EQ(del(b, "c3"), 0u);
  EXPECT_EQ(Allocator(b).gc_store({}), (std::map<std::string, size_t>{{"net1", 2}}));
  EXPECT_EQ(blocks(), (V{"10.8.0.0 east/node-a", "10.8.0.8 east/node-a"}));
  EXPECT_EQ(holders().size(), 3u);
}

TEST_F(EtcdBlocksTest, TwoClustersWithOneNodeNameHoldDistinctBlocks) {
  EtcdStore east(at("east", "node-a"));
  EtcdStore west(at("west", "node-a"));
  auto cfg = config("10.8.0.0/24");
  EXPECT_EQ(add(east, cfg, "c1"), "10.8.0.2");
  EXPECT_EQ(add(west, cfg, "c1"), "10.8.0.4");  // same node name, network and container ID
  EXPECT_EQ(add(east, cfg, "c2"), "10.8.0.3");
  EXPECT_EQ(add(west, cfg, "c2"), "10.8.0.5");
  EXPECT_EQ(blocks(), (V{"10.8.0.0 east/node-a", "10.8.0.4 west/node-a"}));
  // GC in one cluster frees none of the other's addresses and hands back none of its blocks.
  EXPECT_EQ(Allocator(west).gc_store({}), (std::map<std::string, size_t>{{"net1", 2}}));
  EXPECT_EQ(blocks(), V{"10.8.0.0 east/node-a"});
  EXPECT_EQ(holders(), (V{"10.8.0.2 east/node-a", "10.8.0.3 east/node-a"}));
}

TEST_F(EtcdBlocksTest, WhenEveryBlockIsClaimedANodeBorrowsFreeAddressesThenExhausts) {
  EtcdStore a(at("east", "node-a"));
  EtcdStore b(at("east", "node-b"));
  EtcdStore c(at("west", "node-c"));
  auto cfg = config("10.8.0.0/29");  // .2 .3 in block .0; .4 .5 .6 in block .4
  EXPECT_EQ(add(a, cfg, "c1"), "10.8.0.2");
  EXPECT_EQ(add(b, cfg, "c1"), "10.8.0.4");
  EXPECT_EQ(add(c, cfg, "c1"), "10.8.0.3");  // no block left: borrowed from node-a's
  EXPECT_EQ(add(c, cfg, "c2"), "10.8.0.5");  // round robin goes on, in node-b's block
  EXPECT_EQ(blocks(), (V{"10.8.0.0 east/node-a", "10.8.0.4 east/node-b"}));
  EXPECT_EQ(add(a, cfg, "c2"), "10.8.0.6");  // node-a's block is full: it borrows too
  try {
    add(b, cfg, "c2");
    ADD_FAILURE() << "a sixth address from a pool of five";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kIpamExhausted) << e.msg();
    EXPECT_NE(e.msg().find("pool \"shared\" is exhausted: all 5 addresses"), std::string::npos)
        << e.msg();
  }
  // Releasing a borrowed address leaves the lender's block alone.
  EXPECT_EQ(del(c, "c1"), 1u);
  EXPECT_EQ(blocks(), (V{"10.8.0.0 east/node-a", "10.8.0.4 east/node-b"}));
  EXPECT_EQ(del(a, "c1"), 1u);
  EXPECT_EQ(add(b, cfg, "c2"), "10.8.0.2");  // node-b borrows the freed .2
  EXPECT_EQ(blocks(), (V{"10.8.0.0 east/node-a", "10.8.0.4 east/node-b"}));
}

TEST_F(EtcdBlocksTest, GcRunAsANodeThatIsGoneFreesItsAddressesAndHandsBackItsBlocks) {
  auto cfg = config("10.8.0.0/24");
  {
    EtcdStore gone(at("east", "node-gone"));
    add(gone, cfg, "c1");
    add(gone, cfg, "c2");
    add(gone, cfg, "c3");  // two blocks
  }
  EtcdStore b(at("east", "node-b"));
  EXPECT_EQ(add(b, cfg, "c1"), "10.8.0.8");
  ASSERT_EQ(blocks().size(), 3u);
  // The CNI GC verb of the network, run with the gone node's name and no valid attachment
  // (docs/ipam.md, "Per-node blocks"): its addresses and blocks go, node-b's stay.
  EtcdStore as_gone(at("east", "node-gone"));
  EXPECT_EQ(Allocator(as_gone).gc("net1", {}), 3u);
  EXPECT_EQ(blocks(), V{"10.8.0.8 east/node-b"});
  EXPECT_EQ(holders(), V{"10.8.0.8 east/node-b"});
  EXPECT_EQ(add(b, cfg, "c2"), "10.8.0.9");
}

TEST_F(EtcdBlocksTest, DualStackClaimsOneBlockPerFamily) {
  EtcdStore a(at("east", "node-a"));
  json j =
      ipam_test::netconf("net1", {{{{"subnet", "10.8.0.0/24"}}}, {{{"subnet", "fd00:8::/64"}}}},
                         "/nonexistent/ipam.db");
  j["ipam"]["pool"] = "shared";
  auto cfg = parse_ipam_config(j);
  auto got = Allocator(a).allocate(cfg, {"net1", "c1", "eth0", ""});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].address.str(), "10.8.0.2");
  EXPECT_EQ(got[1].address.str(), "fd00:8::2");
  EXPECT_EQ(blocks(), (V{"10.8.0.0 east/node-a", "fd00:8:: east/node-a"}));
  Allocator(a).release("net1", "c1", "eth0");
  EXPECT_EQ(blocks().size(), 2u);  // each the node's last of its family: kept
}

}  // namespace
}  // namespace ipam

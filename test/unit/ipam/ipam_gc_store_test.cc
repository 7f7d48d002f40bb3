// The node-wide GC the meta plugin runs over a whole store: the networks a store holds
// allocations in, and freeing everything not bound to a live (network, container, ifname),
// in networks no config names any more and in shared pools, with gc()'s sticky rule.
#include <gtest/gtest.h>

#include <algorithm>

#include "ipam/allocator.h"
#include "ipam/store.h"
#include "ipam_test_util.h"

namespace ipam {
namespace {

using nlohmann::json;
using V = std::vector<std::string>;

class GcStoreTest : public ::testing::Test {
 protected:
  IpamConfig config(const std::string& network, const std::string& subnet,
                    json extra = json::object()) {
    json j = ipam_test::netconf(network, {{{{"subnet", subnet}}}}, dir_.file("ipam.db"));
    j["ipam"].update(extra);
    return parse_ipam_config(j);
  }
  Store& store() {
    if (!store_) store_ = open_store(config("any", "10.0.0.0/24").store);
    return *store_;
  }
  void add(const IpamConfig& cfg, const std::string& cid, const std::string& ifname,
           const std::string& pod = "") {
    Allocator(store()).allocate(cfg, {cfg.network, cid, ifname, pod});
  }
  // Every stored allocation as "network container ifname", sorted.
  V left() {
    V out;
    for (const auto& a : store().list_all()) {
      out.push_back(a.owner.network + " " + a.owner.container_id + " " + a.owner.ifname);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  ipam_test::TempDir dir_;
  std::shared_ptr<Store> store_;
};

TEST_F(GcStoreTest, NetworksListsEveryNetworkHoldingAnAllocation) {
  EXPECT_TRUE(Allocator(store()).networks().empty());
  add(config("net-b", "10.2.0.0/24"), "c1", "net1");
  add(config("net-a", "10.1.0.0/24"), "c1", "eth0");
  add(config("net-a", "10.1.0.0/24"), "c2", "eth0");
  // Two networks sharing one pool are two networks.
  add(config("net-c", "10.3.0.0/24", {{"pool", "shared"}}), "c1", "net2");
  add(config("net-d", "10.3.0.0/24", {{"pool", "shared"}}), "c2", "net2");
  Allocator alloc(store());
  EXPECT_EQ(alloc.networks(), (V{"net-a", "net-b", "net-c", "net-d"}));
  alloc.release("net-b", "c1", "net1");
  EXPECT_EQ(alloc.networks(), (V{"net-a", "net-c", "net-d"}));
}

TEST_F(GcStoreTest, FreesEveryAllocationNotBoundToALiveAttachment) {
  auto cluster = config("cluster", "10.1.0.0/24");
  auto nad = config("ns1-storage", "10.2.0.0/24");  // a NAD network no config names any more
  add(cluster, "c1", "eth0");
  add(cluster, "c2", "eth0");
  add(nad, "c1", "net1");
  add(nad, "c3", "net1");
  add(nad, "c1", "net2");  // same container, an interface that is not live
  LiveAttachments live = {{"cluster", "c1", "eth0"},
                          {"ns1-storage", "c1", "net1"},
                          {"ns1-storage", "c2", "eth0"},  // c2 is live only on another network
                          {"gone", "c9", "eth0"}};        // listed, holds nothing: fine
  auto freed = Allocator(store()).gc_store(live);
  EXPECT_EQ(freed, (std::map<std::string, size_t>{{"cluster", 1}, {"ns1-storage", 2}}));
  EXPECT_EQ(left(), (V{"cluster c1 eth0", "ns1-storage c1 net1"}));
  // Nothing left to free: a second run frees nothing.
  EXPECT_TRUE(Allocator(store()).gc_store(live).empty());
}

TEST_F(GcStoreTest, StickyAllocationsAreKeptOnlyWhileBoundToALiveAttachment) {
  auto sticky = config("db", "10.4.0.0/24", {{"sticky", true}});
  add(sticky, "c1", "net1", "ns/db-0");
  add(sticky, "c2", "net1", "ns/db-1");
  add(sticky, "c3", "net1", "ns/db-2");
  Allocator alloc(store());
  alloc.release("db", "c2", "net1");  // stopped StatefulSet pod: unbound, still reserved
  ASSERT_EQ(left().size(), 3u);
  auto freed = alloc.gc_store({{"db", "c1", "net1"}});
  EXPECT_EQ(freed, (std::map<std::string, size_t>{{"db", 2}}));  // unbound db-1, dead db-2
  EXPECT_EQ(left(), (V{"db c1 net1"}));
}

TEST_F(GcStoreTest, NetworksSharingAPoolAreCollectedPerNetwork) {
  auto a = config("net-a", "10.5.0.0/24", {{"pool", "shared"}});
  auto b = config("net-b", "10.5.0.0/24", {{"pool", "shared"}});
  add(a, "c1", "net1");
  add(b, "c1", "net2");
  auto freed = Allocator(store()).gc_store({{"net-a", "c1", "net1"}});
  EXPECT_EQ(freed, (std::map<std::string, size_t>{{"net-b", 1}}));
  EXPECT_EQ(left(), (V{"net-a c1 net1"}));
}

}  // namespace
}  // namespace ipam

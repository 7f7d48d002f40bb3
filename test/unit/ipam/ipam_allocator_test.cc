// ipam::Allocator over a real SQLite store: idempotent ADD, round robin, exhaustion,
// requested addresses, sticky identities, release and GC.
#include <gtest/gtest.h>

#include "cni/error.h"
#include "ipam/allocator.h"
#include "ipam/sqlite_store.h"
#include "ipam_test_util.h"

namespace ipam {
namespace {

using nlohmann::json;

class AllocatorTest : public ::testing::Test {
 protected:
  IpamConfig config(json ranges, json extra = json::object()) {
    json j = ipam_test::netconf("net1", ranges, dir_.file("ipam.db"));
    j["ipam"].update(extra);
    return parse_ipam_config(j);
  }
  SqliteStore& store(const IpamConfig& cfg) {
    if (!store_) store_ = std::make_unique<SqliteStore>(cfg.store);
    return *store_;
  }
  std::vector<std::string> add(const IpamConfig& cfg, const std::string& cid,
                               const std::string& ifname = "eth0", const std::string& pod = "") {
    std::vector<std::string> out;
    for (const auto& a : Allocator(store(cfg)).allocate(cfg, {cfg.network, cid, ifname, pod})) {
      out.push_back(a.cidr());
    }
    return out;
  }
  // The cni::Error an allocation throws.
  cni::Error add_error(const IpamConfig& cfg, const std::string& cid) {
    try {
      add(cfg, cid);
    } catch (const cni::Error& e) {
      return e;
    }
    return cni::Error(0, "no error");
  }

  ipam_test::TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

using V = std::vector<std::string>;

TEST_F(AllocatorTest, AddIsIdempotentPerContainerAndIfname) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}});
  EXPECT_EQ(add(cfg, "c1"), V{"10.1.0.2/24"});
  EXPECT_EQ(add(cfg, "c1"), V{"10.1.0.2/24"});
  EXPECT_EQ(add(cfg, "c1", "net1"), V{"10.1.0.3/24"});
  EXPECT_EQ(add(cfg, "c2"), V{"10.1.0.4/24"});
  EXPECT_EQ(store(cfg).list_all().size(), 3u);
}

TEST_F(AllocatorTest, DualStackYieldsOneAddressPerRangeSet) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}, {{{"subnet", "fd00:1::/64"}}}});
  EXPECT_EQ(add(cfg, "c1"), (V{"10.1.0.2/24", "fd00:1::2/64"}));
  auto r = make_result(cfg, Allocator(store(cfg)).find("net1", "c1", "eth0"));
  ASSERT_EQ(r.ips.size(), 2u);
  EXPECT_EQ(r.ips[0].gateway, "10.1.0.1");
  EXPECT_EQ(r.ips[1].gateway, "fd00:1::1");
  EXPECT_TRUE(r.interfaces.empty());
}

TEST_F(AllocatorTest, RoundRobinDoesNotReuseAJustFreedAddress) {
  auto cfg = config({{{{"subnet", "10.1.0.0/29"}}}});  // .2 .. .6
  EXPECT_EQ(add(cfg, "c1"), V{"10.1.0.2/29"});
  EXPECT_EQ(add(cfg, "c2"), V{"10.1.0.3/29"});
  Allocator(store(cfg)).release("net1", "c2", "eth0");
  EXPECT_EQ(add(cfg, "c3"), V{"10.1.0.4/29"});
  EXPECT_EQ(add(cfg, "c4"), V{"10.1.0.5/29"});
  EXPECT_EQ(add(cfg, "c5"), V{"10.1.0.6/29"});
  EXPECT_EQ(add(cfg, "c6"), V{"10.1.0.3/29"});  // wrapped: the first free one
}

TEST_F(AllocatorTest, ExhaustionNamesThePoolAndItsSize) {
  auto cfg = config({{{{"subnet", "10.1.0.0/29"}}}}, {{"pool", "small"}});
  for (int i = 0; i < 5; ++i) add(cfg, "c" + std::to_string(i));
  cni::Error e = add_error(cfg, "c5");
  EXPECT_EQ(e.code(), cni::kIpamExhausted);
  EXPECT_NE(e.msg().find("pool \"small\""), std::string::npos) << e.msg();
  EXPECT_NE(e.msg().find("all 5 addresses"), std::string::npos) << e.msg();
  // A failed ADD leaves nothing behind, and a released address is reusable.
  EXPECT_EQ(store(cfg).list_all().size(), 5u);
  Allocator(store(cfg)).release("net1", "c2", "eth0");
  EXPECT_EQ(add(cfg, "c5"), V{"10.1.0.4/29"});
}

TEST_F(AllocatorTest, DualStackExhaustionOfOneFamilyAllocatesNeither) {
  auto cfg = config({{{{"subnet", "10.1.0.0/30"}}}, {{{"subnet", "fd00:1::/64"}}}});
  add(cfg, "c1");
  EXPECT_EQ(add_error(cfg, "c2").code(), cni::kIpamExhausted);
  EXPECT_EQ(store(cfg).list_all().size(), 2u);  // c1's two; nothing of c2
}

TEST_F(AllocatorTest, RequestedAddressMustBeInARangeAndFree) {
  auto base = config({{{{"subnet", "10.1.0.0/24"}}}}, {{"exclude", {"10.1.0.128/25"}}});
  auto with_request = [&](const char* ip) {
    IpamConfig c = base;
    c.requested = {*Address::parse(ip)};
    return c;
  };
  EXPECT_EQ(add(with_request("10.1.0.50"), "c1"), V{"10.1.0.50/24"});
  // Taken by c1.
  cni::Error taken = add_error(with_request("10.1.0.50"), "c2");
  EXPECT_EQ(taken.code(), cni::kIpamAddressTaken);
  EXPECT_NE(taken.msg().find("held by container c1"), std::string::npos) << taken.msg();
  // Not in any range.
  cni::Error outside = add_error(with_request("10.2.0.5"), "c2");
  EXPECT_EQ(outside.code(), cni::kInvalidConfig);
  EXPECT_NE(outside.msg().find("10.2.0.5 is not in any range"), std::string::npos);
  // Reserved.
  EXPECT_NE(add_error(with_request("10.1.0.1"), "c2").msg().find("is a gateway"),
            std::string::npos);
  EXPECT_NE(add_error(with_request("10.1.0.200"), "c2").msg().find("excluded"), std::string::npos);
  // The same owner asking again for the address it holds is idempotent; asking for another
  // is an error rather than a second allocation.
  EXPECT_EQ(add(with_request("10.1.0.50"), "c1"), V{"10.1.0.50/24"});
  EXPECT_EQ(add_error(with_request("10.1.0.51"), "c1").code(), cni::kInvalidConfig);
  EXPECT_EQ(store(base).list_all().size(), 1u);
}

TEST_F(AllocatorTest, RequestedAddressesPickTheirRangeSets) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}, {{{"subnet", "fd00:1::/64"}}}});
  cfg.requested = {*Address::parse("fd00:1::77")};
  EXPECT_EQ(add(cfg, "c1"), (V{"10.1.0.2/24", "fd00:1::77/64"}));
  cfg.requested = {*Address::parse("10.1.0.7"), *Address::parse("10.1.0.8")};
  EXPECT_EQ(add_error(cfg, "c2").code(), cni::kInvalidConfig);
}

TEST_F(AllocatorTest, StickyAddressFollowsThePodAcrossContainers) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}}, {{"sticky", true}});
  Allocator alloc(store(cfg));
  EXPECT_EQ(add(cfg, "c1", "eth0", "ns/web-0"), V{"10.1.0.2/24"});
  EXPECT_EQ(add(cfg, "c2", "eth0", "ns/web-1"), V{"10.1.0.3/24"});
  // DEL keeps the address reserved for ns/web-0 ...
  EXPECT_EQ(alloc.release("net1", "c1", "eth0"), 1u);
  EXPECT_TRUE(alloc.find("net1", "c1", "eth0").empty());
  EXPECT_EQ(add(cfg, "c3"), V{"10.1.0.4/24"});  // no pod: round robin, .2 stays reserved
  // ... and the recreated pod gets it back under its new container ID.
  EXPECT_EQ(add(cfg, "c9", "eth0", "ns/web-0"), V{"10.1.0.2/24"});
  ASSERT_EQ(alloc.find("net1", "c9", "eth0").size(), 1u);
  EXPECT_EQ(alloc.find("net1", "c9", "eth0")[0].owner.pod_ref, "ns/web-0");
  // Another interface of the same pod is a different binding.
  EXPECT_EQ(add(cfg, "c9", "net1", "ns/web-0"), V{"10.1.0.5/24"});
}

TEST_F(AllocatorTest, GcFreesUnlistedAllocationsIncludingUnboundStickyOnes) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}});
  auto sticky = cfg;
  sticky.sticky = true;
  add(cfg, "c1");
  add(cfg, "c2");
  add(sticky, "c3", "eth0", "ns/db-0");
  add(sticky, "c4", "eth0", "ns/db-1");
  Allocator alloc(store(cfg));
  alloc.release("net1", "c4", "eth0");  // unbound, still reserved
  // Another network's allocations are not this GC's business.
  auto other = cfg;
  other.network = "net2";
  other.pool = "net2";
  add(other, "x1");
  EXPECT_EQ(alloc.gc("net1", {{"c1", "eth0"}, {"c3", "eth0"}}), 2u);  // c2 and unbound db-1
  V left;
  for (const auto& a : store(cfg).list_all()) left.push_back(a.owner.container_id);
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (V{"c1", "c3", "x1"}));
}

TEST_F(AllocatorTest, GcFreesBoundStickyAllocationOfAnUnlistedContainer) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}}, {{"sticky", true}});
  add(cfg, "c1", "eth0", "ns/a-0");
  EXPECT_EQ(Allocator(store(cfg)).gc("net1", {}), 1u);
  EXPECT_TRUE(store(cfg).list_all().empty());
}

TEST_F(AllocatorTest, ExplicitReleaseOfAPodIdentity) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}}, {{"sticky", true}});
  add(cfg, "c1", "eth0", "ns/a-0");
  add(cfg, "c1", "net1", "ns/a-0");
  add(cfg, "c2", "eth0", "ns/a-1");
  Allocator alloc(store(cfg));
  EXPECT_EQ(alloc.release_pod("net1", "ns/a-0", "net1"), 1u);
  EXPECT_EQ(alloc.release_pod("net1", "ns/a-0"), 1u);
  EXPECT_EQ(alloc.release_pod("net1", "ns/a-0"), 0u);
  EXPECT_EQ(store(cfg).list_all().size(), 1u);
}

TEST_F(AllocatorTest, ReleaseOfUnknownOwnerAndTwiceSucceeds) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}});
  Allocator alloc(store(cfg));
  EXPECT_EQ(alloc.release("net1", "nobody", "eth0"), 0u);
  add(cfg, "c1");
  EXPECT_EQ(alloc.release("net1", "c1", "eth0"), 1u);
  EXPECT_EQ(alloc.release("net1", "c1", "eth0"), 0u);
}

TEST_F(AllocatorTest, SharedPoolNeverHandsOutAnAddressTwice) {
  auto a = config({{{{"subnet", "10.1.0.0/29"}}}}, {{"pool", "shared"}});
  auto b = a;
  b.network = "net2";
  EXPECT_EQ(add(a, "c1"), V{"10.1.0.2/29"});
  EXPECT_EQ(add(b, "c1"), V{"10.1.0.3/29"});  // same container ID, other network
  EXPECT_EQ(Allocator(store(a)).find("net2", "c1", "eth0").size(), 1u);
}

TEST_F(AllocatorTest, Ipv6Slash64AllocatesAcrossThe64BitBoundary) {
  auto cfg = config({{{{"subnet", "fd00::/56"}, {"rangeStart", "fd00::ffff:ffff:ffff:ffff"}}}});
  EXPECT_EQ(add(cfg, "c1"), V{"fd00::ffff:ffff:ffff:ffff/56"});
  EXPECT_EQ(add(cfg, "c2"), V{"fd00:0:0:1::/56"});
  EXPECT_EQ(add(cfg, "c3"), V{"fd00:0:0:1::1/56"});
}

TEST_F(AllocatorTest, AllocateManyIsOneAllOrNothingTransaction) {
  auto cfg = config({{{{"subnet", "10.1.0.0/29"}}}});
  Allocator alloc(store(cfg));
  std::vector<Owner> owners;
  for (int i = 0; i < 6; ++i) owners.push_back({"net1", "c" + std::to_string(i), "eth0", ""});
  EXPECT_THROW(alloc.allocate_many(cfg, owners), cni::Error);  // 6 > 5
  EXPECT_TRUE(store(cfg).list_all().empty());
  owners.pop_back();
  EXPECT_EQ(alloc.allocate_many(cfg, owners).size(), 5u);
  EXPECT_EQ(store(cfg).list_all().size(), 5u);
}

TEST_F(AllocatorTest, EmptyOwnerIsRefused) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}});
  EXPECT_THROW(add(cfg, ""), cni::Error);
  EXPECT_THROW(add(cfg, "c1", ""), cni::Error);
}

}  // namespace
}  // namespace ipam

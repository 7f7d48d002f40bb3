// A retried ADD checks what the owner holds against the current config: an address that no
// longer fits (range or subnet changed, now excluded or a gateway, pool renamed, range set
// gone) is released and a fresh one allocated; one that fits is returned with the current
// prefix and gateway, whatever the stored record says.
#include <gtest/gtest.h>

#include <algorithm>

#include "cni/error.h"
#include "ipam/allocator.h"
#include "ipam/sqlite_store.h"
#include "ipam_test_util.h"

namespace ipam {
namespace {

using nlohmann::json;
using V = std::vector<std::string>;

class RetryTest : public ::testing::Test {
 protected:
  IpamConfig config(json ranges, json extra = json::object()) {
    json j = ipam_test::netconf("net1", ranges, dir_.file("ipam.db"));
    j["ipam"].update(extra);
    return parse_ipam_config(j);
  }
  SqliteStore& store() {
    if (!store_) {
      StoreConfig sc;
      sc.path = dir_.file("ipam.db");
      store_ = std::make_unique<SqliteStore>(sc);
    }
    return *store_;
  }
  V add(const IpamConfig& cfg, const std::string& cid, const std::string& pod = "") {
    V out;
    for (const auto& a : Allocator(store()).allocate(cfg, {cfg.network, cid, "eth0", pod})) {
      out.push_back(a.cidr() + (a.gateway ? " via " + a.gateway->str() : ""));
    }
    return out;
  }
  // Every stored allocation as "pool address/prefix container".
  V stored() {
    V out;
    for (const auto& a : store().list_all()) {
      out.push_back(a.pool + " " + a.cidr() + " " + a.owner.container_id);
    }
    return out;
  }

  ipam_test::TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(RetryTest, SubnetChangedReleasesTheOldAddressAndAllocatesInTheNewOne) {
  EXPECT_EQ(add(config({{{{"subnet", "10.1.0.0/24"}}}}), "c1"), V{"10.1.0.2/24 via 10.1.0.1"});
  EXPECT_EQ(add(config({{{{"subnet", "10.2.0.0/24"}}}}), "c1"), V{"10.2.0.2/24 via 10.2.0.1"});
  EXPECT_EQ(stored(), V{"net1 10.2.0.2/24 c1"});
}

TEST_F(RetryTest, RangeNarrowedPastTheHeldAddressReallocates) {
  EXPECT_EQ(add(config({{{{"subnet", "10.1.0.0/24"}}}}), "c1"), V{"10.1.0.2/24 via 10.1.0.1"});
  auto narrowed = config({{{{"subnet", "10.1.0.0/24"}, {"rangeStart", "10.1.0.100"}}}});
  EXPECT_EQ(add(narrowed, "c1"), V{"10.1.0.100/24 via 10.1.0.1"});
  EXPECT_EQ(stored(), V{"net1 10.1.0.100/24 c1"});
}

TEST_F(RetryTest, NowExcludedOrAGatewayReallocates) {
  EXPECT_EQ(add(config({{{{"subnet", "10.1.0.0/24"}}}}), "c1"), V{"10.1.0.2/24 via 10.1.0.1"});
  auto excluded = config({{{{"subnet", "10.1.0.0/24"}}}}, {{"exclude", {"10.1.0.2"}}});
  EXPECT_EQ(add(excluded, "c1"), V{"10.1.0.3/24 via 10.1.0.1"});
  auto gateway = config({{{{"subnet", "10.1.0.0/24"}, {"gateway", "10.1.0.3"}}}});
  EXPECT_EQ(add(gateway, "c1"), V{"10.1.0.4/24 via 10.1.0.3"});
  EXPECT_EQ(stored(), V{"net1 10.1.0.4/24 c1"});
}

TEST_F(RetryTest, StillFittingAddressIsKeptWithTheCurrentPrefixAndGateway) {
  EXPECT_EQ(add(config({{{{"subnet", "10.1.0.0/24"}}}}), "c1"), V{"10.1.0.2/24 via 10.1.0.1"});
  auto wider = config({{{{"subnet", "10.1.0.0/16"}, {"gateway", "10.1.255.254"}}}});
  EXPECT_EQ(add(wider, "c1"), V{"10.1.0.2/16 via 10.1.255.254"});
  EXPECT_EQ(stored(), V{"net1 10.1.0.2/16 c1"});  // the record follows
}

TEST_F(RetryTest, ImpossibleStoredPrefixIsReplacedByTheConfigs) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}});
  store().transact([&](StoreTxn& txn) {
    Allocation a;
    a.pool = "net1";
    a.address = *Address::parse("10.1.0.7");
    a.prefix_len = 99;  // impossible for IPv4
    a.owner = {"net1", "c1", "eth0", ""};
    txn.insert(a);
  });
  EXPECT_EQ(add(cfg, "c1"), V{"10.1.0.7/24 via 10.1.0.1"});
  EXPECT_EQ(stored(), V{"net1 10.1.0.7/24 c1"});
}

TEST_F(RetryTest, RenamedPoolReleasesTheOldPoolsAddress) {
  EXPECT_EQ(add(config({{{{"subnet", "10.1.0.0/24"}}}}), "c1"), V{"10.1.0.2/24 via 10.1.0.1"});
  auto renamed = config({{{{"subnet", "10.1.0.0/24"}}}}, {{"pool", "shared"}});
  EXPECT_EQ(add(renamed, "c1"), V{"10.1.0.2/24 via 10.1.0.1"});
  EXPECT_EQ(stored(), V{"shared 10.1.0.2/24 c1"});
}

TEST_F(RetryTest, DroppedRangeSetIsReleasedAndReorderedSetsKeepTheirAddresses) {
  json v4 = {{{"subnet", "10.1.0.0/24"}}};
  json v6 = {{{"subnet", "fd00:1::/64"}}};
  EXPECT_EQ(add(config({v4, v6}), "c1"),
            (V{"10.1.0.2/24 via 10.1.0.1", "fd00:1::2/64 via fd00:1::1"}));
  EXPECT_EQ(add(config({v6, v4}), "c1"),
            (V{"fd00:1::2/64 via fd00:1::1", "10.1.0.2/24 via 10.1.0.1"}));
  EXPECT_EQ(add(config({v4}), "c1"), V{"10.1.0.2/24 via 10.1.0.1"});
  EXPECT_EQ(stored(), V{"net1 10.1.0.2/24 c1"});
}

TEST_F(RetryTest, RequestedAddressInTheNewRangeReplacesTheStaleOne) {
  EXPECT_EQ(add(config({{{{"subnet", "10.1.0.0/24"}}}}), "c1"), V{"10.1.0.2/24 via 10.1.0.1"});
  auto moved = config({{{{"subnet", "10.2.0.0/24"}}}});
  moved.requested = {*Address::parse("10.2.0.7")};
  EXPECT_EQ(add(moved, "c1"), V{"10.2.0.7/24 via 10.2.0.1"});
  EXPECT_EQ(stored(), V{"net1 10.2.0.7/24 c1"});
}

TEST_F(RetryTest, RequestedAddressOutsideTheNewRangeIsCode7AndReleasesNothing) {
  EXPECT_EQ(add(config({{{{"subnet", "10.1.0.0/24"}}}}), "c1"), V{"10.1.0.2/24 via 10.1.0.1"});
  auto moved = config({{{{"subnet", "10.2.0.0/24"}}}});
  moved.requested = {*Address::parse("10.1.0.2")};  // the stale address itself
  try {
    add(moved, "c1");
    ADD_FAILURE() << "no error";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kInvalidConfig);
    EXPECT_NE(e.msg().find("10.1.0.2 is not in any range of pool \"net1\""), std::string::npos)
        << e.msg();
  }
  EXPECT_EQ(stored(), V{"net1 10.1.0.2/24 c1"});
}

TEST_F(RetryTest, StaleStickyAddressOfThePodIsReleased) {
  auto old_cfg = config({{{{"subnet", "10.1.0.0/24"}}}}, {{"sticky", true}});
  EXPECT_EQ(add(old_cfg, "c1", "ns/web-0"), V{"10.1.0.2/24 via 10.1.0.1"});
  Allocator(store()).release("net1", "c1", "eth0");  // unbound, still the pod's
  auto new_cfg = config({{{{"subnet", "10.2.0.0/24"}}}}, {{"sticky", true}});
  EXPECT_EQ(add(new_cfg, "c2", "ns/web-0"), V{"10.2.0.2/24 via 10.2.0.1"});
  EXPECT_EQ(stored(), V{"net1 10.2.0.2/24 c2"});
  // A still-fitting sticky address is rebound as before.
  Allocator(store()).release("net1", "c2", "eth0");
  EXPECT_EQ(add(new_cfg, "c3", "ns/web-0"), V{"10.2.0.2/24 via 10.2.0.1"});
  EXPECT_EQ(stored(), V{"net1 10.2.0.2/24 c3"});
}

}  // namespace
}  // namespace ipam

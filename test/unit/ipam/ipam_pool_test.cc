// Allocatable space (gateways, network/broadcast, exclusions, rangeStart/rangeEnd) and the
// round-robin free-address search, against an in-memory set of held addresses.
#include <gtest/gtest.h>

#include <set>

#include "ipam/pool.h"

namespace ipam {
namespace {

using nlohmann::json;

Address A(const char* s) {
  return *Address::parse(s);
}

IpamConfig config(json ranges, json exclude = json::array()) {
  return parse_ipam_config({{"name", "n"}, {"ipam", {{"ranges", ranges}, {"exclude", exclude}}}});
}

// Held addresses kept in a std::set; scans count how many rows they read.
class Held {
 public:
  std::set<Address> addrs;
  int rows_read = 0;

  HeldScanFactory factory() {
    return [this](const Address& from, const Address& to) -> std::unique_ptr<HeldScan> {
      return std::make_unique<Scan>(this, addrs.lower_bound(from), to);
    };
  }

 private:
  class Scan : public HeldScan {
   public:
    Scan(Held* h, std::set<Address>::iterator it, Address to) : h_(h), it_(it), to_(to) {}
    std::optional<Address> next() override {
      if (it_ == h_->addrs.end() || to_ < *it_) return std::nullopt;
      ++h_->rows_read;
      return *it_++;
    }

   private:
    Held* h_;
    std::set<Address>::iterator it_;
    Address to_;
  };
};

// Allocates until the space is exhausted, the way the allocator drives it.
std::vector<std::string> drain(const RangeSetSpace& space, Held& held,
                               std::optional<Address> cursor = std::nullopt) {
  std::vector<std::string> out;
  while (auto a = space.find_free(cursor, held.factory())) {
    out.push_back(a->str());
    held.addrs.insert(*a);
    cursor = a;
  }
  return out;
}

TEST(RangeSpaceTest, Ipv4SkipsGatewayNetworkAndBroadcast) {
  auto cfg =
      config({{{{"subnet", "10.1.0.0/29"}, {"rangeStart", "10.1.0.0"}, {"rangeEnd", "10.1.0.7"}}}});
  auto spaces = build_spaces(cfg);
  EXPECT_EQ(spaces[0].size(), U128(5));  // .0 network, .1 gateway, .7 broadcast
  Held held;
  EXPECT_EQ(drain(spaces[0], held),
            (std::vector<std::string>{"10.1.0.2", "10.1.0.3", "10.1.0.4", "10.1.0.5", "10.1.0.6"}));
  const RangeSpace& r = spaces[0].ranges()[0];
  EXPECT_EQ(*r.reserved_reason(A("10.1.0.1")), "is a gateway");
  EXPECT_EQ(*r.reserved_reason(A("10.1.0.0")), "is the network address of 10.1.0.0/29");
  EXPECT_EQ(*r.reserved_reason(A("10.1.0.7")), "is the broadcast address of 10.1.0.0/29");
  EXPECT_FALSE(r.reserved_reason(A("10.1.0.4")));
}

TEST(RangeSpaceTest, ExclusionsAndRangeBounds) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"},
                       {"rangeStart", "10.1.0.10"},
                       {"rangeEnd", "10.1.0.20"},
                       {"gateway", "10.1.0.254"}}}},
                    {"10.1.0.12", "10.1.0.16/30", "10.1.0.0/30"});
  auto spaces = build_spaces(cfg);
  EXPECT_EQ(spaces[0].size(), U128(11 - 1 - 4));
  Held held;
  EXPECT_EQ(drain(spaces[0], held),
            (std::vector<std::string>{"10.1.0.10", "10.1.0.11", "10.1.0.13", "10.1.0.14",
                                      "10.1.0.15", "10.1.0.20"}));
  EXPECT_EQ(*spaces[0].ranges()[0].reserved_reason(A("10.1.0.17")),
            "is excluded by \"10.1.0.16/30\"");
}

TEST(RangeSpaceTest, GatewayOfAnotherRangeIsNeverHandedOut) {
  auto cfg = config({{{{"subnet", "10.1.0.0/29"}, {"gateway", "10.1.0.6"}}},
                     {{{"subnet", "10.2.0.0/29"}, {"gateway", "10.1.0.5"}}}});
  auto spaces = build_spaces(cfg);
  Held held;
  EXPECT_EQ(drain(spaces[0], held),
            (std::vector<std::string>{"10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"}));
}

TEST(RangeSetSpaceTest, RoundRobinContinuesAfterTheCursorAndWraps) {
  auto cfg = config({{{{"subnet", "10.1.0.0/29"}}}});  // .2 - .6 allocatable
  auto spaces = build_spaces(cfg);
  Held held;
  held.addrs = {A("10.1.0.2"), A("10.1.0.5")};
  // After .3 the next free is .4, not .2 or .3 (just freed).
  EXPECT_EQ(spaces[0].find_free(A("10.1.0.3"), held.factory())->str(), "10.1.0.4");
  // After .6 it wraps to the first free address from the start.
  EXPECT_EQ(spaces[0].find_free(A("10.1.0.6"), held.factory())->str(), "10.1.0.3");
  // The cursor's own address is the last candidate after wrapping.
  held.addrs = {A("10.1.0.2"), A("10.1.0.3"), A("10.1.0.5"), A("10.1.0.6")};
  EXPECT_EQ(spaces[0].find_free(A("10.1.0.4"), held.factory())->str(), "10.1.0.4");
  // A cursor outside every range (config changed) starts from the beginning.
  EXPECT_EQ(spaces[0].find_free(A("10.9.0.1"), held.factory())->str(), "10.1.0.4");
}

TEST(RangeSetSpaceTest, SeveralRangesAreTriedInOrder) {
  auto cfg = config({{{{"subnet", "10.2.0.0/30"}}, {{"subnet", "10.1.0.0/30"}}}});
  auto spaces = build_spaces(cfg);
  Held held;
  EXPECT_EQ(drain(spaces[0], held), (std::vector<std::string>{"10.2.0.2", "10.1.0.2"}));
  EXPECT_EQ(spaces[0].describe(), "10.2.0.1-10.2.0.2, 10.1.0.1-10.1.0.2");
  // Wrapping from the second range back into the first.
  held.addrs = {A("10.1.0.2")};
  EXPECT_EQ(spaces[0].find_free(A("10.1.0.2"), held.factory())->str(), "10.2.0.2");
}

TEST(RangeSetSpaceTest, SteadyStateReadsAtMostOneHeldRow) {
  auto cfg = config({{{{"subnet", "10.64.0.0/14"}}}});
  auto spaces = build_spaces(cfg);
  Held held;
  Address a = A("10.64.0.2");
  for (int i = 0; i < 60000; ++i, a = a.next()) held.addrs.insert(a);
  held.rows_read = 0;
  auto next = spaces[0].find_free(a.prev(), held.factory());
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, a);
  EXPECT_LE(held.rows_read, 1);
}

TEST(RangeSetSpaceTest, Ipv6Slash64AcrossThe64BitBoundary) {
  auto cfg = config({{{{"subnet", "fd00::/56"},
                       {"rangeStart", "fd00::ffff:ffff:ffff:fffe"},
                       {"rangeEnd", "fd00:0:0:1::1"}}}});
  auto spaces = build_spaces(cfg);
  EXPECT_EQ(spaces[0].size(), U128(4));
  Held held;
  EXPECT_EQ(drain(spaces[0], held),
            (std::vector<std::string>{"fd00::ffff:ffff:ffff:fffe", "fd00::ffff:ffff:ffff:ffff",
                                      "fd00:0:0:1::", "fd00:0:0:1::1"}));
}

TEST(RangeSetSpaceTest, HugeIpv6RangeSizeAndSearchNearItsEnd) {
  auto cfg = config({{{{"subnet", "fd00::/48"}}}});
  auto spaces = build_spaces(cfg);
  EXPECT_EQ(spaces[0].size(), (U128(1) << 80) - 2);  // minus :: (not in range) and gateway ::1
  Held held;
  Address last = A("fd00:0:0:ffff:ffff:ffff:ffff:ffff");
  held.addrs = {last};
  // After the last address the search wraps to the start of the range.
  EXPECT_EQ(spaces[0].find_free(last, held.factory())->str(), "fd00::2");
  EXPECT_EQ(spaces[0].find_free(last.prev(), held.factory())->str(), "fd00::2");
}

TEST(RangeSetSpaceTest, ExhaustedWhenEverythingIsHeld) {
  auto cfg = config({{{{"subnet", "10.1.0.0/30"}}}});
  auto spaces = build_spaces(cfg);
  Held held;
  held.addrs = {A("10.1.0.2")};
  EXPECT_FALSE(spaces[0].find_free(std::nullopt, held.factory()));
  EXPECT_FALSE(spaces[0].find_free(A("10.1.0.2"), held.factory()));
}

}  // namespace
}  // namespace ipam

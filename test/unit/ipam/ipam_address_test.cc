// Address and prefix arithmetic: parsing, formatting, ordering, IPv6 beyond 64 bits.
#include <gtest/gtest.h>

#include "ipam/address.h"

namespace ipam {
namespace {

Address A(const char* s) {
  auto a = Address::parse(s);
  EXPECT_TRUE(a.has_value()) << s;
  return a.value_or(Address());
}

TEST(AddressTest, ParsesAndFormatsBothFamilies) {
  EXPECT_EQ(A("10.1.2.3").str(), "10.1.2.3");
  EXPECT_TRUE(A("10.1.2.3").is_v4());
  EXPECT_EQ(A("10.1.2.3").value(), U128(0x0a010203));
  EXPECT_EQ(A("fd00::0001").str(), "fd00::1");
  EXPECT_FALSE(A("fd00::1").is_v4());
  EXPECT_FALSE(Address::parse("10.1.2.3/24"));
  EXPECT_FALSE(Address::parse("10.1.2"));
  EXPECT_FALSE(Address::parse(""));
  EXPECT_FALSE(Address::parse("fd00::1%eth0"));
}

TEST(AddressTest, FoldsIpv4MappedIpv6IntoIpv4) {
  Address a = A("::ffff:10.1.2.3");
  EXPECT_TRUE(a.is_v4());
  EXPECT_EQ(a, A("10.1.2.3"));
}

TEST(AddressTest, KeysRoundTripAndOrderWithinFamily) {
  for (const char* s : {"0.0.0.0", "10.1.2.3", "255.255.255.255", "::", "fd00::1",
                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}) {
    Address a = A(s);
    EXPECT_EQ(Address::from_key(a.key()), a) << s;
  }
  EXPECT_LT(A("10.0.0.255").key(), A("10.0.1.0").key());
  EXPECT_LT(A("fd00::ffff:ffff:ffff:ffff").key(), A("fd00:0:0:1::").key());
}

TEST(AddressTest, ArithmeticCrossesThe64BitBoundary) {
  Address a = A("fd00::ffff:ffff:ffff:ffff");
  EXPECT_EQ(a.next().str(), "fd00:0:0:1::");
  EXPECT_EQ(a.next().prev(), a);
  EXPECT_EQ(A("fd00::").plus(U128(1) << 64).str(), "fd00:0:0:1::");
  EXPECT_EQ(A("255.255.255.255").next(), A("255.255.255.255"));  // saturates
  EXPECT_TRUE(A("255.255.255.255").is_family_max());
  EXPECT_EQ(A("0.0.0.0").prev(), A("0.0.0.0"));
}

TEST(PrefixTest, NetworkLastContainsAndSize) {
  auto p = Prefix::parse("10.1.2.3/24");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->is_network());
  EXPECT_EQ(p->network().str(), "10.1.2.0");
  EXPECT_EQ(p->last().str(), "10.1.2.255");
  EXPECT_TRUE(p->contains(A("10.1.2.200")));
  EXPECT_FALSE(p->contains(A("10.1.3.0")));
  EXPECT_FALSE(p->contains(A("fd00::1")));
  EXPECT_EQ(p->size(), U128(256));

  auto v6 = Prefix::parse("fd00::/64");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->size(), U128(1) << 64);
  EXPECT_EQ(v6->last().str(), "fd00::ffff:ffff:ffff:ffff");
  auto wide = Prefix::parse("fd00::/48");
  ASSERT_TRUE(wide);
  EXPECT_EQ(wide->size(), U128(1) << 80);
  EXPECT_EQ(Prefix::parse("::/0")->size(), ~U128(0));
  EXPECT_EQ(Prefix::parse("0.0.0.0/0")->size(), U128(1) << 32);
}

TEST(PrefixTest, RejectsMalformed) {
  EXPECT_FALSE(Prefix::parse("10.1.2.0"));
  EXPECT_FALSE(Prefix::parse("10.1.2.0/33"));
  EXPECT_FALSE(Prefix::parse("10.1.2.0/-1"));
  EXPECT_FALSE(Prefix::parse("10.1.2.0/"));
  EXPECT_FALSE(Prefix::parse("fd00::/129"));
  EXPECT_FALSE(Prefix::parse("10.1.2.0/2x"));
}

TEST(DecimalTest, RendersFull128BitCounts) {
  EXPECT_EQ(to_decimal(0), "0");
  EXPECT_EQ(to_decimal(62), "62");
  EXPECT_EQ(to_decimal(U128(1) << 64), "18446744073709551616");
  EXPECT_EQ(to_decimal(~U128(0)), "340282366920938463463374607431768211455");
}

}  // namespace
}  // namespace ipam

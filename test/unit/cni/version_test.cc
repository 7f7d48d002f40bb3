// Tests of CNI version strings: the supported set, semantic ordering and negotiation.
#include "cni/version.h"

#include <gtest/gtest.h>

#include "cni/error.h"

namespace cni {
namespace {

TEST(Version, SupportsEverySpecVersionOldestFirst) {
  EXPECT_EQ(supported_versions(), (std::vector<std::string>{"0.1.0", "0.2.0", "0.3.0", "0.3.1",
                                                            "0.4.0", "1.0.0", "1.1.0"}));
  EXPECT_EQ(latest_version(), "1.1.0");
  for (size_t i = 1; i < supported_versions().size(); ++i) {
    EXPECT_LT(compare_versions(supported_versions()[i - 1], supported_versions()[i]), 0);
  }
}

TEST(Version, ComparesNumericallyNotLexically) {
  EXPECT_LT(compare_versions("0.3.1", "0.10.0"), 0);
  EXPECT_GT(compare_versions("1.0.0", "0.4.0"), 0);
  EXPECT_EQ(compare_versions("1.1.0", "1.1.0"), 0);
  EXPECT_LT(compare_versions("0.3.0", "0.3.1"), 0);
  EXPECT_GT(compare_versions("2.0.0", "1.99.99"), 0);
}

TEST(Version, MalformedVersionsAreCode1NamingThem) {
  for (const char* bad : {"", "1", "1.0", "1.0.0.0", "v1.0.0", "1.0.x", "1..0", "1.0.0-rc1"}) {
    try {
      compare_versions(bad, "1.0.0");
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), kIncompatibleVersion) << bad;
      EXPECT_NE(e.msg().find(std::string("\"") + bad + "\""), std::string::npos) << e.msg();
    }
  }
}

TEST(Version, IsSupportedIsExact) {
  EXPECT_TRUE(is_supported_version("0.3.1"));
  EXPECT_TRUE(is_supported_version("1.1.0"));
  EXPECT_FALSE(is_supported_version("0.5.0"));
  EXPECT_FALSE(is_supported_version("1.1"));
  EXPECT_FALSE(is_supported_version(""));
}

TEST(Version, NewestCommonVersion) {
  // Debian's reference plugins stop at 1.0.0: cnimux must hand them 1.0.0.
  std::vector<std::string> reference = {"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"};
  EXPECT_EQ(newest_common_version(supported_versions(), reference), "1.0.0");
  EXPECT_EQ(newest_common_version(supported_versions(), {"0.4.0", "0.3.1"}), "0.4.0");
  EXPECT_EQ(newest_common_version(supported_versions(), {"2.0.0"}), "");
  EXPECT_EQ(newest_common_version({}, reference), "");
  // A malformed version is never chosen, even when it comes first in both lists.
  EXPECT_EQ(newest_common_version({"garbage", "0.3.1"}, {"garbage", "0.3.1"}), "0.3.1");
}

}  // namespace
}  // namespace cni

// Tests of cni::Error and the spec's error object, both directions.
#include "cni/error.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace cni {
using Json = nlohmann::json;

namespace {

TEST(Error, ToJsonHasTheSpecFields) {
  Error e(kInvalidEnvironment, "invalid ifname \"eth 0\": contains whitespace");
  EXPECT_EQ(e.to_json("1.0.0"), Json::parse(R"({"cniVersion": "1.0.0", "code": 4,
      "msg": "invalid ifname \"eth 0\": contains whitespace"})"));
  EXPECT_STREQ(e.what(), "invalid ifname \"eth 0\": contains whitespace");
}

TEST(Error, DetailsAppearOnlyWhenSet) {
  Error e(kDelegateFailed, "ADD failed", "rollback: DEL of macvlan failed");
  EXPECT_EQ(e.to_json("1.1.0")["details"], "rollback: DEL of macvlan failed");
  e.set_details("");
  EXPECT_FALSE(e.to_json("1.1.0").contains("details"));
}

TEST(Error, FromJsonReadsAnotherPluginsError) {
  Error e = Error::from_json(
      Json::parse(R"({"cniVersion": "1.0.0", "code": 7, "msg": "bad bridge", "details": "more"})"));
  EXPECT_EQ(e.code(), 7);
  EXPECT_EQ(e.msg(), "bad bridge");
  EXPECT_EQ(e.details(), "more");
}

TEST(Error, FromJsonKeepsNonStringDetailsAsText) {
  Error e = Error::from_json(Json::parse(R"({"code": 100, "details": {"a": 1}})"));
  EXPECT_EQ(e.msg(), "");
  EXPECT_EQ(Json::parse(e.details()), Json::parse(R"({"a": 1})"));
}

TEST(Error, RoundTrips) {
  Error e(kIpamExhausted, "pool 10.0.0.0/30 is full", "3 of 3 used");
  Error back = Error::from_json(e.to_json("1.1.0"));
  EXPECT_EQ(back.code(), e.code());
  EXPECT_EQ(back.msg(), e.msg());
  EXPECT_EQ(back.details(), e.details());
}

TEST(Error, FromJsonRefusesNonErrorObjects) {
  for (const char* doc : {R"({"msg": "no code"})", R"({"code": "7"})", R"([1])", R"("x")",
                          R"({"cniVersion": "1.0.0", "ips": []})"}) {
    try {
      Error::from_json(Json::parse(doc));
      ADD_FAILURE() << "accepted " << doc;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), kDecodeFailure) << doc;
      EXPECT_NE(e.msg().find("code"), std::string::npos) << e.msg();
    }
  }
}

}  // namespace
}  // namespace cni

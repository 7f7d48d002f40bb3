// Tests of the one parser of GC's valid attachments: both keys, their union, absent and null
// lists, and code 7 naming the key and entry for every bad shape.
#include "cni/gc_request.h"

#include <gtest/gtest.h>

#include "cni/error.h"

namespace cni {
namespace {

NetConf conf_of(const Json& extra) {
  NetConf c;
  c.raw = {{"cniVersion", "1.1.0"}, {"name", "net1"}, {"type", "cnimux-ipam"}};
  for (const auto& [k, v] : extra.items()) c.raw[k] = v;
  return c;
}

Error error_of(const Json& extra) {
  try {
    valid_attachments(conf_of(extra));
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no cni::Error for " << extra.dump();
  return Error(0, "");
}

TEST(GcRequest, ReadsValidAttachments) {
  auto v = valid_attachments(conf_of({{"cni.dev/valid-attachments",
                                       {{{"containerID", "c1"}, {"ifname", "eth0"}},
                                        {{"containerID", "c1"}, {"ifname", "net1"}},
                                        {{"containerID", "c2"}, {"ifname", "eth0"}}}}}));
  EXPECT_EQ(v, (ValidAttachments{{"c1", "eth0"}, {"c1", "net1"}, {"c2", "eth0"}}));
}

TEST(GcRequest, ReadsTheOlderKeyAndTheUnionOfBoth) {
  EXPECT_EQ(valid_attachments(
                conf_of({{"cni.dev/attachments", {{{"containerID", "c9"}, {"ifname", "eth0"}}}}})),
            (ValidAttachments{{"c9", "eth0"}}));
  auto both = valid_attachments(
      conf_of({{"cni.dev/valid-attachments", {{{"containerID", "c1"}, {"ifname", "eth0"}}}},
               {"cni.dev/attachments",
                {{{"containerID", "c1"}, {"ifname", "eth0"}},
                 {{"containerID", "c2"}, {"ifname", "eth0"}}}}}));
  EXPECT_EQ(both, (ValidAttachments{{"c1", "eth0"}, {"c2", "eth0"}}));
}

TEST(GcRequest, AbsentNullAndEmptyListNothing) {
  EXPECT_TRUE(valid_attachments(conf_of(Json::object())).empty());
  EXPECT_TRUE(valid_attachments(conf_of({{"cni.dev/valid-attachments", nullptr}})).empty());
  EXPECT_TRUE(valid_attachments(conf_of({{"cni.dev/valid-attachments", Json::array()}})).empty());
}

TEST(GcRequest, IgnoresUnknownKeysOfAnEntry) {
  auto v = valid_attachments(
      conf_of({{"cni.dev/valid-attachments",
                {{{"containerID", "c1"}, {"ifname", "eth0"}, {"podName", "web-0"}}}}}));
  EXPECT_EQ(v, (ValidAttachments{{"c1", "eth0"}}));
}

TEST(GcRequest, NotAListIsCode7NamingTheKey) {
  Error e = error_of({{"cni.dev/valid-attachments", "c1"}});
  EXPECT_EQ(e.code(), kInvalidConfig);
  EXPECT_NE(e.msg().find("cni.dev/valid-attachments: must be a list"), std::string::npos)
      << e.msg();
  Error old = error_of({{"cni.dev/attachments", {{"containerID", "c1"}}}});
  EXPECT_EQ(old.code(), kInvalidConfig);
  EXPECT_NE(old.msg().find("cni.dev/attachments: must be a list"), std::string::npos) << old.msg();
}

TEST(GcRequest, BadEntriesAreCode7NamingKeyIndexAndField) {
  struct Case {
    Json list;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{{{"containerID", "c1"}, {"ifname", "eth0"}}, 7},
       "cni.dev/valid-attachments[1]: must be an object"},
      {{{{"ifname", "eth0"}}}, "cni.dev/valid-attachments[0].containerID: missing"},
      {{{{"containerID", 5}, {"ifname", "eth0"}}}, "cni.dev/valid-attachments[0].containerID"},
      {{{{"containerID", "c1"}}}, "cni.dev/valid-attachments[0].ifname: missing"},
      {{{{"containerID", "c1"}, {"ifname", nullptr}}}, "cni.dev/valid-attachments[0].ifname"},
  };
  for (const auto& c : cases) {
    Error e = error_of({{"cni.dev/valid-attachments", c.list}});
    EXPECT_EQ(e.code(), kInvalidConfig) << c.list.dump();
    EXPECT_NE(e.msg().find(c.expect), std::string::npos) << e.msg();
  }
}

}  // namespace
}  // namespace cni

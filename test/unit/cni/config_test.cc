// Tests of NetConf and NetConfList parsing: error codes and positions, unknown-field
// preservation, name/version injection, and Go-style case-insensitive key lookup.
#include "cni/config.h"

#include <gtest/gtest.h>

#include "cni/error.h"

namespace cni {
namespace {

Error error_from(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no cni::Error thrown";
  return Error(0, "");
}

constexpr const char* kBridge = R"({
  "cniVersion": "1.0.0", "name": "mynet", "type": "bridge", "bridge": "cni0",
  "isGateway": true, "vendorThing": {"nested": [1, 2, {"deep": null}]},
  "capabilities": {"portMappings": true, "bandwidth": false},
  "runtimeConfig": {"portMappings": [{"HostPort": 8080, "ContainerPort": 80}]},
  "ipam": {"type": "host-local", "subnet": "10.1.0.0/16"},
  "prevResult": {"cniVersion": "1.0.0", "ips": []}
})";

TEST(NetConf, ParsesTheCommonKeys) {
  NetConf c = NetConf::parse(kBridge);
  EXPECT_EQ(c.cni_version(), "1.0.0");
  EXPECT_EQ(c.name(), "mynet");
  EXPECT_EQ(c.type(), "bridge");
  ASSERT_NE(c.ipam(), nullptr);
  EXPECT_EQ((*c.ipam())["type"], "host-local");
  ASSERT_NE(c.prev_result(), nullptr);
  EXPECT_EQ((*c.prev_result())["cniVersion"], "1.0.0");
  ASSERT_NE(c.runtime_config(), nullptr);
  EXPECT_TRUE(c.runtime_config()->contains("portMappings"));
}

TEST(NetConf, KeepsUnknownFieldsVerbatim) {
  NetConf c = NetConf::parse(kBridge);
  EXPECT_EQ(c.raw, Json::parse(kBridge));
  EXPECT_EQ(c.raw["vendorThing"]["nested"][2]["deep"], nullptr);
  EXPECT_TRUE(c.raw["vendorThing"]["nested"][2].contains("deep"));
}

TEST(NetConf, CapabilitiesAreExactAndMustBeTrue) {
  NetConf c = NetConf::parse(kBridge);
  EXPECT_TRUE(c.declares_capability("portMappings"));
  EXPECT_FALSE(c.declares_capability("bandwidth"));     // declared false
  EXPECT_FALSE(c.declares_capability("portmappings"));  // keys match exactly
  EXPECT_FALSE(c.declares_capability("ips"));
  EXPECT_FALSE(NetConf::parse(R"({"type": "x"})").declares_capability("ips"));
}

TEST(NetConf, AbsentOrNullSectionsAreNullptr) {
  NetConf c = NetConf::parse(R"({"type": "x", "prevResult": null})");
  EXPECT_EQ(c.cni_version(), "");
  EXPECT_EQ(c.name(), "");
  EXPECT_EQ(c.prev_result(), nullptr);
  EXPECT_EQ(c.runtime_config(), nullptr);
  EXPECT_EQ(c.ipam(), nullptr);
}

TEST(NetConf, BadJsonIsCode6WithTheBytePosition) {
  // The parser stops at the 15th byte, the 'x' after "type":.
  Error e = error_from([] { NetConf::parse(R"({"type": "a", x})"); });
  EXPECT_EQ(e.code(), kDecodeFailure);
  EXPECT_NE(e.msg().find("byte 15"), std::string::npos) << e.msg();
  EXPECT_NE(e.msg().find("column 15"), std::string::npos) << e.msg();
}

TEST(NetConf, EmptyInputIsCode6) {
  EXPECT_EQ(error_from([] { NetConf::parse(""); }).code(), kDecodeFailure);
}

TEST(NetConf, NonObjectIsCode6) {
  Error e = error_from([] { NetConf::parse("[1]"); });
  EXPECT_EQ(e.code(), kDecodeFailure);
  EXPECT_NE(e.msg().find("array"), std::string::npos) << e.msg();
}

TEST(NetConf, WrongFieldsAreCode7NamingTheField) {
  struct Case {
    const char* doc;
    const char* field;
  } cases[] = {{R"({"name": "n"})", "\"type\""},
               {R"({"type": 5})", "\"type\""},
               {R"({"type": ""})", "\"type\""},
               {R"({"type": "x", "cniVersion": 1})", "\"cniVersion\""},
               {R"({"type": "x", "name": ["n"]})", "\"name\""}};
  for (const auto& c : cases) {
    Error e = error_from([&] { NetConf::parse(c.doc); });
    EXPECT_EQ(e.code(), kInvalidConfig) << c.doc;
    EXPECT_NE(e.msg().find(c.field), std::string::npos) << e.msg();
  }
}

constexpr const char* kList = R"({
  "cniVersion": "1.1.0", "name": "k8s-pod-network", "disableCheck": true,
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "ipam": {"type": "host-local"}},
    {"type": "portmap", "name": "ignored", "cniVersion": "0.3.1",
     "capabilities": {"portMappings": true}, "snat": true}
  ]
})";

TEST(NetConfList, InjectsVersionAndNameKeepingOtherFields) {
  NetConfList l = NetConfList::parse(kList);
  EXPECT_EQ(l.cni_version, "1.1.0");
  EXPECT_EQ(l.name, "k8s-pod-network");
  ASSERT_EQ(l.plugins.size(), 2u);
  EXPECT_EQ(l.plugins[0], Json::parse(R"({"cniVersion": "1.1.0", "name": "k8s-pod-network",
      "type": "bridge", "bridge": "cni0", "ipam": {"type": "host-local"}})"));
  // libcni overwrites a plugin's own name and cniVersion with the list's.
  EXPECT_EQ(l.plugins[1], Json::parse(R"({"cniVersion": "1.1.0", "name": "k8s-pod-network",
      "type": "portmap", "capabilities": {"portMappings": true}, "snat": true})"));
  EXPECT_EQ(l.raw["disableCheck"], true);
  EXPECT_EQ(l.raw, Json::parse(kList));  // raw stays as received
}

TEST(NetConfList, RefusesBadPluginLists) {
  struct Case {
    const char* doc;
    int code;
    const char* field;
  } cases[] = {
      {R"({"name": "n"})", kInvalidConfig, "\"plugins\""},
      {R"({"name": "n", "plugins": {}})", kInvalidConfig, "\"plugins\""},
      {R"({"name": "n", "plugins": []})", kInvalidConfig, "empty"},
      {R"({"name": "n", "plugins": [{"type": "a"}, 7]})", kInvalidConfig, "plugins[1]"},
      {R"({"name": "n", "plugins": [{"type": "a"}, {"x": 1}]})", kInvalidConfig, "plugins[1].type"},
      {R"({"name": 5, "plugins": [{"type": "a"}]})", kInvalidConfig, "\"name\""},
      {R"({"plugins": [)", kDecodeFailure, "byte"},
  };
  for (const auto& c : cases) {
    Error e = error_from([&] { NetConfList::parse(c.doc); });
    EXPECT_EQ(e.code(), c.code) << c.doc;
    EXPECT_NE(e.msg().find(c.field), std::string::npos) << e.msg();
  }
}

TEST(NetConfList, FromSingleWrapsOnePlugin) {
  NetConf c = NetConf::parse(R"({"cniVersion": "0.4.0", "name": "n1", "type": "macvlan",
                                 "master": "eth0"})");
  NetConfList l = NetConfList::from_single(c);
  EXPECT_EQ(l.cni_version, "0.4.0");
  EXPECT_EQ(l.name, "n1");
  ASSERT_EQ(l.plugins.size(), 1u);
  EXPECT_EQ(l.plugins[0], c.raw);
  EXPECT_TRUE(NetConfList::is_list(l.raw));
}

TEST(NetConfList, IsListLooksForPlugins) {
  EXPECT_TRUE(NetConfList::is_list(Json::parse(kList)));
  EXPECT_FALSE(NetConfList::is_list(Json::parse(kBridge)));
  EXPECT_FALSE(NetConfList::is_list(Json::array()));
}

TEST(FindKeyCaseInsensitive, MatchesContainerdAndPodmanSpellings) {
  Json containerd = Json::parse(R"({"HostPort": 8080, "ContainerPort": 80, "Protocol": "tcp",
                                    "HostIP": "0.0.0.0"})");
  Json podman = Json::parse(R"({"hostPort": 8080, "containerPort": 80, "protocol": "tcp",
                                "hostIP": ""})");
  for (const Json* entry : {&containerd, &podman}) {
    const Json* host_port = find_key_case_insensitive(*entry, "hostPort");
    ASSERT_NE(host_port, nullptr);
    EXPECT_EQ(*host_port, 8080);
    ASSERT_NE(find_key_case_insensitive(*entry, "containerPort"), nullptr);
    EXPECT_EQ(*find_key_case_insensitive(*entry, "protocol"), "tcp");
    EXPECT_NE(find_key_case_insensitive(*entry, "hostIP"), nullptr);
  }
}

TEST(FindKeyCaseInsensitive, PrefersTheExactKey) {
  Json both = Json::parse(R"({"HOSTPORT": 1, "hostPort": 2, "Hostport": 3})");
  EXPECT_EQ(*find_key_case_insensitive(both, "hostPort"), 2);
}

TEST(FindKeyCaseInsensitive, MissingKeyOrNonObjectIsNullptr) {
  EXPECT_EQ(find_key_case_insensitive(Json::parse(R"({"a": 1})"), "hostPort"), nullptr);
  EXPECT_EQ(find_key_case_insensitive(Json::array({1}), "a"), nullptr);
  EXPECT_EQ(find_key_case_insensitive(Json::parse(R"({"hostPor": 1})"), "hostPort"), nullptr);
}

}  // namespace
}  // namespace cni

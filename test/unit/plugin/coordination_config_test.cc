// Tests for the `coordination` settings: every key, defaults, strictness, the key-by-key
// merge of a network's object over the node's, and where a conflist holds its object.
#include "plugin/coordination_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cni/error.h"
#include "plugin/meta_config.h"

namespace plugin {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;
using namespace std::chrono_literals;

cni::Error error_of(const Json& v) {
  try {
    parse_coordination(v, "cnimux config");
  } catch (const cni::Error& e) {
    return e;
  }
  ADD_FAILURE() << "accepted " << v.dump();
  return cni::Error(0, "");
}

TEST(CoordinationConfig, DefaultsWhenNothingIsSet) {
  CoordinationSettings s = parse_coordination(Json::object(), "cnimux config");
  EXPECT_EQ(s.mode_or_default(), CoordinationMode::kOff);
  EXPECT_EQ(s.table_base_or_default(), 100u);
  EXPECT_FALSE(s.detect_ip_conflict_or_default());
  EXPECT_EQ(s.detect_gateway_or_default(), GatewayCheck::kOff);
  EXPECT_EQ(s.detect_timeout_or_default(), 1000ms);
  EXPECT_TRUE(s.announce_or_default());
  EXPECT_FALSE(s.pod_cidr);
  EXPECT_FALSE(s.sets_network_keys());
}

TEST(CoordinationConfig, EveryKey) {
  CoordinationSettings s = parse_coordination({{"mode", "underlay"},
                                               {"podCIDR", {"10.244.0.0/16"}},
                                               {"serviceCIDR", {"10.96.0.0/12", "fd00:96::/108"}},
                                               {"hostRoutes", {"192.0.2.0/24"}},
                                               {"vethLinkAddress", "169.254.100.1"},
                                               {"tableBase", 1000},
                                               {"detectIPConflict", true},
                                               {"detectGateway", "warn"},
                                               {"detectTimeout", 0.25},
                                               {"announce", false},
                                               {"macPrefix", "0A:1b"}},
                                              "cnimux config");
  EXPECT_EQ(s.mode_or_default(), CoordinationMode::kUnderlay);
  EXPECT_THAT(*s.pod_cidr, ElementsAre("10.244.0.0/16"));
  EXPECT_THAT(*s.service_cidr, ElementsAre("10.96.0.0/12", "fd00:96::/108"));
  EXPECT_THAT(*s.host_routes, ElementsAre("192.0.2.0/24"));
  EXPECT_EQ(*s.veth_link_address, "169.254.100.1");
  EXPECT_EQ(s.table_base_or_default(), 1000u);
  EXPECT_TRUE(s.detect_ip_conflict_or_default());
  EXPECT_EQ(s.detect_gateway_or_default(), GatewayCheck::kWarn);
  EXPECT_EQ(s.detect_timeout_or_default(), 250ms);
  EXPECT_FALSE(s.announce_or_default());
  EXPECT_EQ(*s.mac_prefix, "0a:1b");
  EXPECT_TRUE(s.sets_network_keys());
}

TEST(CoordinationConfig, ModesAndGatewayChecks) {
  EXPECT_EQ(*parse_coordination({{"mode", "overlay"}}, "x").mode, CoordinationMode::kOverlay);
  EXPECT_EQ(*parse_coordination({{"mode", "auto"}}, "x").mode, CoordinationMode::kAuto);
  EXPECT_EQ(*parse_coordination({{"mode", "off"}}, "x").mode, CoordinationMode::kOff);
  EXPECT_EQ(*parse_coordination({{"detectGateway", "fail"}}, "x").detect_gateway,
            GatewayCheck::kFail);
  EXPECT_EQ(*parse_coordination({{"detectGateway", "off"}}, "x").detect_gateway,
            GatewayCheck::kOff);
}

TEST(CoordinationConfig, StrictAndNamesKeyAndValue) {
  cni::Error e = error_of({{"mode", "bridge"}});
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_THAT(e.msg(), HasSubstr("\"coordination.mode\" = \"bridge\""));
  EXPECT_THAT(error_of({{"modes", "auto"}}).msg(),
              HasSubstr("unknown cnimux config key \"coordination.modes\""));
  EXPECT_THAT(error_of({{"podCIDR", "10.244.0.0/16"}}).msg(), HasSubstr("list of CIDRs"));
  EXPECT_THAT(error_of({{"serviceCIDR", {"10.96.0.0"}}}).msg(),
              HasSubstr("\"coordination.serviceCIDR\" = \"10.96.0.0\""));
  EXPECT_THAT(error_of({{"hostRoutes", {"10.0.0.0/33"}}}).msg(), HasSubstr("10.0.0.0/33"));
  EXPECT_THAT(error_of({{"vethLinkAddress", "169.254.1.1/32"}}).msg(),
              HasSubstr("vethLinkAddress"));
  EXPECT_THAT(error_of({{"vethLinkAddress", "fe80::1"}}).msg(), HasSubstr("IPv4"));
  EXPECT_THAT(error_of({{"tableBase", 0}}).msg(), HasSubstr("tableBase"));
  EXPECT_THAT(error_of({{"tableBase", 200}}).msg(), HasSubstr("tableBase"));  // reaches 253
  EXPECT_THAT(error_of({{"tableBase", -1}}).msg(), HasSubstr("tableBase"));
  EXPECT_THAT(error_of({{"detectIPConflict", "yes"}}).msg(), HasSubstr("true or false"));
  EXPECT_THAT(error_of({{"detectGateway", true}}).msg(), HasSubstr("detectGateway"));
  EXPECT_THAT(error_of({{"detectTimeout", 0}}).msg(), HasSubstr("detectTimeout"));
  EXPECT_THAT(error_of({{"detectTimeout", 31}}).msg(), HasSubstr("detectTimeout"));
  EXPECT_THAT(error_of(Json::array()).msg(), HasSubstr("expected an object"));
  EXPECT_THAT(error_of({{"macPrefix", "0a1b"}}).msg(), HasSubstr("two bytes"));
  EXPECT_THAT(error_of({{"macPrefix", "0a:1g"}}).msg(), HasSubstr("two bytes"));
  EXPECT_THAT(error_of({{"macPrefix", "01:1b"}}).msg(), HasSubstr("unicast"));  // multicast
  EXPECT_THAT(error_of({{"macPrefix", "00:1b"}}).msg(), HasSubstr("locally administered"));
}

TEST(CoordinationConfig, NullMeansUnset) {
  CoordinationSettings s = parse_coordination({{"mode", nullptr}}, "x");
  EXPECT_FALSE(s.mode);
}

TEST(CoordinationConfig, NetworkKeysOverrideNodeKeysOneByOne) {
  CoordinationSettings node = parse_coordination(
      {{"mode", "overlay"}, {"serviceCIDR", {"10.96.0.0/12"}}, {"detectIPConflict", true}}, "n");
  CoordinationSettings net =
      parse_coordination({{"mode", "underlay"}, {"detectIPConflict", false}}, "w");
  CoordinationSettings s = merge_coordination(node, net);
  EXPECT_EQ(s.mode_or_default(), CoordinationMode::kUnderlay);
  EXPECT_FALSE(s.detect_ip_conflict_or_default());
  EXPECT_THAT(*s.service_cidr, ElementsAre("10.96.0.0/12"));  // kept from the node
  CoordinationSettings unchanged = merge_coordination(node, CoordinationSettings{});
  EXPECT_EQ(unchanged.mode_or_default(), CoordinationMode::kOverlay);
  EXPECT_TRUE(unchanged.detect_ip_conflict_or_default());
}

TEST(CoordinationConfig, ConflistTopLevelThenFirstPlugin) {
  Json top = {{"name", "mv"},
              {"coordination", {{"mode", "underlay"}}},
              {"plugins", {{{"type", "macvlan"}, {"coordination", {{"mode", "overlay"}}}}}}};
  EXPECT_EQ(*coordination_of_conflist(top.dump(), "default/mv").mode, CoordinationMode::kUnderlay);
  Json plugin = {
      {"name", "mv"},
      {"plugins", {{{"type", "macvlan"}, {"coordination", {{"detectGateway", "fail"}}}}}}};
  EXPECT_EQ(*coordination_of_conflist(plugin.dump(), "default/mv").detect_gateway,
            GatewayCheck::kFail);
  Json none = {{"name", "mv"}, {"plugins", {{{"type", "macvlan"}}}}};
  EXPECT_FALSE(coordination_of_conflist(none.dump(), "default/mv").mode);
  try {
    coordination_of_conflist(
        Json({{"plugins", Json::array()}, {"coordination", {{"x", 1}}}}).dump(), "default/mv");
    ADD_FAILURE() << "accepted an unknown key";
  } catch (const cni::Error& e) {
    EXPECT_THAT(e.msg(), HasSubstr("network \"default/mv\" key \"coordination.x\""));
  }
}

TEST(CoordinationConfig, MetaConfigReadsTheNodeDefault) {
  Json conf = {{"cniVersion", "1.0.0"},
               {"name", "cnimux"},
               {"type", "cnimux"},
               {"clusterNetwork", "k8s"},
               {"coordination", {{"mode", "auto"}, {"podCIDR", {"10.244.0.0/16"}}}}};
  MetaConfig m = parse_meta_config(conf);
  EXPECT_EQ(m.coordination.mode_or_default(), CoordinationMode::kAuto);
  EXPECT_THAT(*m.coordination.pod_cidr, ElementsAre("10.244.0.0/16"));
  conf.erase("coordination");
  EXPECT_EQ(parse_meta_config(conf).coordination.mode_or_default(), CoordinationMode::kOff);
  conf["coordination"] = {{"mode", "sideways"}};
  EXPECT_THROW(parse_meta_config(conf), cni::Error);
}

}  // namespace
}  // namespace plugin

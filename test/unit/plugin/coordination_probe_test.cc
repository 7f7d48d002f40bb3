// Tests of how detectIPConflict reaches in-tree delegates: plan_in_tree_probes puts the
// cnimuxProbe key on in-tree plugins only (own types and inTree reference types), with the
// network's merged timeout, strips it everywhere else, leaves the bytes alone when nothing
// changes; and the delegate's strict reading of the key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cni/error.h"
#include "delegates/common/address_probe.h"
#include "plugin/coordination.h"

namespace plugin {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;
using namespace std::chrono_literals;

std::string conflist(const Json& plugins, const Json& top = Json::object()) {
  Json list = {{"cniVersion", "1.0.0"}, {"name", "n"}, {"plugins", plugins}};
  list.update(top);
  return list.dump();
}

PlannedAttachment attachment(const std::string& network, const std::string& ifname,
                             const std::string& bytes, bool cluster = false) {
  PlannedAttachment p;
  p.network = network;
  p.ifname = ifname;
  p.conflist = bytes;
  p.cluster_network = cluster;
  p.default_route = cluster;
  return p;
}

Json plugins_of(const PlannedAttachment& p) {
  return Json::parse(p.conflist)["plugins"];
}

CoordinationSettings node(const Json& v) {
  return parse_coordination(v, "cnimux config");
}

TEST(CoordinationProbe, InTreePluginsGetTheKeyOthersLoseIt) {
  std::vector<PlannedAttachment> plan = {
      attachment("cluster", "eth0",
                 conflist({{{"type", "bridge"}, {"cnimuxProbe", {{"detectIPConflict", true}}}}}),
                 true),
      attachment("default/a", "net1",
                 conflist({{{"type", "macvlan"}}, {{"type", "tuning"}}},
                          {{"coordination", {{"detectTimeout", 0.25}}}})),
      attachment("default/b", "net2", conflist({{{"type", "cnimux-ipvlan"}}})),
  };
  plan_in_tree_probes(node({{"mode", "overlay"}, {"detectIPConflict", true}}), {"macvlan"}, plan);
  // bridge is executed: a key a user wrote there is removed, so nobody relies on it.
  EXPECT_FALSE(plugins_of(plan[0])[0].contains("cnimuxProbe")) << plan[0].conflist;
  // macvlan runs in-tree through inTree, with net1's own timeout; tuning is not in-tree.
  EXPECT_EQ(plugins_of(plan[1])[0]["cnimuxProbe"],
            Json({{"detectIPConflict", true}, {"detectTimeout", 0.25}}));
  EXPECT_FALSE(plugins_of(plan[1])[1].contains("cnimuxProbe"));
  // An in-tree type by its own name, with the node's default timeout.
  EXPECT_EQ(plugins_of(plan[2])[0]["cnimuxProbe"],
            Json({{"detectIPConflict", true}, {"detectTimeout", 1.0}}));
}

TEST(CoordinationProbe, NoKeyWhenModeIsOffOrDetectionIsOff) {
  const std::string mv = conflist({{{"type", "cnimux-macvlan"}}});
  for (const Json& settings :
       {Json{{"mode", "off"}, {"detectIPConflict", true}},
        Json{{"mode", "underlay"}, {"detectIPConflict", false}}, Json{{"mode", "auto"}}}) {
    std::vector<PlannedAttachment> plan = {attachment("cluster", "eth0", mv, true)};
    plan_in_tree_probes(node(settings), {}, plan);
    EXPECT_EQ(plan[0].conflist, mv) << settings.dump();  // the bytes are untouched
  }
}

TEST(CoordinationProbe, WithoutInTreeMappingAReferenceTypeIsExecutedAndGetsNoKey) {
  const std::string mv = conflist({{{"type", "macvlan"}}});
  std::vector<PlannedAttachment> plan = {attachment("cluster", "eth0", mv, true)};
  plan_in_tree_probes(node({{"mode", "underlay"}, {"detectIPConflict", true}}), {}, plan);
  EXPECT_EQ(plan[0].conflist, mv);
}

TEST(CoordinationProbe, DelegateReadsTheKeyStrictly) {
  EXPECT_EQ(delegates::probe_timeout(Json::object()), std::nullopt);
  EXPECT_EQ(delegates::probe_timeout({{"cnimuxProbe", nullptr}}), std::nullopt);
  EXPECT_EQ(delegates::probe_timeout({{"cnimuxProbe", {{"detectIPConflict", false}}}}),
            std::nullopt);
  EXPECT_EQ(delegates::probe_timeout({{"cnimuxProbe", {{"detectIPConflict", true}}}}), 1000ms);
  EXPECT_EQ(delegates::probe_timeout(
                {{"cnimuxProbe", {{"detectIPConflict", true}, {"detectTimeout", 0.3}}}}),
            300ms);
  for (const Json& bad : {Json("yes"), Json{{"detectIPConflict", "true"}},
                          Json{{"detectIPConflict", true}, {"detectTimeout", 0}},
                          Json{{"detectIPConflict", true}, {"detectTimeout", 31}},
                          Json{{"detectIPConflict", true}, {"other", 1}}}) {
    try {
      delegates::probe_timeout({{"cnimuxProbe", bad}});
      ADD_FAILURE() << "accepted " << bad.dump();
    } catch (const cni::Error& e) {
      EXPECT_EQ(e.code(), cni::kInvalidConfig);
      EXPECT_THAT(e.msg(), HasSubstr("cnimuxProbe"));
    }
  }
}

}  // namespace
}  // namespace plugin

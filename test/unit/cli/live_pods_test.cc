// cli::judge_journals, the rule `ipam gc --kubeconfig` applies to each journal: which ones the
// API's pod list lets go, and the ones it must keep whatever the list says.
#include "cli/live_pods.h"

#include <gtest/gtest.h>

namespace cli {
namespace {

PodView journal(const std::string& cid, const std::string& name, const std::string& uid) {
  PodView p;
  p.container_id = cid;
  p.pod_namespace = name.empty() ? "" : "web";
  p.pod_name = name;
  p.pod_uid = uid;
  p.state = "attached";
  return p;
}

TEST(LivePodsTest, OnlyJournalsOfGoneOrReplacedPodsReadBeforeTheListAreLetGo) {
  ApiPods api;
  api.uids[{"web", "alive"}] = "u1";
  api.uids[{"web", "no-uid"}] = "";
  api.uids[{"web", "replaced"}] = "u-new";
  const std::vector<PodView> now = {journal("c1", "alive", "u1"),
                                    journal("c2", "gone", "u2"),
                                    journal("c3", "replaced", "u-old"),
                                    journal("c4", "no-uid", "u4"),
                                    journal("c5", "", ""),
                                    journal("c6", "alive", ""),
                                    journal("c7", "newer-than-list", "u7")};
  const std::set<std::string> before = {"c1", "c2", "c3", "c4", "c5", "c6"};  // c7: written later
  ApiVerdict v = judge_journals(now, before, api);
  std::set<std::string> kept;
  for (const auto& p : v.keep) kept.insert(p.container_id);
  EXPECT_EQ(kept, (std::set<std::string>{"c1", "c4", "c5", "c6", "c7"}));
  ASSERT_EQ(v.gone.size(), 2u);
  EXPECT_EQ(v.gone["c2"], "pod web/gone is gone");
  EXPECT_EQ(v.gone["c3"], "pod web/replaced was replaced (uid u-old, now u-new)");
}

}  // namespace
}  // namespace cli

// HttpKubeClient::list_pods against the fake API server (pages, field selector, answers that
// must not read as "no pods"), and every request the client can send against
// plugin/kube_api_grants.h, the list config/rbac.yaml is checked against.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <tuple>

#include "cni/error.h"
#include "plugin/http_kube_client.h"
#include "plugin/kube_api_grants.h"
#include "test/fakes/fake_kube_api.h"

namespace plugin {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

Json pod_on(const std::string& ns, const std::string& name, const std::string& node) {
  Json pod = fakes::FakeKubeApi::make_pod(ns, name, "uid-" + name);
  pod["spec"]["nodeName"] = node;
  return pod;
}

Json fixtures() {
  Json pods = Json::array();
  for (int i = 0; i < 7; ++i)
    pods.push_back(
        pod_on("ns" + std::to_string(i % 3), "p" + std::to_string(i), i < 5 ? "n1" : "n2"));
  pods.push_back(fakes::FakeKubeApi::make_pod("default", "web", "uid-web"));
  return {{"pods", pods},
          {"nads", {fakes::FakeKubeApi::make_nad("default", "net1", R"({"type":"macvlan"})")}}};
}

class KubeListPodsTest : public ::testing::Test {
 protected:
  KubeListPodsTest() : api_(fakes::FakeKubeApi::Options{.fixtures = fixtures()}) {}
  std::unique_ptr<HttpKubeClient> client() {
    HttpKubeOptions o;
    o.max_attempts = 2;
    return std::make_unique<HttpKubeClient>(load_kubeconfig(api_.write_kubeconfig()), o);
  }
  static std::set<std::string> names(const std::vector<Json>& pods) {
    std::set<std::string> out;
    for (const auto& p : pods) out.insert(p["metadata"]["name"].get<std::string>());
    return out;
  }
  fakes::FakeKubeApi api_;
};

TEST_F(KubeListPodsTest, FollowsEveryPageOfEveryNamespace) {
  auto c = client();
  auto pods = c->list_pods("", 3);
  EXPECT_EQ(names(pods), (std::set<std::string>{"p0", "p1", "p2", "p3", "p4", "p5", "p6", "web"}));
  EXPECT_EQ(c->stats().pod_lists, 3);  // 8 pods, 3 a page
  for (const auto& r : api_.request_log()) {
    EXPECT_EQ(r.path, "/api/v1/pods");
    EXPECT_TRUE(r.auth);
  }
}

TEST_F(KubeListPodsTest, TheFieldSelectorKeepsOneNode) {
  auto pods = client()->list_pods("spec.nodeName=n2");
  EXPECT_EQ(names(pods), (std::set<std::string>{"p5", "p6"}));
  ASSERT_FALSE(api_.request_log().empty());
  EXPECT_THAT(api_.request_log().back().query, HasSubstr("fieldSelector=spec.nodeName%3Dn2"));
}

TEST_F(KubeListPodsTest, AnAnswerThatIsNotAPodListFails) {
  auto c = client();
  api_.set_mode("404");
  try {
    c->list_pods("");
    ADD_FAILURE() << "a 404 must not read as an empty list";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kKubeApiFailure);
    EXPECT_THAT(e.msg(), HasSubstr("404"));
  }
  api_.set_mode("normal");
  api_.set_tokens({"another-token"});
  EXPECT_THROW(c->list_pods(""), cni::Error);  // 401
}

// RBAC as the API server sees a request: (verb, group, resource[/subresource]).
std::tuple<std::string, std::string, std::string> rbac_of(const fakes::KubeRequest& r) {
  std::vector<std::string> parts;
  std::stringstream ss(r.path);
  for (std::string p; std::getline(ss, p, '/');) {
    if (!p.empty()) parts.push_back(p);
  }
  // /api/v1/... or /apis/GROUP/VERSION/...
  std::string group;
  size_t i = 2;
  if (!parts.empty() && parts[0] == "apis") {
    group = parts.at(1);
    i = 3;
  }
  if (i + 1 < parts.size() && parts[i] == "namespaces") i += 2;
  const std::string resource = parts.at(i);
  const bool named = i + 1 < parts.size();
  const std::string sub = i + 2 < parts.size() ? "/" + parts[i + 2] : "";
  std::string verb;
  if (r.method == "GET") verb = named ? "get" : "list";
  if (r.method == "PATCH") verb = "patch";
  if (r.method == "PUT") verb = "update";
  if (r.method == "POST") verb = "create";
  if (r.method == "DELETE") verb = "delete";
  return {verb, group, resource + sub};
}

TEST_F(KubeListPodsTest, EveryRequestTheClientSendsIsListedInKubeApiGrants) {
  auto c = client();
  ASSERT_TRUE(c->get_pod("default", "web"));
  ASSERT_TRUE(c->get_nad("default", "net1"));
  c->patch_pod_annotation("default", "web", "k8s.v1.cni.cncf.io/network-status", "[]");
  c->list_pods("spec.nodeName=n1");
  std::set<std::tuple<std::string, std::string, std::string>> listed, sent;
  for (const auto& g : kKubeApiGrants)
    listed.insert({std::string(g.verb), std::string(g.group), std::string(g.resource)});
  for (const auto& r : api_.request_log()) sent.insert(rbac_of(r));
  // Both ways: nothing unlisted is sent, and nothing listed (so granted) goes unused.
  EXPECT_EQ(sent, listed);
}

}  // namespace
}  // namespace plugin

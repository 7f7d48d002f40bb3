// Tests for the pod sources: CRI annotations (no API request), the API (UID check, missing
// pod), the manifests directory (YAML and JSON), and the chain's order.
#include "plugin/pod_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cni/error.h"
#include "plugin/http_kube_client.h"
#include "test/fakes/fake_kube_api.h"
#include "test/fakes/in_memory_kube_client.h"

namespace plugin {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

cni::Invocation invocation(const std::string& cni_args) {
  cni::Invocation inv;
  inv.verb = cni::Verb::kAdd;
  inv.container_id = "cxt" + std::to_string(getpid());
  inv.ifname = "eth0";
  inv.args = cni::CniArgs::parse(cni_args);
  return inv;
}

const char* kWebArgs =
    "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web;K8S_POD_UID=uid-web";

nlohmann::json cri_runtime_config() {
  return {{kCriPodAnnotationsKey, {{"k8s.v1.cni.cncf.io/networks", "from-cri"}}},
          {"portMappings", nlohmann::json::array()}};
}

int expect_error_code(const std::function<void()>& call, const std::string& needle) {
  try {
    call();
  } catch (const cni::Error& e) {
    EXPECT_THAT(e.msg(), HasSubstr(needle));
    return e.code();
  }
  ADD_FAILURE() << "expected cni::Error mentioning " << needle;
  return 0;
}

TEST(CriPodSource, ReadsTheRuntimeConfigMap) {
  CriPodSource cri;
  auto rc = cri_runtime_config();
  auto info = cri.find(invocation(kWebArgs), &rc);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->source, "cri");
  EXPECT_EQ(info->ns, "shop");
  EXPECT_EQ(info->name, "web");
  EXPECT_EQ(info->uid, "uid-web");
  EXPECT_EQ(info->annotations.at("k8s.v1.cni.cncf.io/networks"), "from-cri");

  nlohmann::json empty = {{kCriPodAnnotationsKey, nlohmann::json::object()}};
  auto none = cri.find(invocation(kWebArgs), &empty);
  ASSERT_TRUE(none.has_value());  // an empty map is an answer: the pod has no annotations
  EXPECT_TRUE(none->annotations.empty());

  nlohmann::json absent = {{"portMappings", nlohmann::json::array()}};
  EXPECT_FALSE(cri.find(invocation(kWebArgs), &absent).has_value());
  EXPECT_FALSE(cri.find(invocation(kWebArgs), nullptr).has_value());

  nlohmann::json bad = {{kCriPodAnnotationsKey, {{"n", 5}}}};
  EXPECT_EQ(expect_error_code([&] { cri.find(invocation(kWebArgs), &bad); }, "[\"n\"]"),
            cni::kInvalidConfig);
}

TEST(ApiPodSource, ChecksUidAndMissingPods) {
  fakes::InMemoryKubeClient kube;
  kube.add_pod(fakes::FakeKubeApi::make_pod("shop", "web", "uid-web", {{"a", "1"}}));
  ApiPodSource api(kube, /*pod_must_exist=*/true);
  auto info = api.find(invocation(kWebArgs), nullptr);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->source, "api");
  EXPECT_EQ(info->annotations.at("a"), "1");

  auto stale = invocation("K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web;K8S_POD_UID=uid-old");
  EXPECT_EQ(expect_error_code([&] { api.find(stale, nullptr); }, "uid-old"), cni::kPodNotFound);
  expect_error_code([&] { api.find(stale, nullptr); }, "uid-web");

  auto gone = invocation("K8S_POD_NAMESPACE=shop;K8S_POD_NAME=gone");
  EXPECT_EQ(expect_error_code([&] { api.find(gone, nullptr); }, "shop/gone"), cni::kPodNotFound);
  ApiPodSource lenient(kube, /*pod_must_exist=*/false);
  EXPECT_FALSE(lenient.find(gone, nullptr).has_value());

  // No pod named in CNI_ARGS (podman, cnimuxctl): no API call at all.
  const int before = kube.counts().pod_gets;
  EXPECT_FALSE(api.find(invocation(""), nullptr).has_value());
  EXPECT_EQ(kube.counts().pod_gets, before);
}

class PodDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/cxpd" + std::to_string(getpid()) + "-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  std::string dir_;
};

TEST_F(PodDirTest, FindsYamlAndJsonManifestsByNamespaceAndName) {
  write("a-broken.yaml", "metadata: [unclosed\n");
  write("b-pods.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: other\n"
        "  annotations:\n    which: wrong-namespace\n"
        "---\n"
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: shop\n"
        "  annotations:\n    k8s.v1.cni.cncf.io/networks: '[{\"name\":\"net1\"}]'\n"
        "    count: 3\n");
  write("c-pod.json", R"({"apiVersion":"v1","kind":"List","items":[{"kind":"Pod",
        "metadata":{"name":"db","annotations":{"k8s.v1.cni.cncf.io/networks":"net2"}}}]})");
  write("notes.txt", "kind: Pod\nmetadata:\n  name: web\n  namespace: shop\n");
  PodDirSource source(dir_);

  auto web = source.find(invocation(kWebArgs), nullptr);
  ASSERT_TRUE(web.has_value());
  EXPECT_EQ(web->source, "podDir");
  EXPECT_EQ(web->ns, "shop");
  EXPECT_EQ(web->uid, "uid-web");  // the manifest has none: CNI_ARGS supplies it
  EXPECT_EQ(web->annotations.at("k8s.v1.cni.cncf.io/networks"), R"([{"name":"net1"}])");
  EXPECT_EQ(web->annotations.at("count"), "3");

  auto db = source.find(invocation("K8S_POD_NAMESPACE=default;K8S_POD_NAME=db"), nullptr);
  ASSERT_TRUE(db.has_value());
  EXPECT_EQ(db->annotations.at("k8s.v1.cni.cncf.io/networks"), "net2");

  EXPECT_FALSE(source.find(invocation("K8S_POD_NAMESPACE=shop;K8S_POD_NAME=db"), nullptr));
}

TEST_F(PodDirTest, DeeplyNestedJsonManifestIsSkippedNotCrashed) {
  write("a-deep.json", R"({"kind":"Pod","metadata":{"name":"web","namespace":"shop"},"x":)" +
                           std::string(100000, '[') + std::string(100000, ']') + "}");
  write("b-pod.json", R"({"kind":"Pod","metadata":{"name":"db","namespace":"shop"}})");
  PodDirSource source(dir_);
  EXPECT_FALSE(source.find(invocation(kWebArgs), nullptr).has_value());
  EXPECT_TRUE(source.find(invocation("K8S_POD_NAMESPACE=shop;K8S_POD_NAME=db"), nullptr));
}

TEST_F(PodDirTest, UidMismatchIsAnError) {
  write("p.yaml", "kind: Pod\nmetadata:\n  name: web\n  namespace: shop\n  uid: uid-other\n");
  PodDirSource source(dir_);
  EXPECT_EQ(expect_error_code([&] { source.find(invocation(kWebArgs), nullptr); }, "uid-other"),
            cni::kPodNotFound);
}

TEST_F(PodDirTest, ChainTriesCriThenApiThenPodDir) {
  write("web.yaml",
        "kind: Pod\nmetadata:\n  name: web\n  namespace: shop\n"
        "  annotations:\n    from: dir\n");
  fakes::InMemoryKubeClient kube;
  kube.add_pod(fakes::FakeKubeApi::make_pod("shop", "web", "uid-web", {{"from", "api"}}));
  auto chain = make_pod_source_chain({.kube = &kube, .pod_dir = dir_});

  auto rc = cri_runtime_config();
  EXPECT_EQ(chain->find(invocation(kWebArgs), &rc)->source, "cri");
  EXPECT_EQ(kube.counts().pod_gets, 0);

  EXPECT_EQ(chain->find(invocation(kWebArgs), nullptr)->annotations.at("from"), "api");
  EXPECT_EQ(kube.counts().pod_gets, 1);

  auto no_api = make_pod_source_chain({.pod_dir = dir_});
  EXPECT_EQ(no_api->find(invocation(kWebArgs), nullptr)->annotations.at("from"), "dir");

  auto nothing = make_pod_source_chain({});
  auto none = nothing->find(invocation(kWebArgs), nullptr);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->source, "none");
  EXPECT_EQ(none->name, "web");
  EXPECT_TRUE(none->annotations.empty());

  // The API's 404 with pod_must_exist stops the chain: podDir does not override the API.
  auto strict = make_pod_source_chain({.kube = &kube, .pod_dir = dir_, .pod_must_exist = true});
  auto gone = invocation("K8S_POD_NAMESPACE=shop;K8S_POD_NAME=gone");
  EXPECT_EQ(expect_error_code([&] { strict->find(gone, nullptr); }, "shop/gone"),
            cni::kPodNotFound);
}

// podman: CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=<name> with no namespace.
TEST_F(PodDirTest, PodNamedWithoutNamespaceIsInTheDefaultNamespace) {
  write("web.yaml",
        "kind: Pod\nmetadata:\n  name: web\n  namespace: podman\n"
        "  annotations:\n    from: podman-ns\n"
        "---\nkind: Pod\nmetadata:\n  name: web\n  annotations:\n    from: default-ns\n");
  const auto podman_args = invocation("IgnoreUnknown=1;K8S_POD_NAME=web");

  auto by_default = make_pod_source_chain({.pod_dir = dir_})->find(podman_args, nullptr);
  EXPECT_EQ(by_default->source, "podDir");
  EXPECT_EQ(by_default->ns, "default");
  EXPECT_EQ(by_default->annotations.at("from"), "default-ns");

  auto configured = make_pod_source_chain({.pod_dir = dir_, .default_namespace = "podman"});
  auto found = configured->find(podman_args, nullptr);
  EXPECT_EQ(found->ns, "podman");
  EXPECT_EQ(found->annotations.at("from"), "podman-ns");

  // The API is asked in that namespace too, and the "none" answer carries it.
  fakes::InMemoryKubeClient kube;
  auto none = make_pod_source_chain({.kube = &kube, .default_namespace = "podman"})
                  ->find(podman_args, nullptr);
  EXPECT_EQ(none->source, "none");
  EXPECT_EQ(none->ns, "podman");
  EXPECT_EQ(kube.counts().pod_gets, 1);

  // No pod name: nothing to default, the identity stays empty.
  auto anonymous = make_pod_source_chain({.pod_dir = dir_})->find(invocation(""), nullptr);
  EXPECT_TRUE(anonymous->ns.empty());
}

TEST(PodSourceOverHttp, CriAnswerMakesNoApiRequestAndApiMakesOne) {
  fakes::FakeKubeApi api(fakes::FakeKubeApi::Options{
      .fixtures = {
          {"pods", {fakes::FakeKubeApi::make_pod("shop", "web", "uid-web", {{"from", "api"}})}}}});
  HttpKubeClient kube(load_kubeconfig(api.write_kubeconfig()));
  auto chain = make_pod_source_chain({.kube = &kube, .pod_must_exist = true});

  auto rc = cri_runtime_config();
  auto cri = chain->find(invocation(kWebArgs), &rc);
  EXPECT_EQ(cri->source, "cri");
  EXPECT_TRUE(api.request_log().empty());

  auto from_api = chain->find(invocation(kWebArgs), nullptr);
  EXPECT_EQ(from_api->source, "api");
  EXPECT_EQ(from_api->annotations.at("from"), "api");
  auto log = api.request_log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].path, "/api/v1/namespaces/shop/pods/web");

  auto stale = invocation("K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web;K8S_POD_UID=uid-old");
  EXPECT_EQ(expect_error_code([&] { chain->find(stale, nullptr); }, "uid-web"), cni::kPodNotFound);
}

}  // namespace
}  // namespace plugin

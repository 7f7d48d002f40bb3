// Tests for NAD resolution: API and nadDir sources, the per-call cache, the confDir
// fallback, clusterNetwork references (name, file, directory) and conflist normalization.
#include "plugin/nad_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "cni/error.h"
#include "test/fakes/in_memory_kube_client.h"

namespace plugin {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Json = nlohmann::json;

Json nad(const std::string& ns, const std::string& name, const Json& config,
         const std::string& resource = "") {
  Json obj = {{"apiVersion", "k8s.cni.cncf.io/v1"},
              {"kind", "NetworkAttachmentDefinition"},
              {"metadata", {{"namespace", ns}, {"name", name}}},
              {"spec", Json::object()}};
  if (!config.is_null()) obj["spec"]["config"] = config.is_string() ? config : Json(config.dump());
  if (!resource.empty()) obj["metadata"]["annotations"][kResourceNameAnnotation] = resource;
  return obj;
}

class NadSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> seq{0};
    root_ = fs::temp_directory_path() /
            ("cxt" + std::to_string(getpid()) + "-nad-" + std::to_string(seq++));
    fs::create_directories(root_ / "net.d");
    fs::create_directories(root_ / "nads");
    meta_.cni_version = "1.0.0";
    meta_.type = "cnimux";
    meta_.conf_dir = (root_ / "net.d").string();
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  void conf(const std::string& file, const Json& j) { write(root_ / "net.d" / file, j.dump()); }

  cni::Error error_of(const std::function<void()>& f) {
    try {
      f();
    } catch (const cni::Error& e) {
      return e;
    }
    ADD_FAILURE() << "no error";
    return cni::Error(0, "");
  }

  fs::path root_;
  MetaConfig meta_;
  fakes::InMemoryKubeClient kube_;
};

TEST_F(NadSourceTest, SinglePluginNadIsWrappedWithNameAndVersionInjected) {
  kube_.add_nad(nad("test", "macvlan", {{"type", "macvlan"}, {"master", "eth0"}}));
  NadSource src(meta_, &kube_);
  const ResolvedNetwork& n = src.nad("test", "macvlan");
  EXPECT_EQ(n.network, "test/macvlan");
  EXPECT_EQ(n.origin, "api");
  EXPECT_EQ(n.conflist["name"], "macvlan");
  EXPECT_EQ(n.conflist["cniVersion"], "1.0.0");
  ASSERT_EQ(n.conflist["plugins"].size(), 1u);
  EXPECT_EQ(
      n.conflist["plugins"][0],
      Json(
          {{"type", "macvlan"}, {"master", "eth0"}, {"name", "macvlan"}, {"cniVersion", "1.0.0"}}));
}

TEST_F(NadSourceTest, ConflistKeepsItsOwnNameAndVersionForEveryPlugin) {
  kube_.add_nad(nad("test", "br", Json::parse(R"({"cniVersion":"0.4.0","name":"bridge-net",
      "disableCheck":true,"plugins":[{"type":"bridge"},{"type":"tuning","name":"x","cniVersion":"9"}]})")));
  NadSource src(meta_, &kube_);
  const Json& l = src.nad("test", "br").conflist;
  EXPECT_EQ(l["name"], "bridge-net");
  EXPECT_EQ(l["disableCheck"], true);
  for (const Json& p : l["plugins"]) {
    EXPECT_EQ(p["name"], "bridge-net");
    EXPECT_EQ(p["cniVersion"], "0.4.0");
  }
}

TEST_F(NadSourceTest, OneGetPerDistinctNad) {
  kube_.add_nad(nad("test", "a", {{"type", "macvlan"}}));
  NadSource src(meta_, &kube_);
  src.nad("test", "a");
  src.nad("test", "a");
  EXPECT_THROW(src.nad("test", "missing"), cni::Error);
  EXPECT_THROW(src.nad("test", "missing"), cni::Error);
  EXPECT_EQ(kube_.counts().nad_gets, 2);
}

TEST_F(NadSourceTest, MissingNadNamesNamespaceAndName) {
  NadSource src(meta_, &kube_);
  cni::Error e = error_of([&] { src.nad("test", "nope"); });
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_THAT(e.msg(), HasSubstr("test/nope not found"));
  NadSource offline(meta_, nullptr);
  EXPECT_THAT(error_of([&] { offline.nad("test", "nope"); }).msg(),
              HasSubstr("no Kubernetes API and no nadDir"));
}

TEST_F(NadSourceTest, ApiFailurePassesThrough) {
  kube_.fail_next(1);
  NadSource src(meta_, &kube_);
  EXPECT_EQ(error_of([&] { src.nad("test", "a"); }).code(), cni::kKubeApiFailure);
}

TEST_F(NadSourceTest, BrokenSpecConfigNamesNadAndPosition) {
  kube_.add_nad(nad("test", "bad", Json("{\"type\": ")));
  kube_.add_nad(nad("test", "notype", Json("{\"master\": \"eth0\"}")));
  kube_.add_nad(nad("test", "slash", Json("{\"type\": \"../evil\"}")));
  NadSource src(meta_, &kube_);
  cni::Error e = error_of([&] { src.nad("test", "bad"); });
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_THAT(e.msg(), HasSubstr("NAD test/bad spec.config: invalid JSON at byte"));
  EXPECT_THAT(error_of([&] { src.nad("test", "notype"); }).msg(),
              HasSubstr("lacks a string \"type\""));
  EXPECT_THAT(error_of([&] { src.nad("test", "slash"); }).msg(), HasSubstr("containing '/'"));
}

// Arrays nested `depth` deep, as text (a json of 100,000 levels cannot even be printed).
std::string deep(int depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST_F(NadSourceTest, DeepSpecConfigIsRefusedNamingTheNad) {
  kube_.add_nad(nad("test", "deep", Json(R"({"type": "macvlan", "x": )" + deep(100000) + "}")));
  kube_.add_nad(nad("test", "ok", Json(R"({"type": "macvlan", "x": )" + deep(64) + "}")));
  NadSource src(meta_, &kube_);
  cni::Error e = error_of([&] { src.nad("test", "deep"); });
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_EQ(e.msg(), "NAD test/deep spec.config: JSON nested deeper than 128 levels");
  EXPECT_EQ(src.nad("test", "ok").conflist["plugins"][0]["x"].dump(), deep(64));
}

TEST_F(NadSourceTest, DeepJsonManifestInNadDirIsRefusedNamingTheFile) {
  meta_.nad_dir = (root_ / "nads").string();
  write(root_ / "nads" / "deep.json",
        R"({"kind": "NetworkAttachmentDefinition", "x": )" + deep(100000) + "}");
  NadSource src(meta_, nullptr);
  cni::Error e = error_of([&] { src.nad("test", "x"); });
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_THAT(e.msg(), HasSubstr("deep.json\": JSON nested deeper than 128 levels"));
}

TEST_F(NadSourceTest, DeepConfigsOnDiskAreRefusedOrSkipped) {
  const std::string text =
      R"({"cniVersion": "1.0.0", "name": "calico", "type": "calico", "x": )" + deep(100000) + "}";
  // Named by path: an error naming the file.
  write(root_ / "files" / "deep.conf", text);
  NadSource src(meta_, nullptr);
  cni::Error e = error_of([&] { src.reference((root_ / "files" / "deep.conf").string()); });
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_THAT(e.msg(), HasSubstr("deep.conf\": JSON nested deeper than 128 levels"));
  // Found by a scan of confDir: skipped, so a later good file still serves.
  write(root_ / "net.d" / "05-deep.conf", text);
  conf("10-calico.conf", {{"cniVersion", "1.0.0"}, {"name", "calico"}, {"type", "calico"}});
  EXPECT_EQ(src.reference("calico").origin, (root_ / "net.d" / "10-calico.conf").string());
}

TEST_F(NadSourceTest, ResourceNameAnnotation) {
  kube_.add_nad(nad("test", "sriov", {{"type", "sriov"}}, "intel.com/sriov_netdevice"));
  NadSource src(meta_, &kube_);
  EXPECT_EQ(src.nad("test", "sriov").resource_name, "intel.com/sriov_netdevice");
}

TEST_F(NadSourceTest, EmptySpecConfigFallsBackToConfDirConflistFirst) {
  conf("10-a.conf", {{"cniVersion", "0.3.1"}, {"name", "ondisk"}, {"type", "macvlan"}});
  conf("20-b.conflist", {{"cniVersion", "0.4.0"},
                         {"name", "ondisk"},
                         {"plugins", Json::array({{{"type", "bridge"}}})}});
  conf("05-other.conflist",
       {{"cniVersion", "0.4.0"}, {"name", "other"}, {"plugins", Json::array({{{"type", "ptp"}}})}});
  write(root_ / "net.d" / "00-garbage.conflist", "{not json");
  kube_.add_nad(nad("test", "ondisk", Json("  ")));
  kube_.add_nad(nad("test", "ondisk2", nullptr));
  NadSource src(meta_, &kube_);
  const ResolvedNetwork& n = src.nad("test", "ondisk");
  EXPECT_EQ(n.network, "test/ondisk");
  EXPECT_EQ(n.conflist["plugins"][0]["type"], "bridge");
  EXPECT_THAT(n.origin, HasSubstr("20-b.conflist"));
  cni::Error e = error_of([&] { src.nad("test", "ondisk2"); });
  EXPECT_THAT(e.msg(), HasSubstr("NAD test/ondisk2 has no spec.config"));
  EXPECT_THAT(e.msg(), HasSubstr("no config named \"ondisk2\""));
}

TEST_F(NadSourceTest, ConfDirPrefersSortedOrderAmongConfAndJson) {
  conf("30-x.json", {{"name", "n"}, {"type", "ptp"}});
  conf("20-x.conf", {{"name", "n"}, {"type", "macvlan"}});
  NadSource src(meta_, nullptr);
  auto n = src.find_in_conf_dir("n");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->conflist["plugins"][0]["type"], "macvlan");
  EXPECT_EQ(n->network, "n");
}

TEST_F(NadSourceTest, ConfDirSkipsOurOwnConfig) {
  conf("00-cnimux.conflist", {{"cniVersion", "1.0.0"},
                              {"name", "pods"},
                              {"plugins", Json::array({{{"type", "cnimux"}}})}});
  conf("10-flannel.conflist", {{"cniVersion", "1.0.0"},
                               {"name", "pods"},
                               {"plugins", Json::array({{{"type", "flannel"}}})}});
  NadSource src(meta_, nullptr);
  EXPECT_EQ(src.find_in_conf_dir("pods")->conflist["plugins"][0]["type"], "flannel");
}

TEST_F(NadSourceTest, NadDirMultiDocumentYamlAndJson) {
  meta_.nad_dir = (root_ / "nads").string();
  write(root_ / "nads" / "a.yaml", R"(---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: macvlan
  namespace: test
  annotations:
    k8s.v1.cni.cncf.io/resourceName: example.com/nic
spec:
  config: |
    {"cniVersion": "0.4.0", "type": "macvlan", "master": "eth0"}
---
apiVersion: v1
kind: Pod
metadata:
  name: not-a-nad
---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: bridge
spec:
  config: '{"cniVersion": "1.0.0", "name": "br0", "plugins": [{"type": "bridge", "isGateway": true}]}'
)");
  write(root_ / "nads" / "b.json", nad("other", "ptp", {{"type", "ptp"}, {"mtu", 1400}}).dump());
  write(root_ / "nads" / "c.yml", R"(apiVersion: v1
kind: List
items:
- apiVersion: k8s.cni.cncf.io/v1
  kind: NetworkAttachmentDefinition
  metadata: {name: listed, namespace: test}
  spec: {config: '{"type": "host-device", "device": "eth1"}'}
)");
  write(root_ / "nads" / "README.txt", "not a manifest");
  NadSource src(meta_, nullptr);
  const ResolvedNetwork& m = src.nad("test", "macvlan");
  EXPECT_EQ(m.conflist["plugins"][0]["master"], "eth0");
  EXPECT_EQ(m.conflist["cniVersion"], "0.4.0");
  EXPECT_EQ(m.resource_name, "example.com/nic");
  EXPECT_THAT(m.origin, HasSubstr("nadDir"));
  EXPECT_EQ(src.nad("default", "bridge").conflist["plugins"][0]["isGateway"], true);
  EXPECT_EQ(src.nad("default", "bridge").conflist["name"], "br0");
  EXPECT_EQ(src.nad("other", "ptp").conflist["plugins"][0]["mtu"], 1400);
  EXPECT_EQ(src.nad("test", "listed").conflist["plugins"][0]["device"], "eth1");
  EXPECT_THROW(src.nad("default", "not-a-nad"), cni::Error);
}

TEST_F(NadSourceTest, NadDirDuplicateNamesBothFiles) {
  meta_.nad_dir = (root_ / "nads").string();
  write(root_ / "nads" / "a.json", nad("test", "x", {{"type", "ptp"}}).dump());
  write(root_ / "nads" / "b.json", nad("test", "x", {{"type", "ptp"}}).dump());
  NadSource src(meta_, nullptr);
  cni::Error e = error_of([&] { src.nad("test", "x"); });
  EXPECT_THAT(e.msg(), HasSubstr("defined twice"));
  EXPECT_THAT(e.msg(), HasSubstr("a.json"));
  EXPECT_THAT(e.msg(), HasSubstr("b.json"));
}

TEST_F(NadSourceTest, NadDirBadYamlNamesTheFile) {
  meta_.nad_dir = (root_ / "nads").string();
  // It spells the NAD's name, so the lookup reads it and, not finding x, says why.
  write(root_ / "nads" / "bad.yaml", "metadata: {name: x, namespace: test}\nkind: [unclosed\n");
  NadSource src(meta_, nullptr);
  cni::Error e = error_of([&] { src.nad("test", "x"); });
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_THAT(e.msg(), HasSubstr("bad.yaml"));
}

TEST_F(NadSourceTest, ReferenceByNameTriesNadInMultusNamespaceFirst) {
  conf("10-calico.conflist", {{"cniVersion", "1.0.0"},
                              {"name", "calico"},
                              {"plugins", Json::array({{{"type", "calico"}}})}});
  kube_.add_nad(nad("kube-system", "calico", {{"type", "calico-from-nad"}}));
  NadSource src(meta_, &kube_);
  ResolvedNetwork n = src.reference("calico");
  EXPECT_EQ(n.network, "kube-system/calico");
  EXPECT_EQ(n.conflist["plugins"][0]["type"], "calico-from-nad");
}

TEST_F(NadSourceTest, ReferenceByNameFallsBackToConfDir) {
  conf("10-calico.conflist", {{"cniVersion", "1.0.0"},
                              {"name", "calico"},
                              {"plugins", Json::array({{{"type", "calico"}}})}});
  NadSource src(meta_, &kube_);
  ResolvedNetwork n = src.reference("calico");
  EXPECT_EQ(n.network, "calico");
  EXPECT_EQ(n.conflist["plugins"][0]["type"], "calico");
  EXPECT_EQ(kube_.calls(), std::vector<std::string>{"GET nad kube-system/calico"});
  // With the API down, the config on disk still serves.
  kube_.fail_next(1);
  NadSource again(meta_, &kube_);
  EXPECT_EQ(again.reference("calico").conflist["plugins"][0]["type"], "calico");
}

TEST_F(NadSourceTest, ReferenceNotFoundNamesIt) {
  NadSource src(meta_, &kube_);
  cni::Error e = error_of([&] { src.reference("nowhere"); });
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_THAT(e.msg(), HasSubstr("network \"nowhere\" not found"));
}

TEST_F(NadSourceTest, ReferenceAsFilePath) {
  write(root_ / "files" / "flannel.conf",
        Json({{"cniVersion", "0.3.1"}, {"name", "cbr0"}, {"type", "flannel"}}).dump());
  NadSource src(meta_, nullptr);
  ResolvedNetwork n = src.reference((root_ / "files" / "flannel.conf").string());
  EXPECT_EQ(n.network, "cbr0");
  EXPECT_EQ(n.conflist["plugins"][0]["type"], "flannel");
  EXPECT_EQ(n.conflist["plugins"][0]["cniVersion"], "0.3.1");
}

TEST_F(NadSourceTest, ReferenceAsDirectoryTakesAlphabeticallyFirst) {
  write(root_ / "dir" / "20-b.conf", Json({{"name", "b"}, {"type", "ptp"}}).dump());
  write(root_ / "dir" / "10-a.conflist", Json({{"cniVersion", "1.0.0"},
                                               {"name", "a"},
                                               {"plugins", Json::array({{{"type", "bridge"}}})}})
                                             .dump());
  write(root_ / "dir" / "00-ignored.json", Json({{"name", "z"}, {"type", "x"}}).dump());
  NadSource src(meta_, nullptr);
  ResolvedNetwork n = src.reference((root_ / "dir").string());
  EXPECT_EQ(n.network, "a");
  EXPECT_EQ(n.conflist["plugins"][0]["type"], "bridge");
  EXPECT_THAT(error_of([&] { src.reference((root_ / "missing").string()); }).msg(),
              HasSubstr("no such file or directory"));
  EXPECT_THAT(error_of([&] { src.reference(root_.string() + "/nads"); }).msg(),
              HasSubstr("has no .conf or .conflist"));
}

TEST_F(NadSourceTest, InlineDelegateNamedAfterTypeWhenUnnamed) {
  NadSource src(meta_, nullptr);
  ResolvedNetwork n = src.inline_config({{"type", "weave-net"}, {"hairpinMode", true}});
  EXPECT_EQ(n.network, "weave-net");
  EXPECT_EQ(n.conflist["plugins"][0]["name"], "weave-net");
  EXPECT_EQ(n.conflist["plugins"][0]["cniVersion"], "1.0.0");
  EXPECT_EQ(n.origin, "inline");
}

TEST(NormalizeConflist, Rules) {
  Json l = normalize_conflist({{"type", "x"}}, "fallback", "", "t");
  EXPECT_EQ(l["name"], "fallback");
  EXPECT_FALSE(l.contains("cniVersion"));
  EXPECT_FALSE(l["plugins"][0].contains("cniVersion"));
  for (const Json& bad : {Json::array(), Json{{"plugins", Json::array()}}, Json{{"plugins", "x"}},
                          Json{{"type", "x"}, {"name", 3}}, Json{{"plugins", Json::array({1})}}}) {
    try {
      normalize_conflist(bad, "n", "1.0.0", "thing");
      ADD_FAILURE() << "accepted " << bad.dump();
    } catch (const cni::Error& e) {
      EXPECT_EQ(e.code(), cni::kInvalidConfig);
      EXPECT_THAT(e.msg(), HasSubstr("thing"));
    }
  }
}

TEST(YamlToJson, ScalarsFollowTheCoreSchema) {
  Json j = yaml_to_json("a: 1\nb: true\nc: '1'\nd: ~\ne: 1.5\nf: text\ng: [x, 2]\n");
  EXPECT_EQ(j, Json::parse(R"({"a":1,"b":true,"c":"1","d":null,"e":1.5,"f":"text","g":["x",2]})"));
}

}  // namespace
}  // namespace plugin

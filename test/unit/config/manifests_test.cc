// Every manifest in config/ parses (yaml-cpp), kustomization.yaml lists them all, the
// conflist is one the plugin accepts, the DaemonSet matches what the installer and the
// conflist expect, `kubectl kustomize config/` renders (where kubectl exists), and each
// ClusterRole grants exactly the requests plugin/kube_api_grants.h says the code sends.
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <tuple>

#include "plugin/kube_api_grants.h"
#include "plugin/meta_config.h"

namespace {

namespace fs = std::filesystem;
using Grant = std::tuple<std::string, std::string, std::string>;  // verb, group, resource

const fs::path kConfig = fs::path(CNIMUX_SOURCE_DIR) / "config";

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<fs::path> manifests() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(kConfig)) {
    const auto ext = e.path().extension();
    if ((ext == ".yaml" || ext == ".yml") && e.path().filename() != "kustomization.yaml")
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Every document of every manifest, with the file it came from.
std::vector<std::pair<fs::path, YAML::Node>> documents() {
  std::vector<std::pair<fs::path, YAML::Node>> out;
  for (const auto& m : manifests()) {
    for (auto& doc : YAML::LoadAllFromFile(m.string())) {
      if (!doc.IsNull()) out.emplace_back(m, doc);
    }
  }
  return out;
}

YAML::Node find(const std::string& kind, const std::string& name) {
  for (const auto& [file, doc] : documents()) {
    if (doc["kind"].as<std::string>() == kind && doc["metadata"]["name"].as<std::string>() == name)
      return doc;
  }
  ADD_FAILURE() << kind << " " << name << " is in no manifest of config/";
  return {};
}

TEST(ManifestsTest, EveryManifestParsesAndIsAnObjectWithKindAndName) {
  ASSERT_FALSE(manifests().empty());
  for (const auto& m : manifests()) {
    std::vector<YAML::Node> docs;
    ASSERT_NO_THROW(docs = YAML::LoadAllFromFile(m.string())) << m;
    for (const auto& doc : docs) {
      if (doc.IsNull()) continue;
      ASSERT_TRUE(doc.IsMap()) << m;
      EXPECT_TRUE(doc["apiVersion"].IsScalar()) << m;
      EXPECT_TRUE(doc["kind"].IsScalar()) << m;
      EXPECT_TRUE(doc["metadata"]["name"].IsScalar()) << m;
    }
  }
}

TEST(ManifestsTest, TheKustomizationListsEveryManifestAndTheConflist) {
  YAML::Node k = YAML::LoadFile((kConfig / "kustomization.yaml").string());
  EXPECT_EQ(k["kind"].as<std::string>(), "Kustomization");
  std::set<std::string> listed;
  for (const auto& r : k["resources"]) listed.insert(r.as<std::string>());
  std::set<std::string> present;
  for (const auto& m : manifests()) present.insert(m.filename().string());
  EXPECT_EQ(listed, present) << "a manifest in config/ that kubectl apply -k would not apply";
  const auto files = k["configMapGenerator"][0]["files"];
  ASSERT_TRUE(files.IsSequence());
  for (const auto& f : files) EXPECT_TRUE(fs::exists(kConfig / f.as<std::string>())) << f;
}

TEST(ManifestsTest, TheShippedConflistIsOneThePluginAccepts) {
  auto conflist = nlohmann::json::parse(slurp(kConfig / "00-cnimux.conflist"));
  ASSERT_TRUE(conflist["plugins"].is_array());
  plugin::MetaConfig meta;
  ASSERT_NO_THROW(meta = plugin::parse_meta_config(conflist["plugins"][0]));
  // The installer writes the kubeconfig to $HOST_CONF_DIR/cnimux.d/cnimux.kubeconfig.
  EXPECT_EQ(conflist["plugins"][0]["kubeconfig"], "/etc/cni/net.d/cnimux.d/cnimux.kubeconfig");
}

TEST(ManifestsTest, TheDaemonSetMountsWhatTheInstallerWritesAndRunsAsItsAccount) {
  YAML::Node ds = find("DaemonSet", "cnimux");
  YAML::Node pod = ds["spec"]["template"]["spec"];
  EXPECT_EQ(pod["serviceAccountName"].as<std::string>(), "cnimux");
  find("ServiceAccount", "cnimux");
  std::map<std::string, std::string> host_paths;  // volume -> host path
  for (const auto& v : pod["volumes"]) {
    if (v["hostPath"])
      host_paths[v["name"].as<std::string>()] = v["hostPath"]["path"].as<std::string>();
  }
  std::map<std::string, std::string> mounts;  // container path -> host path
  for (const auto& m : pod["containers"][0]["volumeMounts"]) {
    auto it = host_paths.find(m["name"].as<std::string>());
    if (it != host_paths.end()) mounts[m["mountPath"].as<std::string>()] = it->second;
  }
  // install-cnimux.sh's defaults: $CNIMUX_HOST_ROOT (/host) + /opt/cni/bin and /etc/cni/net.d.
  EXPECT_EQ(mounts["/host/opt/cni/bin"], "/opt/cni/bin");
  EXPECT_EQ(mounts["/host/etc/cni/net.d"], "/etc/cni/net.d");
  std::map<std::string, std::string> env;
  for (const auto& e : pod["containers"][0]["env"])
    env[e["name"].as<std::string>()] = e["value"].as<std::string>();
  EXPECT_EQ(env["CNIMUX_HOST_ROOT"], "/host");
  EXPECT_EQ(env["CNIMUX_CONFLIST"], "/etc/cnimux/00-cnimux.conflist");
}

std::set<Grant> granted(const YAML::Node& role) {
  std::set<Grant> out;
  for (const auto& rule : role["rules"]) {
    for (const auto& g : rule["apiGroups"])
      for (const auto& r : rule["resources"])
        for (const auto& v : rule["verbs"])
          out.insert({v.as<std::string>(), g.as<std::string>(), r.as<std::string>()});
  }
  return out;
}

std::set<std::string> roles_in_code() {
  std::set<std::string> out;
  for (const auto& g : plugin::kKubeApiGrants) out.insert(std::string(g.role));
  return out;
}

TEST(ManifestsTest, EachClusterRoleGrantsExactlyWhatTheCodeSends) {
  std::set<std::string> roles_in_yaml;
  for (const auto& [file, doc] : documents()) {
    if (doc["kind"].as<std::string>() == "ClusterRole" || doc["kind"].as<std::string>() == "Role")
      roles_in_yaml.insert(doc["metadata"]["name"].as<std::string>());
  }
  EXPECT_EQ(roles_in_yaml, roles_in_code());
  for (const auto& role : roles_in_code()) {
    std::set<Grant> code;
    for (const auto& g : plugin::kKubeApiGrants) {
      if (g.role == role)
        code.insert({std::string(g.verb), std::string(g.group), std::string(g.resource)});
    }
    EXPECT_EQ(granted(find("ClusterRole", role)), code) << "ClusterRole " << role;
  }
}

TEST(ManifestsTest, OnlyTheNodePluginsRoleIsBoundToTheDaemonSetsAccount) {
  for (const auto& [file, doc] : documents()) {
    const std::string kind = doc["kind"].as<std::string>();
    if (kind != "ClusterRoleBinding" && kind != "RoleBinding") continue;
    for (const auto& s : doc["subjects"]) {
      if (s["kind"].as<std::string>() == "ServiceAccount" &&
          s["name"].as<std::string>() == "cnimux") {
        EXPECT_EQ(doc["roleRef"]["name"].as<std::string>(), "cnimux")
            << "the node's account must not list every pod of the cluster";
      }
    }
  }
  YAML::Node binding = find("ClusterRoleBinding", "cnimux");
  EXPECT_EQ(binding["subjects"][0]["namespace"].as<std::string>(), "kube-system");
}

TEST(ManifestsTest, KubectlKustomizeRendersEveryObject) {
  if (std::system("command -v kubectl >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "kubectl is not installed: `kubectl kustomize config/` not rendered";
  char tmpl[] = "/tmp/cxt-kustomize-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const fs::path out = fs::path(tmpl) / "rendered.yaml";
  const std::string cmd =
      "kubectl kustomize '" + kConfig.string() + "' >'" + out.string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  const std::string rendered = slurp(out);
  fs::remove_all(tmpl);
  ASSERT_EQ(rc, 0) << rendered;
  std::multiset<std::string> kinds;
  for (const auto& doc : YAML::LoadAll(rendered)) {
    kinds.insert(doc["kind"].as<std::string>());
    if (doc["kind"].as<std::string>() == "DaemonSet" ||
        doc["kind"].as<std::string>() == "ConfigMap") {
      EXPECT_EQ(doc["metadata"]["namespace"].as<std::string>(), "kube-system");
    }
  }
  EXPECT_EQ(kinds.count("CustomResourceDefinition"), 1u);
  EXPECT_EQ(kinds.count("DaemonSet"), 1u);
  EXPECT_EQ(kinds.count("ConfigMap"), 1u);
  EXPECT_EQ(kinds.count("ClusterRole"), roles_in_code().size());
}

}  // namespace

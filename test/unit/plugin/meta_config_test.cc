// Tests for the meta config: defaults, every key, Multus's legacy form, and strictness
// (unknown keys and wrong types name the key).
#include "plugin/meta_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cni/error.h"

namespace plugin {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;
using namespace std::chrono_literals;

Json minimal() {
  return {{"cniVersion", "1.0.0"},
          {"name", "cnimux-network"},
          {"type", "cnimux"},
          {"clusterNetwork", "k8s-pod-network"}};
}

cni::Error error_of(const Json& conf) {
  try {
    parse_meta_config(conf);
  } catch (const cni::Error& e) {
    return e;
  }
  ADD_FAILURE() << "accepted " << conf.dump();
  return cni::Error(0, "");
}

TEST(MetaConfig, Defaults) {
  MetaConfig m = parse_meta_config(minimal());
  EXPECT_EQ(m.cni_version, "1.0.0");
  EXPECT_EQ(m.name, "cnimux-network");
  EXPECT_EQ(m.type, "cnimux");
  EXPECT_EQ(m.cluster_network, "k8s-pod-network");
  EXPECT_TRUE(m.cluster_delegate.is_null());
  EXPECT_TRUE(m.default_networks.empty());
  EXPECT_EQ(m.conf_dir, "/etc/cni/net.d");
  EXPECT_EQ(m.cni_dir, "/var/lib/cni/cnimux");
  EXPECT_EQ(m.bin_dir, "/opt/cni/bin");
  EXPECT_EQ(m.multus_namespace, "kube-system");
  EXPECT_THAT(m.system_namespaces, ElementsAre("kube-system"));
  EXPECT_FALSE(m.namespace_isolation);
  EXPECT_THAT(m.global_namespaces, ElementsAre("default"));
  EXPECT_EQ(m.device_checkpoint, "/var/lib/kubelet/device-plugins/kubelet_internal_checkpoint");
  EXPECT_EQ(m.delegate_timeout, 60s);
  EXPECT_EQ(m.api_timeout, 10s);
  EXPECT_EQ(m.status_policy, StatusPolicy::kRequired);
  EXPECT_EQ(m.log_level, "warn");
  EXPECT_FALSE(m.log_to_stderr);
  EXPECT_TRUE(m.start_delegates_ahead);
  EXPECT_TRUE(m.nad_dir.empty());
  EXPECT_EQ(m.default_pod_namespace, "default");
  EXPECT_TRUE(m.runtime_config.is_null());
  EXPECT_TRUE(m.in_tree.empty());
}

TEST(MetaConfig, InTreeNamesOnlyTypesWithAnInTreeImplementation) {
  Json c = minimal();
  c["inTree"] = Json::array({"bridge"});
  cni::Error e = error_of(c);
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_THAT(e.msg(), HasSubstr("inTree: \"bridge\" has no in-tree implementation"));
  c["inTree"] = "macvlan";
  EXPECT_EQ(error_of(c).code(), cni::kInvalidConfig);
}

TEST(MetaConfig, EveryKey) {
  Json c = minimal();
  c.update(Json::parse(R"({
    "defaultNetworks": ["sidecar", "/etc/cni/extra.conf"],
    "kubeconfig": "/etc/cnimux/kubeconfig",
    "confDir": "/c", "cniDir": "/j", "binDir": "/b", "nadDir": "/n", "podDir": "/p",
    "defaultPodNamespace": "podman-pods",
    "multusNamespace": "cnimux-system", "systemNamespaces": ["kube-system", "admin"],
    "namespaceIsolation": true, "globalNamespaces": "default, shared ,,other",
    "readinessindicatorfile": "/run/ready", "logFile": "/var/log/cnimux.log",
    "logLevel": "debug", "logToStderr": true, "startDelegatesAhead": false,
    "capabilities": {"portMappings": true, "io.kubernetes.cri.pod-annotations": true},
    "delegateTimeout": 30, "apiTimeout": 0.5, "statusPolicy": "bestEffort",
    "deviceCheckpoint": "/tmp/cp",
    "runtimeConfig": {"portMappings": [{"hostPort": 80, "containerPort": 80}]},
    "prevResult": {}, "args": {"cni": {}}, "disableCheck": true, "disableGC": false,
    "cni.dev/valid-attachments": [], "cni.dev/attachments": []
  })"));
  MetaConfig m = parse_meta_config(c);
  EXPECT_THAT(m.default_networks, ElementsAre("sidecar", "/etc/cni/extra.conf"));
  EXPECT_EQ(m.kubeconfig, "/etc/cnimux/kubeconfig");
  EXPECT_EQ(m.conf_dir, "/c");
  EXPECT_EQ(m.cni_dir, "/j");
  EXPECT_EQ(m.bin_dir, "/b");
  EXPECT_EQ(m.nad_dir, "/n");
  EXPECT_EQ(m.pod_dir, "/p");
  EXPECT_EQ(m.default_pod_namespace, "podman-pods");
  EXPECT_EQ(m.multus_namespace, "cnimux-system");
  EXPECT_THAT(m.system_namespaces, ElementsAre("kube-system", "admin"));
  EXPECT_TRUE(m.namespace_isolation);
  EXPECT_THAT(m.global_namespaces, ElementsAre("default", "shared", "other"));
  EXPECT_EQ(m.readiness_indicator_file, "/run/ready");
  EXPECT_EQ(m.log_file, "/var/log/cnimux.log");
  EXPECT_EQ(m.log_level, "debug");
  EXPECT_TRUE(m.log_to_stderr);
  EXPECT_FALSE(m.start_delegates_ahead);
  EXPECT_EQ(m.capabilities["portMappings"], true);
  EXPECT_EQ(m.delegate_timeout, 30s);
  EXPECT_EQ(m.api_timeout, 500ms);
  EXPECT_EQ(m.status_policy, StatusPolicy::kBestEffort);
  EXPECT_EQ(m.device_checkpoint, "/tmp/cp");
  EXPECT_EQ(m.runtime_config["portMappings"][0]["hostPort"], 80);
  EXPECT_EQ(m.raw, c);
}

TEST(MetaConfig, GlobalNamespacesAsList) {
  Json c = minimal();
  c["globalNamespaces"] = {"a", "b"};
  EXPECT_THAT(parse_meta_config(c).global_namespaces, ElementsAre("a", "b"));
}

TEST(MetaConfig, NullMeansDefault) {
  Json c = minimal();
  c["confDir"] = nullptr;
  EXPECT_EQ(parse_meta_config(c).conf_dir, "/etc/cni/net.d");
}

TEST(MetaConfig, UnknownKeyIsNamed) {
  Json c = minimal();
  c["clusterNetworks"] = "typo";
  cni::Error e = error_of(c);
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_THAT(e.msg(), HasSubstr("unknown cnimux config key \"clusterNetworks\""));
}

TEST(MetaConfig, WrongTypesNameKeyAndValue) {
  struct Case {
    const char* key;
    Json value;
    const char* fragment;
  };
  std::vector<Case> cases = {
      {"confDir", 5, "\"confDir\" = 5: expected a string"},
      {"confDir", "", "\"confDir\" = \"\": must not be empty"},
      {"namespaceIsolation", "yes", "\"namespaceIsolation\" = \"yes\": expected true or false"},
      {"systemNamespaces", "kube-system",
       "\"systemNamespaces\" = \"kube-system\": expected a list"},
      {"defaultNetworks", Json::array({1}), "\"defaultNetworks\" = [1]"},
      {"globalNamespaces", 3, "\"globalNamespaces\" = 3"},
      {"delegateTimeout", -1, "\"delegateTimeout\" = -1: expected a positive number"},
      {"delegateTimeout", 18e90,
       "\"delegateTimeout\" = 1.8e+91: expected a positive number of "
       "seconds, at most 86400"},
      {"apiTimeout", 86400.5, "\"apiTimeout\" = 86400.5: expected a positive number"},
      {"apiTimeout", "10s", "\"apiTimeout\" = \"10s\""},
      {"statusPolicy", "sometimes", "\"statusPolicy\" = \"sometimes\": expected \"required\""},
      {"logLevel", "loud", "\"logLevel\" = \"loud\""},
      {"logToStderr", 1, "\"logToStderr\" = 1"},
      {"startDelegatesAhead", "no", "\"startDelegatesAhead\" = \"no\": expected true or false"},
      {"defaultPodNamespace", "", "\"defaultPodNamespace\" = \"\": must not be empty"},
      {"defaultPodNamespace", "Shop/x",
       "\"defaultPodNamespace\" = \"Shop/x\": expected a namespace"},
      {"capabilities", Json::array(), "\"capabilities\" = []: expected an object"},
      {"runtimeConfig", "x", "\"runtimeConfig\" = \"x\""},
      {"delegates", Json::array(), "\"delegates\" = []"},
      {"delegates", Json::array({Json{{"mode", "bridge"}}}), "\"type\" or \"plugins\""},
      {"clusterNetwork", Json::object(), "\"clusterNetwork\" = {}"},
  };
  for (const Case& c : cases) {
    Json conf = minimal();
    conf[c.key] = c.value;
    cni::Error e = error_of(conf);
    EXPECT_EQ(e.code(), cni::kInvalidConfig) << c.key;
    EXPECT_THAT(e.msg(), HasSubstr(c.fragment)) << c.key;
  }
}

TEST(MetaConfig, LegacyDelegates) {
  Json c = {{"cniVersion", "0.3.1"},
            {"name", "multus"},
            {"type", "cnimux"},
            {"delegates", Json::parse(R"([{"type":"flannel","name":"cbr0"},
                                          {"type":"macvlan","master":"eth0"},
                                          {"cniVersion":"0.4.0","name":"l","plugins":[{"type":"bridge"}]}])")}};
  MetaConfig m = parse_meta_config(c);
  EXPECT_TRUE(m.cluster_network.empty());
  EXPECT_EQ(m.cluster_delegate["type"], "flannel");
  ASSERT_EQ(m.extra_delegates.size(), 2u);
  EXPECT_EQ(m.extra_delegates[0]["type"], "macvlan");
  EXPECT_EQ(m.extra_delegates[1]["name"], "l");
}

TEST(MetaConfig, ClusterNetworkWinsOverDelegates) {
  Json c = minimal();
  c["delegates"] = Json::parse(R"([{"type":"flannel"},{"type":"macvlan"}])");
  MetaConfig m = parse_meta_config(c);
  EXPECT_EQ(m.cluster_network, "k8s-pod-network");
  EXPECT_TRUE(m.cluster_delegate.is_null());
  EXPECT_TRUE(m.extra_delegates.empty());
}

TEST(MetaConfig, NeedsAClusterNetwork) {
  Json c = minimal();
  c.erase("clusterNetwork");
  cni::Error e = error_of(c);
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_THAT(e.msg(), HasSubstr("\"clusterNetwork\" or \"delegates\""));
}

TEST(MetaConfig, NotAnObject) {
  EXPECT_THAT(error_of(Json::array()).msg(), HasSubstr("must be a JSON object"));
}

TEST(MetaConfig, DelegatePathIsBinDirThenCniPath) {
  MetaConfig m = parse_meta_config(minimal());
  EXPECT_THAT(delegate_path(m, {"/usr/lib/cni", "/opt/cni/bin", "", "/x"}),
              ElementsAre("/opt/cni/bin", "/usr/lib/cni", "/x"));
}

}  // namespace
}  // namespace plugin

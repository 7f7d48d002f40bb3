// The meta plugin's own configuration: the `cnimux` entry of the node's conflist (its stdin
// NetConf), with every Multus key, cnimux's additions and their defaults.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "plugin/coordination_config.h"

namespace plugin {

// What a failed network-status PATCH does to the ADD (the status writer reads it).
enum class StatusPolicy { kRequired, kBestEffort };

struct MetaConfig {
  nlohmann::json raw;  // the stdin object, unknown-to-us standard keys included
  std::string cni_version;
  std::string name;
  std::string type;

  // The cluster network as a reference: a NAD or config name, or a path (contains '/').
  // Empty in the legacy form, where `cluster_delegate` holds the first `delegates` entry.
  std::string cluster_network;
  nlohmann::json cluster_delegate;  // null unless the legacy `delegates` form is used
  std::vector<std::string> default_networks;
  // Legacy `delegates` after the first: inline configs attached to every pod.
  std::vector<nlohmann::json> extra_delegates;

  std::string kubeconfig;
  std::string conf_dir = "/etc/cni/net.d";
  std::string cni_dir = "/var/lib/cni/cnimux";  // the journal directory
  std::string bin_dir = "/opt/cni/bin";
  std::string nad_dir;  // NAD manifests (YAML or JSON) for nodes without an API server
  std::string pod_dir;  // pod manifests, likewise
  // The namespace of a pod that CNI_ARGS names without K8S_POD_NAMESPACE (podman).
  std::string default_pod_namespace = "default";
  std::string device_checkpoint = "/var/lib/kubelet/device-plugins/kubelet_internal_checkpoint";
  std::string multus_namespace = "kube-system";
  std::vector<std::string> system_namespaces{"kube-system"};
  bool namespace_isolation = false;
  // Namespaces any pod may use under isolation; Multus implies "default" when unset.
  std::vector<std::string> global_namespaces{"default"};
  std::string readiness_indicator_file;
  std::string log_file;
  std::string log_level = "warn";
  bool log_to_stderr = false;
  nlohmann::json capabilities = nlohmann::json::object();
  std::chrono::milliseconds delegate_timeout{std::chrono::seconds(60)};
  // Execute a delegate before its turn and give it its config then (docs/delegation.md,
  // "Starting a delegate ahead"); off for a plugin that acts before it reads stdin.
  bool start_delegates_ahead = true;
  std::chrono::milliseconds api_timeout{std::chrono::seconds(10)};
  StatusPolicy status_policy = StatusPolicy::kRequired;
  // Reference plugin types ("macvlan", ...) whose in-tree implementation runs in-process in
  // their place (delegates/registry.h); each must have one.
  std::vector<std::string> in_tree;
  // The node's default `coordination` settings (docs/coordination.md); networks override them.
  CoordinationSettings coordination;
  // The runtime's runtimeConfig (null when absent); it goes to the cluster network only.
  nlohmann::json runtime_config;
};

// Parses the stdin object strictly. Throws cni::Error(kInvalidConfig) naming the key for an
// unknown key, naming key and value for a wrong type or bad value, and when neither
// clusterNetwork nor delegates is given.
MetaConfig parse_meta_config(const nlohmann::json& conf);

// Where delegates are looked for: binDir first, then each CNI_PATH entry not already listed.
std::vector<std::string> delegate_path(const MetaConfig& meta,
                                       const std::vector<std::string>& cni_path);

}  // namespace plugin

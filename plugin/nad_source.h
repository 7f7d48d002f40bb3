// NAD resolution: turns a NetworkAttachmentDefinition (from the API or from nadDir
// manifests), an on-disk config, a path or an inline config into a runnable conflist.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plugin/kube_client.h"
#include "plugin/manifests.h"
#include "plugin/meta_config.h"

namespace plugin {

inline constexpr const char* kResourceNameAnnotation = "k8s.v1.cni.cncf.io/resourceName";

// A network ready to run.
struct ResolvedNetwork {
  // "namespace/name" for a NAD; the config's "name" otherwise.
  std::string network;
  // {"cniVersion", "name", "plugins": [...]} with name and cniVersion in every plugin.
  nlohmann::json conflist;
  std::string resource_name;  // device-plugin resource from the NAD, "" when none
  std::string origin;         // where it came from, for logs: "api", a file path, "inline"
};

// Wraps a single plugin config as a one-plugin list and injects name (the config's own, else
// `fallback_name`) and cniVersion (the config's own, else `fallback_version` when not empty)
// into every plugin. Throws cni::Error(kInvalidConfig) naming `what` when a plugin lacks a
// string "type" or has a '/' in it, or "plugins" is not a non-empty list of objects.
nlohmann::json normalize_conflist(const nlohmann::json& config, const std::string& fallback_name,
                                  const std::string& fallback_version, const std::string& what);

class NadSource {
 public:
  // `kube` (not owned) may be null: NADs then come from meta.nad_dir, when set.
  NadSource(const MetaConfig& meta, KubeClient* kube);

  // The NAD ns/name, fetched at most once per NadSource (keep one per ADD). spec.config may
  // be a plugin or a conflist; when absent or empty, confDir is searched by the NAD's name.
  // Throws cni::Error(kInvalidConfig) naming ns/name when it does not exist or is broken;
  // API failures pass through (kKubeApiFailure).
  const ResolvedNetwork& nad(const std::string& ns, const std::string& name);

  // A clusterNetwork/defaultNetworks value. Without '/': a NAD in multusNamespace, then a
  // config in confDir with that "name". With '/': a config file, or a directory whose
  // alphabetically first .conf/.conflist (parsable, not cnimux's own) is used. Throws
  // kInvalidConfig naming the value.
  ResolvedNetwork reference(const std::string& value);

  // Makes reference(value) return `net` without looking it up: what another NadSource
  // resolved for the same value moments before without the API (Session's early guess).
  // Ignored when this one would ask the API, whose answer may differ.
  void remember_reference(const std::string& value, ResolvedNetwork net);

  // A legacy `delegates` entry; unnamed ones are named after their type.
  ResolvedNetwork inline_config(const nlohmann::json& config) const;

  // The config in confDir whose "name" is `name`: .conflist files first, then .conf/.json,
  // each in sorted order; the meta plugin's own configs are skipped. Unparsable files are
  // skipped with a warning.
  std::optional<ResolvedNetwork> find_in_conf_dir(const std::string& name) const;

 private:
  // Fetches and resolves once; nullopt (cached too) when the NAD does not exist.
  const std::optional<ResolvedNetwork>& lookup(const std::string& ns, const std::string& name);
  std::optional<nlohmann::json> fetch(const std::string& ns, const std::string& name);
  ResolvedNetwork from_nad_object(const nlohmann::json& nad, const std::string& ns,
                                  const std::string& name, const std::string& origin) const;
  ResolvedNetwork from_path(const std::string& path) const;
  // True when reference(value) may ask the API: a name without '/' and an API client.
  bool reference_uses_api(const std::string& value) const;
  // True when the conflist runs the meta plugin itself (never a delegate of ours).
  bool is_self(const nlohmann::json& conflist) const;
  // The NAD ns/name from nadDir, or nullopt; defined in two files is kInvalidConfig.
  std::optional<nlohmann::json> from_nad_dir(const std::string& ns, const std::string& name);

  const MetaConfig& meta_;
  KubeClient* kube_;
  // ns/name -> the resolved NAD, or nullopt when it does not exist (cached too).
  std::map<std::pair<std::string, std::string>, std::optional<ResolvedNetwork>> cache_;
  std::map<std::string, ResolvedNetwork> remembered_;  // remember_reference()
  ManifestDir nad_dir_;
  // nadDir files that could not be used, named in "not found" errors: the NAD may be in one.
  std::vector<std::string> nad_dir_skipped_;
};

}  // namespace plugin

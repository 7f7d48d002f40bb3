// Network configuration from stdin: a single plugin config or a conflist. The parsed JSON
// is kept whole so unknown fields travel verbatim to delegates.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace cni {

using Json = nlohmann::json;

// One plugin's configuration, as a delegate receives it on stdin.
struct NetConf {
  Json raw;  // the whole object, unknown keys included

  std::string cni_version() const;  // "" means 0.1.0 per the spec
  std::string name() const;
  std::string type() const;
  // Declared capabilities: {"portMappings": true, ...}; keys are matched exactly.
  bool declares_capability(const std::string& cap) const;
  const Json* runtime_config() const;  // nullptr when absent
  const Json* prev_result() const;     // nullptr when absent
  const Json* ipam() const;            // nullptr when absent

  // Parses and checks the keys every plugin needs (type; cniVersion and name if present
  // must be strings). Error code 6 for bad JSON (with the parser's position) or JSON past
  // the limits of cni/limits.h, each message starting with `source`; 7 for bad fields
  // naming the field.
  static NetConf parse(const std::string& bytes, const std::string& source = "network config");
};

// A conflist: {"cniVersion", "name", "plugins": [...], "disableCheck"?, "disableGC"?}.
struct NetConfList {
  Json raw;
  std::string cni_version;
  std::string name;
  std::vector<Json> plugins;  // each already has cniVersion and name injected

  static NetConfList parse(const std::string& bytes);
  // A single plugin config wrapped as a one-element list (name and version copied).
  static NetConfList from_single(const NetConf& conf);
  // True when `j` looks like a conflist (has "plugins").
  static bool is_list(const Json& j);
};

// Looks up a runtimeConfig key the way Go does: exact match first, then case-insensitive.
// containerd sends portMappings entries as HostPort/ContainerPort; podman as hostPort.
const Json* find_key_case_insensitive(const Json& object, const std::string& key);

}  // namespace cni

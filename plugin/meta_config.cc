// Strict parsing of the cnimux meta config: one handler per accepted key, so an unknown key
// or a value of the wrong type fails the ADD with a message naming it.
#include "plugin/meta_config.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>

#include "cni/error.h"
#include "delegates/registry.h"

namespace plugin {
namespace {

using Json = nlohmann::json;
using Handler = std::function<void(MetaConfig&, const Json&)>;

// Values are quoted in messages; a huge inline delegate is cut short.
std::string show(const Json& value) {
  std::string s = value.dump();
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

[[noreturn]] void bad_value(const std::string& key, const Json& value, const std::string& why) {
  throw cni::Error(cni::kInvalidConfig,
                   "invalid cnimux config \"" + key + "\" = " + show(value) + ": " + why);
}

std::string as_string(const std::string& key, const Json& v) {
  if (!v.is_string()) bad_value(key, v, "expected a string");
  return v.get<std::string>();
}

std::string as_nonempty_string(const std::string& key, const Json& v) {
  std::string s = as_string(key, v);
  if (s.empty()) bad_value(key, v, "must not be empty");
  return s;
}

// A Kubernetes namespace name (an RFC 1123 label): it goes into API paths.
std::string as_namespace_name(const std::string& key, const Json& v) {
  std::string s = as_nonempty_string(key, v);
  const bool label = s.size() <= 63 && std::isalnum(static_cast<unsigned char>(s.front())) &&
                     std::isalnum(static_cast<unsigned char>(s.back())) &&
                     std::all_of(s.begin(), s.end(), [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                     });
  if (!label) bad_value(key, v, "expected a namespace name (lowercase letters, digits, '-')");
  return s;
}

bool as_bool(const std::string& key, const Json& v) {
  if (!v.is_boolean()) bad_value(key, v, "expected true or false");
  return v.get<bool>();
}

std::vector<std::string> as_string_list(const std::string& key, const Json& v) {
  if (!v.is_array()) bad_value(key, v, "expected a list of strings");
  std::vector<std::string> out;
  for (const Json& item : v) {
    if (!item.is_string() || item.get_ref<const std::string&>().empty()) {
      bad_value(key, v, "every entry must be a non-empty string");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

// Seconds as a positive number of at most a day; fractions allowed (0.5 = 500 ms). The bound
// also keeps the conversion to milliseconds defined (make fuzz sent 18E90).
std::chrono::milliseconds as_seconds(const std::string& key, const Json& v) {
  constexpr double kMaxSeconds = 86400;
  if (!v.is_number() || !(v.get<double>() > 0) || v.get<double>() > kMaxSeconds)
    bad_value(key, v, "expected a positive number of seconds, at most 86400");
  return std::chrono::milliseconds(static_cast<long long>(v.get<double>() * 1000.0 + 0.5));
}

// Multus's globalNamespaces is "a,b,c"; a list is accepted too.
std::vector<std::string> as_namespace_csv(const std::string& key, const Json& v) {
  if (v.is_array()) return as_string_list(key, v);
  std::string s = as_string(key, v);
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    std::string item = s.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

std::string as_log_level(const std::string& key, const Json& v) {
  static const std::vector<std::string> kLevels = {
      "trace", "debug", "verbose", "info", "warn", "warning", "error", "panic", "critical", "off"};
  std::string s = as_string(key, v);
  if (std::find(kLevels.begin(), kLevels.end(), s) == kLevels.end()) {
    bad_value(key, v, "expected one of trace, debug, verbose, info, warn, error, panic, off");
  }
  return s;
}

StatusPolicy as_status_policy(const std::string& key, const Json& v) {
  std::string s = as_string(key, v);
  if (s == "required") return StatusPolicy::kRequired;
  if (s == "bestEffort") return StatusPolicy::kBestEffort;
  bad_value(key, v, "expected \"required\" or \"bestEffort\"");
}

Json as_object(const std::string& key, const Json& v) {
  if (!v.is_object()) bad_value(key, v, "expected an object");
  return v;
}

// Each legacy delegate is a plugin config (with "type") or a conflist (with "plugins").
std::vector<Json> as_delegates(const std::string& key, const Json& v) {
  if (!v.is_array() || v.empty()) bad_value(key, v, "expected a non-empty list of configs");
  for (const Json& d : v) {
    if (!d.is_object() || !(d.contains("type") || d.contains("plugins"))) {
      bad_value(key, d, "each delegate must be a config object with \"type\" or \"plugins\"");
    }
  }
  return v.get<std::vector<Json>>();
}

const std::map<std::string, Handler>& handlers() {
  using M = MetaConfig;
  static const std::map<std::string, Handler> kHandlers = {
      {"cniVersion", [](M& m, const Json& v) { m.cni_version = as_string("cniVersion", v); }},
      {"name", [](M& m, const Json& v) { m.name = as_string("name", v); }},
      {"type", [](M& m, const Json& v) { m.type = as_string("type", v); }},
      {"clusterNetwork",
       [](M& m, const Json& v) { m.cluster_network = as_nonempty_string("clusterNetwork", v); }},
      {"defaultNetworks",
       [](M& m, const Json& v) { m.default_networks = as_string_list("defaultNetworks", v); }},
      {"delegates",
       [](M& m, const Json& v) {
         std::vector<Json> d = as_delegates("delegates", v);
         m.cluster_delegate = d.front();
         m.extra_delegates.assign(d.begin() + 1, d.end());
       }},
      {"kubeconfig", [](M& m, const Json& v) { m.kubeconfig = as_string("kubeconfig", v); }},
      {"confDir", [](M& m, const Json& v) { m.conf_dir = as_nonempty_string("confDir", v); }},
      {"cniDir", [](M& m, const Json& v) { m.cni_dir = as_nonempty_string("cniDir", v); }},
      {"binDir", [](M& m, const Json& v) { m.bin_dir = as_nonempty_string("binDir", v); }},
      {"nadDir", [](M& m, const Json& v) { m.nad_dir = as_string("nadDir", v); }},
      {"podDir", [](M& m, const Json& v) { m.pod_dir = as_string("podDir", v); }},
      {"defaultPodNamespace",
       [](M& m, const Json& v) {
         m.default_pod_namespace = as_namespace_name("defaultPodNamespace", v);
       }},
      {"deviceCheckpoint",
       [](M& m, const Json& v) {
         m.device_checkpoint = as_nonempty_string("deviceCheckpoint", v);
       }},
      {"multusNamespace",
       [](M& m, const Json& v) { m.multus_namespace = as_nonempty_string("multusNamespace", v); }},
      {"inTree",
       [](M& m, const Json& v) {
         m.in_tree = as_string_list("inTree", v);
         delegates::check_reference_types(m.in_tree);
       }},
      {"systemNamespaces",
       [](M& m, const Json& v) { m.system_namespaces = as_string_list("systemNamespaces", v); }},
      {"namespaceIsolation",
       [](M& m, const Json& v) { m.namespace_isolation = as_bool("namespaceIsolation", v); }},
      {"globalNamespaces",
       [](M& m, const Json& v) { m.global_namespaces = as_namespace_csv("globalNamespaces", v); }},
      {"readinessindicatorfile",
       [](M& m, const Json& v) {
         m.readiness_indicator_file = as_string("readinessindicatorfile", v);
       }},
      {"logFile", [](M& m, const Json& v) { m.log_file = as_string("logFile", v); }},
      {"logLevel", [](M& m, const Json& v) { m.log_level = as_log_level("logLevel", v); }},
      {"logToStderr", [](M& m, const Json& v) { m.log_to_stderr = as_bool("logToStderr", v); }},
      {"startDelegatesAhead",
       [](M& m, const Json& v) { m.start_delegates_ahead = as_bool("startDelegatesAhead", v); }},
      {"capabilities", [](M& m, const Json& v) { m.capabilities = as_object("capabilities", v); }},
      {"delegateTimeout",
       [](M& m, const Json& v) { m.delegate_timeout = as_seconds("delegateTimeout", v); }},
      {"apiTimeout", [](M& m, const Json& v) { m.api_timeout = as_seconds("apiTimeout", v); }},
      {"statusPolicy",
       [](M& m, const Json& v) { m.status_policy = as_status_policy("statusPolicy", v); }},
      {"coordination",
       [](M& m, const Json& v) { m.coordination = parse_coordination(v, "cnimux config"); }},
      {"runtimeConfig",
       [](M& m, const Json& v) { m.runtime_config = as_object("runtimeConfig", v); }},
  };
  return kHandlers;
}

// Standard keys a runtime may put in any plugin's config; cnimux reads them elsewhere (or
// not at all) but must not refuse them.
bool is_passthrough_key(const std::string& key) {
  static const std::vector<std::string> kKeys = {
      "prevResult",          "args",         "cni.dev/valid-attachments",
      "cni.dev/attachments", "disableCheck", "disableGC"};
  return std::find(kKeys.begin(), kKeys.end(), key) != kKeys.end();
}

}  // namespace

MetaConfig parse_meta_config(const nlohmann::json& conf) {
  if (!conf.is_object()) {
    throw cni::Error(cni::kInvalidConfig,
                     "cnimux config must be a JSON object, got " + std::string(conf.type_name()));
  }
  MetaConfig meta;
  meta.raw = conf;
  for (auto it = conf.begin(); it != conf.end(); ++it) {
    if (is_passthrough_key(it.key())) continue;
    auto h = handlers().find(it.key());
    if (h == handlers().end()) {
      throw cni::Error(cni::kInvalidConfig, "unknown cnimux config key \"" + it.key() + "\"");
    }
    // JSON null means "not set": the default stays.
    if (!it->is_null()) h->second(meta, *it);
  }
  if (meta.cluster_network.empty() && meta.cluster_delegate.is_null()) {
    throw cni::Error(cni::kInvalidConfig,
                     "cnimux config needs \"clusterNetwork\" or \"delegates\": no cluster network");
  }
  if (!meta.cluster_network.empty() && !meta.cluster_delegate.is_null()) {
    // Multus does the same: clusterNetwork/defaultNetworks win over the legacy form.
    spdlog::warn("cnimux config has both clusterNetwork and delegates; delegates are ignored");
    meta.cluster_delegate = nullptr;
    meta.extra_delegates.clear();
  }
  return meta;
}

std::vector<std::string> delegate_path(const MetaConfig& meta,
                                       const std::vector<std::string>& cni_path) {
  std::vector<std::string> out{meta.bin_dir};
  for (const std::string& dir : cni_path) {
    if (!dir.empty() && std::find(out.begin(), out.end(), dir) == out.end()) out.push_back(dir);
  }
  return out;
}

}  // namespace plugin

// Parsing of a plugin config and a conflist from stdin bytes. The JSON is kept whole so
// unknown keys reach delegates unchanged; only the keys every plugin needs are checked.
#include "cni/config.h"

#include <algorithm>
#include <cctype>

#include "cni/error.h"
#include "cni/json_limits.h"

namespace cni {
namespace {

Json parse_object(const std::string& bytes, const std::string& what, const JsonLimits& limits) {
  // The message carries the parser's byte position ("... at line 1, column 7: ...").
  Json j = parse_json(bytes, what, kDecodeFailure, limits);
  if (!j.is_object()) {
    throw Error(kDecodeFailure, what + " is not a JSON object but " + std::string(j.type_name()));
  }
  return j;
}

// A present key must hold a string; absent is fine.
void check_optional_string(const Json& j, const std::string& key, const std::string& prefix) {
  auto it = j.find(key);
  if (it != j.end() && !it->is_string()) {
    throw Error(kInvalidConfig, "invalid \"" + prefix + key + "\": must be a string, got " +
                                    std::string(it->type_name()));
  }
}

void check_type(const Json& j, const std::string& prefix) {
  auto it = j.find("type");
  if (it == j.end()) throw Error(kInvalidConfig, "missing \"" + prefix + "type\"");
  if (!it->is_string()) {
    throw Error(kInvalidConfig, "invalid \"" + prefix + "type\": must be a string, got " +
                                    std::string(it->type_name()));
  }
  if (it->get_ref<const std::string&>().empty()) {
    throw Error(kInvalidConfig, "invalid \"" + prefix + "type\": empty");
  }
}

std::string string_or_empty(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const Json* present_member(const Json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

bool equals_ignore_case(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::string NetConf::cni_version() const {
  return string_or_empty(raw, "cniVersion");
}
std::string NetConf::name() const {
  return string_or_empty(raw, "name");
}
std::string NetConf::type() const {
  return string_or_empty(raw, "type");
}

bool NetConf::declares_capability(const std::string& cap) const {
  auto caps = raw.find("capabilities");
  if (caps == raw.end() || !caps->is_object()) return false;
  auto it = caps->find(cap);
  return it != caps->end() && it->is_boolean() && it->get<bool>();
}

const Json* NetConf::runtime_config() const {
  return present_member(raw, "runtimeConfig");
}
const Json* NetConf::prev_result() const {
  return present_member(raw, "prevResult");
}
const Json* NetConf::ipam() const {
  return present_member(raw, "ipam");
}

NetConf NetConf::parse(const std::string& bytes, const std::string& source) {
  NetConf conf;
  conf.raw = parse_object(bytes, source, {});
  check_optional_string(conf.raw, "cniVersion", "");
  check_optional_string(conf.raw, "name", "");
  check_type(conf.raw, "");
  return conf;
}

NetConfList NetConfList::parse(const std::string& bytes) {
  NetConfList list;
  // Lists reach here from cnimux's own plan and journal, built from inputs that were bounded
  // where they entered. A single-plugin config at the depth limit is two levels deeper once
  // normalized into a list ({"plugins": [config]}), and injected requests add bytes.
  list.raw = parse_object(bytes, "network config list",
                          {.max_bytes = SIZE_MAX, .max_depth = kMaxJsonDepth + 2});
  check_optional_string(list.raw, "cniVersion", "");
  check_optional_string(list.raw, "name", "");
  list.cni_version = string_or_empty(list.raw, "cniVersion");
  list.name = string_or_empty(list.raw, "name");
  auto plugins = list.raw.find("plugins");
  if (plugins == list.raw.end()) throw Error(kInvalidConfig, "missing \"plugins\"");
  if (!plugins->is_array()) {
    throw Error(kInvalidConfig,
                "invalid \"plugins\": must be an array, got " + std::string(plugins->type_name()));
  }
  if (plugins->empty()) throw Error(kInvalidConfig, "invalid \"plugins\": empty");
  for (size_t i = 0; i < plugins->size(); ++i) {
    const std::string prefix = "plugins[" + std::to_string(i) + "].";
    Json plugin = (*plugins)[i];
    if (!plugin.is_object()) {
      throw Error(kInvalidConfig, "invalid \"plugins[" + std::to_string(i) +
                                      "]\": must be an object, got " +
                                      std::string(plugin.type_name()));
    }
    check_type(plugin, prefix);
    // libcni overwrites both keys with the list's values before running a plugin.
    plugin["cniVersion"] = list.cni_version;
    plugin["name"] = list.name;
    list.plugins.push_back(std::move(plugin));
  }
  return list;
}

NetConfList NetConfList::from_single(const NetConf& conf) {
  NetConfList list;
  list.cni_version = conf.cni_version();
  list.name = conf.name();
  list.raw = Json{
      {"cniVersion", list.cni_version}, {"name", list.name}, {"plugins", Json::array({conf.raw})}};
  Json plugin = conf.raw;
  plugin["cniVersion"] = list.cni_version;
  plugin["name"] = list.name;
  list.plugins.push_back(std::move(plugin));
  return list;
}

bool NetConfList::is_list(const Json& j) {
  return j.is_object() && j.contains("plugins");
}

const Json* find_key_case_insensitive(const Json& object, const std::string& key) {
  if (!object.is_object()) return nullptr;
  if (auto it = object.find(key); it != object.end()) return &*it;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (equals_ignore_case(it.key(), key)) return &it.value();
  }
  return nullptr;
}

}  // namespace cni

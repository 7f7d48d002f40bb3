// NAD resolution: API or nadDir lookups cached per call, the confDir fallback by name,
// clusterNetwork/defaultNetworks references, and conflist normalization.
#include "plugin/nad_source.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "cni/error.h"
#include "cni/json_limits.h"

namespace plugin {
namespace fs = std::filesystem;
namespace {

using Json = nlohmann::json;

[[noreturn]] void invalid(const std::string& msg) {
  throw cni::Error(cni::kInvalidConfig, msg);
}

// A file of a config directory as a JSON object, or nullopt after a warning saying why not:
// one bad file must not hide the others.
std::optional<Json> config_object(const fs::path& f, const std::string& where) {
  cni::JsonParse parsed;
  try {
    parsed = cni::try_parse_json(read_config_file(f));
  } catch (const cni::Error& e) {
    parsed.why = e.msg();
  }
  std::string why = parsed.why;
  if (parsed.value && !parsed.value->is_object()) why = "not a JSON object";
  if (why.empty()) return std::move(parsed.value);
  spdlog::warn("skipping \"{}\"{}: {}", f.string(), where, why);
  return std::nullopt;
}

std::vector<fs::path> sorted_files(const std::string& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  if (ec) throw cni::Error(cni::kIoFailure, "cannot list \"" + dir + "\": " + ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

bool has_extension(const fs::path& p, std::initializer_list<const char*> exts) {
  std::string e = p.extension().string();
  return std::any_of(exts.begin(), exts.end(), [&](const char* x) { return e == x; });
}

void check_string_member(const Json& j, const char* key, const std::string& what) {
  if (j.contains(key) && !j[key].is_string()) {
    invalid(what + ": \"" + key + "\" must be a string, got " + j[key].dump());
  }
}

void check_plugin(const Json& p, size_t i, const std::string& what) {
  std::string where = what + ": plugin " + std::to_string(i);
  if (!p.is_object()) invalid(where + " is not an object");
  auto type = p.find("type");
  if (type == p.end() || !type->is_string() || type->get_ref<const std::string&>().empty()) {
    invalid(where + " lacks a string \"type\"");
  }
  if (type->get<std::string>().find('/') != std::string::npos) {
    invalid(where + " has type \"" + type->get<std::string>() + "\" containing '/'");
  }
}

}  // namespace

nlohmann::json normalize_conflist(const nlohmann::json& config, const std::string& fallback_name,
                                  const std::string& fallback_version, const std::string& what) {
  if (!config.is_object()) invalid(what + ": config is not a JSON object");
  check_string_member(config, "name", what);
  check_string_member(config, "cniVersion", what);
  Json list = config;
  if (config.contains("plugins")) {
    if (!config["plugins"].is_array() || config["plugins"].empty()) {
      invalid(what + ": \"plugins\" must be a non-empty list");
    }
  } else {
    list = Json::object();
    list["plugins"] = Json::array({config});
  }
  std::string name = config.value("name", std::string());
  if (name.empty()) name = fallback_name;
  std::string version = config.value("cniVersion", std::string());
  if (version.empty()) version = fallback_version;
  list["name"] = name;
  if (!version.empty()) list["cniVersion"] = version;
  for (size_t i = 0; i < list["plugins"].size(); ++i) {
    Json& p = list["plugins"][i];
    check_plugin(p, i, what);
    p["name"] = name;
    if (!version.empty()) p["cniVersion"] = version;
  }
  return list;
}

NadSource::NadSource(const MetaConfig& meta, KubeClient* kube)
    : meta_(meta), kube_(kube), nad_dir_(meta.nad_dir, "NetworkAttachmentDefinition") {}

bool NadSource::is_self(const nlohmann::json& conflist) const {
  const std::string self = meta_.type.empty() ? "cnimux" : meta_.type;
  const Json& plugins = conflist["plugins"];
  return std::any_of(plugins.begin(), plugins.end(),
                     [&](const Json& p) { return p["type"] == self; });
}

std::optional<nlohmann::json> NadSource::from_nad_dir(const std::string& ns,
                                                      const std::string& name) {
  ManifestMatches m = nad_dir_.find(ns, name);
  for (std::string& s : m.skipped) {
    if (std::find(nad_dir_skipped_.begin(), nad_dir_skipped_.end(), s) == nad_dir_skipped_.end())
      nad_dir_skipped_.push_back(std::move(s));
  }
  if (m.found.empty()) return std::nullopt;
  if (m.found.size() > 1) {
    invalid("NAD " + ns + "/" + name + " is defined twice in nadDir: \"" + m.found[0].file +
            "\" and \"" + m.found[1].file + "\"");
  }
  return std::move(m.found.front().object);
}

std::optional<nlohmann::json> NadSource::fetch(const std::string& ns, const std::string& name) {
  if (kube_) return kube_->get_nad(ns, name);
  if (meta_.nad_dir.empty()) return std::nullopt;
  return from_nad_dir(ns, name);
}

const std::optional<ResolvedNetwork>& NadSource::lookup(const std::string& ns,
                                                        const std::string& name) {
  auto key = std::make_pair(ns, name);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  std::optional<Json> obj = fetch(ns, name);
  std::optional<ResolvedNetwork> net;
  if (obj) net = from_nad_object(*obj, ns, name, kube_ ? "api" : "nadDir " + meta_.nad_dir);
  return cache_.emplace(key, std::move(net)).first->second;
}

const ResolvedNetwork& NadSource::nad(const std::string& ns, const std::string& name) {
  const std::optional<ResolvedNetwork>& net = lookup(ns, name);
  if (!net) {
    std::string where = kube_                    ? "the Kubernetes API answered 404"
                        : !meta_.nad_dir.empty() ? "not in nadDir \"" + meta_.nad_dir + "\""
                                                 : "no Kubernetes API and no nadDir configured";
    if (!kube_ && !nad_dir_skipped_.empty()) {
      where += " (manifests skipped as unusable: ";
      for (size_t i = 0; i < nad_dir_skipped_.size(); ++i)
        where += (i ? "; " : "") + nad_dir_skipped_[i];
      where += ")";
    }
    invalid("NetworkAttachmentDefinition " + ns + "/" + name + " not found: " + where);
  }
  return *net;
}

ResolvedNetwork NadSource::from_nad_object(const nlohmann::json& obj, const std::string& ns,
                                           const std::string& name,
                                           const std::string& origin) const {
  std::string what = "NAD " + ns + "/" + name;
  if (!obj.is_object()) invalid(what + ": not a JSON object");
  ResolvedNetwork net;
  net.network = ns + "/" + name;
  net.origin = origin;
  const Json md = obj.value("metadata", Json::object());
  const Json annotations = md.is_object() ? md.value("annotations", Json::object()) : Json();
  if (annotations.is_object() && annotations.contains(kResourceNameAnnotation)) {
    const Json& r = annotations[kResourceNameAnnotation];
    if (!r.is_string())
      invalid(what + ": annotation " + kResourceNameAnnotation + " is not a string");
    net.resource_name = r.get<std::string>();
  }
  Json spec = obj.value("spec", Json::object());
  Json config = spec.is_object() ? spec.value("config", Json()) : Json();
  if (!config.is_null() && !config.is_string()) invalid(what + ": spec.config is not a string");
  std::string text = config.is_string() ? config.get<std::string>() : std::string();
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    std::optional<ResolvedNetwork> disk = find_in_conf_dir(name);
    if (!disk) {
      invalid(what + " has no spec.config and confDir \"" + meta_.conf_dir +
              "\" has no config named \"" + name + "\"");
    }
    net.conflist = disk->conflist;
    net.origin = disk->origin;
    return net;
  }
  Json parsed = cni::parse_json(text, what + " spec.config", cni::kInvalidConfig);
  net.conflist = normalize_conflist(parsed, name, meta_.cni_version, what);
  return net;
}

std::optional<ResolvedNetwork> NadSource::find_in_conf_dir(const std::string& name) const {
  std::error_code ec;
  if (!fs::is_directory(meta_.conf_dir, ec)) return std::nullopt;
  std::vector<fs::path> files = sorted_files(meta_.conf_dir);
  for (bool lists : {true, false}) {
    for (const fs::path& f : files) {
      bool wanted = lists ? has_extension(f, {".conflist"}) : has_extension(f, {".conf", ".json"});
      if (!wanted) continue;
      std::optional<Json> j = config_object(f, " in confDir");
      if (!j) continue;
      if (j->value("name", Json()) != name) continue;
      Json list = normalize_conflist(*j, name, meta_.cni_version, "config \"" + f.string() + "\"");
      if (is_self(list)) continue;  // never delegate to ourselves
      return ResolvedNetwork{name, std::move(list), "", f.string()};
    }
  }
  return std::nullopt;
}

ResolvedNetwork NadSource::from_path(const std::string& path) const {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    std::string what = "config \"" + path + "\"";
    Json j = cni::parse_json(read_config_file(path), what, cni::kInvalidConfig);
    Json list = normalize_conflist(j, fs::path(path).stem().string(), meta_.cni_version, what);
    return ResolvedNetwork{list["name"].get<std::string>(), list, "", path};
  }
  if (!fs::is_directory(path, ec)) invalid("network \"" + path + "\": no such file or directory");
  // The alphabetically first usable config, never cnimux's own (that would recurse).
  for (const fs::path& f : sorted_files(path)) {
    if (!has_extension(f, {".conf", ".conflist"})) continue;
    std::optional<Json> j = config_object(f, "");
    if (!j) continue;
    std::string what = "config \"" + f.string() + "\"";
    Json list = normalize_conflist(*j, f.stem().string(), meta_.cni_version, what);
    if (is_self(list)) continue;
    return ResolvedNetwork{list["name"].get<std::string>(), list, "", f.string()};
  }
  invalid("network \"" + path + "\": directory has no .conf or .conflist");
}

bool NadSource::reference_uses_api(const std::string& value) const {
  return kube_ != nullptr && value.find('/') == std::string::npos;
}

void NadSource::remember_reference(const std::string& value, ResolvedNetwork net) {
  if (!reference_uses_api(value)) remembered_.insert_or_assign(value, std::move(net));
}

ResolvedNetwork NadSource::reference(const std::string& value) {
  if (auto it = remembered_.find(value); it != remembered_.end()) return it->second;
  if (value.find('/') != std::string::npos) return from_path(value);
  const std::string& ns = meta_.multus_namespace;
  if (kube_ || !meta_.nad_dir.empty()) {
    try {
      if (const std::optional<ResolvedNetwork>& net = lookup(ns, value)) return *net;
    } catch (const cni::Error& e) {
      // The API being down must not break pods whose cluster network is on disk.
      if (e.code() != cni::kKubeApiFailure) throw;
      if (auto disk = find_in_conf_dir(value)) {
        spdlog::warn("NAD {}/{} unavailable ({}); using {}", ns, value, e.msg(), disk->origin);
        return *disk;
      }
      throw;
    }
  }
  if (auto disk = find_in_conf_dir(value)) return *disk;
  invalid("network \"" + value + "\" not found: no NAD " + ns + "/" + value +
          " and no config with that name in confDir \"" + meta_.conf_dir + "\"");
}

ResolvedNetwork NadSource::inline_config(const nlohmann::json& config) const {
  // Multus's examples leave legacy delegates unnamed; the plugin type is a readable name.
  std::string fallback = "delegate";
  if (config.is_object() && config.contains("type") && config["type"].is_string()) {
    fallback = config["type"].get<std::string>();
  }
  Json list = normalize_conflist(config, fallback, meta_.cni_version, "delegates entry");
  return ResolvedNetwork{list["name"].get<std::string>(), list, "", "inline"};
}

}  // namespace plugin

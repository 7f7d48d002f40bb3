// YAML/JSON manifest loading shared by the NAD and pod directory sources.
#include "plugin/manifests.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cni/error.h"
#include "cni/json_limits.h"

namespace plugin {
namespace fs = std::filesystem;
namespace {

using Json = nlohmann::json;

[[noreturn]] void invalid(const std::string& msg) {
  throw cni::Error(cni::kInvalidConfig, msg);
}

std::string kind_of(const Json& doc) {
  auto it = doc.find("kind");
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// .yaml, .yml and .json files of `dir`, sorted; none when `dir` does not exist.
std::vector<fs::path> manifest_files(const std::string& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string ext = entry.path().extension().string();
    if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
      files.push_back(entry.path());
    }
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    throw cni::Error(cni::kIoFailure, "cannot list \"" + dir + "\": " + ec.message());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Plain YAML scalars follow the core schema; quoted ones (tag "!") stay strings.
Json yaml_scalar(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() != "?") return s;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  long long i = 0;
  const char* end = s.data() + s.size();
  const char* begin = s.data() + (s[0] == '+' ? 1 : 0);
  if (auto r = std::from_chars(begin, end, i); r.ec == std::errc() && r.ptr == end) return i;
  double d = 0;
  if (auto r = std::from_chars(begin, end, d); r.ec == std::errc() && r.ptr == end) return d;
  return s;
}

Json yaml_node(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return yaml_scalar(n);
    case YAML::NodeType::Sequence: {
      Json arr = Json::array();
      for (const auto& item : n) arr.push_back(yaml_node(item));
      return arr;
    }
    case YAML::NodeType::Map: {
      Json obj = Json::object();
      for (const auto& kv : n) obj[kv.first.as<std::string>()] = yaml_node(kv.second);
      return obj;
    }
    default:
      return nullptr;
  }
}

// Adds `doc` (or, for a List, its items) when its kind matches.
void collect(const Json& doc, const std::string& kind, const std::string& file,
             std::vector<std::pair<Json, std::string>>& out) {
  if (!doc.is_object()) return;
  std::string k = kind_of(doc);
  if (k.size() >= 4 && k.ends_with("List") && doc.contains("items") && doc["items"].is_array()) {
    for (const Json& item : doc["items"]) collect(item, kind, file, out);
  } else if (k == kind) {
    out.emplace_back(doc, file);
  }
}

std::vector<Json> documents(const fs::path& file) {
  std::string text = read_config_file(file);
  if (file.extension() == ".json") {
    return {cni::parse_json(text, "manifest \"" + file.string() + "\"", cni::kInvalidConfig)};
  }
  std::vector<Json> docs;
  try {
    for (const YAML::Node& n : YAML::LoadAll(text)) docs.push_back(yaml_node(n));
  } catch (const YAML::Exception& e) {
    invalid("manifest \"" + file.string() + "\": invalid YAML: " + e.what());
  }
  return docs;
}

}  // namespace

std::string read_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw cni::Error(cni::kIoFailure, "cannot read \"" + path + "\"");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::json yaml_to_json(const std::string& yaml_text) {
  try {
    return yaml_node(YAML::Load(yaml_text));
  } catch (const YAML::Exception& e) {
    invalid(std::string("invalid YAML: ") + e.what());
  }
}

std::vector<std::pair<nlohmann::json, std::string>> load_manifests(const std::string& dir,
                                                                   const std::string& kind,
                                                                   BadManifest on_bad) {
  std::vector<std::pair<Json, std::string>> out;
  for (const fs::path& file : manifest_files(dir)) {
    std::vector<Json> docs;
    try {
      docs = documents(file);
    } catch (const cni::Error& e) {
      if (on_bad == BadManifest::kFail) throw;
      spdlog::warn("skipping manifest: {}", e.msg());
      continue;
    }
    for (const Json& doc : docs) collect(doc, kind, file.string(), out);
  }
  return out;
}

}  // namespace plugin

// Kubernetes manifests on disk (nadDir, podDir): YAML or JSON files, multi-document YAML
// and `kind: List` included, converted to JSON objects.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace plugin {

// What load_manifests does with a file that does not parse.
enum class BadManifest {
  kFail,  // cni::Error(kInvalidConfig) naming the file: a NAD directory must be trusted whole
  kSkip,  // a warning: one broken pod manifest must not stop every other pod
};

// Reads every YAML or JSON document in `dir` (.yaml, .yml, .json, in sorted order) and returns
// the objects of kind `kind`, the items of List documents included, each with its file path.
// A missing directory yields nothing.
std::vector<std::pair<nlohmann::json, std::string>> load_manifests(
    const std::string& dir, const std::string& kind, BadManifest on_bad = BadManifest::kFail);

// The whole text of a config or manifest file; cni::Error(kIoFailure) naming it otherwise.
std::string read_config_file(const std::string& path);

// Converts a YAML document to JSON: plain scalars become null, booleans and numbers where
// YAML 1.2's core schema says so; quoted scalars stay strings.
nlohmann::json yaml_to_json(const std::string& yaml_text);

}  // namespace plugin

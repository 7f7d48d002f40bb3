// Kubernetes manifests on disk (nadDir, podDir): YAML or JSON files, multi-document YAML
// and `kind: List` included, converted to JSON objects under size, node and depth limits, and
// looked up by namespace/name without parsing the whole directory.
#pragma once

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace plugin {

// Limits on one manifest file (docs/configuration.md, "Manifest directories"). A file past
// any of them is refused whole, with a message naming the file and the limit.
// Bytes of text: four times Kubernetes' 256 KiB annotation limit.
inline constexpr std::size_t kMaxManifestBytes = std::size_t{1} << 20;
// Nodes (scalars, sequences, maps) after alias expansion, all documents together: about four
// times what 1 MiB of real manifests holds (they take 10 to 35 bytes a node), so in practice
// only alias expansion reaches it. Building this many JSON nodes takes tens of MB.
inline constexpr std::size_t kMaxManifestNodes = std::size_t{1} << 18;
// Levels of nested sequences and maps; Kubernetes objects use fewer than 20.
inline constexpr int kMaxManifestDepth = 128;

// One object found in a manifests directory, with the file it came from.
struct Manifest {
  nlohmann::json object;
  std::string file;
};

// What a lookup found: the matching objects in the order read, and the files it could not
// use ("path: reason"), each already logged as an error.
struct ManifestMatches {
  std::vector<Manifest> found;
  std::vector<std::string> skipped;
};

// The objects of one kind in a directory of manifests (*.yaml, *.yml, *.json; documents of
// other kinds are ignored, the items of `kind: ...List` documents are searched). An object
// is named by metadata.name and metadata.namespace ("default" when absent). Lookup rule:
//  1. The files named after the object, in this order: <ns>_<name>, <ns>-<name>, <name>, each
//     with .yaml, .yml, .json. One of them that cannot be used is taken to be the object's
//     own manifest: cni::Error(kInvalidConfig) naming the file and why.
//  2. Only when none of them holds the object: every other manifest file whose text spells
//     the name (or might, through escapes or a UTF-16/32 encoding), in sorted order. A file
//     that cannot be used is logged as an error naming it, listed in `skipped`, and ignored.
// Files are parsed at most once per ManifestDir; a missing directory holds nothing.
class ManifestDir {
 public:
  ManifestDir(std::string dir, std::string kind) : dir_(std::move(dir)), kind_(std::move(kind)) {}
  ManifestMatches find(const std::string& ns, const std::string& name);

 private:
  struct Parsed {
    std::vector<nlohmann::json> docs;
    std::optional<std::string> error;  // why the file cannot be used
  };
  // The file's documents or its error, parsed on first use. `text`: already read, or null.
  const Parsed& parse(const std::string& path, const std::string* text = nullptr);
  void collect(const nlohmann::json& doc, const std::string& ns, const std::string& name,
               const std::string& file, std::vector<Manifest>& out) const;
  void skip(const std::string& path, const std::string& why, ManifestMatches& out);

  std::string dir_;
  std::string kind_;
  std::map<std::string, Parsed> parsed_;
  std::set<std::string> logged_;  // files already logged as skipped
};

// The documents of one manifest file (JSON when it ends in .json, else YAML), within the
// limits above. Throws cni::Error(kInvalidConfig) naming the file and the reason.
std::vector<nlohmann::json> read_manifest(const std::string& path);

// The whole text of a config file (confDir, a kubeconfig, a token), at most
// cni::kMaxJsonBytes of a regular file (a FIFO is refused, never waited on);
// cni::Error(kIoFailure) naming it and why otherwise.
std::string read_config_file(const std::string& path);

// Converts the first YAML document of `yaml_text` to JSON (null when there is none): plain
// scalars become null, booleans and numbers where YAML 1.2's core schema says so; quoted and
// explicitly tagged scalars stay strings; aliases are expanded. Node and depth limits as
// above; cni::Error(kInvalidConfig) with the reason and line otherwise.
nlohmann::json yaml_to_json(const std::string& yaml_text);

}  // namespace plugin

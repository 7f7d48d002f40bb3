// `cnimuxctl nad validate`: NAD manifests resolved by plugin::NadSource exactly as the
// plugin reads them from its nadDir.
#include <stdlib.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/output.h"
#include "cni/error.h"
#include "plugin/manifests.h"
#include "plugin/meta_config.h"
#include "plugin/nad_source.h"

namespace cli {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// A private nadDir holding a copy of one file (nadDir reads directories, not files); removed
// on every path.
class ScratchNadDir {
 public:
  explicit ScratchNadDir(const std::string& file) {
    std::string tmpl = (fs::temp_directory_path() / "cnimuxctl-nad-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw StateError("cannot create a temporary directory");
    dir_ = tmpl;
    copy_ = (fs::path(dir_) / fs::path(file).filename()).string();
    std::error_code ec;
    fs::copy_file(file, copy_, ec);
    if (ec) throw Refused(file + ": cannot be read: " + ec.message());
  }
  ~ScratchNadDir() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const std::string& dir() const { return dir_; }
  // The plugin's message with the copy's path put back to the file the user named.
  std::string restore_names(std::string msg, const std::string& file) const {
    for (const auto& [from, to] :
         {std::pair{copy_, file}, std::pair{dir_, std::string("nadDir")}}) {
      for (size_t at = msg.find(from); at != std::string::npos;
           at = msg.find(from, at + to.size())) {
        msg.replace(at, from.size(), to);
      }
    }
    return msg;
  }

 private:
  std::string dir_;
  std::string copy_;
};

bool is_manifest_name(const std::string& file) {
  const std::string ext = fs::path(file).extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

// The NAD objects of the manifest files in `dir`, Lists unpacked, read by the plugin's own
// manifest reader (same limits, same errors).
std::vector<Json> nads_in(const std::string& dir) {
  std::vector<Json> out;
  auto take = [&](const Json& doc, auto& self) -> void {
    if (!doc.is_object()) return;
    const std::string kind = doc.value("kind", "");
    if (kind.ends_with("List") && doc.contains("items") && doc["items"].is_array()) {
      for (const Json& item : doc["items"]) self(item, self);
    } else if (kind == "NetworkAttachmentDefinition") {
      out.push_back(doc);
    }
  };
  for (const auto& entry : fs::directory_iterator(dir)) {
    for (const Json& doc : plugin::read_manifest(entry.path().string())) take(doc, take);
  }
  return out;
}

// One file: its NADs, each resolved; throws the plugin's error for the first broken one.
Json validate_file(const std::string& file, const std::string& conf_dir) {
  if (!fs::is_regular_file(file)) throw Refused(file + ": not a regular file");
  if (!is_manifest_name(file)) {
    throw Refused(file +
                  ": nadDir reads only .yaml, .yml and .json files; it would ignore this one");
  }
  ScratchNadDir scratch(file);
  plugin::MetaConfig meta;
  meta.nad_dir = scratch.dir();
  meta.conf_dir = conf_dir;
  Json networks = Json::array();
  try {
    plugin::NadSource nads(meta, nullptr);
    const std::vector<Json> found = nads_in(scratch.dir());
    if (found.empty()) throw Refused(file + ": holds no NetworkAttachmentDefinition");
    for (const Json& obj : found) {
      const Json md = obj.value("metadata", Json::object());
      const std::string ns = md.is_object() ? md.value("namespace", "default") : "default";
      const std::string name = md.is_object() ? md.value("name", "") : "";
      const plugin::ResolvedNetwork& net = nads.nad(ns, name);
      Json types = Json::array();
      for (const auto& p : net.conflist["plugins"]) types.push_back(p.value("type", ""));
      networks.push_back({{"network", net.network},
                          {"cniVersion", net.conflist.value("cniVersion", "")},
                          {"plugins", types},
                          {"resourceName", net.resource_name}});
    }
  } catch (const cni::Error& e) {
    throw cni::Error(e.code(), scratch.restore_names(e.msg(), file));
  } catch (const Json::exception& e) {
    throw Refused(file + ": " + e.what());
  }
  return networks;
}

}  // namespace

int nad_validate(const std::vector<std::string>& files, const std::string& conf_dir, bool json) {
  Json report = Json::array();
  bool all_valid = true;
  for (const std::string& file : files) {
    Json entry = {{"file", file}};
    try {
      entry["networks"] = validate_file(file, conf_dir);
      entry["valid"] = true;
    } catch (const cni::Error& e) {
      entry["valid"] = false;
      entry["error"] = {{"code", e.code()}, {"msg", e.msg()}};
    } catch (const Refused& e) {
      entry["valid"] = false;
      entry["error"] = {{"code", cni::kInvalidConfig}, {"msg", e.what()}};
    }
    all_valid = all_valid && entry["valid"].get<bool>();
    report.push_back(std::move(entry));
  }
  if (json) {
    std::cout << report.dump() << "\n";
  } else {
    for (const auto& e : report) {
      if (!e["valid"].get<bool>()) {
        std::cout << "INVALID " << e["file"].get<std::string>() << ": "
                  << e["error"]["msg"].get<std::string>() << "\n";
        continue;
      }
      for (const auto& n : e["networks"]) {
        std::string types;
        for (const auto& t : n["plugins"])
          types += (types.empty() ? "" : ",") + t.get<std::string>();
        std::cout << "ok      " << e["file"].get<std::string>() << ": "
                  << n["network"].get<std::string>() << " (" << types << ", cniVersion "
                  << n["cniVersion"].get<std::string>() << ")\n";
      }
    }
  }
  return all_valid ? kExitOk : kExitInvalid;
}

}  // namespace cli

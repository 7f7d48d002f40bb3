// Reading kubelet's kubelet_internal_checkpoint, in both the pre-1.20 list shape and the
// map-by-NUMA-node shape of DeviceIDs.
#include "plugin/device_checkpoint.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cni/error.h"
#include "cni/json_limits.h"

namespace plugin {
namespace {

using Json = nlohmann::json;

[[noreturn]] void malformed(const std::string& why) {
  throw cni::Error(cni::kDecodeFailure, "device checkpoint is malformed: " + why);
}

std::vector<std::string> id_list(const Json& list, const std::string& where) {
  if (!list.is_array()) malformed(where + " is not a list");
  std::vector<std::string> out;
  for (const Json& id : list) {
    if (!id.is_string()) malformed(where + " holds a non-string device ID " + id.dump());
    out.push_back(id.get<std::string>());
  }
  return out;
}

// {"0": [...], "1": [...]}: NUMA nodes in numeric order so the hand-out order is stable.
std::vector<std::string> ids_by_numa(const Json& map, const std::string& where) {
  std::vector<std::pair<long long, const Json*>> nodes;
  for (auto it = map.begin(); it != map.end(); ++it) {
    long long node = -1;
    try {
      node = std::stoll(it.key());
    } catch (const std::exception&) {
      malformed(where + " has a non-numeric NUMA node \"" + it.key() + "\"");
    }
    nodes.emplace_back(node, &it.value());
  }
  std::stable_sort(nodes.begin(), nodes.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (const auto& [node, list] : nodes) {
    std::vector<std::string> ids = id_list(*list, where + "[\"" + std::to_string(node) + "\"]");
    out.insert(out.end(), ids.begin(), ids.end());
  }
  return out;
}

std::string string_member(const Json& entry, const char* key, const std::string& where) {
  auto it = entry.find(key);
  if (it == entry.end() || !it->is_string()) malformed(where + " lacks string \"" + key + "\"");
  return it->get<std::string>();
}

}  // namespace

DeviceCheckpoint DeviceCheckpoint::parse(const std::string& bytes) {
  cni::JsonParse parsed = cni::try_parse_json(bytes);
  if (!parsed.value) malformed(parsed.why);
  const Json& j = *parsed.value;
  const Json* entries = nullptr;
  if (j.is_object() && j.contains("Data") && j["Data"].is_object()) {
    auto it = j["Data"].find("PodDeviceEntries");
    if (it != j["Data"].end()) entries = &*it;
  }
  if (!entries) malformed("no Data.PodDeviceEntries");
  DeviceCheckpoint cp;
  if (entries->is_null()) return cp;  // kubelet writes null when no pod holds a device
  if (!entries->is_array()) malformed("Data.PodDeviceEntries is not a list");
  for (size_t i = 0; i < entries->size(); ++i) {
    const Json& e = (*entries)[i];
    std::string where = "PodDeviceEntries[" + std::to_string(i) + "]";
    if (!e.is_object()) malformed(where + " is not an object");
    Entry entry{string_member(e, "PodUID", where),
                string_member(e, "ContainerName", where),
                string_member(e, "ResourceName", where),
                {}};
    auto ids = e.find("DeviceIDs");
    if (ids == e.end() || ids->is_null()) {
      // No devices for this container.
    } else if (ids->is_object()) {
      entry.device_ids = ids_by_numa(*ids, where + ".DeviceIDs");
    } else {
      entry.device_ids = id_list(*ids, where + ".DeviceIDs");
    }
    cp.entries_.push_back(std::move(entry));
  }
  return cp;
}

DeviceCheckpoint DeviceCheckpoint::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw cni::Error(cni::kIoFailure, "cannot read device checkpoint \"" + path + "\"");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return parse(ss.str());
  } catch (const cni::Error& e) {
    throw cni::Error(e.code(), "\"" + path + "\": " + e.msg());
  }
}

std::vector<std::string> DeviceCheckpoint::devices(const std::string& pod_uid,
                                                   const std::string& resource) const {
  std::vector<std::string> out;
  for (const Entry& e : entries_) {
    if (e.pod_uid != pod_uid || e.resource != resource) continue;
    for (const std::string& id : e.device_ids) {
      if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
    }
  }
  return out;
}

}  // namespace plugin

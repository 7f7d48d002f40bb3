// Parsing of GC's cni.dev/valid-attachments (and the older cni.dev/attachments).
#include "cni/gc_request.h"

#include "cni/error.h"

namespace cni {
namespace {

// A string member of `entry`, or nullptr when it is missing or not a string.
const std::string* string_member(const Json& entry, const char* name) {
  auto it = entry.find(name);
  if (it == entry.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

void add_entries(const Json& list, const std::string& key, ValidAttachments& out) {
  if (!list.is_array()) {
    throw Error(kInvalidConfig,
                key + ": must be a list of {containerID, ifname}, not " + list.type_name());
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const Json& entry = list[i];
    const std::string where = key + "[" + std::to_string(i) + "]";
    if (!entry.is_object()) {
      throw Error(kInvalidConfig, where + ": must be an object, not " + entry.type_name());
    }
    const std::string* cid = string_member(entry, "containerID");
    const std::string* ifname = string_member(entry, "ifname");
    if (!cid) throw Error(kInvalidConfig, where + ".containerID: missing or not a string");
    if (!ifname) throw Error(kInvalidConfig, where + ".ifname: missing or not a string");
    out.emplace(*cid, *ifname);
  }
}

}  // namespace

ValidAttachments valid_attachments(const NetConf& conf) {
  ValidAttachments out;
  if (!conf.raw.is_object()) return out;
  for (const char* key : {"cni.dev/valid-attachments", "cni.dev/attachments"}) {
    auto it = conf.raw.find(key);
    if (it == conf.raw.end() || it->is_null()) continue;
    add_entries(*it, key, out);
  }
  return out;
}

}  // namespace cni

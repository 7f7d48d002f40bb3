// The runtime side of CNI for cnimuxctl: libcni's list execution (no VERSION probe), and the
// per-pod sandbox record that stands in for containerd's sandbox store and result cache.
#include "cli/cni_runtime.h"

#include <sys/file.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "cli/output.h"
#include "cni/error.h"
#include "cni/exec_delegate.h"
#include "cni/state_file.h"

namespace cli {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

constexpr size_t kMaxRecordBytes = 4u << 20;

std::string string_field(const Json& j, const char* key, const std::string& file) {
  if (!j.contains(key)) return "";
  if (!j[key].is_string()) {
    throw cni::Error(cni::kInvalidConfig,
                     std::string("conflist \"") + file + "\": " + key + " is not a string");
  }
  return j[key].get<std::string>();
}

// Runs plugin `index` of `list` for `verb` and returns what it printed (null when nothing).
Json invoke(const NetworkList& list, size_t index, cni::Verb verb, const RuntimeConf& rt,
            const Json& prev_result) {
  const std::string type = list.plugins[index].value("type", "");
  cni::ExecDelegate delegate(type, rt.bin_dirs);
  cni::DelegateRequest req;
  req.verb = verb;
  req.container_id = rt.container_id;
  req.netns = rt.netns;
  req.ifname = rt.ifname;
  req.cni_args = rt.cni_args;
  req.path = rt.bin_dirs;
  req.config = plugin_stdin(list, index, rt, prev_result).dump();
  req.timeout = std::chrono::seconds(rt.timeout_seconds);
  return delegate.invoke(req);
}

}  // namespace

NetworkList parse_network_list(const std::string& text, const std::string& file) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Json::exception& e) {
    throw cni::Error(cni::kInvalidConfig,
                     "conflist \"" + file + "\" is not JSON: " + std::string(e.what()));
  }
  if (!j.is_object()) {
    throw cni::Error(cni::kInvalidConfig, "conflist \"" + file + "\" is not a JSON object");
  }
  NetworkList l;
  l.file = file;
  l.raw = j;
  l.name = string_field(j, "name", file);
  l.cni_version = string_field(j, "cniVersion", file);
  if (j.contains("plugins")) {
    if (!j["plugins"].is_array() || j["plugins"].empty()) {
      throw cni::Error(cni::kInvalidConfig,
                       "conflist \"" + file + "\": plugins is not a non-empty array");
    }
    for (const Json& p : j["plugins"]) l.plugins.push_back(p);
    if (j.contains("disableCheck") && j["disableCheck"].is_boolean()) {
      l.disable_check = j["disableCheck"].get<bool>();
    }
  } else {
    l.plugins.push_back(j);  // a .conf: one plugin, named by itself
  }
  if (l.name.empty()) throw cni::Error(cni::kInvalidConfig, "conflist \"" + file + "\": no name");
  for (size_t i = 0; i < l.plugins.size(); ++i) {
    const Json& p = l.plugins[i];
    if (!p.is_object() || !p.contains("type") || !p["type"].is_string()) {
      throw cni::Error(cni::kInvalidConfig, "conflist \"" + file + "\": plugins[" +
                                                std::to_string(i) + "] has no string type");
    }
    cni::validate_plugin_type(p["type"].get<std::string>());
  }
  return l;
}

std::string first_conflist(const std::string& conf_dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::directory_iterator it(conf_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string ext = it->path().extension().string();
    if ((ext == ".conf" || ext == ".conflist" || ext == ".json") && it->is_regular_file(ec)) {
      files.push_back(it->path().string());
    }
  }
  if (files.empty()) {
    throw cni::Error(cni::kInvalidConfig,
                     "no network config (*.conf, *.conflist, *.json) in \"" + conf_dir + "\"");
  }
  std::sort(files.begin(), files.end());
  return files.front();
}

std::string k8s_cni_args(const std::string& ns, const std::string& name, const std::string& uid,
                         const std::string& sandbox_id) {
  cni::CniArgs a;
  a.set("IgnoreUnknown", "1");
  a.set("K8S_POD_NAMESPACE", ns);
  a.set("K8S_POD_NAME", name);
  a.set("K8S_POD_INFRA_CONTAINER_ID", sandbox_id);
  if (!uid.empty()) a.set("K8S_POD_UID", uid);
  return a.encode();
}

Json plugin_stdin(const NetworkList& list, size_t index, const RuntimeConf& rt,
                  const Json& prev_result) {
  Json conf = list.plugins.at(index);
  conf["name"] = list.name;
  conf["cniVersion"] = list.cni_version;
  Json runtime_config = Json::object();
  if (conf.contains("capabilities") && conf["capabilities"].is_object()) {
    for (const auto& [cap, value] : rt.capability_args) {
      const Json& declared = conf["capabilities"];
      if (declared.contains(cap) && declared[cap] == true) runtime_config[cap] = value;
    }
  }
  if (!runtime_config.empty()) conf["runtimeConfig"] = runtime_config;
  if (!prev_result.is_null()) conf["prevResult"] = prev_result;
  return conf;
}

Json add_network_list(const NetworkList& list, const RuntimeConf& rt) {
  Json prev;
  for (size_t i = 0; i < list.plugins.size(); ++i)
    prev = invoke(list, i, cni::Verb::kAdd, rt, prev);
  return prev;
}

void del_network_list(const NetworkList& list, const RuntimeConf& rt, const Json& prev_result) {
  for (size_t i = list.plugins.size(); i-- > 0;) invoke(list, i, cni::Verb::kDel, rt, prev_result);
}

void check_network_list(const NetworkList& list, const RuntimeConf& rt, const Json& prev_result) {
  const std::string& v = list.cni_version;
  if (v.empty() || v.rfind("0.1", 0) == 0 || v.rfind("0.2", 0) == 0 || v.rfind("0.3", 0) == 0) {
    throw cni::Error(cni::kIncompatibleVersion,
                     "configuration version \"" + v + "\" does not support the CHECK command");
  }
  for (size_t i = 0; i < list.plugins.size(); ++i) {
    invoke(list, i, cni::Verb::kCheck, rt, prev_result);
  }
}

std::string sandbox_record_path(const std::string& cache_dir, const std::string& ns,
                                const std::string& name) {
  return cache_dir + "/" + ns + "_" + name + ".json";
}

std::optional<SandboxRecord> load_sandbox(const std::string& cache_dir, const std::string& ns,
                                          const std::string& name) {
  const std::string path = sandbox_record_path(cache_dir, ns, name);
  std::optional<std::string> text;
  try {
    text = cni::read_state_file(path, kMaxRecordBytes);
  } catch (const cni::Error& e) {
    throw StateError(e.msg());
  }
  if (!text) return std::nullopt;
  try {
    const Json j = Json::parse(*text);
    SandboxRecord r;
    r.pod_namespace = j.at("pod").at("namespace");
    r.pod_name = j.at("pod").at("name");
    r.pod_uid = j.at("pod").at("uid");
    r.container_id = j.at("containerID");
    r.netns_name = j.at("netns");
    r.created_netns = j.at("createdNetns");
    r.ifname = j.at("ifName");
    r.cni_args = j.at("cniArgs");
    r.capability_args = j.at("capabilityArgs");
    r.conflist = j.at("config");
    r.conflist_file = j.at("configFile");
    r.state = j.at("state");
    r.result = j.value("result", Json());
    return r;
  } catch (const Json::exception& e) {
    throw StateError("sandbox record \"" + path + "\" is corrupt: " + e.what());
  }
}

void save_sandbox(const std::string& cache_dir, const SandboxRecord& r) {
  Json j = {{"kind", "cnimuxctlSandboxV1"},
            {"pod", {{"namespace", r.pod_namespace}, {"name", r.pod_name}, {"uid", r.pod_uid}}},
            {"containerID", r.container_id},
            {"netns", r.netns_name},
            {"createdNetns", r.created_netns},
            {"ifName", r.ifname},
            {"cniArgs", r.cni_args},
            {"capabilityArgs", r.capability_args},
            {"config", r.conflist},
            {"configFile", r.conflist_file},
            {"state", r.state}};
  if (!r.result.is_null()) j["result"] = r.result;
  try {
    cni::ensure_private_dir(cache_dir, cni::kIoFailure);
    const std::string path = sandbox_record_path(cache_dir, r.pod_namespace, r.pod_name);
    cni::write_state_file(path, path + ".tmp", j.dump(), true);
  } catch (const cni::Error& e) {
    throw StateError(e.msg());
  }
}

void remove_sandbox(const std::string& cache_dir, const std::string& ns, const std::string& name) {
  std::error_code ec;
  fs::remove(sandbox_record_path(cache_dir, ns, name), ec);
  if (ec)
    throw StateError("removing " + sandbox_record_path(cache_dir, ns, name) + ": " + ec.message());
}

SandboxLock::SandboxLock(const std::string& cache_dir, const std::string& ns,
                         const std::string& name) {
  const std::string path = cache_dir + "/" + ns + "_" + name + ".lock";
  try {
    cni::ensure_private_dir(cache_dir, cni::kIoFailure);
    fd_ = cni::open_state_file(path);
  } catch (const cni::Error& e) {
    throw StateError(e.msg());
  }
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    ::close(fd_);
    throw StateError("cannot lock " + path + ": " + std::strerror(errno));
  }
}

SandboxLock::~SandboxLock() {
  ::close(fd_);
}

std::string new_sandbox_id() {
  unsigned char bytes[32];
  size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw StateError("getrandom failed");
    }
    got += static_cast<size_t>(n);
  }
  static const char* hex = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) id += {hex[b >> 4], hex[b & 15]};
  return id;
}

}  // namespace cli

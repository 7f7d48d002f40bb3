// What a container runtime does with the node's CNI config, as containerd does it through
// libcni: pick the conflist, run its plugins for ADD (in order, with prevResult), DEL (in
// reverse, stopping at the first failure) and CHECK (in order), never asking VERSION; and the
// runtime's own per-pod record and result cache. `cnimuxctl pod` is built on it.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cni/env.h"

namespace cli {

// A network configuration list as libcni loads it. A single-plugin .conf file becomes a list
// of one, whose name and cniVersion are the plugin's.
struct NetworkList {
  std::string file;
  std::string name;
  std::string cni_version;
  bool disable_check = false;
  std::vector<nlohmann::json> plugins;  // each plugin's object, as in the file
  nlohmann::json raw;                   // the whole list, for the runtime's record
};

// Parses a conflist (or .conf) text; cni::Error(kInvalidConfig) naming `file` and the field.
NetworkList parse_network_list(const std::string& text, const std::string& file);

// The list a runtime with max_conf_num = 1 uses: the first *.conf, *.conflist or *.json in
// `conf_dir` in lexical order, as libcni's ConfFiles sorts them. cni::Error(kInvalidConfig)
// naming the directory when it holds none.
std::string first_conflist(const std::string& conf_dir);

// One invocation's CNI_* values and the runtime's capability arguments.
struct RuntimeConf {
  std::string container_id;
  std::string netns;  // path; empty on RemovePodSandbox's DEL
  std::string ifname = "eth0";
  std::string cni_args;                                   // encoded CNI_ARGS
  std::map<std::string, nlohmann::json> capability_args;  // capability -> runtimeConfig value
  std::vector<std::string> bin_dirs;                      // where plugins are found; also CNI_PATH
  int timeout_seconds = 60;
};

// The CNI_ARGS containerd sends for a pod sandbox (K8S_POD_UID left out when `uid` is empty).
std::string k8s_cni_args(const std::string& ns, const std::string& name, const std::string& uid,
                         const std::string& sandbox_id);

// The stdin libcni builds for plugin `index` of `list`: the plugin's object with the list's
// name and cniVersion, runtimeConfig holding the capability arguments the plugin declares,
// and prevResult when given (not null).
nlohmann::json plugin_stdin(const NetworkList& list, size_t index, const RuntimeConf& rt,
                            const nlohmann::json& prev_result);

// ADD every plugin in order, each getting the previous one's result. Returns the last
// result. Throws the first failure as the plugin's cni::Error.
nlohmann::json add_network_list(const NetworkList& list, const RuntimeConf& rt);

// DEL every plugin in reverse order with `prev_result` (null: none); stops at and throws the
// first failure, as libcni does (the runtime retries the whole DEL later).
void del_network_list(const NetworkList& list, const RuntimeConf& rt,
                      const nlohmann::json& prev_result);

// CHECK every plugin in order against `prev_result`; throws the first failure. Refused
// (cni::Error kIncompatibleVersion) below cniVersion 0.4.0, as libcni refuses it.
void check_network_list(const NetworkList& list, const RuntimeConf& rt,
                        const nlohmann::json& prev_result);

// The runtime's record of one pod sandbox (containerd's sandbox store plus libcni's result
// cache), one file per pod in the cache directory: written before ADD runs, so a sandbox
// whose ADD was interrupted can still be torn down, and holding the result once ADD is done.
struct SandboxRecord {
  std::string pod_namespace, pod_name, pod_uid;
  std::string container_id;
  std::string netns_name;      // /run/netns/<netns_name>
  bool created_netns = false;  // we created it, so DEL removes it
  std::string ifname;
  std::string cni_args;
  nlohmann::json capability_args = nlohmann::json::object();
  nlohmann::json conflist;  // the list as ADD ran it: DEL and CHECK use exactly this
  std::string conflist_file;
  std::string state;      // "adding" or "added"
  nlohmann::json result;  // the list's final ADD result once "added"
};

// <cache_dir>/<namespace>_<name>.json (pod names and namespaces are DNS labels: no '_').
std::string sandbox_record_path(const std::string& cache_dir, const std::string& ns,
                                const std::string& name);
// nullopt when the pod has no record; cli::StateError when it cannot be read.
std::optional<SandboxRecord> load_sandbox(const std::string& cache_dir, const std::string& ns,
                                          const std::string& name);
// Atomically replaces the pod's record (cache_dir created 0700).
void save_sandbox(const std::string& cache_dir, const SandboxRecord& rec);
void remove_sandbox(const std::string& cache_dir, const std::string& ns, const std::string& name);

// Serializes the commands on one pod, as a runtime never runs two operations on one sandbox at
// once: an exclusive flock on <cache_dir>/<namespace>_<name>.lock, waited for, held for the
// object's lifetime (cache_dir created 0700). cli::StateError when it cannot be taken.
class SandboxLock {
 public:
  SandboxLock(const std::string& cache_dir, const std::string& ns, const std::string& name);
  ~SandboxLock();
  SandboxLock(const SandboxLock&) = delete;
  SandboxLock& operator=(const SandboxLock&) = delete;

 private:
  int fd_ = -1;
};

// A 64-hex-digit sandbox ID, as containerd makes them.
std::string new_sandbox_id();

}  // namespace cli

// cnimuxctl's commands. Each prints its answer on stdout (JSON when `json`, else aligned
// text) and returns the exit status; failures are thrown (cni::Error or Refused: exit 1,
// StateError: exit 3) and printed by main.
#pragma once

#include <string>
#include <vector>

namespace cli {

// `annotation parse`: the selection elements plugin::parse_network_selection resolves.
int annotation_parse(const std::string& value, const std::string& ns, bool json);

// `nad validate`: each file's NADs resolved by plugin::NadSource as from a nadDir.
// `conf_dir` is where a NAD without spec.config is looked up, as the plugin's confDir.
int nad_validate(const std::vector<std::string>& files, const std::string& conf_dir, bool json);

// `pods`: the node's journals.
int pods(const std::string& cni_dir, bool json);

// `pod add|del|check MANIFEST`: cnimuxctl as the container runtime of one pod (cli/cni_runtime.h).
struct PodOptions {
  std::string manifest;  // the Pod, YAML or JSON
  std::string conflist;  // empty: the first config in conf_dir
  std::string conf_dir = "/etc/cni/net.d";
  std::vector<std::string> bin_dirs{"/opt/cni/bin"};
  std::string cache_dir = "/var/lib/cni/cnimuxctl";  // the sandbox records and cached results
  std::string netns;                                 // empty: cnimux-<namespace>-<name>
  std::string ifname = "eth0";
  int timeout_seconds = 60;  // per plugin
  bool json = false;
};
// Creates (or reuses) the netns, records the sandbox, runs ADD; on failure tears it down as
// containerd does (DEL, netns removed, record dropped) and returns kExitPlugin.
int pod_add(const PodOptions& o);
// DEL with the netns and the cached result, removes a netns it created, DEL without netns,
// drops the record. A pod without a record is nothing to do (exit 0).
int pod_del(const PodOptions& o);
// CHECK with the cached result; Refused when the pod is not attached.
int pod_check(const PodOptions& o);

struct IpamOptions {
  std::string store;    // the SQLite database
  std::string cni_dir;  // the journals: live attachments, and the pools' configs
  bool json = false;
};
int ipam_pools(const IpamOptions& o);
int ipam_show(const IpamOptions& o, const std::string& pool);
// Frees ADDR (in `pool` when given; required when several pools hold it). Refused while
// the owner has a live journal, unless `force`.
int ipam_release(const IpamOptions& o, const std::string& addr, const std::string& pool,
                 bool force);
struct GcOptions {
  bool dry_run = false;
  std::string kubeconfig;  // non-empty: also judge the journals against the API's pods
  std::string node;        // with kubeconfig: only pods on this node count as live
  bool yes = false;        // with kubeconfig: free; without it the GC only shows
};
// Frees every allocation that no live journal attachment holds (ipam::Allocator::gc_store),
// under the journals' GC fence; with `dry_run` only lists them. With `kubeconfig`, a journal
// whose pod the API no longer lists (cli/live_pods.h) holds nothing either, and nothing is
// freed without `yes`; an API that cannot be read, or lists no pod, frees nothing (StateError).
int ipam_gc(const IpamOptions& o, const GcOptions& g);

}  // namespace cli

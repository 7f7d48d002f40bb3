// A throwaway node for the meta-plugin benchmark: a bin dir (cnimux, cnimux-ipam, the floor
// plugin and the reference plugins), net.d with the bridge cluster network, two macvlan NADs in
// nadDir, a journal dir (and one for the floor), one pod netns and a veth uplink. Named
// "cxb<pid>…"; the destructor removes all.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bench {

class BenchNode {
 public:
  // `build_dir` holds plugin/cnimux and ipam/cnimux-ipam; `plugins_dir` the reference plugins.
  BenchNode(const std::string& build_dir, const std::string& plugins_dir);
  ~BenchNode();
  BenchNode(const BenchNode&) = delete;
  BenchNode& operator=(const BenchNode&) = delete;

  std::string bin(const std::string& type) const { return dir_ + "/bin/" + type; }
  const std::string& dir() const { return dir_; }  // the node's private scratch directory
  const std::string& netns_path() const { return netns_path_; }

  // The plugin object of the cluster network (bridge + cnimux-ipam) and of NAD mv1/mv2
  // (macvlan + cnimux-ipam), each with the name and cniVersion a runtime would inject.
  nlohmann::json bridge_conf() const;
  nlohmann::json macvlan_conf(int n) const;

  // cnimux's stdin: the node's cnimux entry with the pod annotations containerd passes in
  // runtimeConfig, so no API server is involved.
  nlohmann::json meta_conf(const nlohmann::json& pod_annotations) const;

  // Writes `conf` as floor/<ifname>.json, the per-delegate config file cnimux-bench-floor
  // reads, and returns its path.
  std::string floor_conf(const std::string& ifname, const nlohmann::json& conf) const;

  // The CNI environment of one call, pod default/bench.
  std::vector<std::string> env(const std::string& verb, const std::string& container_id,
                               const std::string& ifname) const;

 private:
  void write(const std::string& rel, const std::string& bytes) const;
  void cleanup() noexcept;

  std::string prefix_, dir_, netns_, netns_path_, bridge_, uplink_, uplink_peer_;
};

// Runs a shell command (setup only, never timed); throws when it fails.
void must_run(const std::string& cmd);

}  // namespace bench

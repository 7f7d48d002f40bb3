// Sets up and tears down the benchmark node: directories, symlinked binaries, configs,
// the pod namespace and the macvlan uplink, all through iproute2 and plain files.
#include "test/bench/meta/bench_node.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace bench {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kCniVersion = "1.0.0";

int shell(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return (rc != -1 && WIFEXITED(rc)) ? WEXITSTATUS(rc) : -1;
}

}  // namespace

void must_run(const std::string& cmd) {
  if (shell(cmd) != 0) throw std::runtime_error("setup command failed: " + cmd);
}

BenchNode::BenchNode(const std::string& build_dir, const std::string& plugins_dir)
    : prefix_("cxb" + std::to_string(::getpid())) {
  netns_ = prefix_ + "ns";
  netns_path_ = "/run/netns/" + netns_;
  bridge_ = prefix_ + "br";
  uplink_ = prefix_ + "u";
  uplink_peer_ = prefix_ + "p";
  char tmpl[] = "/tmp/cnimux-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  try {
    for (const char* sub : {"bin", "net.d", "nads", "journal", "floor", "floor-journal"})
      fs::create_directories(dir_ + "/" + sub);
    // META_BENCH_CNIMUX: another cnimux binary (one built from an earlier commit), so a
    // lever can be measured as an A/B with everything else the same.
    const char* other = std::getenv("META_BENCH_CNIMUX");
    fs::create_symlink(fs::absolute(other && *other ? other : build_dir + "/plugin/cnimux"),
                       bin("cnimux"));
    fs::create_symlink(fs::absolute(build_dir + "/ipam/cnimux-ipam"), bin("cnimux-ipam"));
    fs::create_symlink(fs::absolute(build_dir + "/test/bench/meta/cnimux-bench-floor"),
                       bin("cnimux-bench-floor"));
    for (const char* p : {"bridge", "macvlan"}) fs::create_symlink(plugins_dir + "/" + p, bin(p));
    json cluster = {{"cniVersion", kCniVersion}, {"name", "cluster"}, {"plugins", {bridge_conf()}}};
    cluster["plugins"][0].erase("name");
    cluster["plugins"][0].erase("cniVersion");
    write("net.d/10-cluster.conflist", cluster.dump(2));
    for (int n : {1, 2}) {
      json conf = macvlan_conf(n);
      json nad = {{"apiVersion", "k8s.cni.cncf.io/v1"},
                  {"kind", "NetworkAttachmentDefinition"},
                  {"metadata", {{"name", conf["name"]}, {"namespace", "default"}}},
                  {"spec", {{"config", conf.dump()}}}};
      write("nads/default-" + conf["name"].get<std::string>() + ".json", nad.dump(2));
    }
    must_run("ip netns add " + netns_);
    must_run("ip link add " + uplink_ + " type veth peer name " + uplink_peer_);
    must_run("ip link set " + uplink_ + " up && ip link set " + uplink_peer_ + " up");
  } catch (...) {
    cleanup();
    throw;
  }
}

BenchNode::~BenchNode() {
  cleanup();
}

void BenchNode::cleanup() noexcept {
  shell("ip netns delete " + netns_ + " 2>/dev/null");
  for (const auto& l : {uplink_, bridge_}) shell("ip link delete " + l + " 2>/dev/null");
  std::error_code ec;
  if (!dir_.empty() && !std::getenv("CNIMUX_BENCH_KEEP")) fs::remove_all(dir_, ec);
}

void BenchNode::write(const std::string& rel, const std::string& bytes) const {
  std::ofstream f(dir_ + "/" + rel);
  f << bytes;
  if (!f) throw std::runtime_error("cannot write " + dir_ + "/" + rel);
}

json BenchNode::bridge_conf() const {
  json ipam = {{"type", "cnimux-ipam"},
               {"ranges", {{{{"subnet", "10.251.0.0/16"}}}}},
               {"routes", {{{"dst", "0.0.0.0/0"}}}},
               {"store", {{"type", "sqlite"}, {"path", dir_ + "/ipam.db"}}}};
  return {{"cniVersion", kCniVersion}, {"name", "cluster"}, {"type", "bridge"},
          {"bridge", bridge_},         {"isGateway", true}, {"ipam", ipam}};
}

json BenchNode::macvlan_conf(int n) const {
  json ipam = {{"type", "cnimux-ipam"},
               {"ranges", {{{{"subnet", "10.25" + std::to_string(1 + n) + ".0.0/16"}}}}},
               {"store", {{"type", "sqlite"}, {"path", dir_ + "/ipam.db"}}}};
  return {{"cniVersion", kCniVersion}, {"name", "mv" + std::to_string(n)},
          {"type", "macvlan"},         {"master", uplink_},
          {"mode", "bridge"},          {"ipam", ipam}};
}

std::string BenchNode::floor_conf(const std::string& ifname, const json& conf) const {
  write("floor/" + ifname + ".json", conf.dump());
  return dir_ + "/floor/" + ifname + ".json";
}

json BenchNode::meta_conf(const json& pod_annotations) const {
  return {{"cniVersion", kCniVersion},
          {"name", "cnimux"},
          {"type", "cnimux"},
          {"clusterNetwork", "cluster"},
          {"confDir", dir_ + "/net.d"},
          {"cniDir", dir_ + "/journal"},
          {"binDir", dir_ + "/bin"},
          {"nadDir", dir_ + "/nads"},
          {"logFile", dir_ + "/cnimux.log"},
          {"capabilities", {{"io.kubernetes.cri.pod-annotations", true}}},
          {"runtimeConfig", {{"io.kubernetes.cri.pod-annotations", pod_annotations}}}};
}

std::vector<std::string> BenchNode::env(const std::string& verb, const std::string& container_id,
                                        const std::string& ifname) const {
  return {"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
          "CNI_COMMAND=" + verb,
          "CNI_CONTAINERID=" + container_id,
          "CNI_NETNS=" + netns_path_,
          "CNI_IFNAME=" + ifname,
          "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=bench",
          "CNI_PATH=" + dir_ + "/bin"};
}

}  // namespace bench

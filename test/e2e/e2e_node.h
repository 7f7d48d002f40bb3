// A throwaway "node" for end-to-end tests of cnimux: a temporary directory with a bin dir
// (cnimux, cnimux-ipam, the fake delegate and the reference plugins), net.d, nadDir, podDir,
// cniDir and an IPAM store; a bridge for the cluster network and a veth "uplink" for
// macvlan. Everything it creates is named with test_prefix() and removed by its destructor.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ipam/store.h"
#include "plugin/journal.h"
#include "test/fakes/plugin_runner.h"
#include "test/fakes/test_netns.h"

namespace cnimux_test {

using nlohmann::json;

inline std::string binary_dir() {
  return CNIMUX_BINARY_DIR;
}
inline std::string cnimux_binary() {
  return binary_dir() + "/plugin/cnimux";
}

// The state letter of `pid` from /proc/<pid>/stat ('R', 'S', 'Z', ...), or 0 when it is gone.
inline char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  const size_t paren = stat.rfind(')');  // the command name may hold spaces and parentheses
  return paren == std::string::npos || paren + 2 >= stat.size() ? 0 : stat[paren + 2];
}
// True while `pid` runs; a zombie has exited and only waits to be reaped, so it is not alive.
inline bool process_alive(pid_t pid) {
  const char st = process_state(pid);
  return st != 0 && st != 'Z' && st != 'X';
}
// Polls until `pid` is no longer alive or `limit` passes; true when it is gone.
inline bool wait_process_gone(pid_t pid,
                              std::chrono::milliseconds limit = std::chrono::seconds(15)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (process_alive(pid)) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}
// Polls `done` until it holds or `limit` passes; returns its last answer. For what the kernel
// finishes asynchronously, such as tearing down a deleted netns and the veth ends in it.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::seconds(15)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}
// The parent of `pid` (field 4 of /proc/<pid>/stat), or -1.
inline pid_t parent_pid(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream rest(stat.substr(paren + 2));
  char state = 0;
  pid_t ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

class E2eNode {
 public:
  // `tag` (<= 3 chars) keeps the names of nodes in one test binary apart.
  explicit E2eNode(const std::string& tag = "n")
      : prefix_(test_prefix() + tag),
        uplink_(prefix_ + "u"),
        uplink_peer_(prefix_ + "p"),
        bridge_(prefix_ + "br") {
    char tmpl[] = "/tmp/cnimux-e2e-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    for (const char* sub : {"bin", "net.d", "nads", "pods", "journal"}) {
      std::filesystem::create_directories(dir_ + "/" + sub);
    }
    link_bin(binary_dir() + "/plugin/cnimux", "cnimux");
    link_bin(binary_dir() + "/ipam/cnimux-ipam", "cnimux-ipam");
    link_bin(binary_dir() + "/test/fakes/delegates/cnimux-fake-delegate", "cnimux-fake-delegate");
    for (const char* p :
         {"bridge", "macvlan", "host-local", "loopback", "ptp", "tuning", "portmap"}) {
      link_bin(std::string("/usr/lib/cni/") + p, p);
    }
    run_shell("ip link delete " + uplink_ + " 2>/dev/null; ip link delete " + bridge_ +
              " 2>/dev/null");
    if (run_shell("ip link add " + uplink_ + " type veth peer name " + uplink_peer_) != 0 ||
        run_shell("ip link set " + uplink_ + " up && ip link set " + uplink_peer_ + " up") != 0) {
      cleanup();
      throw std::runtime_error("cannot create uplink " + uplink_);
    }
  }
  ~E2eNode() { cleanup(); }
  E2eNode(const E2eNode&) = delete;
  E2eNode& operator=(const E2eNode&) = delete;

  const std::string& dir() const { return dir_; }
  std::string bin() const { return dir_ + "/bin"; }
  std::string journal_dir() const { return dir_ + "/journal"; }
  std::string ipam_db() const { return dir_ + "/ipam.db"; }
  const std::string& uplink() const { return uplink_; }
  const std::string& bridge() const { return bridge_; }
  const std::string& prefix() const { return prefix_; }

  json ipam(const std::string& subnet) const {
    return {{"type", "cnimux-ipam"},
            {"ranges", json::array({json::array({{{"subnet", subnet}}})})},
            {"store", {{"type", "sqlite"}, {"path", ipam_db()}}}};
  }
  // The cluster network: the reference bridge with cnimux-ipam and a default route.
  json bridge_config(const std::string& subnet = "10.231.0.0/24") const {
    json ipam_conf = ipam(subnet);
    ipam_conf["routes"] = json::array({{{"dst", "0.0.0.0/0"}}});
    return {{"cniVersion", "1.0.0"}, {"type", "bridge"}, {"bridge", bridge_}, {"ipam", ipam_conf}};
  }
  json macvlan_config(const std::string& subnet) const {
    return {{"cniVersion", "1.0.0"},
            {"type", "macvlan"},
            {"master", uplink_},
            {"mode", "bridge"},
            {"ipam", ipam(subnet)}};
  }
  // The fake delegate; `fake` says how it misbehaves, e.g. {{"add", "hang"}}.
  json fake_config(json fake) const {
    fake["log"] = dir_ + "/fake.log";
    return {{"cniVersion", "1.0.0"}, {"type", "cnimux-fake-delegate"}, {"fake", fake}};
  }

  // Writes the cluster network to net.d as a conflist named `name`.
  void write_cluster_network(const json& plugin, const std::string& name = "cluster") const {
    json list = {{"cniVersion", plugin.value("cniVersion", "1.0.0")},
                 {"name", name},
                 {"plugins", json::array({plugin})}};
    write(dir_ + "/net.d/10-" + name + ".conflist", list.dump());
  }
  // Writes a NetworkAttachmentDefinition manifest into nadDir.
  void write_nad(const std::string& ns, const std::string& name, const json& config,
                 const std::map<std::string, std::string>& annotations = {}) const {
    json nad = {{"apiVersion", "k8s.cni.cncf.io/v1"},
                {"kind", "NetworkAttachmentDefinition"},
                {"metadata", {{"name", name}, {"namespace", ns}}},
                {"spec", {{"config", config.dump()}}}};
    if (!annotations.empty()) nad["metadata"]["annotations"] = annotations;
    write(dir_ + "/nads/" + ns + "-" + name + ".json", nad.dump());
  }
  static json pod_object(const std::string& ns, const std::string& name, const std::string& uid,
                         const std::map<std::string, std::string>& annotations) {
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"namespace", ns}, {"uid", uid}}}};
    pod["metadata"]["annotations"] = annotations.empty() ? json::object() : json(annotations);
    return pod;
  }
  // Writes a pod manifest into podDir.
  void write_pod(const std::string& ns, const std::string& name, const std::string& uid,
                 const std::map<std::string, std::string>& annotations) const {
    write(dir_ + "/pods/" + ns + "-" + name + ".json",
          pod_object(ns, name, uid, annotations).dump());
  }

  // The cnimux entry of the node's conflist, with `overrides` merged on top.
  json meta_config(const json& overrides = json::object()) const {
    json meta = {{"cniVersion", "1.0.0"},
                 {"name", "cnimux"},
                 {"type", "cnimux"},
                 {"clusterNetwork", "cluster"},
                 {"confDir", dir_ + "/net.d"},
                 {"cniDir", journal_dir()},
                 {"binDir", bin()},
                 {"nadDir", dir_ + "/nads"},
                 {"podDir", dir_ + "/pods"},
                 {"delegateTimeout", 5},
                 {"logLevel", "debug"},
                 {"logFile", dir_ + "/cnimux.log"}};
    meta.merge_patch(overrides);
    return meta;
  }

  // An extra environment variable for every later run of cnimux (as the runtime's own
  // environment would carry it), e.g. CNIMUX_SRIOV_SYSFS_ROOT.
  void set_env(const std::string& key, const std::string& value) { env_[key] = value; }

  // Runs cnimux as a runtime would, for pod ns/name.
  testing_support::PluginRun run(const std::string& verb, const std::string& container_id,
                                 const std::string& netns, const json& meta,
                                 const std::string& pod_ns = "default",
                                 const std::string& pod_name = "web",
                                 const std::string& ifname = "eth0") const {
    return run_raw(verb, container_id, netns, meta.dump(), pod_ns, pod_name, ifname);
  }
  // As run(), with stdin given as text (for configs a json value cannot hold or print).
  testing_support::PluginRun run_raw(const std::string& verb, const std::string& container_id,
                                     const std::string& netns, const std::string& stdin_text,
                                     const std::string& pod_ns = "default",
                                     const std::string& pod_name = "web",
                                     const std::string& ifname = "eth0") const {
    testing_support::CniEnv env;
    env.command = verb;
    env.container_id = container_id;
    env.netns = netns;
    env.ifname = ifname;
    env.args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + pod_ns + ";K8S_POD_NAME=" + pod_name;
    env.path = bin();
    env.extra = env_;
    return testing_support::run_plugin(cnimux_binary(), env, stdin_text);
  }

  // A verb that names no container (STATUS, GC): only CNI_COMMAND and CNI_PATH are set.
  testing_support::PluginRun run_node_verb(const std::string& verb, const json& meta) const {
    testing_support::CniEnv env;
    env.command = verb;
    env.path = bin();
    return testing_support::run_plugin(cnimux_binary(), env, meta.dump());
  }

  // Every address the IPAM store holds, as "network address".
  std::vector<std::string> held_addresses() const {
    std::vector<std::string> out;
    if (!std::filesystem::exists(ipam_db())) return out;
    ipam::StoreConfig cfg;
    cfg.path = ipam_db();
    for (const auto& a : ipam::open_store(cfg)->list_all()) {
      out.push_back(a.owner.network + " " + a.address.str());
    }
    return out;
  }
  // Files in cniDir that say a container still owes work: journals other than tombstones
  // (a finished DEL's record, which owes nothing), and anything else that is not a dotfile
  // (temporary and lock files, the version cache and the GC fence are dotfiles).
  std::vector<std::string> container_files() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(journal_dir())) {
      const std::string name = e.path().filename();
      if (name.empty() || name[0] == '.') continue;
      if (is_tombstone(e.path())) continue;
      out.push_back(name);
    }
    return out;
  }
  std::string journal_path(const std::string& cid) const {
    return journal_dir() + "/" + cid + ".journal";
  }
  // The current record of a journal file's bytes (the last whole frame of a log, or a
  // format-2 file's JSON; docs/journal.md); a discarded json when there is none.
  static json record_in(const std::string& bytes) {
    try {
      return json::parse(plugin::split_journal_file(bytes).record, nullptr, false);
    } catch (const std::exception&) {
      return json(json::value_t::discarded);
    }
  }
  // The current record of the journal file at `path`; discarded when there is none.
  static json record_at(const std::string& path) {
    std::ifstream in(path);
    return record_in(std::string(std::istreambuf_iterator<char>(in), {}));
  }
  // A journal that owes work: not a tombstone, and not the record of a failed ADD that was
  // rolled back completely (every attachment back to pending).
  bool has_live_journal(const std::string& cid) const {
    const std::string path = journal_path(cid);
    if (!std::filesystem::exists(path) || is_tombstone(path)) return false;
    std::ifstream in(path);
    json j = record_in(std::string(std::istreambuf_iterator<char>(in), {}));
    if (!j.is_object() || j.value("state", "") != "failed") return true;
    for (const auto& a : j["attachments"]) {
      if (a.value("state", "") != "pending") return true;
    }
    return false;
  }
  // A DEL's tombstone, or the ADD marker (an empty read-only journal: the ADD recorded
  // nothing, so nothing is owed; docs/journal.md).
  static bool is_tombstone(const std::filesystem::path& p) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(p, ec) && std::filesystem::file_size(p, ec) == 0 &&
        (std::filesystem::status(p, ec).permissions() & std::filesystem::perms::owner_write) ==
            std::filesystem::perms::none)
      return true;
    std::ifstream in(p);
    std::stringstream buf;
    buf << in.rdbuf();
    json j = record_in(buf.str());
    return j.is_object() && j.value("state", "") == "deleted";
  }
  // Host links enslaved to the cluster bridge (the host ends of pod veths).
  int bridge_ports() const {
    return run_shell("test -z \"$(ip -o link show master " + bridge_ + " 2>/dev/null)\"") == 0 ? 0
                                                                                               : 1;
  }
  // Host links whose names start with this node's prefix, other than uplink and bridge.
  std::vector<std::string> stray_host_links() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator("/sys/class/net")) {
      std::string n = e.path().filename();
      if (n.rfind(prefix_, 0) == 0 && n != uplink_ && n != uplink_peer_ && n != bridge_)
        out.push_back(n);
    }
    return out;
  }
  // Links inside a namespace other than lo, from `ip -o link`.
  static std::vector<std::string> links_in(const TestNetns& ns) {
    std::vector<std::string> out;
    std::string file = "/tmp/cnimux-links-" + std::to_string(getpid());
    ns.exec("ip -o link show > " + file);
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      auto a = line.find(": "), b = line.find_first_of("@:", a + 2);
      std::string name = line.substr(a + 2, b - a - 2);
      if (name != "lo") out.push_back(name);
    }
    std::filesystem::remove(file);
    return out;
  }
  // stdout of `cmd` (no single quotes) run inside `ns`.
  static std::string output_in(const TestNetns& ns, const std::string& cmd) {
    static std::atomic<int> seq{0};
    const std::string file =
        "/tmp/cnimux-out-" + std::to_string(getpid()) + "-" + std::to_string(++seq);
    ns.exec(cmd + " > " + file + " 2>/dev/null");
    std::ifstream in(file);
    std::string text(std::istreambuf_iterator<char>(in), {});
    std::filesystem::remove(file);
    return text;
  }
  // The global IPv4 addresses (CIDRs) of `ifname` inside `ns`, from `ip -o -4 addr`.
  static std::vector<std::string> addresses_in(const TestNetns& ns, const std::string& ifname) {
    std::vector<std::string> out;
    std::istringstream lines(output_in(ns, "ip -o -4 addr show dev " + ifname + " scope global"));
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      for (std::string w; words >> w;) {
        if (w == "inet" && words >> w) out.push_back(w);
      }
    }
    return out;
  }
  // The MAC address of `ifname` inside `ns`; empty when there is no such link.
  static std::string mac_in(const TestNetns& ns, const std::string& ifname) {
    std::string mac = output_in(ns, "cat /sys/class/net/" + ifname + "/address");
    while (!mac.empty() && std::isspace(static_cast<unsigned char>(mac.back()))) mac.pop_back();
    return mac;
  }
  // The IPv4 main-table routes inside `ns`, one `ip -4 route` line each ("default via ...").
  static std::vector<std::string> routes_in(const TestNetns& ns) {
    std::vector<std::string> out;
    std::istringstream lines(output_in(ns, "ip -4 route show"));
    for (std::string line; std::getline(lines, line);) {
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
        line.pop_back();
      if (!line.empty()) out.push_back(line);
    }
    return out;
  }
  // Live processes executed from this node's bin dir (cnimux, delegates), by argv[0].
  std::vector<pid_t> processes_from_bin() const {
    std::vector<pid_t> out;
    const std::string bin_dir = bin() + "/";
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      const std::string name = e.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream in(e.path() / "cmdline");
      std::string argv0;
      std::getline(in, argv0, '\0');
      const pid_t pid = std::stoi(name);
      if (argv0.rfind(bin_dir, 0) == 0 && process_alive(pid)) out.push_back(pid);
    }
    return out;
  }
  // The fake delegate's log (fake_config's fake.log) without VERSION probes: "<VERB> <ifname>".
  std::vector<std::string> fake_calls() const {
    std::vector<std::string> out;
    std::istringstream in(read("fake.log"));
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("VERSION ", 0) == 0 || line.empty()) continue;
      out.push_back(line.substr(0, line.rfind(' ')));
    }
    return out;
  }
  std::string read(const std::string& rel) const {
    std::ifstream in(dir_ + "/" + rel);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void write(const std::string& path, const std::string& bytes) {
    std::ofstream(path) << bytes;
  }

 private:
  void link_bin(const std::string& target, const std::string& name) const {
    std::filesystem::create_symlink(target, dir_ + "/bin/" + name);
  }
  void cleanup() {
    run_shell("ip link delete " + uplink_ + " 2>/dev/null");
    run_shell("ip link delete " + bridge_ + " 2>/dev/null");
    for (const auto& l : stray_host_links()) run_shell("ip link delete " + l + " 2>/dev/null");
    if (!dir_.empty() && std::getenv("CNIMUX_KEEP_TEST_DIR") == nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  std::string prefix_, uplink_, uplink_peer_, bridge_, dir_;
  std::map<std::string, std::string> env_;
};

}  // namespace cnimux_test

// Runs a CNI plugin binary as a child process (boost.process): CNI_* environment, stdin
// written and closed on demand (so many children can be released at once), stdout to a
// file, and a bounded wait.
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <boost/process.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

namespace ipam_test {

namespace bp = boost::process;

class PluginProcess {
 public:
  // Starts `binary` with the current environment plus `cni_env`; it blocks reading stdin
  // until feed() is called.
  PluginProcess(const std::string& binary, const std::map<std::string, std::string>& cni_env,
                const std::string& out_path)
      : out_path_(out_path) {
    bp::environment env = boost::this_process::environment();
    for (const auto& [k, v] : cni_env) env[k] = v;
    child_ = bp::child(binary, env, bp::std_in<in_, bp::std_out> out_path, bp::std_err > bp::null);
  }
  ~PluginProcess() {
    if (child_.valid()) kill();
  }

  void feed(const std::string& stdin_bytes) {
    in_ << stdin_bytes;
    in_.flush();
    in_.pipe().close();
  }

  // Waits up to `timeout`; false if still running then.
  bool wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (child_.running()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  // SIGKILL (if still running) and reap, keeping the exit status (boost's terminate()
  // discards it).
  void kill() {
    std::error_code ec;
    if (child_.running(ec)) ::kill(child_.id(), SIGKILL);
    child_.wait(ec);
  }

  // True when the process exited by itself with status 0 (not killed).
  bool succeeded() const {
    int s = child_.native_exit_code();
    return WIFEXITED(s) && WEXITSTATUS(s) == 0;
  }
  bool killed() const { return WIFSIGNALED(child_.native_exit_code()); }

  std::string output() const {
    std::ifstream f(out_path_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

 private:
  std::string out_path_;
  bp::opstream in_;
  bp::child child_;
};

inline std::map<std::string, std::string> cni_env(const std::string& verb, const std::string& cid,
                                                  const std::string& netns = "/var/run/netns/x",
                                                  const std::string& ifname = "eth0",
                                                  const std::string& path = "/usr/lib/cni") {
  return {{"CNI_COMMAND", verb},  {"CNI_CONTAINERID", cid}, {"CNI_NETNS", netns},
          {"CNI_IFNAME", ifname}, {"CNI_PATH", path},       {"CNI_ARGS", ""}};
}

inline std::string ipam_binary() {
  return std::string(CNIMUX_BINARY_DIR) + "/ipam/cnimux-ipam";
}

}  // namespace ipam_test

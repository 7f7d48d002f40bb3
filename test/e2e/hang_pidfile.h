// The fake delegate's hang mode writes "<pid> <grandchild pid>" to fake.pidfile; these
// helpers wait for that file and make sure the processes it names never outlive a test.
#pragma once

#include <signal.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "test/e2e/e2e_node.h"

namespace cnimux_test {

class HangPidfile {
 public:
  explicit HangPidfile(std::string path) : path_(std::move(path)) {}
  // Kills whatever the file names that still runs, so a failing test leaves nothing behind.
  ~HangPidfile() {
    for (pid_t pid : pids()) {
      if (process_alive(pid)) ::kill(pid, SIGKILL);
    }
  }
  HangPidfile(const HangPidfile&) = delete;
  HangPidfile& operator=(const HangPidfile&) = delete;

  const std::string& path() const { return path_; }

  // The pids in the file: the delegate, then its grandchild; empty while it does not exist.
  std::vector<pid_t> pids() const {
    std::ifstream in(path_);
    std::vector<pid_t> out;
    for (pid_t p; in >> p;) out.push_back(p);
    return out;
  }

  // Polls until the hanging delegate has written the file (it is renamed into place whole);
  // false when `limit` passes first.
  bool wait(std::chrono::milliseconds limit = std::chrono::seconds(30)) const {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (pids().size() < 2) {
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

 private:
  std::string path_;
};

}  // namespace cnimux_test

// Throwaway network namespaces and veth pairs for root tests, removed by their destructors
// even when the test fails. Built on iproute2 (`ip`), independent of the code under test.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace cnimux_test {

// "cxt<pid>": the prefix of every namespace and link a test process creates, so leftovers
// are attributable and parallel test processes never collide.
inline std::string test_prefix() {
  return "cxt" + std::to_string(::getpid());
}

// Runs a shell command; returns its exit status (-1 if it could not run).
inline int run_shell(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return (rc != -1 && WIFEXITED(rc)) ? WEXITSTATUS(rc) : -1;
}

// A namespace named test_prefix() + suffix, created with `ip netns add` and deleted with
// `ip netns delete` on destruction (moved-in links go with it; veth peers in the host too).
class TestNetns {
 public:
  explicit TestNetns(const std::string& suffix) : name_(test_prefix() + suffix) {
    run_shell("ip netns delete " + name_ + " 2>/dev/null");  // leftover of a killed run
    if (run_shell("ip netns add " + name_) != 0) {
      throw std::runtime_error("ip netns add " + name_ + " failed");
    }
  }
  ~TestNetns() { remove(); }
  TestNetns(const TestNetns&) = delete;
  TestNetns& operator=(const TestNetns&) = delete;

  const std::string& name() const { return name_; }
  std::string path() const { return "/run/netns/" + name_; }
  // Runs `cmd` (no single quotes) inside the namespace via `ip netns exec`; returns its
  // exit status.
  int exec(const std::string& cmd) const {
    return run_shell("ip netns exec " + name_ + " sh -c '" + cmd + "'");
  }
  // Deletes the namespace now (idempotent), e.g. to test "netns is gone".
  void remove() {
    if (!removed_) run_shell("ip netns delete " + name_ + " 2>/dev/null");
    removed_ = true;
  }

 private:
  std::string name_;
  bool removed_ = false;
};

// A veth pair test_prefix() + host_suffix / test_prefix() + peer_suffix, both up; the peer is
// moved into `peer_ns` when given. Names must fit 15 bytes (keep suffixes <= 5 chars).
// Destruction deletes the host end, which removes the peer wherever it is.
class TestVeth {
 public:
  TestVeth(const std::string& host_suffix, const std::string& peer_suffix,
           const TestNetns* peer_ns = nullptr)
      : host_(test_prefix() + host_suffix), peer_(test_prefix() + peer_suffix) {
    if (host_.size() > 15 || peer_.size() > 15) {
      throw std::runtime_error("veth name too long: " + host_ + " / " + peer_);
    }
    run_shell("ip link delete " + host_ + " 2>/dev/null");
    std::string cmd = "ip link add " + host_ + " type veth peer name " + peer_;
    if (peer_ns) cmd += " netns " + peer_ns->name();
    if (run_shell(cmd) != 0 || run_shell("ip link set " + host_ + " up") != 0 ||
        (peer_ns ? peer_ns->exec("ip link set " + peer_ + " up")
                 : run_shell("ip link set " + peer_ + " up")) != 0) {
      run_shell("ip link delete " + host_ + " 2>/dev/null");
      throw std::runtime_error("creating veth " + host_ + "/" + peer_ + " failed");
    }
  }
  ~TestVeth() { run_shell("ip link delete " + host_ + " 2>/dev/null"); }
  TestVeth(const TestVeth&) = delete;
  TestVeth& operator=(const TestVeth&) = delete;

  const std::string& host() const { return host_; }
  const std::string& peer() const { return peer_; }

 private:
  std::string host_;
  std::string peer_;
};

}  // namespace cnimux_test

// ipam_test::EtcdCluster / EtcdServer: real etcd members (Debian's etcd-server) on loopback
// ports, each with a temporary data dir, for the etcd store's tests: one member
// (EtcdServer) or a cluster of several on one host (EtcdCluster). Every member dies with the
// test process (PR_SET_PDEATHSIG) and is stopped and its directory removed by the destructor.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ipam/etcd_client.h"

namespace ipam_test {

class EtcdCluster {
 public:
  static bool available() { return ::access("/usr/bin/etcd", X_OK) == 0; }

  // Starts `members` members forming one cluster and returns once every one answers a range
  // request (which needs an elected leader). A port another process took between our probe
  // and etcd's bind makes a member exit: then the whole cluster is retried on new ports.
  explicit EtcdCluster(int members) : members_(members) {
    static std::atomic<int> counter{0};
    name_ = "cxetcd" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    dir_ = "/tmp/" + name_;
    for (int attempt = 0; attempt < 5; ++attempt) {
      std::filesystem::remove_all(dir_);
      std::filesystem::create_directories(dir_);
      for (auto& m : members_) {
        m.client_port = free_port();
        m.peer_port = free_port();
      }
      for (size_t i = 0; i < members_.size(); ++i) start(i);
      bool ready = true;
      for (size_t i = 0; i < members_.size() && ready; ++i) ready = wait_ready(i);
      if (ready) return;
      for (size_t i = 0; i < members_.size(); ++i) stop(i);
    }
    std::filesystem::remove_all(dir_);
    throw std::runtime_error("etcd did not start; see its log in a failing run");
  }
  ~EtcdCluster() {
    for (size_t i = 0; i < members_.size(); ++i) stop(i);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  size_t size() const { return members_.size(); }
  std::string endpoint(size_t i) const {
    return "http://127.0.0.1:" + std::to_string(members_[i].client_port);
  }
  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (size_t i = 0; i < members_.size(); ++i) out.push_back(endpoint(i));
    return out;
  }

  // The index of the member that is the leader right now, as the live members report it
  // (/v3/maintenance/status), or -1 when none knows one within 10 s.
  int leader() {
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < give_up) {
      std::vector<std::string> ids(members_.size());
      std::string leader_id;
      for (size_t i = 0; i < members_.size(); ++i) {
        if (members_[i].pid <= 0) continue;
        try {
          auto status =
              client(i).call("/v3/maintenance/status", nlohmann::json::object(),
                             std::chrono::steady_clock::now() + std::chrono::milliseconds(500));
          ids[i] = status["header"].value("member_id", "");
          if (leader_id.empty()) leader_id = status.value("leader", "");
        } catch (const std::exception&) {
        }
      }
      for (size_t i = 0; i < members_.size(); ++i) {
        if (!leader_id.empty() && ids[i] == leader_id) return static_cast<int>(i);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // electing: ask again
    }
    return -1;
  }

  // Kills member `i` (SIGKILL) and reaps it; its data dir stays until destruction.
  void stop(size_t i) {
    pid_t& pid = members_[i].pid;
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
  }

  // A loopback TCP port nobody listens on right now.
  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
  }

 private:
  struct Member {
    int client_port = 0;
    int peer_port = 0;
    pid_t pid = -1;
  };

  std::string member_name(size_t i) const { return name_ + "-m" + std::to_string(i); }
  std::string peer_url(size_t i) const {
    return "http://127.0.0.1:" + std::to_string(members_[i].peer_port);
  }

  // A client of member `i` alone.
  ipam::EtcdClient client(size_t i) const {
    ipam::EtcdStoreConfig cfg;
    cfg.endpoints = {endpoint(i)};
    return ipam::EtcdClient(cfg);
  }

  void start(size_t i) {
    std::string initial;
    for (size_t k = 0; k < members_.size(); ++k) {
      initial += (k ? "," : "") + member_name(k) + "=" + peer_url(k);
    }
    std::string client_url = endpoint(i);
    std::string peer = peer_url(i);
    std::string data = dir_ + "/data" + std::to_string(i);
    // Short heartbeats and elections so that losing the leader costs a fraction of a second.
    std::vector<std::string> args = {"etcd",         "--name",
                                     member_name(i), "--data-dir",
                                     data,           "--listen-client-urls",
                                     client_url,     "--advertise-client-urls",
                                     client_url,     "--listen-peer-urls",
                                     peer,           "--initial-advertise-peer-urls",
                                     peer,           "--initial-cluster",
                                     initial,        "--initial-cluster-token",
                                     name_,          "--initial-cluster-state",
                                     "new",          "--heartbeat-interval",
                                     "10",           "--election-timeout",
                                     "100",          "--listen-metrics-urls="};
    std::string log = dir_ + "/log" + std::to_string(i);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv("/usr/bin/etcd", argv.data());
      ::_exit(127);
    }
    members_[i].pid = pid;
  }

  // Polls member `i` with range requests until it answers, it exits, or 30 s pass.
  bool wait_ready(size_t i) {
    ipam::EtcdClient c = client(i);
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < give_up) {
      int status = 0;
      if (::waitpid(members_[i].pid, &status, WNOHANG) == members_[i].pid) {
        members_[i].pid = -1;
        return false;
      }
      try {
        c.call("/v3/kv/range", {{"key", "AA=="}},
               std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
        return true;
      } catch (const std::exception&) {
      }
    }
    return false;
  }

  std::string name_;
  std::string dir_;
  std::vector<Member> members_;
};

// One member, for most tests.
class EtcdServer : public EtcdCluster {
 public:
  EtcdServer() : EtcdCluster(1) {}
  std::string endpoint() const { return EtcdCluster::endpoint(0); }
  void stop() { EtcdCluster::stop(0); }
};

}  // namespace ipam_test

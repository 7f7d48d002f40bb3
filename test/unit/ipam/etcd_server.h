// ipam_test::EtcdServer: a real single-member etcd (Debian's etcd-server) on loopback ports
// and a temporary data dir, for the etcd store's tests. The member dies with the test
// process (PR_SET_PDEATHSIG) and is stopped and its directory removed by the destructor.
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

class EtcdServer {
 public:
  static bool available() { return ::access("/usr/bin/etcd", X_OK) == 0; }

  // Starts etcd and returns once it answers a range request. A port another process took
  // between our probe and etcd's bind makes etcd exit: then we retry with new ports.
  EtcdServer() {
    static std::atomic<int> counter{0};
    name_ = "cxetcd" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    dir_ = "/tmp/" + name_;
    for (int attempt = 0; attempt < 5; ++attempt) {
      std::filesystem::remove_all(dir_);
      std::filesystem::create_directories(dir_);
      client_port_ = free_port();
      peer_port_ = free_port();
      start();
      if (wait_ready()) return;
      stop();
    }
    std::filesystem::remove_all(dir_);
    throw std::runtime_error("etcd did not start; see its log in a failing run");
  }
  ~EtcdServer() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(client_port_); }

  // Kills the member (SIGKILL) and reaps it; the data dir stays until destruction.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
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
  void start() {
    std::string client = "http://127.0.0.1:" + std::to_string(client_port_);
    std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    std::vector<std::string> args = {"etcd",
                                     "--name",
                                     name_,
                                     "--data-dir",
                                     dir_ + "/data",
                                     "--listen-client-urls",
                                     client,
                                     "--advertise-client-urls",
                                     client,
                                     "--listen-peer-urls",
                                     peer,
                                     "--initial-advertise-peer-urls",
                                     peer,
                                     "--initial-cluster",
                                     name_ + "=" + peer,
                                     "--heartbeat-interval",
                                     "10",
                                     "--election-timeout",
                                     "100",
                                     "--listen-metrics-urls="};
    std::string log = dir_ + "/log";
    pid_ = ::fork();
    if (pid_ == 0) {
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
  }

  // Polls etcd with range requests until it answers, it exits, or 30 s pass.
  bool wait_ready() {
    ipam::EtcdStoreConfig cfg;
    cfg.endpoints = {endpoint()};
    ipam::EtcdClient client(cfg);
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < give_up) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      try {
        client.call("/v3/kv/range", {{"key", "AA=="}},
                    std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
        return true;
      } catch (const std::exception&) {
      }
    }
    return false;
  }

  std::string name_;
  std::string dir_;
  int client_port_ = 0;
  int peer_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace ipam_test
